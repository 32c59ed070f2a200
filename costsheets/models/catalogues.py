"""Costsheets (what usage costs us) and plans (what customers pay), each owning prices."""

from __future__ import annotations

from django.db import models
from django.db.models import Q, QuerySet

from costsheets.models.prices import Price, PriceEntityType
from flexprice_site.fields import PrefixedIdField
from flexprice_site.models import Status, TenantScopedModel


class PriceOwner(TenantScopedModel):
    """A model whose prices point at it with `entity_type` + `entity_id`."""

    price_entity_type: str

    class Meta:
        abstract = True

    @property
    def prices(self) -> QuerySet[Price]:
        """All its prices, whatever their status."""
        return Price.objects.filter(
            tenant_id=self.tenant_id,
            environment_id=self.environment_id,
            entity_type=self.price_entity_type,
            entity_id=self.pk,
        )


class Costsheet(PriceOwner):
    """Unit costs to us; the most recently created published one is the active costsheet."""

    price_entity_type = PriceEntityType.COSTSHEET

    id = PrefixedIdField(prefix="cost")
    name = models.CharField(max_length=255)
    lookup_key = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "environment", "name"],
                condition=~Q(status=Status.DELETED),
                name="costsheet_unique_name",
            ),
            models.UniqueConstraint(
                fields=["tenant", "environment", "lookup_key"],
                condition=Q(status=Status.PUBLISHED) & ~Q(lookup_key=""),
                name="costsheet_unique_published_lookup_key",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "environment", "created_at"], name="cost_scope_created"),
            models.Index(
                fields=["tenant", "environment", "status", "created_at"],
                name="cost_scope_status_created",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Plan(PriceOwner):
    price_entity_type = PriceEntityType.PLAN

    id = PrefixedIdField(prefix="plan")
    name = models.CharField(max_length=255)
    lookup_key = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "environment", "lookup_key"],
                condition=Q(status=Status.PUBLISHED) & ~Q(lookup_key=""),
                name="plan_unique_published_lookup_key",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "environment", "created_at"], name="plan_scope_created"),
        ]

    def __str__(self) -> str:
        return self.name
