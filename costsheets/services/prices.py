"""Writes for prices and their tiers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from costsheets.models import (
    BillingCadence,
    BillingModel,
    BillingPeriod,
    Costsheet,
    InvoiceCadence,
    Meter,
    Plan,
    Price,
    PriceEntityType,
    PriceTier,
    PriceType,
    PriceUnitType,
    RoundMode,
    Subscription,
    TierMode,
)
from costsheets.pricing import Tier
from costsheets.selectors import scoped
from costsheets.services.common import (
    apply_changes,
    as_decimal,
    check_metadata,
    coerce_decimals,
    place_in,
    raise_if_errors,
    related_errors,
    save_checked,
    soft_delete,
)
from costsheets.terms import tiers_for
from costsheets.validation import Errors, normalize_currency, price_errors
from flexprice_site.models import Environment, Status

# Whose prices can be checked for existence; add-ons and price groups have no table here.
_OWNER_MODELS: dict[str, type[Costsheet | Plan | Subscription]] = {
    PriceEntityType.COSTSHEET: Costsheet,
    PriceEntityType.PLAN: Plan,
    PriceEntityType.SUBSCRIPTION: Subscription,
}

# A price always stays with its owner; everything else can change (tiers via "tiers").
PRICE_UPDATABLE = frozenset(
    {
        "amount",
        "currency",
        "type",
        "billing_model",
        "tier_mode",
        "transform_quantity_divide_by",
        "transform_quantity_round",
        "meter",
        "billing_period",
        "billing_period_count",
        "billing_cadence",
        "invoice_cadence",
        "lookup_key",
        "display_name",
        "description",
        "start_date",
        "end_date",
        "min_quantity",
        "trial_period_days",
        "price_unit_type",
        "price_unit",
        "conversion_rate",
        "metadata",
        "status",
    }
)


def _owner_errors(*, environment: Environment, entity_type: str, entity_id: str) -> Errors:
    model = _OWNER_MODELS.get(entity_type)
    if model is None or not entity_id:
        return {}
    owners = scoped(model.objects.filter(pk=entity_id), environment=environment)
    if owners.exclude(status=Status.DELETED).exists():
        return {}
    return {"entity_id": f"There is no {entity_type.lower()} {entity_id} in this environment."}


def _tier_size_errors(tiers: Sequence[Tier]) -> Errors:
    errors: Errors = {}
    for index, tier in enumerate(tiers):
        for field in ("up_to", "unit_amount", "flat_amount"):
            value = getattr(tier, field)
            problem = "" if value is None else as_decimal(value)[1]
            if problem:
                errors[f"tiers[{index}].{field}"] = f"Tier {index + 1}: {problem}"
    return errors


def _validate(price: Price, *, environment: Environment, tiers: Sequence[Tier]) -> None:
    raise_if_errors(_tier_size_errors(tiers))
    errors = _owner_errors(
        environment=environment, entity_type=price.entity_type, entity_id=price.entity_id
    )
    errors.update(
        related_errors(price.meter, environment=environment, field="meter", label="meter")
    )
    errors.update(price_errors(price, tiers=tiers))
    raise_if_errors(errors)


def _save_tiers(price: Price, tiers: Sequence[Tier]) -> None:
    price.tiers.all().delete()
    PriceTier.objects.bulk_create(
        PriceTier(
            price=price,
            position=position,
            up_to=tier.up_to,
            unit_amount=tier.unit_amount,
            flat_amount=tier.flat_amount,
        )
        for position, tier in enumerate(tiers)
    )


@transaction.atomic
def price_create(
    *,
    environment: Environment,
    entity_type: str,
    entity_id: str,
    currency: str,
    type: str = PriceType.USAGE,
    billing_model: str = BillingModel.FLAT_FEE,
    amount: Decimal = Decimal(0),
    tier_mode: str = TierMode.VOLUME,
    tiers: Sequence[Tier] = (),
    transform_quantity_divide_by: Decimal | None = None,
    transform_quantity_round: str = RoundMode.UP,
    meter: Meter | None = None,
    billing_period: str = BillingPeriod.MONTHLY,
    billing_period_count: int = 1,
    billing_cadence: str = BillingCadence.RECURRING,
    invoice_cadence: str = InvoiceCadence.ARREAR,
    lookup_key: str = "",
    display_name: str = "",
    description: str = "",
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    min_quantity: Decimal | None = None,
    trial_period_days: int = 0,
    price_unit_type: str = PriceUnitType.FIAT,
    price_unit: str = "",
    conversion_rate: Decimal | None = None,
    metadata: Mapping[str, str] | None = None,
    actor: str = "",
) -> Price:
    """Create a price of a plan, costsheet, … with its tiers (TIERED prices only)."""
    price = Price(
        entity_type=entity_type,
        entity_id=entity_id,
        currency=normalize_currency(currency),
        type=type,
        billing_model=billing_model,
        amount=amount,
        tier_mode=tier_mode,
        transform_quantity_divide_by=transform_quantity_divide_by,
        transform_quantity_round=transform_quantity_round,
        meter=meter,
        billing_period=billing_period,
        billing_period_count=billing_period_count,
        billing_cadence=billing_cadence,
        invoice_cadence=invoice_cadence,
        lookup_key=lookup_key,
        display_name=display_name,
        description=description,
        start_date=start_date,
        end_date=end_date,
        min_quantity=min_quantity,
        trial_period_days=trial_period_days,
        price_unit_type=price_unit_type,
        price_unit=price_unit,
        conversion_rate=conversion_rate,
        metadata=check_metadata(metadata),
    )
    place_in(price, environment=environment, actor=actor)
    coerce_decimals(price)
    tiers = tuple(tiers)
    _validate(price, environment=environment, tiers=tiers)
    save_checked(price)
    _save_tiers(price, tiers)
    return price


@transaction.atomic
def price_update(*, price: Price, data: Mapping[str, Any], actor: str = "") -> Price:
    """Change a price; `data["tiers"]` (a sequence of Tier) replaces its tiers.

    Tiers of a price that stops being TIERED are dropped, since they no longer apply.
    """
    changes = dict(data)
    new_tiers = changes.pop("tiers", None)
    update_fields = apply_changes(price, changes, allowed=PRICE_UPDATABLE, actor=actor)
    if "currency" in changes:
        price.currency = normalize_currency(price.currency)
    if new_tiers is not None:
        tiers = tuple(new_tiers)
    elif price.billing_model == BillingModel.TIERED:
        tiers = tiers_for(price)
    else:
        tiers = ()
    _validate(price, environment=price.environment, tiers=tiers)
    save_checked(price, update_fields=update_fields)
    if new_tiers is not None or price.billing_model != BillingModel.TIERED:
        _save_tiers(price, tiers)
    return price


def price_delete(*, price: Price, actor: str = "") -> Price:
    soft_delete(price, actor=actor)
    return price
