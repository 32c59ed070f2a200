"""Request and response shapes of POST /v1/costs/analytics-v2 (Flexprice's field names)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
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
from analytics.costs import CostAnalytics, CostItem
from costsheets.api.common import EnumField, KnownKeysOnlyMixin, StrictStringField
from costsheets.api.prices import PriceSerializer
from costsheets.api.serializers import MeterSerializer
from costsheets.models import Meter, Price, WindowSize
from flexprice_site.pagination import DEFAULT_LIMIT, LimitField, OffsetField, Page
from flexprice_site.rendering import MoneyField, UtcDateTimeField

EXPANDABLE = ("meter", "price")


@dataclass(frozen=True)
class CostAnalyticsQuestion:
    """A checked request: the selector's arguments, the page and what to expand."""

    arguments: Mapping[str, Any]
    page: Page
    expand: frozenset[str]


# --- request -----------------------------------------------------------------------------------


# drf-spectacular adds "Request": the schema shows the seed's GetCostAnalyticsRequest.
@extend_schema_serializer(component_name="GetCostAnalytics")
class CostAnalyticsRequestSerializer(
    KnownKeysOnlyMixin, ScopeValidationMixin, serializers.Serializer
):
    """Whose cost and revenue, over which range. Every field is optional: the default is every
    customer over the last 7 days, priced with the active costsheet."""

    start_time = UtcDateTimeField(
        required=False, help_text="Inclusive. With end_time, or neither (the last 7 days)."
    )
    end_time = UtcDateTimeField(required=False, help_text="Exclusive. With start_time.")
    external_customer_id = StrictStringField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="One customer; every customer when left out.",
    )
    feature_ids = serializers.ListField(
        child=StrictStringField(max_length=64),
        required=False,
        max_length=MAX_LIST,
        help_text="Only the usage of these metered features' meters.",
    )
    include_children = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Fold the customer's children (and theirs) into its usage: their usage is "
        "costed and priced as the customer's.",
    )
    property_filters = serializers.DictField(
        child=serializers.ListField(child=PropertyValueField(), min_length=1),
        required=False,
        help_text="Only events whose properties match: {key: [values]} (AND across keys, OR "
        "across values).",
    )
    expand = serializers.ListField(
        child=EnumField([(name, name) for name in EXPANDABLE], enum_name="CostAnalyticsExpand"),
        required=False,
        help_text="meter and/or price: embed them in each cost_analytics item.",
    )
    limit = LimitField(
        required=False,
        help_text=f"cost_analytics items per page (default {DEFAULT_LIMIT}); totals cover all.",
    )
    offset = OffsetField(required=False)
    window_size = EnumField(
        WindowSize,
        required=False,
        default=WindowSize.DAY,
        help_text="Extension: the window of cost_by_period (default DAY).",
    )
    time_zone = StrictStringField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Extension: the IANA time zone windows align in. Default: the customer's, "
        "else UTC.",
    )
    costsheet_id = StrictStringField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="Extension: price cost with this costsheet instead of the active one.",
    )
    currency = StrictStringField(
        required=False,
        allow_blank=True,
        max_length=3,
        help_text="Extension: only prices and line items in this currency (when the scope has "
        "several).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, CostAnalyticsQuestion]:
        start, end = attrs.get("start_time"), attrs.get("end_time")
        if (start is None) != (end is None):
            given, missing = ("start_time", "end_time")
            if start is None:
                given, missing = missing, given
            raise serializers.ValidationError(
                {missing: [f"Give {missing} with {given}, or neither (the last 7 days)."]}
            )
        if start is None or end is None:
            end = timezone.now().astimezone(UTC)
            start = end - DEFAULT_RANGE
        window_size = attrs["window_size"]
        check_range(start, end, window_size)
        if attrs.get("include_children") and not attrs.get("external_customer_id"):
            raise serializers.ValidationError(
                {
                    "include_children": [
                        "include_children folds a customer's children into it: give "
                        "external_customer_id."
                    ]
                }
            )
        arguments = {
            "start": start,
            "end": end,
            "external_customer_id": attrs.get("external_customer_id") or None,
            "feature_ids": tuple(dict.fromkeys(attrs.get("feature_ids", []))),
            "include_children": attrs.get("include_children", False),
            "property_filters": attrs.get("property_filters", {}),
            "window_size": window_size,
            "time_zone": attrs.get("time_zone"),
            "costsheet_id": attrs.get("costsheet_id") or None,
            "currency": attrs.get("currency"),
        }
        page = Page(limit=attrs.get("limit", DEFAULT_LIMIT), offset=attrs.get("offset", 0))
        question = CostAnalyticsQuestion(
            arguments=arguments, page=page, expand=frozenset(attrs.get("expand", []))
        )
        return {"question": question}


# --- response (the schema; bodies are built by `cost_analytics_body`) -------------------------


@extend_schema_serializer(component_name="CostPoint")
class CostPointSerializer(serializers.Serializer):
    """One window with usage; `timestamp` is the window's start."""

    timestamp = UtcDateTimeField()
    quantity = MoneyField()
    cost = MoneyField(help_text="The window's usage priced on its own.")
    event_count = serializers.IntegerField()


@extend_schema_serializer(component_name="CostAnalyticItem")
class CostAnalyticItemSerializer(serializers.Serializer):
    """What one customer's usage of one meter cost under one costsheet price."""

    external_customer_id = serializers.CharField()
    customer_id = serializers.CharField(
        allow_null=True, help_text="Null for usage of an external ID no customer has."
    )
    customer_name = serializers.CharField(help_text="Extension.")
    meter_id = serializers.CharField()
    meter_name = serializers.CharField()
    price_id = serializers.CharField()
    costsheet_id = serializers.CharField()
    currency = serializers.CharField()
    properties = serializers.DictField(child=serializers.CharField())
    total_quantity = MoneyField()
    total_events = serializers.IntegerField()
    total_cost = MoneyField(help_text="Rounded to the currency.")
    window_size = EnumField(WindowSize, help_text="Extension: the window of cost_by_period.")
    cost_by_period = CostPointSerializer(many=True)
    meter = MeterSerializer(required=False, help_text="With expand=meter.")
    price = PriceSerializer(required=False, help_text="With expand=price.")


class CostAnalyticsPaginationSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    total = serializers.IntegerField(help_text="cost_analytics items in all.")


@extend_schema_serializer(component_name="GetDetailedCostAnalyticsResponse")
class CostAnalyticsResponseSerializer(serializers.Serializer):
    cost_analytics = CostAnalyticItemSerializer(many=True, help_text="One page of the items.")
    total_cost = MoneyField(help_text="Σ every item's total_cost.")
    total_revenue = MoneyField(
        help_text="The same usage priced with subscription line items (as /v1/events/analytics)."
    )
    margin = MoneyField(help_text="total_revenue − total_cost.")
    margin_percent = MoneyField(help_text="margin / total_revenue × 100 (0 without revenue).")
    roi = MoneyField(help_text="margin / total_cost (0 without cost).")
    roi_percent = MoneyField(help_text="roi × 100.")
    currency = serializers.CharField(help_text="Empty when nothing in the scope is priced.")
    start_time = UtcDateTimeField()
    end_time = UtcDateTimeField()
    costsheet_id = serializers.CharField(
        allow_null=True, help_text="Extension: the costsheet that priced cost (null: none)."
    )
    window_size = EnumField(WindowSize, help_text="Extension.")
    pagination = CostAnalyticsPaginationSerializer(help_text="Extension: of cost_analytics.")


# --- bodies ------------------------------------------------------------------------------------


def cost_analytics_body(
    result: CostAnalytics,
    *,
    page: Page,
    meters: Mapping[str, Meter] | None = None,
    prices: Mapping[str, Price] | None = None,
) -> dict[str, Any]:
    """The JSON body, built directly (a year of hourly periods is too many for serializers).
    `meters` / `prices` are the expanded rows by id, when asked for."""
    items = result.cost_items[page.offset : page.offset + page.limit]
    rendered: dict[tuple[str, str], Any] = {}
    return {
        "cost_analytics": [
            _item_body(item, result.window_size, meters, prices, rendered) for item in items
        ],
        "total_cost": result.total_cost,
        "total_revenue": result.total_revenue,
        "margin": result.margin.margin,
        "margin_percent": result.margin.margin_percent,
        "roi": result.margin.roi,
        "roi_percent": result.margin.roi_percent,
        "currency": result.currency,
        "start_time": result.start,
        "end_time": result.end,
        "costsheet_id": result.costsheet_id,
        "window_size": result.window_size,
        "pagination": {
            "limit": page.limit,
            "offset": page.offset,
            "total": len(result.cost_items),
        },
    }


def page_items(result: CostAnalytics, page: Page) -> Sequence[CostItem]:
    return result.cost_items[page.offset : page.offset + page.limit]


def _item_body(
    item: CostItem,
    window_size: str | None,
    meters: Mapping[str, Meter] | None,
    prices: Mapping[str, Price] | None,
    rendered: dict[tuple[str, str], Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_customer_id": item.external_customer_id,
        "customer_id": item.customer_id or None,
        "customer_name": item.customer_name,
        "meter_id": item.meter_id,
        "meter_name": item.meter_name,
        "price_id": item.price_id,
        "costsheet_id": item.costsheet_id,
        "currency": item.currency,
        "properties": {},
        "total_quantity": item.total_quantity,
        "total_events": item.total_events,
        "total_cost": item.total_cost,
        "window_size": window_size,
        "cost_by_period": [
            {
                "timestamp": period.timestamp,
                "quantity": period.quantity,
                "cost": period.amount,
                "event_count": period.event_count,
            }
            for period in item.periods
        ],
    }
    # Each expanded row is rendered once, however many items share it.
    if meters is not None:
        key = ("meter", item.meter_id)
        if key not in rendered:
            rendered[key] = MeterSerializer(meters[item.meter_id]).data
        body["meter"] = rendered[key]
    if prices is not None:
        key = ("price", item.price_id)
        if key not in rendered:
            price = prices[item.price_id]
            rendered[key] = PriceSerializer(price, context={"expand_meter": False}).data
        body["price"] = rendered[key]
    return body


def expanded_ids(items: Sequence[CostItem]) -> tuple[list[str], list[str]]:
    """(meter ids, price ids) of a page of items, each once, in order."""
    meter_ids = list(dict.fromkeys(item.meter_id for item in items))
    price_ids = list(dict.fromkeys(item.price_id for item in items))
    return meter_ids, price_ids
