"""Cost analytics as CSV rows: the full breakdown, one row per (customer, meter)."""

from __future__ import annotations

from analytics.costs.results import CostAnalytics
from flexprice_site.rendering import format_decimal

BREAKDOWN_HEADER = [
    "external_customer_id",
    "customer_name",
    "meter_id",
    "meter_name",
    "quantity",
    "events",
    "revenue",
    "cost",
    "margin",
    "margin_percent",
    "currency",
]


def breakdown_rows(result: CostAnalytics) -> list[list[str]]:
    """The header and a row per (customer, meter) with usage, revenue or cost; exact numbers
    as the API writes them (no thousands separators, no currency symbols)."""
    rows = [list(BREAKDOWN_HEADER)]
    for row in result.by_customer_meter():
        rows.append(
            [
                csv_text(row.external_customer_id),
                csv_text(row.customer_name),
                row.meter_id,
                csv_text(row.meter_name),
                format_decimal(row.quantity),
                str(row.events),
                format_decimal(row.revenue),
                format_decimal(row.cost),
                format_decimal(row.margin),
                format_decimal(row.margin_percent),
                result.currency,
            ]
        )
    return rows


def csv_text(text: str) -> str:
    """Text a spreadsheet must not read as a formula (names and IDs are the tenant's customers'
    input): a leading = + - @ tab or carriage return is escaped with a quote."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
