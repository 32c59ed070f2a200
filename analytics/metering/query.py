"""What the metering engine is asked (UsageQuery) and what it answers (UsageSeries, …)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analytics.metering.windows import WINDOW_SIZES
from costsheets.validation import PROPERTY_NAME_PATTERN, ROLLUP_PROPERTY_PATTERN

if TYPE_CHECKING:
    from costsheets.models import Meter

# Grouped properties are the ones a meter may keep in rollups; request filters name the same
# properties meters do. One rule each, in costsheets.validation.
GROUP_BY_PROPERTY_PATTERN = re.compile(rf"properties\.({ROLLUP_PROPERTY_PATTERN.pattern})")
FILTER_KEY_PATTERN = PROPERTY_NAME_PATTERN
# The group_by key of the event's external customer ID (the API calls it external_customer_id).
CUSTOMER_KEY = "customer"
GROUP_BY_FIELDS = ("source", CUSTOMER_KEY)


def group_by_property(key: str) -> str | None:
    """`"properties.region"` → `"region"`; `"source"` and `"customer"` → None."""
    match = GROUP_BY_PROPERTY_PATTERN.fullmatch(key)
    return match.group(1) if match else None


def _strings(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{what} must be a list of strings")
    if not all(isinstance(item, str) for item in value):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class UsageQuery:
    """Usage of `meters` over `[start, end)` in one environment; see docs/metering.md.

    Lists may be given as any sequence; they are kept as tuples. Invalid values raise
    ValueError here, before any SQL runs.
    """

    environment_id: str
    meters: Sequence[Meter]
    start: datetime
    end: datetime
    external_customer_ids: Sequence[str] | None = None
    window_size: str | None = None
    time_zone: str = "UTC"
    billing_anchor: datetime | None = None
    group_by: Sequence[str] = ()
    property_filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    sources: Sequence[str] | None = None
    # Only which groups had events, and how many: series with `event_count` and no value (no
    # total, points or buckets), computed without the aggregation's measures — e.g. the
    # sources of a COUNT_UNIQUE meter, without counting its distinct values. No windows.
    counts_only: bool = False
    # Each series also lists the sources of its events (UsageSeries.sources), read by the same
    # statement.
    with_sources: bool = False
    # Each point holds what the series amounts to from `start` to the end of its window (the
    # running sum and count, the distinct values so far, the running max, the latest value so
    # far, the running average, the weighted sum over [start, window end)), not the window's own
    # usage. Points stay where windows have events. Needs windows. See docs/metering.md.
    cumulative: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        if not self.start < self.end:
            raise ValueError("start must be before end")
        if self.billing_anchor is not None and self.billing_anchor.tzinfo is None:
            raise ValueError("billing_anchor must be an aware datetime")
        if self.counts_only and self.window_size is not None:
            raise ValueError("a counts_only query has no windows")
        if self.cumulative and self.window_size is None:
            raise ValueError("a cumulative query needs a window_size")
        if self.window_size is not None and self.window_size not in WINDOW_SIZES:
            raise ValueError(
                f"{self.window_size!r} is not a window size; use one of {', '.join(WINDOW_SIZES)}"
            )
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"{self.time_zone!r} is not an IANA time zone") from None
        meters = tuple(self.meters)
        for meter in meters:
            if meter.environment_id != self.environment_id:
                raise ValueError(f"meter {meter.pk} belongs to another environment")
        object.__setattr__(self, "meters", meters)
        group_by = _strings(self.group_by, "group_by")
        for key in group_by:
            if key not in GROUP_BY_FIELDS and group_by_property(key) is None:
                raise ValueError(
                    f"{key!r} can't be grouped by; use source, customer or properties.<name> "
                    "(letters, digits, _ . -; up to 64 characters)"
                )
        if len(set(group_by)) != len(group_by):
            raise ValueError("group_by names a key twice")
        object.__setattr__(self, "group_by", group_by)
        filters = {}
        for key, values in dict(self.property_filters).items():
            if not isinstance(key, str) or FILTER_KEY_PATTERN.fullmatch(key) is None:
                raise ValueError(f"{key!r} is not a usable property name to filter on")
            filters[key] = _strings(values, f"property_filters[{key!r}]")
            if not filters[key]:
                raise ValueError(f"property_filters[{key!r}] needs at least one value")
        object.__setattr__(self, "property_filters", filters)
        for name in ("external_customer_ids", "sources"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _strings(value, name))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Bucket:
    """One bucket of a bucketed meter (per `group_value` of the meter's group_by, if any).

    `start` is the bucket's start; a bucket that crosses a window's edge is split, and each
    point holds its own part."""

    start: datetime
    group_value: str | None
    value: Decimal


class UsagePoint(NamedTuple):
    """Usage in one window: `timestamp` is the window's start (aware, UTC).

    A named tuple, not a dataclass: a tenant-wide month is 217k points, and a tuple is built
    in half the time."""

    timestamp: datetime
    value: Decimal | None
    event_count: int
    buckets: tuple[Bucket, ...] = ()


@dataclass(frozen=True)
class UsageSeries:
    """One meter's usage for one combination of group-by values."""

    meter_id: str
    group: Mapping[str, str | None]
    total: Decimal | None
    event_count: int
    points: tuple[UsagePoint, ...] = ()
    buckets: tuple[Bucket, ...] = ()
    # The sources of the series' events, ascending, empty ones left out (queries asked
    # `with_sources`; empty otherwise).
    sources: tuple[str, ...] = ()
