"""Subscription endpoints: subscribe, get, list, cancel, change a line item's commitment."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from costsheets.api.common import (
    CatalogueAPIView,
    CatalogueListView,
    EnumField,
    MetadataField,
    ScopedIdField,
    StrictStringField,
    api_field_names,
    refuse_fields,
)
from costsheets.api.filters import SubscriptionFilterSet
from costsheets.api.serializers import NullIfBlankChoiceField, ScopedRowSerializer
from costsheets.models import (
    BillingPeriod,
    CommitmentType,
    Customer,
    InvoiceCadence,
    LineItemEntityType,
    Plan,
    PriceType,
    Subscription,
    SubscriptionLineItem,
    SubscriptionStatus,
)
from costsheets.selectors import line_item_get, subscription_get
from costsheets.services import (
    LineItemCommitment,
    line_item_commitment_update,
    subscription_cancel,
    subscription_create,
    subscription_period_end,
)
from costsheets.validation import MAX_BILLING_PERIOD_COUNT
from flexprice_site.models import Environment, Status
from flexprice_site.rendering import MoneyField, UtcDateTimeField, format_datetime

# --- responses ---------------------------------------------------------------------------------


class LineItemSerializer(ScopedRowSerializer):
    """One price of a subscription, over its own dates, with its commitment if any."""

    subscription_id = serializers.CharField(read_only=True)
    customer_id = serializers.CharField(source="subscription.customer_id", read_only=True)
    price_id = serializers.CharField(read_only=True)
    meter_id = serializers.CharField(read_only=True, allow_null=True)
    entity_type = EnumField(LineItemEntityType, read_only=True)
    entity_id = serializers.CharField(read_only=True)
    display_name = serializers.CharField(read_only=True)
    quantity = MoneyField(read_only=True)
    currency = serializers.CharField(read_only=True)
    price_type = EnumField(PriceType, read_only=True)
    billing_period = EnumField(BillingPeriod, read_only=True)
    billing_period_count = serializers.IntegerField(read_only=True)
    invoice_cadence = EnumField(InvoiceCadence, read_only=True)
    start_date = UtcDateTimeField(read_only=True)
    end_date = UtcDateTimeField(read_only=True, allow_null=True)
    commitment_type = NullIfBlankChoiceField(CommitmentType, read_only=True)
    commitment_amount = MoneyField(read_only=True, allow_null=True)
    commitment_quantity = MoneyField(read_only=True, allow_null=True)
    commitment_overage_factor = MoneyField(read_only=True)
    commitment_true_up_enabled = serializers.BooleanField(read_only=True)
    commitment_windowed = serializers.BooleanField(read_only=True)
    commitment_duration = NullIfBlankChoiceField(BillingPeriod, read_only=True)


class SubscriptionSerializer(ScopedRowSerializer):
    customer_id = serializers.CharField(read_only=True)
    plan_id = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    start_date = UtcDateTimeField(read_only=True)
    end_date = UtcDateTimeField(read_only=True, allow_null=True)
    billing_anchor = UtcDateTimeField(read_only=True)
    billing_period = EnumField(BillingPeriod, read_only=True)
    billing_period_count = serializers.IntegerField(read_only=True)
    subscription_status = EnumField(SubscriptionStatus, read_only=True)
    cancelled_at = UtcDateTimeField(read_only=True, allow_null=True)
    line_items = LineItemSerializer(many=True, read_only=True)


CANCELLATION_TYPES = [
    ("immediate", "Now"),
    ("end_of_period", "At the end of the current billing period"),
    ("scheduled_date", "At cancel_at"),
]


class CancelledSerializer(serializers.Serializer):
    subscription_id = serializers.CharField()
    cancellation_type = EnumField(CANCELLATION_TYPES, enum_name="CancellationType")
    effective_date = UtcDateTimeField()
    status = serializers.CharField(help_text="The subscription's status: cancelled.")
    reason = serializers.CharField()
    message = serializers.CharField()
    processed_at = UtcDateTimeField()


# --- requests ----------------------------------------------------------------------------------


class LineItemCommitmentSerializer(serializers.Serializer):
    """A commitment given at subscription time, keyed by price id (Flexprice's names)."""

    commitment_type = EnumField(CommitmentType)
    commitment_amount = MoneyField(required=False, allow_null=True)
    commitment_quantity = MoneyField(required=False, allow_null=True)
    overage_factor = MoneyField(required=False, default=Decimal(1))
    enable_true_up = serializers.BooleanField(required=False, default=False)
    is_window_commitment = serializers.BooleanField(required=False, default=False)
    commitment_duration = EnumField(BillingPeriod, required=False)

    def validate(self, attrs: dict[str, Any]) -> LineItemCommitment:
        return LineItemCommitment(
            commitment_type=attrs["commitment_type"],
            amount=attrs.get("commitment_amount"),
            quantity=attrs.get("commitment_quantity"),
            overage_factor=attrs["overage_factor"],
            true_up_enabled=attrs["enable_true_up"],
            windowed=attrs["is_window_commitment"],
            duration=attrs.get("commitment_duration", ""),
        )


_PER_LINE_ITEM = "Give commitments per price in line_item_commitments."
_NOT_SUPPORTED = "Not supported: a subscription gets its plan's prices as they are."


class SubscriptionCreateSerializer(serializers.Serializer):
    customer_id = ScopedIdField(
        queryset=Customer.objects.all(), label_text="customer", required=False
    )
    external_customer_id = StrictStringField(required=False)
    plan_id = ScopedIdField(queryset=Plan.objects.all(), label_text="plan")
    currency = StrictStringField(max_length=8)
    billing_period = EnumField(BillingPeriod, default=BillingPeriod.MONTHLY)
    billing_period_count = serializers.IntegerField(
        min_value=1, max_value=MAX_BILLING_PERIOD_COUNT, default=1
    )
    start_date = UtcDateTimeField(required=False)
    end_date = UtcDateTimeField(required=False, allow_null=True)
    billing_anchor = UtcDateTimeField(required=False)
    subscription_status = EnumField(SubscriptionStatus, required=False)
    line_item_commitments = serializers.DictField(
        child=LineItemCommitmentSerializer(),
        required=False,
        help_text="Commitments by price id of the plan: each lands on that price's line item.",
    )
    metadata = MetadataField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        refuse_fields(
            data,
            {
                "commitment_amount": _PER_LINE_ITEM,
                "overage_factor": _PER_LINE_ITEM,
                "enable_true_up": _PER_LINE_ITEM,
                "line_items": _NOT_SUPPORTED,
                "override_line_items": _NOT_SUPPORTED,
            },
        )
        return super().to_internal_value(data)

    def validate_subscription_status(self, value: str) -> str:
        if value == SubscriptionStatus.CANCELLED:
            raise serializers.ValidationError("A new subscription cannot be cancelled.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The service's argument names; the customer named by id or by external id."""
        values = dict(attrs)
        customer = values.pop("customer_id", None)
        external_id = values.pop("external_customer_id", None)
        if (customer is None) == (external_id is None):
            message = "Give customer_id or external_customer_id (one of them)."
            raise serializers.ValidationError({"customer_id": message})
        if external_id is not None:
            environment: Environment = self.context["environment"]
            customer = (
                Customer.objects.filter(
                    tenant_id=environment.tenant_id,
                    environment_id=environment.pk,
                    external_customer_id=external_id,
                )
                .exclude(status=Status.DELETED)
                .first()
            )
            if customer is None:
                raise serializers.ValidationError(
                    {
                        "external_customer_id": f"There is no customer with external id "
                        f"{external_id} in this environment."
                    }
                )
        values["customer"] = customer
        values["plan"] = values.pop("plan_id")
        return values


# Where the line item update differs from Flexprice's line item fields: nothing but the
# commitment can change, since a line item copies its price when the subscription is made.
_COMMITMENT_ONLY = "Only a line item's commitment can be changed."


class LineItemCommitmentUpdateSerializer(serializers.Serializer):
    """Change a line item's commitment: the fields given replace the current ones, and
    `commitment_type: null` removes the commitment."""

    commitment_type = EnumField(CommitmentType, required=False, allow_null=True)
    commitment_amount = MoneyField(required=False, allow_null=True)
    commitment_quantity = MoneyField(required=False, allow_null=True)
    commitment_overage_factor = MoneyField(required=False)
    commitment_true_up_enabled = serializers.BooleanField(required=False)
    commitment_windowed = serializers.BooleanField(required=False)
    commitment_duration = EnumField(BillingPeriod, required=False, allow_blank=True)

    def to_internal_value(self, data: Any) -> Any:
        refuse_fields(
            data,
            dict.fromkeys(
                (
                    "amount",
                    "billing_model",
                    "bucket_size",
                    "tier_mode",
                    "tiers",
                    "transform_quantity",
                    "price_unit_amount",
                    "price_unit_tiers",
                    "effective_from",
                    "commitment_time_buckets",
                    "metadata",
                ),
                _COMMITMENT_ONLY,
            ),
        )
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, LineItemCommitment | None]:
        """`{"commitment": …}`, None to remove it."""
        line_item: SubscriptionLineItem = self.context["line_item"]
        if "commitment_type" in attrs and attrs["commitment_type"] is None:
            return {"commitment": None}

        def current(field: str) -> Any:
            return attrs.get(field, getattr(line_item, field))

        commitment = LineItemCommitment(
            commitment_type=current("commitment_type"),
            amount=current("commitment_amount"),
            quantity=current("commitment_quantity"),
            overage_factor=current("commitment_overage_factor"),
            true_up_enabled=current("commitment_true_up_enabled"),
            windowed=current("commitment_windowed"),
            duration=current("commitment_duration"),
        )
        return {"commitment": commitment}


class CancelSerializer(serializers.Serializer):
    cancellation_type = EnumField(
        CANCELLATION_TYPES, enum_name="CancellationType", default="immediate"
    )
    cancel_at = UtcDateTimeField(required=False, help_text="When, for scheduled_date.")
    reason = StrictStringField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["cancellation_type"] == "scheduled_date" and "cancel_at" not in attrs:
            raise serializers.ValidationError({"cancel_at": "Give cancel_at for scheduled_date."})
        return attrs


def _commitment_api_name(key: str) -> str:
    """`line_item_commitments.<price>.commitment_true_up_enabled` → `….enable_true_up`."""
    renamed = {
        "customer": "customer_id",
        "plan": "plan_id",
        "commitment_overage_factor": "overage_factor",
        "commitment_true_up_enabled": "enable_true_up",
        "commitment_windowed": "is_window_commitment",
    }
    head, _, last = key.rpartition(".")
    if key.startswith("line_item_commitments.") and head.count(".") == 1:
        return f"{head}.{renamed.get(last, last)}"
    return renamed.get(key, key)


# --- views -------------------------------------------------------------------------------------


class SubscriptionListView(CatalogueListView):
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilterSet
    base_queryset = Subscription.objects.prefetch_related("line_items").order_by(
        "-created_at", "-id"
    )

    @extend_schema(summary="List subscriptions")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Subscribe a customer to a plan (its prices become line items)",
        request=SubscriptionCreateSerializer,
        responses={201: SubscriptionSerializer},
    )
    def post(self, request: Request) -> Response:
        with api_field_names(_commitment_api_name):
            subscription = subscription_create(
                environment=self.environment,
                actor=self.actor,
                **self.validated(SubscriptionCreateSerializer),
            )
        subscription = subscription_get(
            environment=self.environment, subscription_id=subscription.pk
        )
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailView(CatalogueAPIView):
    @extend_schema(summary="Get a subscription", responses={200: SubscriptionSerializer})
    def get(self, request: Request, id: str) -> Response:
        subscription = subscription_get(environment=self.environment, subscription_id=id)
        return Response(SubscriptionSerializer(subscription).data)


class SubscriptionCancelView(CatalogueAPIView):
    @extend_schema(
        summary="Cancel a subscription now, at the end of its period, or at a date",
        request=CancelSerializer,
        responses={200: CancelledSerializer},
    )
    def post(self, request: Request, id: str) -> Response:
        subscription = subscription_get(environment=self.environment, subscription_id=id)
        cancel = self.validated(CancelSerializer)
        now = timezone.now()
        kind = cancel["cancellation_type"]
        if kind == "scheduled_date":
            at = cancel["cancel_at"]
        elif kind == "end_of_period":
            at = subscription_period_end(subscription=subscription, after=now)
        else:
            at = now
        subscription_cancel(subscription=subscription, cancelled_at=at, actor=self.actor)
        body = {
            "subscription_id": subscription.pk,
            "cancellation_type": kind,
            "effective_date": at,
            "status": subscription.subscription_status,
            "reason": cancel["reason"],
            "message": f"Subscription {subscription.pk} is cancelled as of {format_datetime(at)}.",
            "processed_at": now,
        }
        return Response(CancelledSerializer(body).data)


class LineItemDetailView(CatalogueAPIView):
    @extend_schema(
        summary="Change a line item's commitment",
        request=LineItemCommitmentUpdateSerializer,
        responses={200: LineItemSerializer},
    )
    def put(self, request: Request, id: str) -> Response:
        line_item = line_item_get(environment=self.environment, line_item_id=id)
        serializer = LineItemCommitmentUpdateSerializer(
            data=self.body(), context={**self.context(), "line_item": line_item}
        )
        serializer.is_valid(raise_exception=True)
        line_item = line_item_commitment_update(
            line_item=line_item,
            commitment=serializer.validated_data["commitment"],
            actor=self.actor,
        )
        return Response(LineItemSerializer(line_item).data)
