"""The rollups' SQL: a meter's events as partial rows, hourly and day rows made of them, the value
dictionary of distinct-count meters, and the merges.

A meter's event predicate, quantity and group value come from the metering engine's own
fragment builders, so an event counts in a rollup row exactly as it counts from raw events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from analytics.metering.partials import partials_with_kept_values_sql
from analytics.metering.plan import (
    PACKED_IDS,
    counts_distinct,
    day_ids_sql,
    dictionary_lookup,
    dictionary_match,
)
from analytics.metering.sql import SqlParams
from costsheets.models import Meter

# Key and measure columns of the rollup tables, in the order the SELECTs below produce them;
# the time column is `hour` (analytics_usagerollup) or `day` (analytics_usagedayrollup).
KEY_COLUMNS = ("meter_id", "external_customer_id", "source", "group_value", "property_values")
MEASURE_COLUMNS = (
    "event_count",
    "value_count",
    "value_sum",
    "value_max",
    "value_time_sum",
    "latest_ts",
    "latest_ingested",
    "latest_id",
    "latest_value",
    "unique_ids",
)
HOURLY = "analytics_usagerollup"
DAILY = "analytics_usagedayrollup"
_DAY = timedelta(days=1)


def _columns(unit: str) -> str:
    return f"({', '.join((*KEY_COLUMNS, unit, *MEASURE_COLUMNS))})"


def _conflict_key(unit: str) -> str:
    return ", ".join((*KEY_COLUMNS[:2], unit, *KEY_COLUMNS[2:]))


_NOT_IN_BACKLOG = "NOT EXISTS (SELECT 1 FROM analytics_eventbacklog b WHERE b.event_id = e.id)"


def _latest(column: str) -> str:
    # The measure of the latest partial that carries a value (the one LATEST reports).
    return (
        f"(array_agg({column} ORDER BY latest_ts DESC, latest_ingested DESC, latest_id DESC) "
        f"FILTER (WHERE latest_value IS NOT NULL))[1]"
    )


# A row's distinct value ids, packed (RollupMeasures.unique_ids).
_UNIQUE_IDS = f"coalesce({PACKED_IDS.format(ids='v.value_id')}, ''::bytea)"


def meter_rows_sql(
    meter: Meter,
    params: SqlParams,
    *,
    events: str,
    conditions: Sequence[str],
    unit: str,
    collapsed: bool = False,
) -> str:
    """SELECT of the meter's rollup rows (KEY_COLUMNS, the time column, MEASURE_COLUMNS): its
    partials over `events` (see partials_with_kept_values_sql) combined per UTC `unit` ("hour"
    or "day"), customer, source, group and kept property values.

    A distinct-count meter's values are read as their dictionary ids: every value of `events`
    must be in the dictionary already (assign_values_sql). `collapsed`: rows over every value of
    the kept properties (property_values empty; see row_forms).
    """
    partials = partials_with_kept_values_sql(meter, params, events=events, conditions=conditions)
    dictionary = ""
    unique_ids = "''::bytea"
    if counts_distinct(meter):
        dictionary = f"\n{dictionary_lookup(params.add(meter.pk), 'partials.unique_value')}"
        unique_ids = _UNIQUE_IDS
    return f"""SELECT {params.add(meter.pk)}::text AS meter_id,
       customer,
       source,
       group_value,
       {"'{}'::text[]" if collapsed else "property_values"},
       date_trunc({params.add(unit)}, ts, 'UTC'),
       sum(event_count)::bigint,
       sum(value_count)::bigint,
       sum(value_sum),
       max(value_max),
       sum(value_time_sum),
       {_latest("latest_ts")},
       {_latest("latest_ingested")},
       {_latest("latest_id")},
       {_latest("latest_value")},
       {unique_ids}
FROM (
{partials}
) AS partials{dictionary}
GROUP BY 1, 2, 3, 4, 5, 6"""  # noqa: S608 - placeholders and our own fragments only


def assign_values_sql(
    meter: Meter, *, events: str, conditions: Sequence[str], params: SqlParams
) -> str:
    """One statement giving every value of the meter's field among `events` that the meter's
    dictionary lacks the next ids (after the state's `values_assigned`), and moving that count.
    It answers one row (values added, values in all) when it added any, none otherwise.

    Runs under the environment's rollup lock (the job and rebuilds alike), so no two writers
    number values at once: ids are dense, unique and never reused.
    """
    partials = partials_with_kept_values_sql(meter, params, events=events, conditions=conditions)
    meter_id = params.add(meter.pk)
    return f"""WITH seen AS (
    SELECT DISTINCT unique_value AS value FROM ({partials}) AS partials
    WHERE unique_value IS NOT NULL
), fresh AS (
    -- A scalar subquery, not NOT EXISTS: it stays one index lookup per value (see
    -- metering.plan.dictionary_lookup).
    SELECT seen.value FROM seen
    WHERE (
        SELECT v.value_id FROM analytics_metervalue v
        WHERE {dictionary_match(meter_id, "seen.value")} LIMIT 1
    ) IS NULL
), numbered AS (
    INSERT INTO analytics_metervalue (meter_id, value_id, value)
    SELECT {meter_id}, s.values_assigned + row_number() OVER (), fresh.value
    FROM fresh CROSS JOIN analytics_meterrollupstate s
    WHERE s.meter_id = {meter_id}
    RETURNING value_id
)
UPDATE analytics_meterrollupstate
SET values_assigned = (SELECT max(value_id) FROM numbered)
WHERE meter_id = {meter_id} AND EXISTS (SELECT 1 FROM numbered)
RETURNING (SELECT count(*) FROM numbered), values_assigned"""  # noqa: S608


def _merge(column: str, *, table: str) -> str:
    """How an existing row (`r`) takes in a new row's measure (`EXCLUDED`)."""
    new, old = f"EXCLUDED.{column}", f"r.{column}"
    if column in ("event_count", "value_count"):
        return f"{old} + {new}"
    if column in ("value_sum", "value_time_sum"):
        # NULL is "no value yet", not zero: the sum of what is there.
        return f"coalesce({old} + {new}, {old}, {new})"
    if column == "value_max":
        return f"greatest({old}, {new})"  # GREATEST skips NULLs
    if column == "unique_ids":
        if table == DAILY:
            # A day row's ids are rebuilt by compaction; meanwhile the row says they are stale.
            return old
        # The union of both rows' ids (migration 0009); nothing to do when the new brings none.
        return f"CASE WHEN length({new}) = 0 THEN {old} ELSE analytics_ids_union({old}, {new}) END"
    newer = (
        "EXCLUDED.latest_value IS NOT NULL AND (r.latest_value IS NULL OR "
        "(EXCLUDED.latest_ts, EXCLUDED.latest_ingested, EXCLUDED.latest_id) > "
        "(r.latest_ts, r.latest_ingested, r.latest_id))"
    )
    return f"CASE WHEN {newer} THEN {new} ELSE {old} END"


def _upsert(table: str, unit: str, selects: Sequence[str]) -> str:
    updates = [f"{column} = {_merge(column, table=table)}" for column in MEASURE_COLUMNS]
    if table == DAILY:
        updates.append("ids_stale = r.ids_stale OR length(EXCLUDED.unique_ids) > 0")
    rows = "\nUNION ALL\n".join(selects)
    assignments = ",\n    ".join(updates)
    return f"""INSERT INTO {table} AS r {_columns(unit)}
{rows}
ON CONFLICT ({_conflict_key(unit)}) DO UPDATE SET
    {assignments}"""


def assign_batch_values(
    *, meters: Sequence[Meter], event_ids: Sequence[int]
) -> list[tuple[str, dict[str, Any]]]:
    """The dictionary statements for a batch: one per distinct-count meter."""
    statements = []
    for meter in meters:
        if counts_distinct(meter):
            params = SqlParams()
            sql = assign_values_sql(
                meter,
                events="analytics_event AS e",
                conditions=[f"e.id = ANY({params.add(list(event_ids))}::bigint[])"],
                params=params,
            )
            statements.append((sql, params.values))
    return statements


def upsert_events(
    *,
    meters: Sequence[Meter],
    event_ids: Sequence[int],
    compacted_through: Mapping[str, datetime | None],
) -> tuple[str, dict[str, Any]]:
    """One statement adding the events `event_ids` to the rollups of every meter in `meters`
    (all of one environment): to the hourly rows, and — for events on a day before the meter's
    `compacted_through` — to its day rows too, merging into the rows already there."""
    params = SqlParams()
    batch = f"""WITH batch AS MATERIALIZED (
    SELECT id, environment_id, event_name, external_customer_id, source, timestamp,
           ingested_at, properties
    FROM analytics_event
    WHERE id = ANY({params.add(list(event_ids))}::bigint[])
)"""  # noqa: S608 - placeholders only
    hourly = [
        meter_rows_sql(
            meter, params, events="batch AS e", conditions=(), unit="hour", collapsed=collapsed
        )
        for meter in meters
        for collapsed in row_forms(meter)
    ]
    daily = [
        meter_rows_sql(
            meter,
            params,
            events="batch AS e",
            conditions=[f"e.timestamp < {params.add(through)}"],
            unit="day",
            collapsed=collapsed,
        )
        for meter in meters
        if (through := compacted_through.get(meter.pk)) is not None
        for collapsed in row_forms(meter)
    ]
    if not daily:
        return f"{batch}\n{_upsert(HOURLY, 'hour', hourly)}", params.values
    return (
        f"{batch},\nhourly AS (\n{_upsert(HOURLY, 'hour', hourly)}\n)\n"
        f"{_upsert(DAILY, 'day', daily)}",
        params.values,
    )


def _day_conditions(meter: Meter, params: SqlParams, day_start: datetime) -> list[str]:
    return [
        f"e.environment_id = {params.add(meter.environment_id)}",
        f"e.timestamp >= {params.add(day_start)}",
        f"e.timestamp < {params.add(day_start + _DAY)}",
        _NOT_IN_BACKLOG,
    ]


def assign_day_values(*, meter: Meter, day_start: datetime) -> tuple[str, dict[str, Any]]:
    """The dictionary statement for the values of one day of stored events (a rebuild)."""
    params = SqlParams()
    conditions = _day_conditions(meter, params, day_start)
    sql = assign_values_sql(
        meter, events="analytics_event AS e", conditions=conditions, params=params
    )
    return sql, params.values


def insert_day(*, meter: Meter, day_start: datetime) -> tuple[str, dict[str, Any]]:
    """The meter's hourly rows of one day, from its stored events that have left the backlog
    (those still in it are added by the backlog job, which sees this meter as building)."""
    params = SqlParams()
    conditions = _day_conditions(meter, params, day_start)
    rows = "\nUNION ALL\n".join(
        meter_rows_sql(
            meter,
            params,
            events="analytics_event AS e",
            conditions=conditions,
            unit="hour",
            collapsed=collapsed,
        )
        for collapsed in row_forms(meter)
    )
    return f"INSERT INTO {HOURLY} {_columns('hour')}\n{rows}", params.values


def row_forms(meter: Meter) -> tuple[bool, ...]:
    """Whether each form of the meter's rollup rows is collapsed. A meter that keeps properties
    has its rows (hourly and daily) twice: split by the kept values (for questions about them),
    and collapsed over them (every other question would read each hour of each customer once
    per combination of values: 25 times the rows for the bench's model and region)."""
    return (False, True) if meter.rollup_properties else (False,)


def _form_condition(meter: Meter, collapsed: bool) -> str:
    """The hourly rows of one form (row_forms): all of a meter that keeps no property."""
    if not meter.rollup_properties:
        return "true"
    return "property_values = '{}'" if collapsed else "cardinality(property_values) > 0"


def compact_day(
    *, meter: Meter, day_start: datetime, collapsed: bool = False
) -> tuple[str, dict[str, Any]]:
    """The meter's day rows of one UTC day, made of its hourly rows of that day (complete for
    every event not still in the backlog, and the job adds those to both); `collapsed`: over
    every value of the kept properties (row_forms), made of the collapsed hourly rows. A
    distinct-count meter's rows come out stale: `refresh_stale_ids` then unites their hourly
    ids."""
    params = SqlParams()
    rows = f"""SELECT meter_id, external_customer_id, source, group_value, property_values,
       {params.add(day_start)}::timestamptz,
       sum(event_count)::bigint, sum(value_count)::bigint, sum(value_sum), max(value_max),
       sum(value_time_sum), {_latest("latest_ts")}, {_latest("latest_ingested")},
       {_latest("latest_id")}, {_latest("latest_value")}, ''::bytea,
       {params.add(counts_distinct(meter))}::boolean
FROM {HOURLY}
WHERE meter_id = {params.add(meter.pk)}
  AND hour >= {params.add(day_start)} AND hour < {params.add(day_start + _DAY)}
  AND {_form_condition(meter, collapsed)}
GROUP BY 1, 2, 3, 4, 5"""  # noqa: S608 - placeholders only
    columns = _columns("day").replace(")", ", ids_stale)")
    return f"INSERT INTO {DAILY} {columns}\n{rows}", params.values


def refresh_stale_ids(*, meter: Meter) -> tuple[str, dict[str, Any]]:
    """Rebuild the ids of the meter's stale day rows (late events, or a fresh compaction) from
    their hourly rows."""
    params = SqlParams()
    return (
        f"""UPDATE {DAILY} AS d
SET unique_ids = {day_ids_sql("d")}, ids_stale = false
WHERE d.meter_id = {params.add(meter.pk)} AND d.ids_stale""",  # noqa: S608
        params.values,
    )
