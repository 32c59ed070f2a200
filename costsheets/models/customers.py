"""Customers: who uses the product and pays for it, optionally grouped under a parent."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from flexprice_site.fields import PrefixedIdField
from flexprice_site.models import Status, TenantScopedModel


class Customer(TenantScopedModel):
    id = PrefixedIdField(prefix="cust")
    external_customer_id = models.CharField(
        max_length=255,
        help_text="The customer's ID in your own system; usage events name customers by it.",
    )
    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=255, blank=True)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="IANA time zone (e.g. Europe/Paris) that usage windows are aligned in.",
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        help_text="Usage of children can be folded into the parent's (include_children).",
    )
    address_line1 = models.CharField(max_length=255, blank=True)
    address_line2 = models.CharField(max_length=255, blank=True)
    address_city = models.CharField(max_length=100, blank=True)
    address_state = models.CharField(max_length=100, blank=True)
    address_postal_code = models.CharField(max_length=20, blank=True)
    address_country = models.CharField(
        max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 country code, e.g. US."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A deleted customer frees its external ID, so it can be re-created.
            models.UniqueConstraint(
                fields=["tenant", "environment", "external_customer_id"],
                condition=~Q(status=Status.DELETED),
                name="customer_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "environment", "created_at"], name="cust_scope_created"),
        ]

    def __str__(self) -> str:
        if self.name:
            return f"{self.name} ({self.external_customer_id})"
        return self.external_customer_id
