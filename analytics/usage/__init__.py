"""Usage analytics: metered usage per feature, priced with subscription line items (SPEC §5)."""

from analytics.usage.revenue import LineItemRevenue, revenue_by_line_item
from analytics.usage.scope import BillingUnit, billing_units
from analytics.usage.selectors import usage_analytics, usage_revenue
from analytics.usage.types import (
    CommitmentSummary,
    UsageAnalyticsItem,
    UsageAnalyticsPoint,
    UsageAnalyticsRequest,
    UsageAnalyticsResult,
)

__all__ = [
    "BillingUnit",
    "CommitmentSummary",
    "LineItemRevenue",
    "UsageAnalyticsItem",
    "UsageAnalyticsPoint",
    "UsageAnalyticsRequest",
    "UsageAnalyticsResult",
    "billing_units",
    "revenue_by_line_item",
    "usage_analytics",
    "usage_revenue",
]
