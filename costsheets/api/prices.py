"""Price endpoints: a price of a plan, costsheet, … with its tiers and package terms."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
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
    WholeObjectSerializer,
    api_field_names,
    refuse_fields,
)
from costsheets.api.filters import PriceFilterSet
from costsheets.api.serializers import (
    MessageSerializer,
    MeterSerializer,
    ScopedRowSerializer,
    StatusUpdateField,
)
from costsheets.models import (
    BillingCadence,
    BillingModel,
    BillingPeriod,
    InvoiceCadence,
    Meter,
    Price,
    PriceEntityType,
    PriceType,
    PriceUnitType,
    RoundMode,
    TierMode,
)
from costsheets.pricing import Tier
from costsheets.selectors import price_get
from costsheets.services import price_create, price_delete, price_update
from costsheets.validation import MAX_BILLING_PERIOD_COUNT
from flexprice_site.bounds import INTEGER_MAX
from flexprice_site.rendering import MoneyField, UtcDateTimeField, format_datetime
from flexprice_site.schema import error_responses

# --- requests and responses --------------------------------------------------------------------


class PriceTierSerializer(WholeObjectSerializer):
    """One tier: up to and including `up_to` (null on the last tier: no limit)."""

    up_to = MoneyField(allow_null=True, required=False)
    unit_amount = MoneyField()
    flat_amount = MoneyField(allow_null=True, required=False)


class TransformQuantitySerializer(WholeObjectSerializer):
    """Package pricing: usage divided by `divide_by`, rounded `up` or `down`."""

    divide_by = MoneyField()
    round = EnumField(RoundMode, required=False)


class PriceSerializer(ScopedRowSerializer):
    """A price. `meter` is left out where the caller did not ask for it (costsheet search)."""

    amount = MoneyField(read_only=True)
    display_amount = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    type = EnumField(PriceType, read_only=True)
    billing_model = EnumField(BillingModel, read_only=True)
    tier_mode = serializers.SerializerMethodField()
    tiers = serializers.SerializerMethodField()
    transform_quantity = serializers.SerializerMethodField()
    meter_id = serializers.CharField(read_only=True, allow_null=True)
    # Writable only so that the schema shows it optional: the costsheet search leaves it out
    # unless asked to expand meters. This serializer only ever renders.
    meter = MeterSerializer(allow_null=True, required=False)
    billing_period = EnumField(BillingPeriod, read_only=True)
    billing_period_count = serializers.IntegerField(read_only=True)
    billing_cadence = EnumField(BillingCadence, read_only=True)
    invoice_cadence = EnumField(InvoiceCadence, read_only=True)
    entity_type = EnumField(PriceEntityType, read_only=True)
    entity_id = serializers.CharField(read_only=True)
    lookup_key = serializers.CharField(read_only=True)
    display_name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    start_date = UtcDateTimeField(read_only=True, allow_null=True)
    end_date = UtcDateTimeField(read_only=True, allow_null=True)
    min_quantity = MoneyField(read_only=True, allow_null=True)
    trial_period_days = serializers.IntegerField(read_only=True)
    # The seed page's name for the same number; the SDK reads trial_period_days.
    trial_period = serializers.IntegerField(source="trial_period_days", read_only=True)
    price_unit_type = EnumField(PriceUnitType, read_only=True)
    price_unit = serializers.CharField(read_only=True)
    conversion_rate = MoneyField(read_only=True, allow_null=True)

    @extend_schema_field(EnumField(TierMode, allow_null=True))
    def get_tier_mode(self, price: Price) -> str | None:
        return price.tier_mode if price.billing_model == BillingModel.TIERED else None

    @extend_schema_field(PriceTierSerializer(many=True))
    def get_tiers(self, price: Price) -> list[dict[str, Any]]:
        # Reads the prefetched tiers; sorted here so no query is issued per price.
        rows = sorted(price.tiers.all(), key=lambda row: (row.position, row.id))
        return PriceTierSerializer(rows, many=True).data

    @extend_schema_field(TransformQuantitySerializer(allow_null=True))
    def get_transform_quantity(self, price: Price) -> dict[str, Any] | None:
        if price.transform_quantity_divide_by is None:
            return None
        return TransformQuantitySerializer(
            {
                "divide_by": price.transform_quantity_divide_by,
                "round": price.transform_quantity_round,
            }
        ).data

    def to_representation(self, instance: Price) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("expand_meter", True):
            data.pop("meter", None)
        return data


@extend_schema_serializer(component_name="Price")
class PriceWriteSerializer(serializers.Serializer):
    """Create a price: its owner, currency and terms."""

    entity_type = EnumField(PriceEntityType)
    entity_id = StrictStringField(max_length=64)
    currency = StrictStringField(max_length=8)
    type = EnumField(PriceType, required=False)
    billing_model = EnumField(BillingModel, required=False)
    amount = MoneyField(required=False)
    tier_mode = EnumField(TierMode, required=False)
    tiers = PriceTierSerializer(many=True, required=False)
    transform_quantity = TransformQuantitySerializer(required=False, allow_null=True)
    meter_id = ScopedIdField(
        queryset=Meter.objects.all(), label_text="meter", required=False, allow_null=True
    )
    billing_period = EnumField(BillingPeriod, required=False)
    billing_period_count = serializers.IntegerField(
        min_value=1, max_value=MAX_BILLING_PERIOD_COUNT, required=False
    )
    billing_cadence = EnumField(BillingCadence, required=False)
    invoice_cadence = EnumField(InvoiceCadence, required=False)
    lookup_key = StrictStringField(max_length=255, required=False, allow_blank=True)
    display_name = StrictStringField(max_length=255, required=False, allow_blank=True)
    description = StrictStringField(required=False, allow_blank=True)
    start_date = UtcDateTimeField(required=False, allow_null=True)
    end_date = UtcDateTimeField(required=False, allow_null=True)
    min_quantity = MoneyField(required=False, allow_null=True)
    trial_period_days = serializers.IntegerField(min_value=0, max_value=INTEGER_MAX, required=False)
    price_unit_type = EnumField(PriceUnitType, required=False)
    price_unit = StrictStringField(max_length=32, required=False, allow_blank=True)
    conversion_rate = MoneyField(required=False, allow_null=True)
    metadata = MetadataField(required=False)

    refused_fields = {
        "price_unit_config": "Give a custom unit as price_unit_type CUSTOM with price_unit and "
        "conversion_rate.",
        "filter_values": "Prices apply to all of their meter's usage; filter with the meter's "
        "filters.",
        "status": "A new price is published; archive it with PUT /v1/prices/{id}.",
    }

    def to_internal_value(self, data: Any) -> Any:
        refuse_fields(data, self.refused_fields)
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The service's argument names."""
        values = dict(attrs)
        if "meter_id" in values:
            values["meter"] = values.pop("meter_id")
        if "tiers" in values:
            values["tiers"] = [
                Tier(
                    up_to=tier.get("up_to"),
                    unit_amount=tier["unit_amount"],
                    flat_amount=tier.get("flat_amount") or 0,
                )
                for tier in values["tiers"]
            ]
        if "transform_quantity" in values:
            transform = values.pop("transform_quantity") or {}
            values["transform_quantity_divide_by"] = transform.get("divide_by")
            values["transform_quantity_round"] = transform.get("round", RoundMode.UP)
        return values


_SAME_OWNER = "A price stays with its owner; create a new price instead."


class PriceUpdateSerializer(PriceWriteSerializer):
    """Change a price: the fields given change, `tiers` replaces its tiers."""

    entity_type = None
    entity_id = None
    status = StatusUpdateField()

    refused_fields = {
        "price_unit_config": PriceWriteSerializer.refused_fields["price_unit_config"],
        "filter_values": PriceWriteSerializer.refused_fields["filter_values"],
        "entity_type": _SAME_OWNER,
        "entity_id": _SAME_OWNER,
    }


class PriceDeleteSerializer(serializers.Serializer):
    """Optional body of a price delete."""

    end_date = UtcDateTimeField(
        required=False,
        help_text="Instead of deleting the price, end it at this time (Flexprice's way).",
    )


PRICE_FIELD_NAMES = {
    "meter": "meter_id",
    "transform_quantity_divide_by": "transform_quantity.divide_by",
    "transform_quantity_round": "transform_quantity.round",
}


# --- views -------------------------------------------------------------------------------------


class PriceListView(CatalogueListView):
    serializer_class = PriceSerializer
    filterset_class = PriceFilterSet
    base_queryset = (
        Price.objects.select_related("meter")
        .prefetch_related("tiers")
        .order_by("-created_at", "-id")
    )

    @extend_schema(summary="List prices")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Create a price of a plan, costsheet, …",
        request=PriceWriteSerializer,
        responses={201: PriceSerializer, **error_responses(409)},
    )
    def post(self, request: Request) -> Response:
        with api_field_names(PRICE_FIELD_NAMES):
            price = price_create(
                environment=self.environment,
                actor=self.actor,
                **self.validated(PriceWriteSerializer),
            )
        price = price_get(environment=self.environment, price_id=price.pk)
        return Response(PriceSerializer(price).data, status=status.HTTP_201_CREATED)


class PriceDetailView(CatalogueAPIView):
    @extend_schema(summary="Get a price", responses={200: PriceSerializer})
    def get(self, request: Request, id: str) -> Response:
        return Response(PriceSerializer(price_get(environment=self.environment, price_id=id)).data)

    @extend_schema(
        summary="Update a price (only the fields given change; `tiers` replaces the tiers)",
        request=PriceUpdateSerializer(partial=True),
        responses={200: PriceSerializer, **error_responses(409)},
    )
    def put(self, request: Request, id: str) -> Response:
        price = price_get(environment=self.environment, price_id=id)
        with api_field_names(PRICE_FIELD_NAMES):
            price_update(
                price=price,
                data=self.validated(PriceUpdateSerializer, partial=True),
                actor=self.actor,
            )
        price = price_get(environment=self.environment, price_id=id)
        return Response(PriceSerializer(price).data)

    @extend_schema(
        summary="Delete a price (soft delete), or end it at `end_date`",
        request=PriceDeleteSerializer,
        # A delete's body is not in the schema (OpenAPI 3.0), but it is read: 415 when not JSON.
        responses={200: MessageSerializer, **error_responses(415)},
    )
    def delete(self, request: Request, id: str) -> Response:
        price = price_get(environment=self.environment, price_id=id)
        end_date = self.validated(PriceDeleteSerializer).get("end_date")
        if end_date is None:
            price_delete(price=price, actor=self.actor)
            return Response({"message": f"Price {id} deleted."})
        price_update(price=price, data={"end_date": end_date}, actor=self.actor)
        return Response({"message": f"Price {id} ends at {format_datetime(end_date)}."})
