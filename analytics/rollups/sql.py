"""The rollups' SQL: a meter's events as partial rows, hourly rows made of them, and the merge.

A meter's event predicate, quantity and group value come from the metering engine's own
fragment builders, so an event counts in a rollup row exactly as it counts from raw events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from analytics.metering.partials import PARTIAL_COLUMNS, event_partials_sql
from analytics.metering.sql import SqlParams, canonical_text_sql
from costsheets.models import Meter

# Key and measure columns of analytics_usagerollup, in the order the SELECTs below produce them.
KEY_COLUMNS = (
    "meter_id",
    "external_customer_id",
    "hour",
    "source",
    "group_value",
    "property_values",
)
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
    "unique_values",
)
_COLUMN_LIST = f"({', '.join((*KEY_COLUMNS, *MEASURE_COLUMNS))})"

# Backlog events joined to their rows: the events stored but not yet in the rollups.
BACKLOG_EVENTS = "analytics_eventbacklog AS b JOIN analytics_event AS e ON e.id = b.event_id"
_NOT_IN_BACKLOG = "NOT EXISTS (SELECT 1 FROM analytics_eventbacklog b WHERE b.event_id = e.id)"


def property_values_sql(meter: Meter, params: SqlParams) -> str:
    """An event's canonical values of the meter's rollup_properties, as a text[] in the
    meter's order (NULL for a property it lacks, as the raw path's canonical value)."""
    if not meter.rollup_properties:
        return "'{}'::text[]"
    values = ", ".join(canonical_text_sql(name, params) for name in meter.rollup_properties)
    return f"ARRAY[{values}]::text[]"


def partials_with_kept_values_sql(
    meter: Meter, params: SqlParams, *, events: str, conditions: Sequence[str]
) -> str:
    """The engine's event partials of the meter (metering.partials.event_partials_sql) with
    `property_values` (property_values_sql), as the rollup job and backlog readers need them."""
    return event_partials_sql(
        meter,
        params,
        events=events,
        conditions=conditions,
        extra_columns=[f"{property_values_sql(meter, params)} AS property_values"],
        fenced=True,
    )


def _latest(column: str) -> str:
    # The measure of the latest partial that carries a value (the one LATEST reports).
    return (
        f"(array_agg({column} ORDER BY latest_ts DESC, latest_ingested DESC, latest_id DESC) "
        f"FILTER (WHERE latest_value IS NOT NULL))[1]"
    )


# A rollup row's distinct values, sorted; an empty array for meters that count none.
_UNIQUE_VALUES = (
    "coalesce(array_agg(DISTINCT unique_value) FILTER (WHERE unique_value IS NOT NULL), "
    "'{}'::text[])"
)


def meter_rows_sql(
    meter: Meter, params: SqlParams, *, events: str, conditions: Sequence[str]
) -> str:
    """SELECT of the meter's rollup rows (KEY_COLUMNS + MEASURE_COLUMNS): its partials over
    `events` (see partials_with_kept_values_sql) combined per UTC hour, customer, source,
    group and kept property values."""
    partials = partials_with_kept_values_sql(meter, params, events=events, conditions=conditions)
    return f"""SELECT {params.add(meter.pk)}::text AS meter_id,
       customer,
       date_trunc('hour', ts, 'UTC') AS hour,
       source,
       group_value,
       property_values,
       sum(event_count)::bigint,
       sum(value_count)::bigint,
       sum(value_sum),
       max(value_max),
       sum(value_time_sum),
       {_latest("latest_ts")},
       {_latest("latest_ingested")},
       {_latest("latest_id")},
       {_latest("latest_value")},
       {_UNIQUE_VALUES}
FROM (
{partials}
) AS partials
GROUP BY 1, 2, 3, 4, 5, 6"""  # noqa: S608 - placeholders and our own fragments only


def _merge(column: str) -> str:
    """How an existing row (`r`) takes in a new row's measure (`EXCLUDED`)."""
    new, old = f"EXCLUDED.{column}", f"r.{column}"
    if column in ("event_count", "value_count"):
        return f"{old} + {new}"
    if column in ("value_sum", "value_time_sum"):
        # NULL is "no value yet", not zero: the sum of what is there.
        return f"coalesce({old} + {new}, {old}, {new})"
    if column == "value_max":
        return f"greatest({old}, {new})"  # GREATEST skips NULLs
    if column == "unique_values":
        # The union of both rows' values, sorted; nothing to do when the new row brings none.
        union = f"SELECT DISTINCT u FROM unnest({old} || {new}) AS u ORDER BY u"  # noqa: S608
        return f"CASE WHEN cardinality({new}) = 0 THEN {old} ELSE ARRAY({union}) END"
    newer = (
        "EXCLUDED.latest_value IS NOT NULL AND (r.latest_value IS NULL OR "
        "(EXCLUDED.latest_ts, EXCLUDED.latest_ingested, EXCLUDED.latest_id) > "
        "(r.latest_ts, r.latest_ingested, r.latest_id))"
    )
    return f"CASE WHEN {newer} THEN {new} ELSE {old} END"


def upsert_events(
    *, meters: Sequence[Meter], event_ids: Sequence[int]
) -> tuple[str, dict[str, Any]]:
    """One statement adding the events `event_ids` to the rollups of every meter in `meters`
    (all of one environment), merging into the rows already there."""
    params = SqlParams()
    batch = f"""WITH batch AS MATERIALIZED (
    SELECT id, event_name, external_customer_id, source, timestamp, ingested_at, properties
    FROM analytics_event
    WHERE id = ANY({params.add(list(event_ids))}::bigint[])
)"""  # noqa: S608 - placeholders only
    selects = "\nUNION ALL\n".join(
        meter_rows_sql(meter, params, events="batch AS e", conditions=()) for meter in meters
    )
    updates = ",\n    ".join(f"{column} = {_merge(column)}" for column in MEASURE_COLUMNS)
    statement = f"""{batch}
INSERT INTO analytics_usagerollup AS r {_COLUMN_LIST}
{selects}
ON CONFLICT ({", ".join(KEY_COLUMNS)}) DO UPDATE SET
    {updates}"""
    return statement, params.values


def insert_day(
    *, meter: Meter, day_start: datetime, day_end: datetime
) -> tuple[str, dict[str, Any]]:
    """The meter's rollup rows of one day, from its stored events that have left the backlog
    (those still in it are added by the backlog job, which sees this meter as building)."""
    params = SqlParams()
    conditions = [
        f"e.environment_id = {params.add(meter.environment_id)}",
        f"e.timestamp >= {params.add(day_start)}",
        f"e.timestamp < {params.add(day_end)}",
        _NOT_IN_BACKLOG,
    ]
    rows = meter_rows_sql(meter, params, events="analytics_event AS e", conditions=conditions)
    return f"INSERT INTO analytics_usagerollup {_COLUMN_LIST}\n{rows}", params.values


def partial_columns(alias: str) -> str:
    """`alias.customer, alias.source, …`: the partial columns, in the engine's order."""
    return ", ".join(f"{alias}.{column}" for column in PARTIAL_COLUMNS)
