"""Keeping the rollups equal to the raw events: the backlog job, meter rebuilds and the sweep.

Every write to a meter's rollup rows happens in a transaction holding the environment's
advisory lock, so the backlog job and the rebuild chunks of one environment never interleave;
see docs/metering.md, "Rollups", for why this never loses or double-counts an event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from analytics.metering.plan import meter_config_fingerprint, meter_has_rollups
from analytics.models import Event
from analytics.rollups import sql
from analytics.rollups.compaction import closed_days_end, compact_day_rows
from analytics.rollups.locks import day_start, lock_environment
from analytics.rollups.models import (
    MeterRollupState,
    MeterValue,
    RollupStatus,
    UsageDayRollup,
    UsageRollup,
)
from costsheets.models import Meter
from flexprice_site.models import Status

logger = logging.getLogger(__name__)

_DAY = timedelta(days=1)

# --- Meter settings changed: reset the state, rebuild in the background ----------------------


def _enqueue_rebuild(meter_id: str) -> None:
    # Imported here: the tasks module imports this one.
    from analytics.tasks import rollup_rebuild

    try:
        rollup_rebuild.delay(meter_id)
    except Exception:
        # The change is committed; a broker hiccup must not turn it into an error. The sweep
        # finds the pending meter within a minute and rebuilds it.
        logger.exception("could not enqueue the rollup rebuild of meter %s", meter_id)


def rollup_state_sync(*, meter: Meter, force: bool = False, enqueue: bool = True) -> bool:
    """Make the meter's rollup state follow its settings; True when a rebuild is now due.

    Called by the meter services in the transaction that saves the meter, so the state changes
    together with the meter; the rebuild is enqueued once that transaction commits. A changed
    fingerprint (or `force`, the admin's "rebuild now") resets the state to pending with no
    progress, so the rebuild starts over. A deleted meter gets its rows removed by the same
    task. `enqueue=False` leaves the rebuild to the caller (a command that runs it in its own
    process).
    """
    fingerprint = meter_config_fingerprint(meter)
    if not meter_has_rollups(meter):
        due = MeterRollupState.objects.filter(meter_id=meter.pk).exists()
    else:
        reset = _pending(fingerprint, timezone.now())
        changed = MeterRollupState.objects.filter(meter_id=meter.pk)
        if not force:
            changed = changed.exclude(config_fingerprint=fingerprint)
        due = bool(changed.update(**reset))
        if not due:
            _, due = MeterRollupState.objects.get_or_create(meter_id=meter.pk, defaults=reset)
    if due and enqueue:
        transaction.on_commit(lambda: _enqueue_rebuild(meter.pk))
    return due


def _pending(fingerprint: str, now: datetime) -> dict[str, Any]:
    """A state's fields for "pending, from scratch": no progress, the settings' fingerprint."""
    return {
        "status": RollupStatus.PENDING,
        "config_fingerprint": fingerprint,
        "rebuild_from": None,
        "rebuild_until": None,
        "built_through": None,
        "chunks_done": 0,
        "chunks_total": 0,
        "finished_at": None,
        "updated_at": now,
        "error": "",
    }


def _claimable(now: datetime) -> Q:
    """States a rebuild may take: pending, or building with a builder gone quiet."""
    stale_before = now - timedelta(seconds=settings.ROLLUP_STALE_SECONDS)
    return Q(status=RollupStatus.PENDING) | Q(
        status=RollupStatus.BUILDING, updated_at__lt=stale_before
    )


# --- The backlog job ------------------------------------------------------------------------

# Takes a batch of committed backlog rows of one environment (rows of uncommitted ingest
# transactions are invisible here and stay for the next run) and names their events.
_DRAIN_BATCH = """
WITH drained AS (
    DELETE FROM analytics_eventbacklog
    WHERE event_id IN (
        SELECT event_id
        FROM analytics_eventbacklog
        WHERE environment_id = %(environment_id)s AND event_id <= %(ceiling)s
        LIMIT %(batch_size)s
    )
    RETURNING event_id
)
SELECT coalesce(array_agg(d.event_id), '{}'), coalesce(array_agg(DISTINCT e.event_name), '{}'),
       min(e.timestamp)
FROM drained d
JOIN analytics_event e ON e.id = d.event_id
"""

_BACKLOG_ENVIRONMENTS = """
SELECT DISTINCT environment_id FROM analytics_eventbacklog WHERE event_id <= %(ceiling)s
"""


def _meters_kept_up(*, environment_id: str, event_names: Sequence[str]) -> list[Meter]:
    """Meters whose rollups take new events now: every one whose rows will be used as they
    are — ready ones, and those part-way through a rebuild (building, or pending after a
    failure, to be resumed), since a day already rebuilt must still receive the events that
    arrive for it. A rebuild that starts over removes every row, so it needs nothing."""
    live_rows = Q(rollup_state__status__in=[RollupStatus.READY, RollupStatus.BUILDING]) | Q(
        rollup_state__status=RollupStatus.PENDING, rollup_state__rebuild_from__isnull=False
    )
    meters = (
        Meter.objects.filter(environment_id=environment_id, event_name__in=event_names)
        .exclude(status=Status.DELETED)
        .filter(live_rows)
        .select_related("rollup_state")
        .order_by("pk")
    )
    return [
        meter
        for meter in meters
        if meter_has_rollups(meter)
        and meter.rollup_state.config_fingerprint == meter_config_fingerprint(meter)
    ]


def _update_batch(*, environment_id: str, ceiling: int, batch_size: int) -> int:
    with transaction.atomic():
        lock_environment(environment_id)
        with connection.cursor() as cursor:
            cursor.execute(
                _DRAIN_BATCH,
                {"environment_id": environment_id, "ceiling": ceiling, "batch_size": batch_size},
            )
            event_ids, event_names, earliest = cursor.fetchone()
        if not event_ids:
            return 0
        # Read after the DELETE on purpose: a meter whose rebuild started before these events
        # were committed is seen as building here, so its rollups receive them.
        meters = _meters_kept_up(environment_id=environment_id, event_names=event_names)
        if meters:
            # Day rows take the events of days already compacted (late events): a meter's
            # compaction point is read under the lock compaction takes too.
            compacted = {
                meter.pk: through
                for meter in meters
                if (through := meter.rollup_state.compacted_through) is not None
                and earliest < through
            }
            _assign_values(sql.assign_batch_values(meters=meters, event_ids=event_ids))
            statement, params = sql.upsert_events(
                meters=meters, event_ids=event_ids, compacted_through=compacted
            )
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
        return len(event_ids)


# A dictionary that grew by more than this share (and at least MANY_NEW_VALUES values) in one
# statement is analyzed at once, in the same transaction, before rows are mapped through it:
# statistics of a dictionary just rebuilt say it is empty, and the join a planner makes of
# that reads a meter's whole dictionary once per event.
GROWTH_TO_ANALYZE = 0.1
MANY_NEW_VALUES = 1000


def _assign_values(statements: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Run dictionary statements (sql.assign_values_sql) and keep the planner's picture of the
    dictionary true after a big growth."""
    grown = False
    with connection.cursor() as cursor:
        for statement, params in statements:
            cursor.execute(statement, params)
            for added, assigned in cursor.fetchall():
                grown |= added >= MANY_NEW_VALUES and added > assigned * GROWTH_TO_ANALYZE
        if grown:
            cursor.execute("ANALYZE analytics_metervalue")


def rollups_update(*, environment_id: str | None = None, batch_size: int | None = None) -> int:
    """Move the backlog into the rollups, batch by batch; returns the number of events moved.

    Stops at the newest backlog row seen at the start, so a run ends even while ingestion
    continues; what arrives meanwhile is the next run's work (and is answered from the backlog
    until then).
    """
    batch_size = batch_size or settings.ROLLUP_BATCH_SIZE
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(event_id) FROM analytics_eventbacklog")
        (ceiling,) = cursor.fetchone()
    if ceiling is None:
        return 0
    if environment_id is not None:
        environments = [environment_id]
    else:
        with connection.cursor() as cursor:
            cursor.execute(_BACKLOG_ENVIRONMENTS, {"ceiling": ceiling})
            environments = sorted(row[0] for row in cursor.fetchall())
    moved = 0
    for environment in environments:
        while True:
            count = _update_batch(
                environment_id=environment, ceiling=ceiling, batch_size=batch_size
            )
            moved += count
            if count < batch_size:
                break
    if moved and not connection.in_atomic_block:
        # The backlog is a queue: the rows just deleted are dead index entries that every
        # query's backlog lookup would wade through until vacuumed. Vacuuming a table of a few
        # seconds of events takes milliseconds, so do it here rather than trust autovacuum's
        # timing (or its being on at all).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) analytics_eventbacklog")
    return moved


# --- Rebuilding one meter ---------------------------------------------------------------------


class RebuildOutcome(StrEnum):
    READY = "ready"
    NOT_DUE = "not due"  # ready already, or another worker is on it
    SUPERSEDED = "superseded"  # the meter changed meanwhile; a new rebuild is queued
    DISCARDED = "discarded"  # deleted, or a meter rollups don't serve: rows removed
    GONE = "gone"  # no such meter


@dataclass(frozen=True)
class _Run:
    """What a rebuild claimed: it stops as soon as the state no longer says the same."""

    meter: Meter
    fingerprint: str
    rebuild_from: datetime

    def owns(self, state: MeterRollupState | None) -> bool:
        return (
            state is not None
            and state.status == RollupStatus.BUILDING
            and state.config_fingerprint == self.fingerprint
            and state.rebuild_from == self.rebuild_from
        )


def _remove_rows(meter_id: str) -> None:
    """Every rollup row of the meter, and its value dictionary."""
    UsageRollup.objects.filter(meter_id=meter_id).delete()
    UsageDayRollup.objects.filter(meter_id=meter_id).delete()
    MeterValue.objects.filter(meter_id=meter_id).delete()


def _discard(meter_id: str, environment_id: str) -> None:
    with transaction.atomic():
        lock_environment(environment_id)
        _remove_rows(meter_id)
        MeterRollupState.objects.filter(meter_id=meter_id).delete()


def _claim(meter: Meter, now: datetime) -> bool:
    """Mark the state building, if it is pending or its builder went quiet."""
    return bool(
        MeterRollupState.objects.filter(meter_id=meter.pk)
        .filter(_claimable(now))
        .update(status=RollupStatus.BUILDING, updated_at=now, error="")
    )


def _start_over(meter: Meter, fingerprint: str) -> _Run | None:
    """Remove the meter's rows and fix the days to rebuild: those its events fall on now.

    One transaction under the lock: every event committed before it is on one of these days,
    and every event committed after it is still in the backlog, which the job will add to the
    rollups (the state is building, so the job keeps this meter up to date).
    """
    with transaction.atomic():
        lock_environment(meter.environment_id)
        state = MeterRollupState.objects.select_for_update().filter(meter_id=meter.pk).first()
        if state is None or state.status != RollupStatus.BUILDING:
            return None
        now = timezone.now()
        _remove_rows(meter.pk)
        span = Event.objects.filter(
            environment_id=meter.environment_id, event_name=meter.event_name
        ).aggregate(first=Min("timestamp"), last=Max("timestamp"))
        if span["first"] is None:
            first = until = day_start(now)
        else:
            first = day_start(span["first"])
            until = day_start(span["last"]) + _DAY
        state.config_fingerprint = fingerprint
        state.rebuild_from = first
        state.rebuild_until = until
        state.built_through = first
        state.chunks_done = 0
        state.chunks_total = (until - first) // _DAY
        # No day rows yet: the days before the first event hold nothing, the others are
        # compacted as they are rebuilt.
        state.compacted_through = first
        state.values_assigned = 0
        state.started_at = now
        state.finished_at = None
        state.updated_at = now
        state.save()
        return _Run(meter=meter, fingerprint=fingerprint, rebuild_from=first)


def _rebuild_next_day(run: _Run) -> bool | None:
    """Rebuild the next day of the run; False when every day is done, None when superseded."""
    meter = run.meter
    with transaction.atomic():
        lock_environment(meter.environment_id)
        state = MeterRollupState.objects.select_for_update().filter(meter_id=meter.pk).first()
        if not run.owns(state):
            return None
        assert state is not None
        # The day comes from the state, not from this worker's loop, so a second worker that
        # resumed a rebuild it thought dead simply continues where the state says.
        day = state.built_through
        if day is None or state.rebuild_until is None or day >= state.rebuild_until:
            return False
        UsageRollup.objects.filter(meter_id=meter.pk, hour__gte=day, hour__lt=day + _DAY).delete()
        UsageDayRollup.objects.filter(meter_id=meter.pk, day=day).delete()
        if sql.counts_distinct(meter):
            _assign_values([sql.assign_day_values(meter=meter, day_start=day)])
        statement, params = sql.insert_day(meter=meter, day_start=day)
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
        if state.compacted_through == day and day < closed_days_end(timezone.now()):
            compact_day_rows(meter=meter, day=day)
            state.compacted_through = day + _DAY
        state.built_through = day + _DAY
        state.chunks_done = min(state.chunks_total, state.chunks_done + 1)
        state.updated_at = timezone.now()
        state.save(
            update_fields=["built_through", "chunks_done", "updated_at", "compacted_through"]
        )
        return True


def _finish(run: _Run) -> bool:
    with transaction.atomic():
        state = MeterRollupState.objects.select_for_update().filter(meter_id=run.meter.pk).first()
        if not run.owns(state):
            return False
        assert state is not None
        now = timezone.now()
        state.status = RollupStatus.READY
        state.chunks_done = state.chunks_total
        state.finished_at = now
        state.updated_at = now
        state.error = ""
        state.save()
        return True


def rollup_rebuild(*, meter_id: str) -> RebuildOutcome:
    """Rebuild a pending (or abandoned) meter's rollups from its stored events, day by day.

    Each UTC day is one transaction, so the rollup job keeps running between days and a crash
    loses at most one day's work: the next run resumes from the state's `built_through`. The
    rollups answer queries only once the state is ready again.
    """
    meter = Meter.objects.filter(pk=meter_id).first()
    if meter is None:
        MeterRollupState.objects.filter(meter_id=meter_id).delete()
        return RebuildOutcome.GONE
    if not meter_has_rollups(meter):
        _discard(meter.pk, meter.environment_id)
        return RebuildOutcome.DISCARDED
    fingerprint = meter_config_fingerprint(meter)
    # A meter without a state yet, or changed without its service (a data fix, a shell), is
    # put in step here (and by the sweep) before anything is claimed.
    rollup_state_sync(meter=meter, enqueue=False)
    if not _claim(meter, timezone.now()):
        return RebuildOutcome.NOT_DUE
    state = MeterRollupState.objects.get(meter_id=meter.pk)
    try:
        if state.rebuild_from is None:
            run = _start_over(meter, fingerprint)
        else:
            run = _Run(meter=meter, fingerprint=fingerprint, rebuild_from=state.rebuild_from)
        if run is None:
            return RebuildOutcome.SUPERSEDED
        while True:
            progressed = _rebuild_next_day(run)
            if progressed is None:
                return RebuildOutcome.SUPERSEDED
            if not progressed:
                break
        return RebuildOutcome.READY if _finish(run) else RebuildOutcome.SUPERSEDED
    except Exception as error:
        # Back to pending with the progress kept, so the retry resumes where this one stopped.
        MeterRollupState.objects.filter(meter_id=meter.pk, status=RollupStatus.BUILDING).update(
            status=RollupStatus.PENDING, error=f"{type(error).__name__}: {error}"[:2000]
        )
        raise


# --- The sweep --------------------------------------------------------------------------------


def rollups_sweep(*, now: datetime | None = None) -> list[str]:
    """Bring every meter's state in line with its settings; return the meters to rebuild.

    The safety net behind the meter services: meters created before rollups existed, or
    changed by any path that skipped `rollup_state_sync`, get a pending state here; pending
    meters whose rebuild was never enqueued (or failed) and rebuilds whose worker died are
    returned for a new run.
    """
    now = now or timezone.now()
    meters = Meter.objects.exclude(status=Status.DELETED).select_related("rollup_state")
    for meter in meters:
        state = getattr(meter, "rollup_state", None)
        fingerprint = meter_config_fingerprint(meter)
        if state is None or state.config_fingerprint != fingerprint:
            # No on_commit enqueue here: the meter is returned below with the other due ones.
            MeterRollupState.objects.update_or_create(
                meter_id=meter.pk, defaults=_pending(fingerprint, now)
            )
    due = MeterRollupState.objects.filter(
        _claimable(now) | Q(meter__status=Status.DELETED)
    ).order_by("updated_at")
    return list(due.values_list("meter_id", flat=True))
