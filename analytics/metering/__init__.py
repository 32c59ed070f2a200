"""The metering engine: how stored events become usage numbers (SPEC §3, docs/metering.md)."""

from analytics.metering.query import Bucket, UsagePoint, UsageQuery, UsageSeries
from analytics.metering.selectors import meter_usage, shared_answers, usage_from_partials

__all__ = [
    "Bucket",
    "UsagePoint",
    "UsageQuery",
    "UsageSeries",
    "meter_usage",
    "shared_answers",
    "usage_from_partials",
]
