"""Writes for costsheets and plans, the two things that own prices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from costsheets.models import Costsheet, Plan, Price, PriceTier
from costsheets.selectors import open_subscriptions_of, scoped
from costsheets.services.common import (
    apply_changes,
    check_metadata,
    place_in,
    raise_if_errors,
    save_checked,
    soft_delete,
)
from costsheets.validation import costsheet_errors, plan_errors
from flexprice_site.errors import InvalidOperation
from flexprice_site.models import Environment, Status

CATALOGUE_UPDATABLE = frozenset({"name", "lookup_key", "description", "metadata", "status"})


# --- costsheets --------------------------------------------------------------------------------


def costsheet_create(
    *,
    environment: Environment,
    name: str,
    lookup_key: str = "",
    description: str = "",
    metadata: Mapping[str, str] | None = None,
    actor: str = "",
) -> Costsheet:
    costsheet = Costsheet(
        name=name.strip(),
        lookup_key=lookup_key.strip(),
        description=description,
        metadata=check_metadata(metadata),
    )
    place_in(costsheet, environment=environment, actor=actor)
    raise_if_errors(costsheet_errors(costsheet))
    save_checked(costsheet)
    return costsheet


def costsheet_update(
    *, costsheet: Costsheet, data: Mapping[str, Any], actor: str = ""
) -> Costsheet:
    update_fields = apply_changes(costsheet, data, allowed=CATALOGUE_UPDATABLE, actor=actor)
    raise_if_errors(costsheet_errors(costsheet))
    save_checked(costsheet, update_fields=update_fields)
    return costsheet


def costsheet_archive(*, costsheet: Costsheet, actor: str = "") -> Costsheet:
    """Archive: kept and searchable, but no longer a candidate for the active costsheet."""
    return costsheet_update(costsheet=costsheet, data={"status": Status.ARCHIVED}, actor=actor)


def costsheet_publish(*, costsheet: Costsheet, actor: str = "") -> Costsheet:
    return costsheet_update(costsheet=costsheet, data={"status": Status.PUBLISHED}, actor=actor)


def costsheet_delete(*, costsheet: Costsheet, actor: str = "") -> Costsheet:
    """Soft delete; the name and lookup key become free. Its prices are left as they are:
    they only ever count through a published costsheet."""
    soft_delete(costsheet, actor=actor)
    return costsheet


def _copy_name(costsheet: Costsheet) -> str:
    taken = set(
        scoped(Costsheet.objects.all(), environment=costsheet.environment)
        .exclude(status=Status.DELETED)
        .filter(name__startswith=f"{costsheet.name} (copy")
        .values_list("name", flat=True)
    )
    name = f"{costsheet.name} (copy)"
    number = 2
    while name in taken:
        name = f"{costsheet.name} (copy {number})"
        number += 1
    return name


def _price_copy(price: Price, *, entity_id: str, actor: str) -> Price:
    values = {
        field.attname: getattr(price, field.attname)
        for field in Price._meta.concrete_fields
        if not field.primary_key
    }
    copy = Price(**values)
    copy.entity_id = entity_id
    copy.lookup_key = ""
    copy.created_at = timezone.now()
    copy.created_by = copy.updated_by = actor
    return copy


@transaction.atomic
def costsheet_duplicate(
    *, costsheet: Costsheet, name: str | None = None, actor: str = ""
) -> Costsheet:
    """A published copy named "<name> (copy)" (or "(copy 2)", …) with copies of its live prices.

    Lookup keys are not copied: they must be unique among published rows, and the copy is
    published as soon as it exists (so it also becomes the active costsheet).
    """
    copy = costsheet_create(
        environment=costsheet.environment,
        name=name if name is not None else _copy_name(costsheet),
        description=costsheet.description,
        metadata=costsheet.metadata,
        actor=actor,
    )
    prices = list(costsheet.prices.exclude(status=Status.DELETED).prefetch_related("tiers"))
    copies = [_price_copy(price, entity_id=copy.pk, actor=actor) for price in prices]
    Price.objects.bulk_create(copies)
    PriceTier.objects.bulk_create(
        PriceTier(
            price=price_copy,
            position=tier.position,
            up_to=tier.up_to,
            unit_amount=tier.unit_amount,
            flat_amount=tier.flat_amount,
        )
        for price, price_copy in zip(prices, copies, strict=True)
        for tier in price.tiers.all()
    )
    return copy


# --- plans -------------------------------------------------------------------------------------


def plan_create(
    *,
    environment: Environment,
    name: str,
    lookup_key: str = "",
    description: str = "",
    metadata: Mapping[str, str] | None = None,
    actor: str = "",
) -> Plan:
    plan = Plan(
        name=name.strip(),
        lookup_key=lookup_key.strip(),
        description=description,
        metadata=check_metadata(metadata),
    )
    place_in(plan, environment=environment, actor=actor)
    raise_if_errors(plan_errors(plan))
    save_checked(plan)
    return plan


def plan_update(*, plan: Plan, data: Mapping[str, Any], actor: str = "") -> Plan:
    update_fields = apply_changes(plan, data, allowed=CATALOGUE_UPDATABLE, actor=actor)
    raise_if_errors(plan_errors(plan))
    save_checked(plan, update_fields=update_fields)
    return plan


@transaction.atomic
def plan_delete(*, plan: Plan, actor: str = "") -> Plan:
    """Soft-delete a plan no open subscription is on."""
    open_count = open_subscriptions_of(plan=plan).count()
    if open_count:
        raise InvalidOperation(
            f"Plan {plan.name} has {open_count} open subscription(s); cancel them first.",
            details={"subscriptions": open_count},
        )
    soft_delete(plan, actor=actor)
    return plan
