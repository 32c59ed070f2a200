"""The demo catalogue of an AI-API company, made with the services; safe to run again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from costsheets.models import (
    AggregationType,
    BillingModel,
    Costsheet,
    Customer,
    Feature,
    Meter,
    Plan,
    Price,
    PriceEntityType,
    PriceType,
    RoundMode,
    Subscription,
    SubscriptionStatus,
    TierMode,
    WindowSize,
)
from costsheets.pricing import Tier
from costsheets.selectors import scoped
from costsheets.services import (
    LineItemCommitment,
    costsheet_create,
    customer_create,
    feature_create,
    meter_create,
    plan_create,
    price_create,
    subscription_create,
)
from flexprice_site.models import Environment, Status

ACTOR = "seed_demo"
CURRENCY = "usd"
MODELS = ["gpt-4o", "gpt-4o-mini", "o3-mini"]
D = Decimal
ZERO = Decimal(0)


@dataclass(frozen=True)
class MeterSpec:
    key: str
    name: str
    event_name: str
    aggregation_type: str
    field: str = ""
    expression: str = ""
    bucket_size: str = ""
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    unit: tuple[str, str] = ("unit", "units")
    reporting_unit: tuple[str, str, Decimal] | None = None


METERS = [
    MeterSpec(
        key="input-tokens",
        name="Input tokens",
        event_name="input_tokens",
        aggregation_type=AggregationType.SUM,
        field="tokens",
        filters=(("model", tuple(MODELS)),),
        unit=("token", "tokens"),
        reporting_unit=("thousand tokens", "thousand tokens", D("0.001")),
    ),
    MeterSpec(
        key="output-tokens",
        name="Output tokens",
        event_name="output_tokens",
        aggregation_type=AggregationType.SUM,
        field="tokens",
        filters=(("model", tuple(MODELS)),),
        unit=("token", "tokens"),
        reporting_unit=("thousand tokens", "thousand tokens", D("0.001")),
    ),
    MeterSpec(
        key="requests",
        name="API requests",
        event_name="api_request",
        aggregation_type=AggregationType.COUNT,
        unit=("request", "requests"),
    ),
    MeterSpec(
        key="active-users",
        name="Active users",
        event_name="api_request",
        aggregation_type=AggregationType.COUNT_UNIQUE,
        field="user_id",
        unit=("user", "users"),
    ),
    MeterSpec(
        key="storage-gb",
        name="Storage (GB-hours)",
        event_name="storage_usage",
        aggregation_type=AggregationType.MAX,
        field="gb",
        bucket_size=WindowSize.HOUR,
        unit=("GB-hour", "GB-hours"),
    ),
    MeterSpec(
        key="weighted-tokens",
        name="Weighted tokens (CEL)",
        event_name="completion",
        aggregation_type=AggregationType.SUM,
        expression="input_tokens * 2 + output_tokens",
        unit=("weighted token", "weighted tokens"),
    ),
]

# What one unit of each meter costs us at our providers (model APIs, cloud storage).
PROVIDER_UNIT_COSTS = {
    "input-tokens": D("0.0000025"),
    "output-tokens": D("0.00001"),
    "requests": D("0.00002"),
    "active-users": D("0.01"),
    "storage-gb": D("0.0001"),
    "weighted-tokens": D("0.000001"),
}


@dataclass(frozen=True)
class PriceSpec:
    lookup_key: str
    display_name: str
    meter_key: str | None
    billing_model: str
    amount: Decimal = ZERO
    divide_by: Decimal | None = None
    tier_mode: str = TierMode.VOLUME
    tiers: tuple[Tier, ...] = ()


PLANS: dict[str, tuple[str, list[PriceSpec]]] = {
    "starter": (
        "Starter",
        [
            PriceSpec(
                "starter-platform", "Starter platform fee", None, BillingModel.FLAT_FEE, D(29)
            ),
            PriceSpec(
                "starter-input-tokens",
                "Input tokens, per million",
                "input-tokens",
                BillingModel.PACKAGE,
                D(3),
                divide_by=D(1_000_000),
            ),
            PriceSpec(
                "starter-output-tokens",
                "Output tokens, per million",
                "output-tokens",
                BillingModel.PACKAGE,
                D(12),
                divide_by=D(1_000_000),
            ),
            PriceSpec(
                "starter-requests",
                "Requests, per 10k",
                "requests",
                BillingModel.PACKAGE,
                D(1),
                divide_by=D(10_000),
            ),
        ],
    ),
    "scale": (
        "Scale",
        [
            PriceSpec("scale-platform", "Scale platform fee", None, BillingModel.FLAT_FEE, D(499)),
            PriceSpec(
                "scale-input-tokens",
                "Input tokens (volume tiers)",
                "input-tokens",
                BillingModel.TIERED,
                tier_mode=TierMode.VOLUME,
                tiers=(
                    Tier(up_to=D(100_000_000), unit_amount=D("0.0000028")),
                    Tier(up_to=D(1_000_000_000), unit_amount=D("0.0000025")),
                    Tier(up_to=None, unit_amount=D("0.000002")),
                ),
            ),
            PriceSpec(
                "scale-output-tokens",
                "Output tokens (graduated)",
                "output-tokens",
                BillingModel.TIERED,
                tier_mode=TierMode.SLAB,
                tiers=(
                    Tier(up_to=D(50_000_000), unit_amount=D("0.000011")),
                    Tier(up_to=D(500_000_000), unit_amount=D("0.00001")),
                    Tier(up_to=None, unit_amount=D("0.000009")),
                ),
            ),
            PriceSpec(
                "scale-active-users",
                "Active users (first 25 included)",
                "active-users",
                BillingModel.TIERED,
                tier_mode=TierMode.SLAB,
                tiers=(
                    Tier(up_to=D(25), unit_amount=D(0)),
                    Tier(up_to=D(250), unit_amount=D(2)),
                    Tier(up_to=None, unit_amount=D("1.5")),
                ),
            ),
            PriceSpec(
                "scale-storage",
                "Storage per GB-hour (graduated)",
                "storage-gb",
                BillingModel.TIERED,
                tier_mode=TierMode.SLAB,
                tiers=(
                    Tier(up_to=D(100), unit_amount=D("0.0002")),
                    Tier(up_to=None, unit_amount=D("0.00015")),
                ),
            ),
        ],
    ),
}


@dataclass(frozen=True)
class CustomerSpec:
    external_id: str
    name: str
    plan: str
    timezone: str = "UTC"
    country: str = "US"
    parent: str = ""
    # price lookup key → commitment on that line item
    commitments: tuple[tuple[str, LineItemCommitment], ...] = ()


CUSTOMERS = [
    CustomerSpec(
        "northwind",
        "Northwind Group",
        "scale",
        "America/New_York",
        commitments=(
            (
                "scale-input-tokens",
                LineItemCommitment(
                    commitment_type="amount",
                    amount=D(2000),
                    overage_factor=D("1.25"),
                    true_up_enabled=True,
                ),
            ),
        ),
    ),
    CustomerSpec(
        "northwind-labs", "Northwind Labs", "starter", "America/New_York", parent="northwind"
    ),
    CustomerSpec(
        "northwind-retail", "Northwind Retail", "starter", "Europe/London", "GB", parent="northwind"
    ),
    CustomerSpec(
        "acme-robotics",
        "Acme Robotics",
        "scale",
        "America/Los_Angeles",
        commitments=(
            (
                "scale-output-tokens",
                LineItemCommitment(
                    commitment_type="quantity",
                    quantity=D(100_000_000),
                    overage_factor=D("1.1"),
                ),
            ),
        ),
    ),
    CustomerSpec("globex", "Globex Corporation", "scale", "America/Chicago"),
    CustomerSpec(
        "initech",
        "Initech",
        "scale",
        "America/Chicago",
        commitments=(
            (
                "scale-storage",
                LineItemCommitment(
                    commitment_type="amount",
                    amount=D("0.02"),
                    true_up_enabled=True,
                    windowed=True,
                ),
            ),
        ),
    ),
    CustomerSpec(
        "umbrella-health",
        "Umbrella Health",
        "scale",
        "Europe/Berlin",
        "DE",
        commitments=(
            (
                "scale-input-tokens",
                LineItemCommitment(commitment_type="amount", amount=D(500), overage_factor=D(1)),
            ),
            (
                "scale-active-users",
                LineItemCommitment(
                    commitment_type="quantity", quantity=D(100), true_up_enabled=True
                ),
            ),
        ),
    ),
    CustomerSpec("stark-analytics", "Stark Analytics", "scale", "America/New_York"),
    CustomerSpec("wayne-logistics", "Wayne Logistics", "scale", "America/New_York"),
    CustomerSpec("hooli", "Hooli", "starter", "America/Los_Angeles"),
    CustomerSpec("pied-piper", "Pied Piper", "starter", "America/Los_Angeles"),
    CustomerSpec("vandelay", "Vandelay Industries", "starter", "America/New_York"),
    CustomerSpec("soylent", "Soylent Foods", "starter", "Europe/Paris", "FR"),
    CustomerSpec("tyrell", "Tyrell Systems", "starter", "Asia/Tokyo", "JP"),
    CustomerSpec("cyberdyne", "Cyberdyne", "starter", "America/Denver"),
    CustomerSpec("oscorp", "Oscorp Research", "starter", "Europe/Madrid", "ES"),
    CustomerSpec("massive-dynamic", "Massive Dynamic", "starter", "America/New_York"),
    CustomerSpec("duff-media", "Duff Media", "starter", "Australia/Sydney", "AU"),
    CustomerSpec("gringotts", "Gringotts Fintech", "starter", "Europe/London", "GB"),
    CustomerSpec("aperture", "Aperture Learning", "starter", "America/Toronto", "CA"),
]


@dataclass
class CatalogueSeed:
    """What the seed found or made, for `seed_demo` to report."""

    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    costsheet: Costsheet | None = None
    plans: list[Plan] = field(default_factory=list)
    commitments: int = 0

    def count(self, what: str, *, created: bool) -> None:
        counts = self.created if created else self.existing
        counts[what] = counts.get(what, 0) + 1

    def total(self, what: str) -> int:
        return self.created.get(what, 0) + self.existing.get(what, 0)

    def lines(self) -> list[str]:
        def part(what: str) -> str:
            new = self.created.get(what, 0)
            return f"{self.total(what)} {what}" + (f" ({new} new)" if new else "")

        return [
            ", ".join(part(what) for what in ("meters", "features")),
            f"costsheet “{self.costsheet}” with {part('provider costs')}",
            "plans "
            + " and ".join(f"“{plan}”" for plan in self.plans)
            + f", {part('plan prices')}",
            f"{part('customers')} (one parent with two children), {part('subscriptions')}, "
            f"{self.commitments} line-item commitments",
        ]


def _live(queryset: Any, environment: Environment) -> Any:
    return scoped(queryset, environment=environment).exclude(status=Status.DELETED)


def _meter(spec: MeterSpec, environment: Environment, seed: CatalogueSeed) -> Meter:
    meter = _live(Meter.objects.filter(name=spec.name), environment).first()
    seed.count("meters", created=meter is None)
    if meter is not None:
        return meter
    return meter_create(
        environment=environment,
        name=spec.name,
        event_name=spec.event_name,
        aggregation_type=spec.aggregation_type,
        aggregation_field=spec.field,
        aggregation_expression=spec.expression,
        bucket_size=spec.bucket_size,
        filters=[{"key": key, "values": list(values)} for key, values in spec.filters],
        actor=ACTOR,
    )


def _feature(spec: MeterSpec, meter: Meter, environment: Environment, seed: CatalogueSeed) -> None:
    exists = _live(Feature.objects.filter(lookup_key=spec.key), environment).exists()
    seed.count("features", created=not exists)
    if exists:
        return
    singular, plural, rate = spec.reporting_unit or ("", "", None)
    feature_create(
        environment=environment,
        name=spec.name,
        lookup_key=spec.key,
        meter=meter,
        unit_singular=spec.unit[0],
        unit_plural=spec.unit[1],
        reporting_unit_singular=singular,
        reporting_unit_plural=plural,
        reporting_unit_conversion_rate=rate,
        actor=ACTOR,
    )


def _costsheet(
    environment: Environment, meters: dict[str, Meter], seed: CatalogueSeed
) -> Costsheet:
    costsheet = _live(Costsheet.objects.filter(name="Provider costs"), environment).first()
    if costsheet is None:
        costsheet = costsheet_create(
            environment=environment,
            name="Provider costs",
            lookup_key="provider-costs",
            description="What one unit of usage costs us at our model and cloud providers.",
            actor=ACTOR,
        )
    live_prices = _live(costsheet.prices, environment)
    for key, unit_cost in PROVIDER_UNIT_COSTS.items():
        meter = meters[key]
        exists = live_prices.filter(meter=meter).exists()
        seed.count("provider costs", created=not exists)
        if not exists:
            price_create(
                environment=environment,
                entity_type=PriceEntityType.COSTSHEET,
                entity_id=costsheet.pk,
                currency=CURRENCY,
                type=PriceType.USAGE,
                billing_model=BillingModel.FLAT_FEE,
                amount=unit_cost,
                meter=meter,
                display_name=f"Provider cost: {meter.name}",
                actor=ACTOR,
            )
    seed.costsheet = costsheet
    return costsheet


def _plan(
    lookup_key: str,
    name: str,
    prices: Sequence[PriceSpec],
    environment: Environment,
    meters: dict[str, Meter],
    seed: CatalogueSeed,
) -> Plan:
    plan = _live(Plan.objects.filter(lookup_key=lookup_key), environment).first()
    if plan is None:
        plan = plan_create(environment=environment, name=name, lookup_key=lookup_key, actor=ACTOR)
    for spec in prices:
        exists = _live(Price.objects.filter(lookup_key=spec.lookup_key), environment).exists()
        seed.count("plan prices", created=not exists)
        if exists:
            continue
        meter = meters[spec.meter_key] if spec.meter_key else None
        price_create(
            environment=environment,
            entity_type=PriceEntityType.PLAN,
            entity_id=plan.pk,
            currency=CURRENCY,
            type=PriceType.USAGE if meter is not None else PriceType.FIXED,
            billing_model=spec.billing_model,
            amount=spec.amount,
            transform_quantity_divide_by=spec.divide_by,
            transform_quantity_round=RoundMode.UP,
            tier_mode=spec.tier_mode,
            tiers=spec.tiers,
            meter=meter,
            lookup_key=spec.lookup_key,
            display_name=spec.display_name,
            actor=ACTOR,
        )
    seed.plans.append(plan)
    return plan


def _customer(spec: CustomerSpec, environment: Environment, seed: CatalogueSeed) -> Customer:
    customer = _live(
        Customer.objects.filter(external_customer_id=spec.external_id), environment
    ).first()
    seed.count("customers", created=customer is None)
    if customer is not None:
        return customer
    parent = None
    if spec.parent:
        parent = _live(Customer.objects.filter(external_customer_id=spec.parent), environment).get()
    slug = spec.external_id.replace("-", "")
    return customer_create(
        environment=environment,
        external_customer_id=spec.external_id,
        name=spec.name,
        email=f"billing@{slug}.example.com",
        timezone=spec.timezone,
        address_country=spec.country,
        parent=parent,
        actor=ACTOR,
    )


def _subscription(
    spec: CustomerSpec,
    customer: Customer,
    plan: Plan,
    start: datetime,
    environment: Environment,
    seed: CatalogueSeed,
) -> None:
    existing = (
        _live(Subscription.objects.filter(customer=customer), environment)
        .exclude(subscription_status=SubscriptionStatus.CANCELLED)
        .exists()
    )
    seed.count("subscriptions", created=not existing)
    seed.commitments += len(spec.commitments)
    if existing:
        return
    price_ids = dict(
        _live(
            Price.objects.filter(lookup_key__in=[key for key, _ in spec.commitments]), environment
        ).values_list("lookup_key", "id")
    )
    subscription_create(
        environment=environment,
        customer=customer,
        plan=plan,
        currency=CURRENCY,
        start_date=start,
        line_item_commitments={price_ids[key]: commitment for key, commitment in spec.commitments},
        actor=ACTOR,
    )


@transaction.atomic
def catalogue_seed(*, environment: Environment, now: datetime | None = None) -> CatalogueSeed:
    """Meters, features, a provider costsheet, two plans and ~20 subscribed customers.

    Each thing is looked up first (by name, lookup key or external ID) and only made when it
    is missing, so running the seed again adds nothing.
    """
    seed = CatalogueSeed()
    meters = {}
    for spec in METERS:
        meters[spec.key] = _meter(spec, environment, seed)
        _feature(spec, meters[spec.key], environment, seed)
    _costsheet(environment, meters, seed)
    plans = {
        lookup_key: _plan(lookup_key, name, prices, environment, meters, seed)
        for lookup_key, (name, prices) in PLANS.items()
    }
    # Subscriptions started on the first of a recent month, a few weeks apart, so the demo
    # has customers at different points of their billing cycle.
    month_start = (now or timezone.now()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for number, spec in enumerate(CUSTOMERS):
        customer = _customer(spec, environment, seed)
        start = month_start - timedelta(days=30 * (number % 4) + 7 * (number % 3))
        _subscription(spec, customer, plans[spec.plan], start, environment, seed)
    return seed
