"""Subscriptions of customers to plans, and their line items (where revenue comes from)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from costsheets.models.base import BillingPeriod, decimal_field
from costsheets.models.catalogues import Plan
from costsheets.models.customers import Customer
from costsheets.models.meters import Meter
from costsheets.models.prices import InvoiceCadence, Price, PriceType
from flexprice_site.fields import PrefixedIdField
from flexprice_site.models import TenantScopedModel


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TRIALING = "trialing", "Trialing"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"


class Subscription(TenantScopedModel):
    """A customer on a plan. `subscription_status` is the billing state; the inherited `status`
    stays the catalogue-wide published / archived / deleted flag."""

    id = PrefixedIdField(prefix="subs")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    currency = models.CharField(max_length=3)
    start_date = models.DateTimeField(default=timezone.now)
    end_date = models.DateTimeField(null=True, blank=True)
    billing_anchor = models.DateTimeField(
        default=timezone.now, help_text="Monthly windows start on this day of the month."
    )
    billing_period = models.CharField(
        max_length=16, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY
    )
    billing_period_count = models.PositiveIntegerField(default=1)
    subscription_status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "environment", "created_at"], name="subs_scope_created"),
            models.Index(fields=["customer", "subscription_status"], name="subs_customer_status"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} on {self.plan}"


class LineItemEntityType(models.TextChoices):
    PLAN = "plan", "Plan"
    ADDON = "addon", "Add-on"
    SUBSCRIPTION = "subscription", "Subscription"


class CommitmentType(models.TextChoices):
    """Same values as `costsheets.pricing.CommitmentType`."""

    AMOUNT = "amount", "Amount (money)"
    QUANTITY = "quantity", "Quantity (units)"


class SubscriptionLineItem(TenantScopedModel):
    """One price of a subscription, active over its own dates, with an optional commitment.

    Currency, billing period, cadence and price type are copied from the price when the line
    item is made, as Flexprice does, so later price edits don't rewrite past subscriptions.
    """

    id = PrefixedIdField(prefix="subs_line")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="line_items"
    )
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="line_items")
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, null=True, blank=True, related_name="line_items"
    )
    entity_type = models.CharField(
        max_length=16, choices=LineItemEntityType.choices, default=LineItemEntityType.PLAN
    )
    entity_id = models.CharField(max_length=64, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    quantity = decimal_field(default=0, help_text="Units of a fixed price; 0 for usage prices.")
    currency = models.CharField(max_length=3)
    price_type = models.CharField(max_length=16, choices=PriceType.choices)
    billing_period = models.CharField(
        max_length=16, choices=BillingPeriod.choices, default=BillingPeriod.MONTHLY
    )
    billing_period_count = models.PositiveIntegerField(default=1)
    invoice_cadence = models.CharField(
        max_length=16, choices=InvoiceCadence.choices, default=InvoiceCadence.ARREAR
    )
    start_date = models.DateTimeField(default=timezone.now)
    end_date = models.DateTimeField(null=True, blank=True)
    commitment_type = models.CharField(
        max_length=16, choices=CommitmentType.choices, blank=True, help_text="Empty: none."
    )
    commitment_amount = decimal_field(null=True, blank=True)
    commitment_quantity = decimal_field(null=True, blank=True)
    commitment_overage_factor = decimal_field(
        default=1, help_text="Usage above the commitment is charged at this multiple (≥ 1)."
    )
    commitment_true_up_enabled = models.BooleanField(
        default=False, help_text="Charge the unused part of the commitment."
    )
    commitment_windowed = models.BooleanField(
        default=False, help_text="Apply the commitment per bucket of a bucketed meter."
    )
    commitment_duration = models.CharField(max_length=16, choices=BillingPeriod.choices, blank=True)

    class Meta:
        ordering = ["subscription_id", "created_at", "id"]
        indexes = [
            models.Index(
                fields=["tenant", "environment", "created_at"], name="subs_line_scope_created"
            ),
            models.Index(fields=["subscription", "meter"], name="subs_line_subs_meter"),
        ]

    def __str__(self) -> str:
        return self.display_name or f"{self.price} on {self.subscription_id}"

    @property
    def has_commitment(self) -> bool:
        return bool(self.commitment_type)
