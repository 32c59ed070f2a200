"""Request and response shapes of POST /v1/events/analytics (Flexprice's field names)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from analytics.api.request_fields import (
    DEFAULT_RANGE,
    MAX_LIST,
    PropertyValueField,
    ScopeValidationMixin,
    check_range,
)
from analytics.costs.export import csv_text
from analytics.usage.types import (
    EXPANDABLE,
    UsageAnalyticsItem,
    UsageAnalyticsPoint,
    UsageAnalyticsRequest,
    UsageAnalyticsResult,
    group_key_error,
)
from costsheets.api.catalogues import PlanSerializer
from costsheets.api.common import EnumField, KnownKeysOnlyMixin, StrictStringField
from costsheets.api.prices import PriceSerializer
from costsheets.api.serializers import (
    FeatureSerializer,
    MeterSerializer,
    NullIfBlankChoiceField,
    ReportingUnitSerializer,
)
from costsheets.api.subscriptions import LineItemSerializer
from costsheets.models import AggregationType, BillingPeriod, CommitmentType, WindowSize
from flexprice_site.rendering import (
    MoneyField,
    UtcDateTimeField,
    format_datetime,
    format_decimal,
)

DISPLAY_PLACES = Decimal("0.01")

# --- request -----------------------------------------------------------------------------------


@extend_schema_serializer(component_name="GetUsageAnalytics")
class UsageAnalyticsRequestSerializer(
    KnownKeysOnlyMixin, ScopeValidationMixin, serializers.Serializer
):
    """Which usage to report, for whom, and how to slice it. Every field is optional: the
    default is every metered feature of every customer over the last 7 days, without points."""

    external_customer_id = StrictStringField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="One customer: usage priced with its subscription line items (revenue).",
    )
    external_customer_ids = serializers.ListField(
        child=StrictStringField(max_length=255),
        required=False,
        max_length=MAX_LIST,
        help_text="Several customers: each priced with its own line items, then summed.",
    )
    feature_ids = serializers.ListField(
        child=StrictStringField(max_length=64), required=False, max_length=MAX_LIST
    )
    sources = serializers.ListField(
        child=StrictStringField(max_length=255), required=False, max_length=MAX_LIST
    )
    property_filters = serializers.DictField(
        child=serializers.ListField(child=PropertyValueField(), min_length=1),
        required=False,
        help_text="Only events whose properties match: {key: [values]} (AND across keys, OR "
        "across values).",
    )
    group_by = serializers.ListField(
        child=StrictStringField(),
        required=False,
        max_length=20,
        help_text='"source", "feature_id", "properties.<name>", or "external_customer_id".',
    )
    window_size = NullIfBlankChoiceField(
        WindowSize, required=False, allow_blank=True, help_text="Points per window; none without."
    )
    include_children = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Fold the customers' children (and theirs) into their usage and price it "
        "with the customer's line items.",
    )
    expand = serializers.ListField(
        child=EnumField([(name, name) for name in EXPANDABLE], enum_name="UsageAnalyticsExpand"),
        required=False,
    )
    start_time = UtcDateTimeField(required=False, help_text="Default: end_time − 7 days.")
    end_time = UtcDateTimeField(required=False, help_text="Default: now. Exclusive.")
    time_zone = StrictStringField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="IANA time zone windows align in. Default: the customer's, else UTC.",
    )
    currency = StrictStringField(
        required=False,
        allow_blank=True,
        max_length=3,
        help_text="Only price line items in this currency (when the scope has several).",
    )
    breakdown_bucket = serializers.BooleanField(
        required=False, help_text="Not supported (no commitment time buckets); false only."
    )

    def validate_group_by(self, value: list[str]) -> list[str]:
        for key in value:
            error = group_key_error(key)
            if error:
                raise serializers.ValidationError(error)
        return list(dict.fromkeys(value))

    def validate_breakdown_bucket(self, value: bool) -> bool:
        if value:
            raise serializers.ValidationError(
                "Not supported: line items here have no commitment time buckets."
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end_time")
        start = attrs.get("start_time")
        if end is None:
            end = start + DEFAULT_RANGE if start is not None else timezone.now().astimezone(UTC)
        if start is None:
            start = end - DEFAULT_RANGE
        window_size = attrs.get("window_size") or None
        check_range(start, end, window_size)
        customers = [attrs["external_customer_id"]] if attrs.get("external_customer_id") else []
        customers += attrs.get("external_customer_ids", [])
        if attrs.get("include_children") and not customers:
            raise serializers.ValidationError(
                {
                    "include_children": [
                        "include_children folds a customer's children into it: give "
                        "external_customer_id or external_customer_ids."
                    ]
                }
            )
        request = UsageAnalyticsRequest(
            start=start,
            end=end,
            external_customer_ids=tuple(dict.fromkeys(customers)),
            include_children=attrs.get("include_children", False),
            feature_ids=tuple(dict.fromkeys(attrs.get("feature_ids", []))),
            sources=tuple(dict.fromkeys(attrs.get("sources", []))),
            property_filters=attrs.get("property_filters", {}),
            group_by=tuple(attrs.get("group_by", [])),
            window_size=window_size,
            time_zone=attrs.get("time_zone"),
            currency=attrs.get("currency"),
        )
        return {"request": request, "expand": frozenset(attrs.get("expand", []))}


# --- response (the schema; bodies are built by `usage_analytics_body`) -------------------------


class UsageAnalyticPointSerializer(serializers.Serializer):
    """One window that holds events; `timestamp` is the window's start."""

    timestamp = UtcDateTimeField()
    usage = MoneyField()
    cost = MoneyField(help_text="The window's usage priced on its own.")
    event_count = serializers.IntegerField()
    computed_commitment_utilized_amount = MoneyField(
        required=False, help_text="Windowed commitments only, like the two below."
    )
    computed_overage_amount = MoneyField(required=False)
    computed_true_up_amount = MoneyField(required=False)


class CommitmentInfoSerializer(serializers.Serializer):
    """The commitment behind total_cost = utilized + overage + true_up. The terms are shown when
    one line item is behind the item."""

    type = NullIfBlankChoiceField(CommitmentType, required=False)
    amount = MoneyField(allow_null=True, required=False)
    quantity = MoneyField(allow_null=True, required=False)
    overage_factor = MoneyField(allow_null=True, required=False)
    true_up_enabled = serializers.BooleanField(allow_null=True, required=False)
    is_windowed = serializers.BooleanField()
    duration = NullIfBlankChoiceField(BillingPeriod, required=False)
    computed_commitment_utilized_amount = MoneyField()
    computed_overage_amount = MoneyField()
    computed_true_up_amount = MoneyField()


class UsageAnalyticItemSerializer(serializers.Serializer):
    """Usage of one feature for one set of group-by values, priced with one line item (or, for
    several customers, with each customer's)."""

    feature_id = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    event_name = serializers.CharField()
    source = serializers.CharField(allow_null=True, help_text="When grouping by source.")
    sources = serializers.ListField(child=serializers.CharField())
    properties = serializers.DictField(child=serializers.CharField())
    external_customer_id = serializers.CharField(
        allow_null=True, help_text="When grouping by external_customer_id."
    )
    aggregation_type = EnumField(AggregationType)
    total_usage = MoneyField()
    total_usage_display = serializers.CharField(
        help_text="total_usage × reporting_unit.conversion_rate, 2 places; empty without one."
    )
    reporting_unit = ReportingUnitSerializer(allow_null=True)
    total_cost = MoneyField()
    currency = serializers.CharField()
    event_count = serializers.IntegerField()
    points = UsageAnalyticPointSerializer(many=True)
    commitment_info = CommitmentInfoSerializer(allow_null=True)
    price_id = serializers.CharField(allow_null=True)
    meter_id = serializers.CharField()
    subscription_id = serializers.CharField(allow_null=True)
    sub_line_item_id = serializers.CharField(allow_null=True)
    plan_id = serializers.CharField(allow_null=True)
    add_on_id = serializers.CharField(allow_null=True)
    unit = serializers.CharField()
    unit_plural = serializers.CharField()
    window_size = NullIfBlankChoiceField(WindowSize)
    price = PriceSerializer(required=False, allow_null=True, help_text="With expand=price.")
    meter = MeterSerializer(required=False, help_text="With expand=meter.")
    feature = FeatureSerializer(required=False, allow_null=True, help_text="With expand=feature.")
    subscription_line_item = LineItemSerializer(
        required=False, allow_null=True, help_text="With expand=subscription_line_item."
    )
    plan = PlanSerializer(required=False, allow_null=True, help_text="With expand=plan.")


@extend_schema_serializer(component_name="GetUsageAnalyticsResponse")
class UsageAnalyticsResponseSerializer(serializers.Serializer):
    items = UsageAnalyticItemSerializer(many=True)
    total_cost = MoneyField(help_text="Σ items' total_cost.")
    currency = serializers.CharField(help_text="The subscriptions' currency; empty without any.")


# --- bodies ------------------------------------------------------------------------------------


def usage_analytics_body(result: UsageAnalyticsResult, *, expand: frozenset[str]) -> dict[str, Any]:
    """The JSON body, built directly: a year of hourly points is too many for serializers."""
    expanded = _Expander(expand)
    return {
        "items": [_item_body(item, expanded) for item in result.items],
        "total_cost": result.total_cost,
        "currency": result.currency,
    }


def total_usage_display(item: UsageAnalyticsItem) -> str:
    feature = item.feature
    rate = feature.reporting_unit_conversion_rate if feature is not None else None
    if rate is None:
        return ""
    return format_decimal((item.total_usage * rate).quantize(DISPLAY_PLACES, ROUND_HALF_UP))


def _item_body(item: UsageAnalyticsItem, expanded: _Expander) -> dict[str, Any]:
    feature = item.feature
    meter = item.meter
    line_item = item.line_item
    body: dict[str, Any] = {
        "feature_id": feature.pk if feature is not None else None,
        "name": item.name,
        "event_name": meter.event_name,
        "source": item.source,
        "sources": list(item.sources),
        "properties": item.properties,
        "external_customer_id": item.external_customer_id,
        "aggregation_type": meter.aggregation_type,
        "total_usage": item.total_usage,
        "total_usage_display": total_usage_display(item),
        "reporting_unit": feature.reporting_unit if feature is not None else None,
        "total_cost": item.total_cost,
        "currency": item.currency,
        "event_count": item.event_count,
        "points": [_point_body(point) for point in item.points],
        "commitment_info": _commitment_body(item),
        "price_id": item.price.pk if item.price is not None else None,
        "meter_id": meter.pk,
        "subscription_id": item.subscription_id,
        "sub_line_item_id": line_item.pk if line_item is not None else None,
        "plan_id": item.plan.pk if item.plan is not None else None,
        "add_on_id": (
            line_item.entity_id
            if line_item is not None and line_item.entity_type == "addon"
            else None
        ),
        "unit": feature.unit_singular if feature is not None else "",
        "unit_plural": feature.unit_plural if feature is not None else "",
        "window_size": item.window_size,
    }
    body.update(expanded.objects(item))
    return body


def _point_body(point: UsageAnalyticsPoint) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timestamp": point.timestamp,
        "usage": point.usage,
        "cost": point.cost,
        "event_count": point.event_count,
    }
    if point.commitment is not None:
        body["computed_commitment_utilized_amount"] = point.commitment.utilized
        body["computed_overage_amount"] = point.commitment.overage
        body["computed_true_up_amount"] = point.commitment.true_up
    return body


def _commitment_body(item: UsageAnalyticsItem) -> dict[str, Any] | None:
    summary = item.commitment
    if summary is None:
        return None
    terms = summary.line_item
    return {
        "type": terms.commitment_type if terms is not None else None,
        "amount": terms.commitment_amount if terms is not None else None,
        "quantity": terms.commitment_quantity if terms is not None else None,
        "overage_factor": terms.commitment_overage_factor if terms is not None else None,
        "true_up_enabled": terms.commitment_true_up_enabled if terms is not None else None,
        "is_windowed": summary.windowed,
        "duration": (terms.commitment_duration or None) if terms is not None else None,
        "computed_commitment_utilized_amount": summary.utilized,
        "computed_overage_amount": summary.overage,
        "computed_true_up_amount": summary.true_up,
    }


class _Expander:
    """Expanded objects, each rendered once however many items share it."""

    def __init__(self, expand: frozenset[str]) -> None:
        self.expand = expand
        self.cache: dict[tuple[str, str], Any] = {}

    def _once(self, kind: str, row: Any, render: Any) -> Any:
        if row is None:
            return None
        key = (kind, row.pk)
        if key not in self.cache:
            self.cache[key] = render(row)
        return self.cache[key]

    def objects(self, item: UsageAnalyticsItem) -> Iterator[tuple[str, Any]]:
        if "price" in self.expand:
            yield (
                "price",
                self._once(
                    "price",
                    item.price,
                    lambda price: PriceSerializer(price, context={"expand_meter": False}).data,
                ),
            )
        if "meter" in self.expand:
            yield (
                "meter",
                self._once("meter", item.meter, lambda meter: MeterSerializer(meter).data),
            )
        if "feature" in self.expand:
            yield (
                "feature",
                self._once(
                    "feature", item.feature, lambda feature: FeatureSerializer(feature).data
                ),
            )
        if "subscription_line_item" in self.expand:
            yield (
                "subscription_line_item",
                self._once(
                    "line_item",
                    item.line_item,
                    lambda line_item: LineItemSerializer(line_item).data,
                ),
            )
        if "plan" in self.expand:
            yield "plan", self._once("plan", item.plan, lambda plan: PlanSerializer(plan).data)


# --- CSV ---------------------------------------------------------------------------------------


def usage_analytics_rows(
    result: UsageAnalyticsResult, *, group_by: tuple[str, ...]
) -> list[list[str]]:
    """The points as CSV rows, a header first. Without window_size each item is one row, its
    total, stamped with the range's start."""
    group_keys = [key for key in group_by if key != "feature_id"]
    header = [
        "feature_id",
        "name",
        "meter_id",
        *group_keys,
        "price_id",
        "sub_line_item_id",
        "timestamp",
        "usage",
        "cost",
        "event_count",
        "currency",
    ]
    rows = [header]
    for item in result.items:
        values = item.group_values
        lead = [
            item.feature.pk if item.feature is not None else "",
            csv_text(item.name),
            item.meter.pk,
            *(csv_text(values.get(key) or "") for key in group_keys),
            item.price.pk if item.price is not None else "",
            item.line_item.pk if item.line_item is not None else "",
        ]
        if result.window_size is None:
            rows.append(
                [
                    *lead,
                    format_datetime(result.start),
                    format_decimal(item.total_usage),
                    format_decimal(item.total_cost),
                    str(item.event_count),
                    item.currency,
                ]
            )
            continue
        for point in item.points:
            rows.append(
                [
                    *lead,
                    format_datetime(point.timestamp),
                    format_decimal(point.usage),
                    format_decimal(point.cost),
                    str(point.event_count),
                    item.currency,
                ]
            )
    return rows
