"""How a price names itself in admin pickers and messages."""

from __future__ import annotations

from decimal import Decimal

from costsheets.models import Price
from costsheets.models.prices import BillingModel, TierMode


def test_a_flat_price_shows_its_amount() -> None:
    price = Price(display_name="API calls", amount=Decimal("12.50"), currency="usd")
    price.billing_model = BillingModel.FLAT_FEE

    assert str(price) == "API calls: $12.5 (FLAT_FEE)"


def test_a_tiered_price_names_its_tier_mode_instead_of_an_unused_amount() -> None:
    price = Price(display_name="Tokens", amount=Decimal("0"), currency="eur")
    price.billing_model = BillingModel.TIERED
    price.tier_mode = TierMode.SLAB

    assert str(price) == "Tokens: slab tiers in EUR (TIERED)"
