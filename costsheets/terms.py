"""Adapters from catalogue rows to the pure dataclasses of `costsheets.pricing`."""

from __future__ import annotations

from collections.abc import Iterable

from costsheets.models import BillingModel, Price, PriceTier, SubscriptionLineItem
from costsheets.pricing import Commitment, PriceTerms, Tier


def tier_for(row: PriceTier) -> Tier:
    # A blank flat amount means "no flat amount", which the math treats as 0.
    return Tier(up_to=row.up_to, unit_amount=row.unit_amount, flat_amount=row.flat_amount or 0)


def tiers_for(price: Price) -> tuple[Tier, ...]:
    """The price's saved tiers in order; uses `prefetch_related("tiers")` when it was done."""
    rows = sorted(price.tiers.all(), key=lambda row: (row.position, row.id))
    return tuple(tier_for(row) for row in rows)


def price_terms_for(price: Price, *, tiers: Iterable[Tier] | None = None) -> PriceTerms:
    """The pricing terms of a (possibly unsaved) price.

    Pass `tiers` for a price whose tiers are not saved yet (a form or a request being
    validated); otherwise the saved tiers are read. The model's enum values must be valid:
    `validation.price_errors` checks them before it builds terms.
    """
    is_tiered = price.billing_model == BillingModel.TIERED
    if tiers is None:
        tiers = tiers_for(price) if is_tiered and price.pk and not price._state.adding else ()
    return PriceTerms(
        billing_model=price.billing_model,
        currency=price.currency or "",
        amount=price.amount if price.amount is not None else 0,
        tier_mode=(price.tier_mode or None) if is_tiered else None,
        tiers=tuple(tiers),
        divide_by=price.transform_quantity_divide_by,
        round_mode=price.transform_quantity_round or "up",
    )


def commitment_for(line_item: SubscriptionLineItem) -> Commitment | None:
    """The line item's commitment, or None when it has none."""
    if not line_item.commitment_type:
        return None
    return Commitment(
        commitment_type=line_item.commitment_type,
        amount=line_item.commitment_amount,
        quantity=line_item.commitment_quantity,
        overage_factor=line_item.commitment_overage_factor,
        true_up_enabled=line_item.commitment_true_up_enabled,
    )


def saved_price_terms(price: Price) -> PriceTerms:
    """`price_terms_for` of a saved price read for pricing (not for editing), built once per
    row: a tenant's thousands of line items share a handful of price rows."""
    terms = price.__dict__.get("_saved_terms")
    if terms is None:
        terms = price.__dict__["_saved_terms"] = price_terms_for(price)
    return terms
