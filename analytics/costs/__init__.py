"""Cost and margin analytics: costsheet prices times usage, against revenue (SPEC §6)."""

from analytics.costs.results import (
    CostAnalytics,
    CostItem,
    CustomerMargin,
    CustomerMeterMargin,
    MeterMargin,
    PeriodAmount,
    PeriodMargin,
    RevenueItem,
)
from analytics.costs.selectors import ITEM_PERIODS, PERIOD_TOTALS, cost_analytics

__all__ = [
    "ITEM_PERIODS",
    "PERIOD_TOTALS",
    "CostAnalytics",
    "CostItem",
    "CustomerMargin",
    "CustomerMeterMargin",
    "MeterMargin",
    "PeriodAmount",
    "PeriodMargin",
    "RevenueItem",
    "cost_analytics",
]
