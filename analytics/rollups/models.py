"""Rollup tables: the backlog of events not yet rolled up, hourly and day rollups, the value
dictionary of distinct-count meters, and per-meter state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F
from django.db.models.functions import MD5
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


class RollupMeasures(models.Model):
    """The engine's partial columns, pre-combined over a row's events (see docs/metering.md).

    Hourly rows and day rows carry the same measures, so combining either gives the same numbers
    as combining the events one by one.
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
    event_count = models.BigIntegerField(default=0)
    value_count = models.BigIntegerField(default=0)
    value_sum = ExactNumericField(null=True)
    value_max = ExactNumericField(null=True)
    # Sum of quantity * epoch seconds of the event's timestamp: WEIGHTED_SUM over any window
    # [s, e) on whole rows is (e * value_sum - value_time_sum) / (e - s), summed over rows.
    value_time_sum = ExactNumericField(null=True)
    latest_ts = models.DateTimeField(null=True)
    latest_ingested = models.DateTimeField(null=True)
    latest_id = models.BigIntegerField(null=True)
    latest_value = ExactNumericField(null=True)
    # COUNT_UNIQUE meters: the ids (MeterValue.value_id) of the distinct values of the meter's
    # field among the row's events, packed: 4 bytes each, big-endian, ascending (empty for
    # every other type). A distinct count over any set of rows is the number of distinct ids
    # in them: counted in numpy over integers, never by sorting text
    # (analytics/metering/distinct.py). Queries read them as they are stored; unpacking arrays
    # (array_send) cost 60 ms of a tenant-wide month.
    unique_ids = models.BinaryField(default=b"", blank=True)

    class Meta:
        abstract = True

    @property
    def ids(self) -> list[int]:
        """The packed ids as numbers (for people and tests; queries read them in numpy)."""
        packed = bytes(self.unique_ids)
        return [int.from_bytes(packed[at : at + 4]) for at in range(0, len(packed), 4)]


class UsageRollup(RollupMeasures):
    """One meter's usage of one customer, source, group value and kept property values in one
    UTC hour: the rollup job's unit of work, always complete for its hour."""

    hour = models.DateTimeField(help_text="Start of the UTC hour.")

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


class UsageDayRollup(RollupMeasures):
    """The same usage over one closed UTC day: the hourly rows of the day, combined.

    A meter has day rows for the days before its state's `compacted_through`. Their measures are
    kept exact by the rollup job in the same statement as the hourly rows (a late event updates
    both). Their `unique_ids` are rebuilt from the hourly rows by compaction; a late event only
    marks them stale (`ids_stale`), and a query reads a stale row's ids from its hourly rows
    until compaction refreshes them, so a backfill never rewrites big arrays event by event.
    """

    day = models.DateTimeField(help_text="Start of the UTC day.")
    ids_stale = models.BooleanField(db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "meter",
                    "external_customer_id",
                    "day",
                    "source",
                    "group_value",
                    "property_values",
                ],
                name="rollup_day_unique_key",
                nulls_distinct=False,
            ),
        ]
        indexes = [
            models.Index(fields=["meter", "day"], name="rollup_day_meter_day"),
            # Questions that name no kept property read only the collapsed rows of a meter that
            # keeps properties (rollups/sql.day_row_forms): without this, every split row of
            # the range is visited and dropped (442k for the bench's token meter's month).
            models.Index(
                fields=["meter", "day"],
                name="rollup_day_collapsed",
                condition=models.Q(property_values=[]),
            ),
            # Stale rows are few and short-lived: compaction finds them without a scan.
            models.Index(
                fields=["meter"], name="rollup_day_stale", condition=models.Q(ids_stale=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.external_customer_id} {self.day:%Y-%m-%d}"


class MeterValue(models.Model):
    """The value dictionary of a COUNT_UNIQUE meter: each distinct canonical value of its field
    and its integer id, dense from 1 within the meter.

    Ids are assigned by the rollup job and rebuilds under the environment's lock, so two workers
    never give one value two ids, and an id is never reused; they mean something only within
    their meter (which belongs to one environment), so tenants never share them. The dictionary
    only grows, and is reset with the meter's rollups when a rebuild starts over.
    """

    # Led by the id, not the meter: a key led by the meter would offer the planner a way to
    # find a value by scanning the meter's whole dictionary, which it took when statistics
    # were stale (a just rebuilt dictionary, and dead entries from the one before it made
    # that 80 s for one day of 45k events). Values are found by meter_value_lookup only.
    pk = models.CompositePrimaryKey("value_id", "meter")
    # Indexed by meter_value_lookup, which leads with it.
    meter = models.ForeignKey(
        "costsheets.Meter", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    value_id = models.IntegerField()
    value = models.TextField()

    class Meta:
        indexes = [
            # A value is looked up within its meter by its MD5 and then compared in full
            # (metering.plan.dictionary_join): the entry stays small however long the value (a
            # btree entry can't pass ~2.7 kB), and two values sharing an MD5 stay apart.
            models.Index(F("meter"), MD5("value"), name="meter_value_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} #{self.value_id}: {self.value[:40]}"


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
    # Days before this UTC midnight have day rows (UsageDayRollup); NULL: none yet. Compaction
    # moves it forward one closed day at a time; a rebuild that starts over resets it.
    compacted_through = models.DateTimeField(null=True, blank=True)
    # The highest MeterValue.value_id given out (COUNT_UNIQUE meters): the next value gets the
    # next id. Reset with the dictionary.
    values_assigned = models.IntegerField(default=0)
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
