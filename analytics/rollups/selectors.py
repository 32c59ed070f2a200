"""Reads over the rollups: which meters they can answer for, their partials, and the backlog."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection

from analytics.metering.partials import property_column, raw_partials_sql
from analytics.metering.query import UsageQuery, group_by_property
from analytics.metering.sql import SqlParams
from analytics.metering.statements import is_bucketed
from analytics.metering.windows import MINUTES, window_boundaries
from analytics.rollups.models import RollupStatus
from analytics.rollups.sql import BACKLOG_EVENTS, partial_columns, partials_with_kept_values_sql
from costsheets.models import AggregationType, Meter
from flexprice_site.models import Status, Tenant

_HOUR = timedelta(hours=1)
_NO_TIME = timedelta(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def meter_config_fingerprint(meter: Meter) -> str:
    """A hash of every meter setting that changes which events count or what they count.

    Two meters with the same fingerprint give the same rollup rows from the same events.
    """
    multiplier = meter.aggregation_multiplier
    if multiplier is not None:
        # 2, "2.0" and 2.000000000000 (as read back from the column) are one multiplier.
        multiplier = format(Decimal(str(multiplier)).normalize(), "f")
    counted = {
        "event_name": meter.event_name,
        "type": meter.aggregation_type,
        "field": meter.aggregation_field,
        "expression": meter.aggregation_expression,
        "multiplier": multiplier,
        "bucket_size": meter.bucket_size,
        "group_by": meter.aggregation_group_by,
        "filters": meter.filters,
    }
    if meter.rollup_properties:
        # Only when set: meters without kept properties keep the fingerprint (and the rows)
        # they had before the setting existed.
        counted["rollup_properties"] = list(meter.rollup_properties)
    text = json.dumps(counted, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def meter_has_rollups(meter: Meter) -> bool:
    """Whether the meter is kept in rollups at all: every meter but a deleted one (never asked
    for). COUNT_UNIQUE rows keep their hour's distinct values (UsageRollup.unique_values)."""
    return meter.status != Status.DELETED


@dataclass(frozen=True)
class BacklogSummary:
    events: int
    oldest_ingested_at: datetime | None


def backlog_summary(*, tenant: Tenant | None = None) -> BacklogSummary:
    """Events stored but not yet rolled up (of one tenant, or of all).

    The backlog holds a few seconds of ingestion, so counting it is cheap.
    """
    sql = (
        "SELECT count(*), min(e.ingested_at) FROM analytics_eventbacklog b "
        "JOIN analytics_event e ON e.id = b.event_id"
    )
    params: list[str] = []
    if tenant is not None:
        sql += " WHERE e.tenant_id = %s"
        params.append(tenant.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count, oldest = cursor.fetchone()
    return BacklogSummary(events=count, oldest_ingested_at=oldest)


# --- Rollups answering a usage query -----------------------------------------------------------


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + _HOUR


def _on_whole_hours(boundaries: Sequence[datetime], start: datetime, end: datetime) -> bool:
    """Every boundary strictly inside (start, end) starts a UTC hour, so that each rollup hour
    falls in one window (or bucket) as a whole."""
    return all(
        (moment - _EPOCH) % _HOUR == _NO_TIME for moment in boundaries if start < moment < end
    )


def query_properties(query: UsageQuery) -> list[str]:
    """The event properties a query filters on or groups by."""
    grouped = [name for key in query.group_by if (name := group_by_property(key)) is not None]
    return [*query.property_filters, *grouped]


def _kept_value(meter: Meter, name: str, alias: str) -> str:
    """A kept property's canonical value in a rollup row (or a backlog partial) `alias`.

    The position is an integer we compute from the meter's own list, never user text.
    """
    return f"{alias}.property_values[{meter.rollup_properties.index(name) + 1}]"


@dataclass(frozen=True)
class RollupSpan:
    """The whole UTC hours [start, end) of a query that rollup rows answer; the rest of the
    range (before the first whole hour, after the last) comes from raw events."""

    start: datetime
    end: datetime


def rollup_span(
    query: UsageQuery, meter: Meter, *, windows: Sequence[datetime] | None
) -> RollupSpan | None:
    """The part of the query that rollups can answer exactly, or None to use raw events only.

    Rollup rows hold per hour what the engine needs for every aggregation (for COUNT_UNIQUE,
    the hour's distinct values), per customer, source, the meter's group value and the values
    of the meter's rollup_properties, so they can't serve filters on or grouping by other
    properties, buckets shorter than an hour, or windows and buckets that cut an hour (a time
    zone with a half-hour offset). The state is checked in the statement itself (see
    rollup_partials_sql).
    """
    if not settings.ROLLUP_QUERIES or not meter_has_rollups(meter):
        return None
    if not all(name in meter.rollup_properties for name in query_properties(query)):
        return None
    if meter.bucket_size in MINUTES and MINUTES[meter.bucket_size] < 60:
        return None
    span = RollupSpan(start=_ceil_hour(query.start), end=_floor_hour(query.end))
    if span.start >= span.end:
        return None
    if windows is not None and not _on_whole_hours(windows, query.start, query.end):
        return None
    if is_bucketed(meter) and not query.counts_only:
        buckets = window_boundaries(
            meter.bucket_size,
            start=query.start,
            end=query.end,
            time_zone=query.zone,
            billing_anchor=query.billing_anchor,
        )
        if not _on_whole_hours(buckets, query.start, query.end):
            return None
    return span


# A rollup row read as a partial row (the engine's PARTIAL_COLUMNS, in order), with no unique
# value: a COUNT_UNIQUE row's values come as rows of their own (_ROLLUP_VALUES_AS_PARTIALS).
_ROLLUP_AS_PARTIALS = (
    "r.external_customer_id AS customer, r.source, r.group_value, r.hour AS ts, r.event_count, "
    "r.value_count, r.value_sum, r.value_max, r.value_time_sum, r.latest_ts, r.latest_ingested, "
    "r.latest_id, r.latest_value, NULL::text AS unique_value"
)
# Each distinct value of a COUNT_UNIQUE rollup row as a partial row that counts no event and
# carries no measure, so count(DISTINCT unique_value) sees the values and nothing else changes.
_ROLLUP_VALUES_AS_PARTIALS = (
    "r.external_customer_id AS customer, r.source, r.group_value, r.hour AS ts, "
    "0::bigint AS event_count, 0::bigint AS value_count, NULL::numeric AS value_sum, "
    "NULL::numeric AS value_max, NULL::numeric AS value_time_sum, "
    "NULL::timestamptz AS latest_ts, NULL::timestamptz AS latest_ingested, "
    "NULL::bigint AS latest_id, NULL::numeric AS latest_value, u.value AS unique_value"
)


def _select(columns: str, relation: str, conditions: Sequence[str]) -> str:
    """SELECT text from our own fragments; every value in them is a placeholder."""
    return f"SELECT {columns} FROM {relation} WHERE {' AND '.join(conditions)}"  # noqa: S608


def rollup_partials_sql(
    query: UsageQuery, meter: Meter, params: SqlParams, *, windows: Sequence[datetime] | None
) -> str | None:
    """The engine's partials for `meter` with the query's whole hours read from rollups.

    One relation, read in one snapshot: if the meter's rollups are ready (and were built from
    its current settings), raw events before the first and after the last whole hour, plus
    the rollup rows of the whole hours, plus the events of those hours still in the backlog
    (stored, not yet rolled up: the job moves an event from the backlog to the rollups in
    one transaction, so each is counted once); otherwise raw events for the whole range.
    PostgreSQL evaluates the state check once and skips the branches it rules out. None when
    rollups can't answer this query at all (rollup_span).
    """
    span = rollup_span(query, meter, windows=windows)
    if span is None:
        return None
    state = _select(
        "1",
        "analytics_meterrollupstate AS s",
        [
            f"s.meter_id = {params.add(meter.pk)}",
            f"s.status = {params.add(RollupStatus.READY.value)}",
            f"s.config_fingerprint = {params.add(meter_config_fingerprint(meter))}",
        ],
    )
    ready = "(SELECT ready FROM rollup_state)"
    # The partials also carry a column per group_by property (partials.property_column), in
    # every branch alike: raw events compute it, rollup and backlog rows read it from their
    # property values.
    grouped = [
        (property_column(index), name)
        for index, key in enumerate(query.group_by)
        if (name := group_by_property(key)) is not None
    ]
    columns = ", ".join([partial_columns("p"), *(f"p.{column}" for column, _ in grouped)])
    # The fallback is a CTE of its own: PostgreSQL runs it only if the gate lets a row through,
    # so when the rollups are ready it never starts (nor launches parallel workers for it).
    fallback = raw_partials_sql(query, meter, params)
    branches = [_select(columns, "raw_events AS p", [f"NOT {ready}"])]
    if query.start < span.start:
        edge = f"({raw_partials_sql(query, meter, params, end=span.start)}) AS p"
        branches.append(_select(columns, edge, [ready]))
    if span.end < query.end:
        edge = f"({raw_partials_sql(query, meter, params, start=span.end)}) AS p"
        branches.append(_select(columns, edge, [ready]))

    rollups = [
        ready,
        f"r.meter_id = {params.add(meter.pk)}",
        f"r.hour >= {params.add(span.start)}",
        f"r.hour < {params.add(span.end)}",
    ]
    environment = params.add(meter.environment_id)
    events = [
        f"b.environment_id = {environment}",
        f"e.environment_id = {environment}",
        f"e.timestamp >= {params.add(span.start)}",
        f"e.timestamp < {params.add(span.end)}",
    ]
    if query.external_customer_ids is not None:
        customers = params.add(list(query.external_customer_ids))
        rollups.append(f"r.external_customer_id = ANY({customers}::text[])")
        events.append(f"e.external_customer_id = ANY({customers}::text[])")
    if query.sources is not None:
        sources = params.add(list(query.sources))
        rollups.append(f"r.source = ANY({sources}::text[])")
        events.append(f"e.source = ANY({sources}::text[])")
    backlog_conditions = [ready]
    for name, values in query.property_filters.items():
        texts = params.add([str(value) for value in values])
        rollups.append(f"{_kept_value(meter, name, 'r')} = ANY({texts}::text[])")
        backlog_conditions.append(f"{_kept_value(meter, name, 'p')} = ANY({texts}::text[])")
    rollup_columns = ", ".join(
        [_ROLLUP_AS_PARTIALS, *(f"{_kept_value(meter, n, 'r')} AS {c}" for c, n in grouped)]
    )
    branches.append(_select(rollup_columns, "analytics_usagerollup AS r", rollups))
    if meter.aggregation_type == AggregationType.COUNT_UNIQUE and not query.counts_only:
        values_columns = ", ".join(
            [
                _ROLLUP_VALUES_AS_PARTIALS,
                *(f"{_kept_value(meter, n, 'r')} AS {c}" for c, n in grouped),
            ]
        )
        values = "analytics_usagerollup AS r CROSS JOIN LATERAL unnest(r.unique_values) AS u(value)"
        branches.append(_select(values_columns, values, rollups))
    backlog = partials_with_kept_values_sql(meter, params, events=BACKLOG_EVENTS, conditions=events)
    backlog_columns = ", ".join(
        [partial_columns("p"), *(f"{_kept_value(meter, n, 'p')} AS {c}" for c, n in grouped)]
    )
    branches.append(_select(backlog_columns, f"({backlog}) AS p", backlog_conditions))
    return (
        f"WITH rollup_state AS MATERIALIZED (SELECT EXISTS ({state}) AS ready),\n"
        f"raw_events AS MATERIALIZED (\n{fallback}\n)\n" + "\nUNION ALL\n".join(branches)
    )
