"""Rollup tables: the backlog of events not yet rolled up, hourly rollups, and per-meter state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class ExactNumericField(models.Field):
    """PostgreSQL `numeric` without precision or scale.

    Rollup measures must add up to exactly what the raw events give; a `numeric(p, s)` column
    would round sums of CEL quotients and multiplied quantities, and the two paths would drift.
    """

    description = "An exact decimal number of any size"

    def db_type(self, connection: Any) -> str:
        return "numeric"

    def get_internal_type(self) -> str:
        return "ExactNumericField"

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))


class EventBacklog(models.Model):
    """An event that is stored but not yet added to the rollups.

    Ingestion writes the row in the same statement as the event, and the rollup job deletes it
    in the same transaction as it adds the event to the rollups, so at every instant an event is
    in exactly one of "backlog" and "rollups". No foreign-key constraint: events are never
    deleted, and a constraint check per row would cost ingestion throughput.
    """

    event = models.OneToOneField(
        "analytics.Event",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # The event's environment, copied so that the job takes one environment's batch, and a
    # query reads one environment's waiting events, without looking up every waiting event.
    environment = models.ForeignKey(
        "flexprice_site.Environment",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )

    class Meta:
        verbose_name = "event waiting for the rollups"
        verbose_name_plural = "events waiting for the rollups"
        indexes = [models.Index(fields=["environment", "event"], name="backlog_environment")]

    def __str__(self) -> str:
        return f"backlog event {self.event_id}"


class UsageRollup(models.Model):
    """One meter's usage of one customer, source and group value in one UTC hour.

    The measures are the metering engine's partial columns, so combining rollup rows gives the
    same numbers as combining events one by one (see docs/metering.md, "Rollups").
    """

    id = models.BigAutoField(primary_key=True)
    meter = models.ForeignKey(
        "costsheets.Meter", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    external_customer_id = models.CharField(max_length=255)
    source = models.CharField(max_length=255, blank=True, default="")
    # The canonical string of the meter's aggregation_group_by property (bucketed MAX with a
    # group_by only); NULL without one, or for events that lack the property, exactly as in
    # the engine's raw partials (an empty string is a value of its own).
    group_value = models.TextField(null=True, blank=True)  # noqa: DJ001
    # The canonical strings of the meter's rollup_properties, in the meter's order (an empty
    # array without any); an element is NULL when the event lacks that property, exactly as
    # the raw path's canonical value, so a filter fails and a group is None alike. Arrays
    # compare NULL elements as equal, so such events share one row.
    property_values = ArrayField(models.TextField(), default=list, blank=True)
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    event_count = models.BigIntegerField(default=0)
    value_count = models.BigIntegerField(default=0)
    value_sum = ExactNumericField(null=True)
    value_max = ExactNumericField(null=True)
    # Sum of quantity * epoch seconds of the event's timestamp: WEIGHTED_SUM over any window
    # [s, e) on whole hours is (e * value_sum - value_time_sum) / (e - s), summed over rows.
    value_time_sum = ExactNumericField(null=True)
    latest_ts = models.DateTimeField(null=True)
    latest_ingested = models.DateTimeField(null=True)
    latest_id = models.BigIntegerField(null=True)
    latest_value = ExactNumericField(null=True)
    # COUNT_UNIQUE meters: the distinct canonical values of the meter's field among the row's
    # events, sorted (empty for every other type). A distinct count over any whole hours is
    # the count of the distinct elements of their rows' arrays: hours de-duplicated in advance,
    # read from a few narrow rows instead of every event's JSON.
    unique_values = ArrayField(models.TextField(), default=list, blank=True)

    class Meta:
        constraints = [
            # Leads with (meter, customer, hour): one customer's usage over a time range.
            models.UniqueConstraint(
                fields=[
                    "meter",
                    "external_customer_id",
                    "hour",
                    "source",
                    "group_value",
                    "property_values",
                ],
                name="rollup_unique_key",
                # NULL group values are one group, and ON CONFLICT must find their row.
                nulls_distinct=False,
            ),
        ]
        indexes = [
            # Tenant-wide usage of one meter over a time range, and a day's rows in a rebuild.
            models.Index(fields=["meter", "hour"], name="rollup_meter_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.external_customer_id} {self.hour:%Y-%m-%d %H}:00"


class RollupStatus(models.TextChoices):
    PENDING = "pending", "Pending (waiting for a rebuild)"
    BUILDING = "building", "Building"
    READY = "ready", "Ready"


class MeterRollupState(models.Model):
    """Whether a meter's rollups can answer queries, and how far a rebuild has come.

    `config_fingerprint` is the hash of the meter settings the rollups were built with; the
    engine uses rollups only when the state is ready *and* the fingerprint matches the meter,
    so a meter changed by any path is never answered from stale rows.
    """

    meter = models.OneToOneField(
        "costsheets.Meter", primary_key=True, on_delete=models.CASCADE, related_name="rollup_state"
    )
    status = models.CharField(
        max_length=16, choices=RollupStatus.choices, default=RollupStatus.PENDING
    )
    config_fingerprint = models.CharField(max_length=64)
    # The rebuild covers the UTC days [rebuild_from, rebuild_until); days before built_through
    # are done. A reset clears rebuild_from, so the next rebuild starts over; a crash keeps it,
    # so the next one resumes.
    rebuild_from = models.DateTimeField(null=True, blank=True)
    rebuild_until = models.DateTimeField(null=True, blank=True)
    built_through = models.DateTimeField(null=True, blank=True)
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Bumped after every chunk: a building state not updated for a while belongs to a dead worker.
    updated_at = models.DateTimeField(default=timezone.now)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "meter rollup"
        verbose_name_plural = "meter rollups"
        indexes = [models.Index(fields=["status", "updated_at"], name="rollup_state_due")]

    def __str__(self) -> str:
        return f"rollups of {self.meter_id}: {self.status}"

    @property
    def progress_percent(self) -> int:
        if self.status == RollupStatus.READY:
            return 100
        if not self.chunks_total:
            return 0
        return min(100, self.chunks_done * 100 // self.chunks_total)
