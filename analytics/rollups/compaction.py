"""Compaction: closed UTC days of hourly rollup rows combined into day rows, and the ids of day
rows that late events made stale rebuilt (docs/metering.md, "Day rows")."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from analytics.metering.plan import meter_config_fingerprint
from analytics.rollups import sql
from analytics.rollups.locks import day_start, lock_environment
from analytics.rollups.models import MeterRollupState, RollupStatus
from costsheets.models import Meter

_DAY = timedelta(days=1)
# A UTC day is compacted once it has been over for this long: events of the last minutes of a
# day that arrive a little late still land in hourly rows alone.
CLOSED_AFTER = timedelta(hours=1)


def closed_days_end(now: datetime) -> datetime:
    """Days before this UTC midnight are closed (may be compacted)."""
    return day_start(now - CLOSED_AFTER)


def _execute(statement: tuple[str, dict[str, object]]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        return cursor.rowcount


def compact_day_rows(*, meter: Meter, day: datetime) -> None:
    """Make the meter's day rows of `day` from its hourly rows (inside the caller's transaction,
    which holds the environment's lock; the day has no day rows yet)."""
    for collapsed in sql.row_forms(meter):
        _execute(sql.compact_day(meter=meter, day_start=day, collapsed=collapsed))
    if sql.counts_distinct(meter):
        _execute(sql.refresh_stale_ids(meter=meter))


def _next_day_with_rows(meter: Meter, since: datetime | None) -> datetime | None:
    """The first UTC day at or after `since` (None: ever) on which the meter has hourly rows."""
    sql_text = "SELECT min(hour) FROM analytics_usagerollup WHERE meter_id = %s"
    params: list[object] = [meter.pk]
    if since is not None:
        sql_text += " AND hour >= %s"
        params.append(since)
    with connection.cursor() as cursor:
        cursor.execute(sql_text, params)
        (first,) = cursor.fetchone()
    return None if first is None else day_start(first)


def _compact_next_day(meter_id: str, fingerprint: str, limit: datetime) -> bool:
    """Compact the next closed day of a ready meter; False when there is none to do."""
    meter = Meter.objects.filter(pk=meter_id).first()
    if meter is None:
        return False
    with transaction.atomic():
        lock_environment(meter.environment_id)
        state = MeterRollupState.objects.select_for_update().filter(meter_id=meter_id).first()
        if (
            state is None
            or state.status != RollupStatus.READY
            or state.config_fingerprint != fingerprint
        ):
            return False
        if sql.counts_distinct(meter):
            _execute(sql.refresh_stale_ids(meter=meter))
        through = state.compacted_through
        if through is not None and through >= limit:
            return False
        day = _next_day_with_rows(meter, through)
        if day is None or day >= limit:
            # Nothing rolled up before the limit: every closed day is compacted (empty).
            state.compacted_through = limit
        else:
            compact_day_rows(meter=meter, day=day)
            state.compacted_through = day + _DAY
        state.save(update_fields=["compacted_through"])
        return True


def rollups_compact(*, now: datetime | None = None) -> int:
    """Compact every closed day of every ready meter that is not compacted yet, one day per
    transaction, and refresh stale day rows; returns the number of meter-days compacted (a
    refresh of stale rows alone counts none).

    Meters being rebuilt are left alone: a rebuild compacts the days it rebuilds.
    """
    limit = closed_days_end(now or timezone.now())
    done = 0
    ready = (
        MeterRollupState.objects.filter(status=RollupStatus.READY)
        .select_related("meter")
        .order_by("meter_id")
    )
    for state in ready:
        fingerprint = meter_config_fingerprint(state.meter)
        if state.config_fingerprint != fingerprint:
            continue
        while _compact_next_day(state.meter_id, fingerprint, limit):
            done += 1
    return done
