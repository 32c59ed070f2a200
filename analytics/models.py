"""Usage events as they arrived: the raw facts every usage, cost and margin number comes from."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from analytics.reports.models import ReportRun, ReportSchedule  # noqa: F401
from analytics.rollups.models import (  # noqa: F401
    EventBacklog,
    MeterRollupState,
    MeterValue,
    UsageDayRollup,
    UsageRollup,
)
from flexprice_site.models import Environment, Tenant


class Event(models.Model):
    """One usage event. `(environment, event_id)` is unique: a re-sent event is never stored twice.

    The environment belongs to exactly one tenant, so uniqueness per environment is uniqueness
    per tenant + environment. Events name their customer by `external_customer_id` and are kept
    even when no such customer exists yet; usage is looked up by that external ID, so they count
    as soon as the customer is created. `customer_id` records the customer known at ingest.
    """

    id = models.BigAutoField(primary_key=True)
    # No foreign-key constraints in the database: PostgreSQL checks them once per inserted row
    # (a `SELECT … FOR KEY SHARE` of the tenant and one of the environment, at commit), about a
    # fifth of the time of a batch's insert in EXPLAIN ANALYZE. Events are only written by
    # `events_ingest`, for the environment of the authenticated key, and PROTECT still refuses
    # deleting a tenant or environment that has events (Django checks it before deleting).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    environment = models.ForeignKey(
        Environment,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    event_id = models.CharField(max_length=255, help_text="The client's ID, or one we generated.")
    event_name = models.CharField(max_length=255)
    external_customer_id = models.CharField(max_length=255)
    customer_id = models.CharField(max_length=64, blank=True, default="")
    timestamp = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=255, blank=True, default="")
    properties = models.JSONField(default=dict, blank=True)
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "event_id"], name="event_unique_id"),
        ]
        indexes = [
            # Metering: one customer's events of one name over a time range.
            models.Index(
                fields=["environment", "external_customer_id", "event_name", "timestamp"],
                name="event_customer_name_time",
            ),
            # Tenant-wide metering: one event name over a time range.
            models.Index(fields=["environment", "event_name", "timestamp"], name="event_name_time"),
            # The event explorer: a tenant's newest events first (its default page), narrowed
            # by environment or time as filters add up; the id breaks timestamp ties.
            models.Index(fields=["tenant", "-timestamp", "-id"], name="event_tenant_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.event_id} ({self.external_customer_id})"
