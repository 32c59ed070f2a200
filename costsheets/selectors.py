"""Reads of the catalogue, always scoped to one tenant + environment."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TypeVar

from django.db.models import Q, QuerySet
from django.utils import timezone

from costsheets.models import (
    Costsheet,
    Customer,
    Feature,
    Meter,
    Plan,
    Price,
    PriceType,
    Subscription,
    SubscriptionLineItem,
    SubscriptionStatus,
)
from flexprice_site.errors import NotFound
from flexprice_site.models import Environment, Status, TenantScopedModel

Row = TypeVar("Row", bound=TenantScopedModel)


def scoped(queryset: QuerySet[Row], *, environment: Environment) -> QuerySet[Row]:
    """The rows of `queryset` that belong to `environment` (and so to its tenant)."""
    return queryset.filter(tenant_id=environment.tenant_id, environment_id=environment.pk)


def _get(
    queryset: QuerySet[Row],
    *,
    environment: Environment,
    label: str,
    include_deleted: bool,
    **lookup: str,
) -> Row:
    rows = scoped(queryset, environment=environment).filter(**lookup)
    if not include_deleted:
        rows = rows.exclude(status=Status.DELETED)
    row = rows.first()
    if row is None:
        # Another environment's row gets the same answer as a missing one: nothing leaks.
        (value,) = lookup.values()
        raise NotFound(f"{label} {value} was not found.", details={"id": value})
    return row


def customer_get(
    *, environment: Environment, customer_id: str, include_deleted: bool = False
) -> Customer:
    return _get(
        Customer.objects.all(),
        environment=environment,
        label="Customer",
        include_deleted=include_deleted,
        pk=customer_id,
    )


def customer_get_by_external_id(*, environment: Environment, external_customer_id: str) -> Customer:
    """The live customer with this external ID (deleted ones free their ID, so are skipped)."""
    return _get(
        Customer.objects.all(),
        environment=environment,
        label="Customer with external ID",
        include_deleted=False,
        external_customer_id=external_customer_id,
    )


def customer_ancestor_ids(customer: Customer) -> list[str]:
    """[customer.id, its parent's id, …] up to the root; stops at a cycle, should one exist."""
    chain = [customer.pk]
    parent_id = customer.parent_id
    while parent_id is not None and parent_id not in chain:
        chain.append(parent_id)
        parent_id = (
            Customer.objects.filter(pk=parent_id).values_list("parent_id", flat=True).first()
        )
    return chain


def customer_descendant_ids(customer: Customer) -> list[str]:
    """Ids of the customer's live children, their children, … (one query per level)."""
    found: list[str] = []
    level = [customer.pk]
    while level:
        level = [
            child_id
            for child_id in Customer.objects.filter(parent_id__in=level)
            .exclude(status=Status.DELETED)
            .values_list("id", flat=True)
            if child_id not in found and child_id != customer.pk
        ]
        found.extend(level)
    return found


def meter_get(*, environment: Environment, meter_id: str, include_deleted: bool = False) -> Meter:
    return _get(
        Meter.objects.all(),
        environment=environment,
        label="Meter",
        include_deleted=include_deleted,
        pk=meter_id,
    )


def feature_get(
    *, environment: Environment, feature_id: str, include_deleted: bool = False
) -> Feature:
    return _get(
        Feature.objects.select_related("meter"),
        environment=environment,
        label="Feature",
        include_deleted=include_deleted,
        pk=feature_id,
    )


def price_get(*, environment: Environment, price_id: str, include_deleted: bool = False) -> Price:
    return _get(
        Price.objects.select_related("meter").prefetch_related("tiers"),
        environment=environment,
        label="Price",
        include_deleted=include_deleted,
        pk=price_id,
    )


def costsheet_get(
    *, environment: Environment, costsheet_id: str, include_deleted: bool = False
) -> Costsheet:
    return _get(
        Costsheet.objects.all(),
        environment=environment,
        label="Costsheet",
        include_deleted=include_deleted,
        pk=costsheet_id,
    )


def plan_get(*, environment: Environment, plan_id: str, include_deleted: bool = False) -> Plan:
    return _get(
        Plan.objects.all(),
        environment=environment,
        label="Plan",
        include_deleted=include_deleted,
        pk=plan_id,
    )


def subscription_get(
    *, environment: Environment, subscription_id: str, include_deleted: bool = False
) -> Subscription:
    return _get(
        Subscription.objects.select_related("customer", "plan").prefetch_related(
            "line_items__price__tiers", "line_items__meter"
        ),
        environment=environment,
        label="Subscription",
        include_deleted=include_deleted,
        pk=subscription_id,
    )


def line_item_get(*, environment: Environment, line_item_id: str) -> SubscriptionLineItem:
    return _get(
        SubscriptionLineItem.objects.select_related("price", "meter", "subscription"),
        environment=environment,
        label="Subscription line item",
        include_deleted=False,
        pk=line_item_id,
    )


def active_costsheet_for(*, environment: Environment) -> Costsheet | None:
    """The most recently created published costsheet of the environment (SPEC §2), if any."""
    return (
        scoped(Costsheet.objects.all(), environment=environment)
        .filter(status=Status.PUBLISHED)
        .order_by("-created_at", "-id")
        .first()
    )


def _with_price_relations(prices: QuerySet[Price]) -> QuerySet[Price]:
    return prices.select_related("meter").prefetch_related("tiers").order_by("created_at", "id")


def owned_prices(owner: Costsheet | Plan) -> QuerySet[Price]:
    """All the non-deleted prices of a costsheet or plan, oldest first, with meter and tiers."""
    return _with_price_relations(owner.prices.exclude(status=Status.DELETED))


def prices_by_owner(
    *,
    environment: Environment,
    entity_type: str,
    owner_ids: Collection[str],
    published_only: bool = False,
    with_meter: bool = True,
) -> dict[str, list[Price]]:
    """The prices of many costsheets or plans at once, by owner id, oldest first: non-deleted
    ones, or only published ones. Two queries (prices, tiers) however many owners there are."""
    prices = scoped(Price.objects.all(), environment=environment).filter(
        entity_type=entity_type, entity_id__in=list(owner_ids)
    )
    if published_only:
        prices = prices.filter(status=Status.PUBLISHED)
    else:
        prices = prices.exclude(status=Status.DELETED)
    prices = prices.prefetch_related("tiers").order_by("created_at", "id")
    if with_meter:
        prices = prices.select_related("meter")
    grouped: dict[str, list[Price]] = {owner_id: [] for owner_id in owner_ids}
    for price in prices:
        grouped[price.entity_id].append(price)
    return grouped


def costsheet_prices(*, costsheet: Costsheet, at: datetime | None = None) -> QuerySet[Price]:
    """The prices of a costsheet that count as cost (SPEC §2): published, unexpired at `at`
    (default now), of type USAGE and with a meter."""
    at = at or timezone.now()
    return _with_price_relations(
        costsheet.prices.filter(status=Status.PUBLISHED, type=PriceType.USAGE)
        .filter(meter__isnull=False)
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=at))
    )


def plan_prices(*, plan: Plan, at: datetime | None = None) -> QuerySet[Price]:
    """The published prices of a plan that are unexpired at `at` (default now)."""
    at = at or timezone.now()
    return _with_price_relations(
        plan.prices.filter(status=Status.PUBLISHED).filter(
            Q(end_date__isnull=True) | Q(end_date__gt=at)
        )
    )


def open_subscriptions_of(
    *, customer: Customer | None = None, plan: Plan | None = None
) -> QuerySet[Subscription]:
    """The subscriptions of a customer or on a plan that are not cancelled (nor deleted)."""
    subscriptions = Subscription.objects.exclude(
        Q(status=Status.DELETED) | Q(subscription_status=SubscriptionStatus.CANCELLED)
    )
    if customer is not None:
        subscriptions = subscriptions.filter(customer=customer)
    if plan is not None:
        subscriptions = subscriptions.filter(plan=plan)
    return subscriptions
