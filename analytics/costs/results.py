"""What cost analytics answers: cost and revenue items, totals and margin views (frozen)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from costsheets.pricing import ZERO, MarginSummary, margin_summary


@dataclass(frozen=True)
class PeriodAmount:
    """One window with usage: its start, usage, money (cost or revenue) and events."""

    timestamp: datetime
    quantity: Decimal
    amount: Decimal
    event_count: int


@dataclass(frozen=True)
class CostItem:
    """What one customer's usage of one meter cost us under one costsheet price.

    `total_cost` is rounded to the price's currency; each period is priced on its own (SPEC
    §4), so the periods need not add up to the total when tiers apply. `customer_id` and
    `customer_name` are empty for usage of an external customer ID no customer has.
    """

    external_customer_id: str
    customer_id: str
    customer_name: str
    meter_id: str
    meter_name: str
    price_id: str
    costsheet_id: str
    total_quantity: Decimal
    total_events: int
    total_cost: Decimal
    periods: tuple[PeriodAmount, ...]
    currency: str = ""


@dataclass(frozen=True)
class RevenueItem:
    """What one customer's usage of one feature earned, as usage analytics prices it (SPEC §5):
    with one line item (`line_item_id`), or — tenant-wide — with every line item of the customer
    for that feature (`price_id` / `line_item_id` / `subscription_id` set only when one). Usage
    no line item prices is an item with `total_revenue` 0."""

    external_customer_id: str
    customer_id: str
    customer_name: str
    meter_id: str
    meter_name: str
    feature_id: str | None
    price_id: str | None
    line_item_id: str | None
    subscription_id: str | None
    total_usage: Decimal
    total_revenue: Decimal
    periods: tuple[PeriodAmount, ...]
    total_events: int = 0
    feature_name: str = ""


@dataclass(frozen=True)
class CustomerMargin:
    external_customer_id: str
    customer_name: str
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_percent: Decimal
    customer_id: str = ""
    roi: Decimal = ZERO


@dataclass(frozen=True)
class MeterMargin:
    meter_id: str
    meter_name: str
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_percent: Decimal = ZERO
    quantity: Decimal = ZERO


@dataclass(frozen=True)
class PeriodMargin:
    timestamp: datetime
    revenue: Decimal
    cost: Decimal
    margin: Decimal


@dataclass(frozen=True)
class CustomerMeterMargin:
    """One row of the full breakdown: a customer's revenue and cost of one meter."""

    external_customer_id: str
    customer_name: str
    meter_id: str
    meter_name: str
    quantity: Decimal
    events: int
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_percent: Decimal


@dataclass
class _Sums:
    name: str = ""
    customer_id: str = ""
    revenue: Decimal = ZERO
    cost: Decimal = ZERO
    quantity: Decimal = ZERO
    events: int = 0


@dataclass(frozen=True)
class CostAnalytics:
    """Cost (costsheet prices applied to usage) and revenue (subscription line items applied to
    usage) of one scope over `[start, end)`, with the SPEC §6 margin of the totals.

    `costsheet_id` is None when no costsheet prices the usage (then `total_cost` is 0).
    `window_size` is the periods' window (None: no periods).
    """

    start: datetime
    end: datetime
    currency: str
    costsheet_id: str | None
    total_cost: Decimal
    total_revenue: Decimal
    margin: MarginSummary
    cost_items: tuple[CostItem, ...]
    revenue_items: tuple[RevenueItem, ...]
    window_size: str | None = None
    time_zone: str = "UTC"
    external_customer_id: str | None = None
    include_children: bool = False
    # False when only a page of cost items carries periods (cost_analytics(page=…)).
    periods_complete: bool = True
    # The periods' sums, when the items carry none (cost_analytics(periods=PERIOD_TOTALS)).
    period_totals: tuple[PeriodMargin, ...] | None = None

    @property
    def is_empty(self) -> bool:
        """True when the scope had no usage at all in the range (a true-up may still earn)."""
        return not self.cost_items and not any(item.total_events for item in self.revenue_items)

    def by_customer(self) -> list[CustomerMargin]:
        """Revenue, cost and margin per customer, by external customer ID."""
        sums: dict[str, _Sums] = defaultdict(_Sums)
        for item in self.revenue_items:
            one = sums[item.external_customer_id]
            one.name, one.customer_id = item.customer_name, item.customer_id
            one.revenue += item.total_revenue
        for cost_item in self.cost_items:
            one = sums[cost_item.external_customer_id]
            one.name, one.customer_id = cost_item.customer_name, cost_item.customer_id
            one.cost += cost_item.total_cost
        rows = []
        for external_id in sorted(sums):
            one = sums[external_id]
            summary = margin_summary(one.revenue, one.cost)
            rows.append(
                CustomerMargin(
                    external_customer_id=external_id,
                    customer_name=one.name,
                    revenue=one.revenue,
                    cost=one.cost,
                    margin=summary.margin,
                    margin_percent=summary.margin_percent,
                    customer_id=one.customer_id,
                    roi=summary.roi,
                )
            )
        return rows

    def by_meter(self) -> list[MeterMargin]:
        """Revenue, cost and margin per meter, by meter name. The quantity is the usage the
        costsheet priced (the revenue side's when no cost price covers the meter)."""
        sums: dict[str, _Sums] = defaultdict(_Sums)
        costed: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for item in self.revenue_items:
            one = sums[item.meter_id]
            one.name = item.meter_name
            one.revenue += item.total_revenue
            one.quantity += item.total_usage
        # One meter may carry several cost prices; its usage is counted once per customer.
        seen: set[tuple[str, str]] = set()
        for cost_item in self.cost_items:
            one = sums[cost_item.meter_id]
            one.name = cost_item.meter_name
            one.cost += cost_item.total_cost
            key = (cost_item.external_customer_id, cost_item.meter_id)
            if key not in seen:
                seen.add(key)
                costed[cost_item.meter_id] += cost_item.total_quantity
        rows = []
        for meter_id, one in sums.items():
            summary = margin_summary(one.revenue, one.cost)
            rows.append(
                MeterMargin(
                    meter_id=meter_id,
                    meter_name=one.name,
                    revenue=one.revenue,
                    cost=one.cost,
                    margin=summary.margin,
                    margin_percent=summary.margin_percent,
                    quantity=costed.get(meter_id, one.quantity),
                )
            )
        rows.sort(key=lambda row: (row.meter_name, row.meter_id))
        return rows

    def by_period(self) -> list[PeriodMargin]:
        """Revenue, cost and margin per window start, ascending (each period priced on its own,
        so the periods need not add up to the totals when tiers or commitments apply)."""
        if self.period_totals is not None:
            return list(self.period_totals)
        if not self.periods_complete:
            raise ValueError("only a page of items carries periods: ask for every period")
        revenue: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
        cost: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
        for item in self.revenue_items:
            _add(revenue, item.periods)
        for cost_item in self.cost_items:
            _add(cost, cost_item.periods)
        return [
            PeriodMargin(
                timestamp=moment,
                revenue=revenue.get(moment, ZERO),
                cost=cost.get(moment, ZERO),
                margin=revenue.get(moment, ZERO) - cost.get(moment, ZERO),
            )
            for moment in sorted(set(revenue) | set(cost))
        ]

    def by_customer_meter(self) -> list[CustomerMeterMargin]:
        """The full breakdown: one row per (customer, meter), by customer then meter name."""
        sums: dict[tuple[str, str], _Sums] = defaultdict(_Sums)
        names: dict[str, str] = {}
        meter_names: dict[str, str] = {}
        usage_from_cost: set[tuple[str, str]] = set()
        for cost_item in self.cost_items:
            key = (cost_item.external_customer_id, cost_item.meter_id)
            one = sums[key]
            names[key[0]] = cost_item.customer_name
            meter_names[key[1]] = cost_item.meter_name
            one.cost += cost_item.total_cost
            if key not in usage_from_cost:
                usage_from_cost.add(key)
                one.quantity += cost_item.total_quantity
                one.events += cost_item.total_events
        for item in self.revenue_items:
            key = (item.external_customer_id, item.meter_id)
            one = sums[key]
            names.setdefault(key[0], item.customer_name)
            meter_names.setdefault(key[1], item.meter_name)
            one.revenue += item.total_revenue
            if key not in usage_from_cost:
                one.quantity += item.total_usage
                one.events += item.total_events
        rows = []
        for (external_id, meter_id), one in sums.items():
            summary = margin_summary(one.revenue, one.cost)
            rows.append(
                CustomerMeterMargin(
                    external_customer_id=external_id,
                    customer_name=names.get(external_id, ""),
                    meter_id=meter_id,
                    meter_name=meter_names.get(meter_id, ""),
                    quantity=one.quantity,
                    events=one.events,
                    revenue=one.revenue,
                    cost=one.cost,
                    margin=summary.margin,
                    margin_percent=summary.margin_percent,
                )
            )
        rows.sort(key=lambda row: (row.external_customer_id, row.meter_name, row.meter_id))
        return rows


def _add(into: dict[datetime, Decimal], periods: Iterable[PeriodAmount]) -> None:
    for period in periods:
        into[period.timestamp] += period.amount
