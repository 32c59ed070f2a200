"""The bench's prices: a feature per meter, a plan every customer is on, a provider costsheet.

Usage and cost analytics price what they count, so timing them on meters nobody pays for
would skip half the work. This builds, with the app's services, what a real tenant has: a
feature per bench meter, one plan whose prices price them (package, flat and tiered), a
subscription to it for every bench customer from before the data set's first day, and a
published costsheet with a provider cost per meter. Like the rest of the bench catalogue it
is looked up first and only made when missing, so a second run reuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.dataset import DatasetSpec
from bench.queries import METERS

ACTOR = "bench"
CURRENCY = "usd"
PLAN_LOOKUP_KEY = "bench-plan"
COSTSHEET_LOOKUP_KEY = "bench-provider-costs"
D = Decimal
ZERO = D(0)


@dataclass(frozen=True)
class BenchPrice:
    """How the plan charges for one meter (`tiers`: (up_to or None, unit amount))."""

    billing_model: str
    amount: Decimal = ZERO
    divide_by: Decimal | None = None
    tier_mode: str = "VOLUME"
    tiers: tuple[tuple[Decimal | None, Decimal], ...] = ()


# One price per METERS key: packages, per-unit (flat) and one graduated tiered price.
PLAN_PRICES: dict[str, BenchPrice] = {
    "tokens": BenchPrice("PACKAGE", D(3), divide_by=D(1_000_000)),
    "completions": BenchPrice("PACKAGE", D(1), divide_by=D(1_000)),
    "max_tokens": BenchPrice("FLAT_FEE", D("0.0001")),
    "latest_tokens": BenchPrice("FLAT_FEE", D("0.00001")),
    "completion_users": BenchPrice(
        "TIERED",
        tier_mode="SLAB",
        tiers=((D(100), D(0)), (D(1_000), D("0.05")), (None, D("0.03"))),
    ),
    "requests": BenchPrice("PACKAGE", D(1), divide_by=D(10_000)),
    "request_users": BenchPrice("FLAT_FEE", D("0.02")),
}
PLATFORM_FEE = D(99)

# What one unit of each meter costs us (the costsheet's per-unit prices).
PROVIDER_UNIT_COSTS: dict[str, Decimal] = {
    "tokens": D("0.0000025"),
    "completions": D("0.0002"),
    "max_tokens": D("0.000001"),
    "latest_tokens": D("0.000001"),
    "completion_users": D("0.01"),
    "requests": D("0.00002"),
    "request_users": D("0.005"),
}

UNITS: dict[str, tuple[str, str]] = {
    "tokens": ("token", "tokens"),
    "completions": ("completion", "completions"),
    "max_tokens": ("token", "tokens"),
    "latest_tokens": ("token", "tokens"),
    "completion_users": ("user", "users"),
    "requests": ("request", "requests"),
    "request_users": ("user", "users"),
}


@dataclass(frozen=True)
class BenchPricing:
    features: dict[str, Any]  # METERS key → Feature
    plan: Any  # costsheets.models.Plan
    costsheet: Any  # costsheets.models.Costsheet
    subscriptions: int  # subscriptions of bench customers to the plan
    subscriptions_made: int  # of which made by this call


def subscription_start(spec: DatasetSpec) -> datetime:
    """The first of the month before the data set's first day: every event is billed."""
    day_before = spec.start - timedelta(days=1)
    return day_before.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _live(queryset: Any, environment: Any) -> Any:
    from costsheets.selectors import scoped
    from flexprice_site.models import Status

    return scoped(queryset, environment=environment).exclude(status=Status.DELETED)


def _features(environment: Any, meters: Mapping[str, Any]) -> dict[str, Any]:
    from costsheets.models import Feature
    from costsheets.services import feature_create

    features = {}
    for key, meter in meters.items():
        lookup_key = f"bench-{key.replace('_', '-')}"
        feature = _live(Feature.objects.filter(lookup_key=lookup_key), environment).first()
        if feature is None:
            singular, plural = UNITS[key]
            feature = feature_create(
                environment=environment,
                name=METERS[key].name.removeprefix("Bench: ").capitalize(),
                lookup_key=lookup_key,
                meter=meter,
                unit_singular=singular,
                unit_plural=plural,
                actor=ACTOR,
            )
        features[key] = feature
    return features


def _price_arguments(key: str, price: BenchPrice) -> dict[str, Any]:
    from costsheets.pricing import Tier

    return {
        "billing_model": price.billing_model,
        "amount": price.amount,
        "transform_quantity_divide_by": price.divide_by,
        "tier_mode": price.tier_mode,
        "tiers": tuple(Tier(up_to=up_to, unit_amount=unit) for up_to, unit in price.tiers),
        "lookup_key": f"bench-plan-{key.replace('_', '-')}",
    }


def _plan(environment: Any, meters: Mapping[str, Any]) -> Any:
    from costsheets.models import Plan, PriceEntityType, PriceType
    from costsheets.services import plan_create, price_create

    plan = _live(Plan.objects.filter(lookup_key=PLAN_LOOKUP_KEY), environment).first()
    if plan is None:
        plan = plan_create(
            environment=environment, name="Bench plan", lookup_key=PLAN_LOOKUP_KEY, actor=ACTOR
        )
    priced = set(_live(plan.prices, environment).values_list("lookup_key", flat=True))
    if "bench-plan-platform" not in priced:
        price_create(
            environment=environment,
            entity_type=PriceEntityType.PLAN,
            entity_id=plan.pk,
            currency=CURRENCY,
            type=PriceType.FIXED,
            amount=PLATFORM_FEE,
            lookup_key="bench-plan-platform",
            display_name="Platform fee",
            actor=ACTOR,
        )
    for key, price in PLAN_PRICES.items():
        arguments = _price_arguments(key, price)
        if arguments["lookup_key"] in priced:
            continue
        price_create(
            environment=environment,
            entity_type=PriceEntityType.PLAN,
            entity_id=plan.pk,
            currency=CURRENCY,
            type=PriceType.USAGE,
            meter=meters[key],
            display_name=METERS[key].name.removeprefix("Bench: ").capitalize(),
            actor=ACTOR,
            **arguments,
        )
    return plan


def _costsheet(environment: Any, meters: Mapping[str, Any]) -> Any:
    from costsheets.models import Costsheet, PriceEntityType, PriceType
    from costsheets.services import costsheet_create, costsheet_publish, price_create
    from flexprice_site.models import Status

    costsheet = _live(
        Costsheet.objects.filter(lookup_key=COSTSHEET_LOOKUP_KEY), environment
    ).first()
    if costsheet is None:
        costsheet = costsheet_create(
            environment=environment,
            name="Bench provider costs",
            lookup_key=COSTSHEET_LOOKUP_KEY,
            description="What one unit of each bench meter costs us.",
            actor=ACTOR,
        )
    if costsheet.status != Status.PUBLISHED:
        costsheet = costsheet_publish(costsheet=costsheet, actor=ACTOR)
    costed = set(_live(costsheet.prices, environment).values_list("meter_id", flat=True))
    for key, unit_cost in PROVIDER_UNIT_COSTS.items():
        if meters[key].pk in costed:
            continue
        price_create(
            environment=environment,
            entity_type=PriceEntityType.COSTSHEET,
            entity_id=costsheet.pk,
            currency=CURRENCY,
            type=PriceType.USAGE,
            billing_model="FLAT_FEE",
            amount=unit_cost,
            meter=meters[key],
            display_name=f"Provider cost: {METERS[key].name}",
            actor=ACTOR,
        )
    return costsheet


def _subscriptions(
    environment: Any, plan: Any, customers: Mapping[str, str], start: datetime
) -> tuple[int, int]:
    """Subscribe every customer not yet on the plan; (subscriptions on it, made now)."""
    from costsheets.models import Customer
    from costsheets.selectors import open_subscriptions_of
    from costsheets.services import subscription_create

    subscribed = set(
        open_subscriptions_of(plan=plan)
        .filter(customer_id__in=customers.values())
        .values_list("customer_id", flat=True)
    )
    missing = [pk for pk in customers.values() if pk not in subscribed]
    for customer in _live(Customer.objects.filter(pk__in=missing), environment):
        subscription_create(
            environment=environment,
            customer=customer,
            plan=plan,
            currency=CURRENCY,
            start_date=start,
            actor=ACTOR,
        )
    return len(subscribed) + len(missing), len(missing)


def bench_pricing(
    *,
    environment: Any,
    meters: Mapping[str, Any],
    customers: Mapping[str, str],
    spec: DatasetSpec,
) -> BenchPricing:
    """The features, plan, subscriptions and costsheet of `environment` (made once).

    `meters` are the bench meters by METERS key, `customers` external ID → customer ID.
    """
    from django.db import transaction

    with transaction.atomic():
        features = _features(environment, meters)
        plan = _plan(environment, meters)
        costsheet = _costsheet(environment, meters)
        subscriptions, made = _subscriptions(environment, plan, customers, subscription_start(spec))
    return BenchPricing(
        features=features,
        plan=plan,
        costsheet=costsheet,
        subscriptions=subscriptions,
        subscriptions_made=made,
    )
