"""Reads for margin reports: a schedule's numbers for a period, from cost_analytics (SPEC §6)."""

from __future__ import annotations

from typing import Any

from analytics.costs import PERIOD_TOTALS, cost_analytics
from analytics.reports.content import ReportData, report_data_build
from analytics.reports.models import ReportSchedule
from analytics.reports.periods import (
    Period,
    period_before,
    period_label,
    window_size_for,
    window_starts,
)


def schedule_scope_label(schedule: ReportSchedule) -> str:
    """ "All customers", "Acme (acme-1)" or "Acme (acme-1) and its child customers"."""
    customer = schedule.customer
    if customer is None:
        return "All customers"
    name = customer.name or customer.external_customer_id
    label = (
        f"{name} ({customer.external_customer_id})"
        if customer.name and customer.name != customer.external_customer_id
        else name
    )
    return f"{label} and its child customers" if schedule.include_children else label


def schedule_analytics_arguments(schedule: ReportSchedule) -> dict[str, Any]:
    """The scope of cost_analytics (and of POST /v1/costs/analytics-v2) the schedule reports on."""
    customer = schedule.customer
    return {
        "environment": schedule.environment,
        "external_customer_id": customer.external_customer_id if customer else None,
        "include_children": bool(customer) and schedule.include_children,
        "time_zone": schedule.time_zone,
        "currency": schedule.currency or None,
    }


def report_data_for(*, schedule: ReportSchedule, period: Period) -> ReportData:
    """The report of `period`: its cost analytics (with the chart's windows) and the totals of
    the period before, for the change. Raises the selector's ApiError when the scope can't be
    computed (a deleted customer, prices in several currencies)."""
    zone = schedule.zone
    previous = period_before(schedule.cadence, period, zone)
    arguments = schedule_analytics_arguments(schedule)
    current = cost_analytics(
        start=period.start,
        end=period.end,
        window_size=window_size_for(schedule.cadence),
        periods=PERIOD_TOTALS,
        **arguments,
    )
    # Only the previous period's totals are compared: no windows needed.
    before = cost_analytics(start=previous.start, end=previous.end, window_size=None, **arguments)
    return report_data_build(
        current=current,
        previous=before,
        schedule_name=schedule.name,
        scope_label=schedule_scope_label(schedule),
        period_label=period_label(schedule.cadence, period, zone),
        previous_period_label=period_label(schedule.cadence, previous, zone),
        window_starts=window_starts(schedule.cadence, period, zone),
    )
