"""What a margin report says, built from two CostAnalytics (the period and the one before): KPIs
with their change, top customers and meters, the chart's series and the CSV rows (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from analytics.costs import CostAnalytics
from analytics.costs.export import breakdown_rows
from costsheets.formatting import money_text
from costsheets.pricing import HUNDRED, ZERO, ratio

TOP = 5
MONEY = "money"
PERCENT = "percent"


@dataclass(frozen=True)
class Kpi:
    """One headline number and how it moved since the previous period.

    For money, `change` is the difference and `change_percent` that difference relative to the
    previous value (None when the previous value was 0: there is nothing to compare with). For
    percentages (margin %, ROI %) `change` is in points and `change_percent` is None.
    """

    key: str
    label: str
    kind: str
    value: Decimal
    previous: Decimal
    change: Decimal
    change_percent: Decimal | None


@dataclass(frozen=True)
class RankedRow:
    """A customer or a meter in a top list."""

    key: str
    name: str
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_percent: Decimal


@dataclass(frozen=True)
class SeriesPoint:
    """One chart window: revenue, cost and margin of the window starting at `timestamp`."""

    timestamp: datetime
    revenue: Decimal
    cost: Decimal
    margin: Decimal


@dataclass(frozen=True)
class ReportData:
    """Everything the email shows, independent of how it is rendered.

    `series` has a point for every window of the period (0 where nothing happened);
    `csv_rows` is the full breakdown with its header, in the API's number format.
    """

    schedule_name: str
    scope_label: str
    period_label: str
    previous_period_label: str
    start: datetime
    end: datetime
    time_zone: str
    window_size: str
    currency: str
    is_empty: bool
    total_revenue: Decimal
    total_cost: Decimal
    margin: Decimal
    margin_percent: Decimal
    roi: Decimal
    roi_percent: Decimal
    kpis: tuple[Kpi, ...]
    top_customers_by_cost: tuple[RankedRow, ...]
    top_customers_by_margin: tuple[RankedRow, ...]
    top_meters_by_cost: tuple[RankedRow, ...]
    top_meters_by_margin: tuple[RankedRow, ...]
    customer_count: int
    meter_count: int
    series: tuple[SeriesPoint, ...]
    csv_rows: tuple[tuple[str, ...], ...]


def change_percent(value: Decimal, previous: Decimal) -> Decimal | None:
    """The change from `previous` in percent of |previous| (16 places, as SPEC §6 divides)."""
    if previous == ZERO:
        return None
    return ratio(value - previous, abs(previous)) * HUNDRED


def _kpi(key: str, label: str, kind: str, value: Decimal, previous: Decimal) -> Kpi:
    return Kpi(
        key=key,
        label=label,
        kind=kind,
        value=value,
        previous=previous,
        change=value - previous,
        change_percent=change_percent(value, previous) if kind == MONEY else None,
    )


def kpis(current: CostAnalytics, previous: CostAnalytics) -> tuple[Kpi, ...]:
    return (
        _kpi("revenue", "Revenue", MONEY, current.total_revenue, previous.total_revenue),
        _kpi("cost", "Cost", MONEY, current.total_cost, previous.total_cost),
        _kpi("margin", "Margin", MONEY, current.margin.margin, previous.margin.margin),
        _kpi(
            "margin_percent",
            "Margin %",
            PERCENT,
            current.margin.margin_percent,
            previous.margin.margin_percent,
        ),
        _kpi("roi", "ROI", PERCENT, current.margin.roi_percent, previous.margin.roi_percent),
    )


def _top(rows: Sequence[RankedRow], *, by: str, count: int) -> tuple[RankedRow, ...]:
    # Highest first; ties by name then key, so the order never depends on the input's.
    ranked = sorted(rows, key=lambda row: (-getattr(row, by), row.name, row.key))
    return tuple(row for row in ranked if getattr(row, by) != ZERO or by == "margin")[:count]


def report_data_build(
    *,
    current: CostAnalytics,
    previous: CostAnalytics,
    schedule_name: str,
    scope_label: str,
    period_label: str,
    previous_period_label: str,
    window_starts: Sequence[datetime],
    top: int = TOP,
) -> ReportData:
    """The report of `current`, compared with `previous` (the period before it, same scope)."""
    customers = [
        RankedRow(
            key=row.external_customer_id,
            name=row.customer_name or row.external_customer_id,
            revenue=row.revenue,
            cost=row.cost,
            margin=row.margin,
            margin_percent=row.margin_percent,
        )
        for row in current.by_customer()
    ]
    meters = [
        RankedRow(
            key=row.meter_id,
            name=row.meter_name or row.meter_id,
            revenue=row.revenue,
            cost=row.cost,
            margin=row.margin,
            margin_percent=row.margin_percent,
        )
        for row in current.by_meter()
    ]
    by_window = {point.timestamp: point for point in current.by_period()}
    series = []
    for start in sorted(set(window_starts) | set(by_window)):
        point = by_window.get(start)
        series.append(
            SeriesPoint(
                timestamp=start,
                revenue=point.revenue if point else ZERO,
                cost=point.cost if point else ZERO,
                margin=point.margin if point else ZERO,
            )
        )
    return ReportData(
        schedule_name=schedule_name,
        scope_label=scope_label,
        period_label=period_label,
        previous_period_label=previous_period_label,
        start=current.start,
        end=current.end,
        time_zone=current.time_zone,
        window_size=current.window_size or "DAY",
        currency=current.currency,
        is_empty=current.is_empty,
        total_revenue=current.total_revenue,
        total_cost=current.total_cost,
        margin=current.margin.margin,
        margin_percent=current.margin.margin_percent,
        roi=current.margin.roi,
        roi_percent=current.margin.roi_percent,
        kpis=kpis(current, previous),
        top_customers_by_cost=_top(customers, by="cost", count=top),
        top_customers_by_margin=_top(customers, by="margin", count=top),
        top_meters_by_cost=_top(meters, by="cost", count=top),
        top_meters_by_margin=_top(meters, by="margin", count=top),
        customer_count=len(customers),
        meter_count=len(meters),
        series=tuple(series),
        csv_rows=tuple(tuple(row) for row in breakdown_rows(current)),
    )


# --- how numbers read in the email ------------------------------------------------------------


def _rounded(value: Decimal, places: int) -> Decimal:
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def percent_text(value: Decimal) -> str:
    """`66.7 %` (one place, halves away from zero)."""
    return f"{_rounded(value, 1):.1f} %"


def signed(text: str) -> str:
    return text if text.startswith("-") else f"+{text}"


def kpi_value_text(kpi: Kpi, currency: str) -> str:
    if kpi.kind == MONEY:
        return money_text(kpi.value, currency)
    return percent_text(kpi.value)


def kpi_change_text(kpi: Kpi, currency: str) -> str:
    """`+$12.00 (+25.0 %)`, `-3.2 pts` or `no change`."""
    if kpi.change == ZERO:
        return "no change"
    if kpi.kind == MONEY:
        text = signed(money_text(kpi.change, currency))
        if kpi.change_percent is not None:
            text += f" ({signed(percent_text(kpi.change_percent))})"
        return text
    return signed(percent_text(kpi.change)).replace(" %", " pts")
