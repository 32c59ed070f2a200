"""The question usage analytics answers and the shape of its answer (frozen dataclasses)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from costsheets.models import Feature, Meter, Plan, Price, SubscriptionLineItem
from costsheets.pricing import CommitmentResult

# `group_by` keys of the API (SPEC §5); `external_customer_id` is our extension.
GROUP_SOURCE = "source"
GROUP_FEATURE = "feature_id"
GROUP_CUSTOMER = "external_customer_id"
PROPERTY_PREFIX = "properties."
# The metering engine's whitelist for property names (docs/metering.md).
PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")

EXPANDABLE = ("price", "meter", "feature", "subscription_line_item", "plan", "addon")


def group_key_error(key: str) -> str | None:
    """Why `key` is not a usable group_by key, or None when it is."""
    if key in (GROUP_SOURCE, GROUP_FEATURE, GROUP_CUSTOMER):
        return None
    if key.startswith(PROPERTY_PREFIX):
        name = key.removeprefix(PROPERTY_PREFIX)
        if PROPERTY_NAME.fullmatch(name):
            return None
        return (
            f"“{name}” is not a property name this API groups by: letters, digits, _ . - "
            "(starting with a letter or _), at most 64 characters."
        )
    return (
        f"“{key}” is not a group_by key. Use source, feature_id, external_customer_id or "
        "properties.<name>."
    )


def engine_group_key(key: str) -> str | None:
    """The metering engine's name for an API group_by key (None: items are per feature anyway)."""
    if key == GROUP_FEATURE:
        return None
    if key == GROUP_CUSTOMER:
        return "customer"
    return key


@dataclass(frozen=True)
class UsageAnalyticsRequest:
    """What to report: a range, a scope of customers, a selection of features (or meters) and
    how to slice it. Values are already validated (the API's serializer does it)."""

    start: datetime
    end: datetime
    # None of them: every customer of the environment (tenant-wide).
    external_customer_ids: tuple[str, ...] = ()
    include_children: bool = False
    # Empty: every metered feature. `meter_ids` selects meters instead (items then carry no
    # feature); the admin's meter chart uses it, for meters no feature shows yet.
    feature_ids: tuple[str, ...] = ()
    meter_ids: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    property_filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    window_size: str | None = None
    time_zone: str | None = None
    # Only line items in this currency are priced (needed when the scope has several).
    currency: str | None = None
    # False: usage only, no line item is looked at (every cost is 0, currency "").
    priced: bool = True
    # False: items carry no `sources` (empty); for callers that never show them (cost
    # analytics, the meter chart).
    with_sources: bool = True
    # False: items carry no points; the result's `window_costs` still add them up. For callers
    # that show one chart of everything (the margin dashboard, reports), not thousands of
    # items' points.
    item_points: bool = True


@dataclass(frozen=True)
class CommitmentSummary:
    """A commitment's split of an item's total_cost (rounded): charge = utilized + overage +
    true_up. `line_item` holds the terms when one line item is behind the item."""

    utilized: Decimal
    overage: Decimal
    true_up: Decimal
    windowed: bool
    line_item: SubscriptionLineItem | None


@dataclass(frozen=True)
class UsageAnalyticsPoint:
    """One window with events: its usage, events and cost; `commitment` for windowed ones."""

    timestamp: datetime
    usage: Decimal
    event_count: int
    cost: Decimal
    commitment: CommitmentResult | None = None


@dataclass(frozen=True)
class UsageAnalyticsItem:
    """Usage of one feature (or meter) for one group of values, priced with one line item —
    or, for several customers, with every line item of theirs that applies."""

    meter: Meter
    feature: Feature | None
    group: tuple[tuple[str, str | None], ...]
    sources: tuple[str, ...]
    total_usage: Decimal
    event_count: int
    total_cost: Decimal
    currency: str
    points: tuple[UsageAnalyticsPoint, ...]
    window_size: str | None
    price: Price | None = None
    line_item: SubscriptionLineItem | None = None
    plan: Plan | None = None
    subscription_id: str | None = None
    commitment: CommitmentSummary | None = None

    @property
    def name(self) -> str:
        return self.feature.name if self.feature is not None else self.meter.name

    @property
    def group_values(self) -> dict[str, str | None]:
        return dict(self.group)

    @property
    def properties(self) -> dict[str, str]:
        """The properties.<name> group values by name ("" where events lack the property)."""
        return {
            key.removeprefix(PROPERTY_PREFIX): value or ""
            for key, value in self.group
            if key.startswith(PROPERTY_PREFIX)
        }

    @property
    def source(self) -> str | None:
        return self.group_values.get(GROUP_SOURCE)

    @property
    def external_customer_id(self) -> str | None:
        return self.group_values.get(GROUP_CUSTOMER)


@dataclass(frozen=True)
class UsageAnalyticsResult:
    items: tuple[UsageAnalyticsItem, ...]
    total_cost: Decimal
    currency: str
    start: datetime
    end: datetime
    window_size: str | None
    # Σ over the items of their points' costs, per window start, ascending.
    window_costs: tuple[tuple[datetime, Decimal], ...] = ()
