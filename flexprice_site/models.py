"""Tenancy: tenants, their environments, staff users, API keys, and the base of scoped models."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from flexprice_site.fields import PrefixedIdField


class Status(models.TextChoices):
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"
    DELETED = "deleted", "Deleted"


class Tenant(models.Model):
    id = PrefixedIdField(prefix="tenant")
    name = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Environment(models.Model):
    """A separate data space inside a tenant (e.g. production and sandbox); keys are per env."""

    class Type(models.TextChoices):
        DEVELOPMENT = "development", "Development"
        PRODUCTION = "production", "Production"

    id = PrefixedIdField(prefix="env")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.DEVELOPMENT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["tenant__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="environment_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant.name} / {self.name}"


class User(AbstractUser):
    """A staff user. Non-superusers belong to exactly one tenant and see only its rows."""

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        help_text="Staff users only see this tenant's data in the admin. Superusers see all.",
    )


class ApiKey(models.Model):
    """A secret that authenticates API calls for one tenant + environment.

    Only a SHA-256 of the key is stored: keys are long random strings, so a fast hash is as
    safe as a slow one and lets every request find its key with one indexed lookup.
    """

    id = PrefixedIdField(prefix="key")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=255)
    prefix = models.CharField(
        max_length=16,
        editable=False,
        help_text="The first characters of the key, to tell keys apart.",
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=255, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.CharField(max_length=255, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class TenantScopedModel(models.Model):
    """Base of every row that belongs to one tenant + environment (SPEC §2 common fields)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PUBLISHED, db_index=True
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, editable=False)
    created_by = models.CharField(max_length=255, blank=True, editable=False)
    updated_by = models.CharField(max_length=255, blank=True, editable=False)

    class Meta:
        abstract = True
