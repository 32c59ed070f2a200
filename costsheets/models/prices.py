"""Prices: what a unit of a meter (or a fixed item) costs, and their tiers."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from costsheets.models.base import BillingPeriod, decimal_field
from costsheets.models.meters import Meter
from flexprice_site.fields import PrefixedIdField
from flexprice_site.models import Status, TenantScopedModel
from flexprice_site.rendering import format_decimal

# Symbols for display_amount; any other currency shows its code ("CHF 12.5").
CURRENCY_SYMBOLS = {
    "usd": "$",
    "eur": "€",
    "gbp": "£",
    "inr": "₹",
    "jpy": "¥",
    "cny": "¥",
    "krw": "₩",
    "aud": "A$",
    "cad": "C$",
    "sgd": "S$",
    "brl": "R$",
}


class PriceType(models.TextChoices):
    USAGE = "USAGE", "Usage"
    FIXED = "FIXED", "Fixed"


class BillingModel(models.TextChoices):
    """Same values as `costsheets.pricing.BillingModel`."""

    FLAT_FEE = "FLAT_FEE", "Flat fee (per unit)"
    PACKAGE = "PACKAGE", "Package"
    TIERED = "TIERED", "Tiered"


class TierMode(models.TextChoices):
    """Same values as `costsheets.pricing.TierMode`."""

    VOLUME = "VOLUME", "Volume (one tier prices all units)"
    SLAB = "SLAB", "Slab (each tier prices its own units)"


class RoundMode(models.TextChoices):
    """Same values as `costsheets.pricing.RoundMode`."""

    UP = "up", "Up"
    DOWN = "down", "Down"


class BillingCadence(models.TextChoices):
    RECURRING = "RECURRING", "Recurring"
    ONETIME = "ONETIME", "One time"


class InvoiceCadence(models.TextChoices):
    ARREAR = "ARREAR", "In arrears"
    ADVANCE = "ADVANCE", "In advance"


class PriceEntityType(models.TextChoices):
    PLAN = "PLAN", "Plan"
    SUBSCRIPTION = "SUBSCRIPTION", "Subscription"
    ADDON = "ADDON", "Add-on"
    PRICE = "PRICE", "Price"
    COSTSHEET = "COSTSHEET", "Costsheet"


class PriceUnitType(models.TextChoices):
    FIAT = "FIAT", "Fiat currency"
    CUSTOM = "CUSTOM", "Custom unit"


class Price(TenantScopedModel):
    """A price of a plan, a costsheet, … (`entity_type` + `entity_id` say whose).

    The owner is a loose reference, as in Flexprice, because prices belong to several kinds of
    things; services check that the owner exists in the same tenant + environment.
    """

    id = PrefixedIdField(prefix="price")
    amount = decimal_field(
        default=0, help_text="In major units (12.5 = $12.50): per unit, or per package."
    )
    currency = models.CharField(max_length=3, help_text="ISO 4217 code in lowercase, e.g. usd.")
    type = models.CharField(max_length=16, choices=PriceType.choices, default=PriceType.USAGE)
    billing_model = models.CharField(
        max_length=16, choices=BillingModel.choices, default=BillingModel.FLAT_FEE
    )
    tier_mode = models.CharField(max_length=16, choices=TierMode.choices, default=TierMode.VOLUME)
    transform_quantity_divide_by = decimal_field(
        null=True, blank=True, help_text="Package size: usage is divided by this (PACKAGE)."
    )
    transform_quantity_round = models.CharField(
        max_length=8, choices=RoundMode.choices, default=RoundMode.UP
    )
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, null=True, blank=True, related_name="prices"
    )
    billing_period = models.CharField(
        max_length=16, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY
    )
    billing_period_count = models.PositiveIntegerField(default=1)
    billing_cadence = models.CharField(
        max_length=16, choices=BillingCadence.choices, default=BillingCadence.RECURRING
    )
    invoice_cadence = models.CharField(
        max_length=16, choices=InvoiceCadence.choices, default=InvoiceCadence.ARREAR
    )
    entity_type = models.CharField(
        max_length=16, choices=PriceEntityType.choices, default=PriceEntityType.PLAN
    )
    entity_id = models.CharField(max_length=64, blank=True)
    lookup_key = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(
        null=True, blank=True, help_text="From this moment on the price no longer applies."
    )
    min_quantity = decimal_field(null=True, blank=True)
    trial_period_days = models.PositiveIntegerField(default=0)
    price_unit_type = models.CharField(
        max_length=8, choices=PriceUnitType.choices, default=PriceUnitType.FIAT
    )
    price_unit = models.CharField(
        max_length=32, blank=True, help_text="Code of a custom price unit, e.g. credits."
    )
    conversion_rate = decimal_field(
        null=True, blank=True, help_text="Value of one custom price unit in the fiat currency."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "environment", "lookup_key"],
                condition=Q(status=Status.PUBLISHED) & ~Q(lookup_key=""),
                name="price_unique_published_lookup_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "environment", "created_at"], name="price_scope_created"
            ),
            models.Index(
                fields=["tenant", "environment", "entity_type", "entity_id"],
                name="price_scope_entity",
            ),
        ]

    def __str__(self) -> str:
        label = self.display_name or self.lookup_key or self.id
        if self.billing_model == "TIERED":
            # A tiered price's `amount` is unused, so "$0" would mislead.
            return f"{label}: {self.tier_mode.lower()} tiers in {self.currency.upper()} (TIERED)"
        return f"{label}: {self.display_amount} ({self.billing_model})"

    @property
    def display_amount(self) -> str:
        """The amount with its currency symbol: `$12.5`, `€0.002`, `CHF 3`."""
        amount = format_decimal(self.amount)
        code = (self.currency or "").lower()
        symbol = CURRENCY_SYMBOLS.get(code)
        if symbol is not None:
            return f"{symbol}{amount}"
        return f"{code.upper()} {amount}".strip()


class PriceTier(models.Model):
    """One tier of a TIERED price. A child row (not JSON) so the admin edits tiers inline.

    Tiers take their tenant and environment from their price and are replaced with it.
    """

    id = PrefixedIdField(prefix="tier")
    price = models.ForeignKey(Price, on_delete=models.CASCADE, related_name="tiers")
    position = models.PositiveIntegerField(default=0, help_text="Tiers apply in this order.")
    up_to = decimal_field(
        null=True,
        blank=True,
        help_text="Inclusive upper limit of the tier; empty on the last tier means no limit.",
    )
    unit_amount = decimal_field(default=0)
    flat_amount = decimal_field(null=True, blank=True)

    class Meta:
        ordering = ["price_id", "position", "id"]

    def __str__(self) -> str:
        limit = "∞" if self.up_to is None else format_decimal(self.up_to)
        text = f"≤ {limit}: {format_decimal(self.unit_amount)}/unit"
        if self.flat_amount:
            text += f" + {format_decimal(self.flat_amount)}"
        return text
