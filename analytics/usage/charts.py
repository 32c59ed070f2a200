"""The admin's usage chart of a meter: daily usage and top customers, from usage_analytics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from analytics.usage.selectors import usage_analytics
from analytics.usage.types import GROUP_CUSTOMER, UsageAnalyticsRequest
from costsheets.models import Meter, WindowSize
from costsheets.pricing import ZERO
from flexprice_site.errors import InvalidOperation
from flexprice_site.models import Environment

CHART_DAYS = 30
TOP_CUSTOMERS = 10


@dataclass(frozen=True)
class CustomerUsage:
    external_customer_id: str
    usage: Decimal
    event_count: int
    revenue: Decimal
    currency: str


@dataclass(frozen=True)
class MeterUsageChart:
    """Usage of one meter over the last `CHART_DAYS` days (UTC), every day listed."""

    start: datetime
    end: datetime
    days: tuple[tuple[datetime, Decimal, int], ...]
    total_usage: Decimal
    event_count: int
    top_customers: tuple[CustomerUsage, ...]
    # Why revenue is not shown, when it is not.
    revenue_note: str = ""


def meter_usage_chart(*, meter: Meter, now: datetime) -> MeterUsageChart:
    """Daily usage of `meter` from `CHART_DAYS - 1` days ago (UTC midnight) to `now`, and the
    customers who used it most, with the revenue their line items earned from it."""
    environment: Environment = meter.environment
    end = now.astimezone(UTC)
    start = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=CHART_DAYS - 1)
    daily_request = UsageAnalyticsRequest(
        start=start,
        end=end,
        meter_ids=(meter.pk,),
        window_size=WindowSize.DAY,
        time_zone="UTC",
        priced=False,
        with_sources=False,
    )
    daily = usage_analytics(environment=environment, request=daily_request)
    by_day: dict[datetime, tuple[Decimal, int]] = {}
    total_usage, event_count = ZERO, 0
    for item in daily.items:
        total_usage, event_count = item.total_usage, item.event_count
        by_day = {point.timestamp: (point.usage, point.event_count) for point in item.points}
    days = tuple(
        (day, *by_day.get(day, (ZERO, 0)))
        for day in (start + timedelta(days=offset) for offset in range(CHART_DAYS))
    )

    customers_request = UsageAnalyticsRequest(
        start=start,
        end=end,
        meter_ids=(meter.pk,),
        group_by=(GROUP_CUSTOMER,),
        time_zone="UTC",
        with_sources=False,
    )
    note = ""
    try:
        by_customer = usage_analytics(environment=environment, request=customers_request)
    except InvalidOperation:
        note = "Revenue is not shown: this meter's line items are in several currencies."
        unpriced = UsageAnalyticsRequest(
            start=start,
            end=end,
            meter_ids=(meter.pk,),
            group_by=(GROUP_CUSTOMER,),
            time_zone="UTC",
            priced=False,
            with_sources=False,
        )
        by_customer = usage_analytics(environment=environment, request=unpriced)
    ranked = sorted(
        by_customer.items,
        key=lambda item: (-item.total_usage, -item.event_count, item.external_customer_id or ""),
    )
    top = tuple(
        CustomerUsage(
            external_customer_id=item.external_customer_id or "",
            usage=item.total_usage,
            event_count=item.event_count,
            revenue=item.total_cost,
            currency=item.currency,
        )
        for item in ranked[:TOP_CUSTOMERS]
    )
    return MeterUsageChart(
        start=start,
        end=end,
        days=days,
        total_usage=total_usage,
        event_count=event_count,
        top_customers=top,
        revenue_note=note,
    )
