"""The raw-events partials: one row per event of a meter that passes the query's filters.

Its columns (`PARTIAL_COLUMNS`) are what statements.py aggregates; rollups feed the same
aggregation with pre-aggregated rows of the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from analytics.metering.cel_sql import expression_sql
from analytics.metering.query import group_by_property
from analytics.metering.sql import SqlParams, canonical_text_sql, filter_sql, numeric_property_sql
from costsheets.models import AggregationType

if TYPE_CHECKING:
    from analytics.metering.query import UsageQuery
    from costsheets.models import Meter


def quantity_sql(meter: Meter, params: SqlParams) -> str:
    """The per-event quantity of a meter (numeric; NULL when the event carries no value)."""
    kind = meter.aggregation_type
    if kind == AggregationType.COUNT:
        return "NULL::numeric"
    expression = meter.aggregation_expression.strip()
    if expression and meter.aggregation_field:
        raise ValueError(f"meter {meter.pk} has both a field and an expression")
    if expression:
        quantity = expression_sql(expression, params)
    elif meter.aggregation_field:
        quantity = numeric_property_sql(meter.aggregation_field, params)
    else:
        raise ValueError(f"meter {meter.pk} ({kind}) needs a field or an expression")
    if meter.aggregation_multiplier is not None:
        quantity = f"({quantity} * {params.add(meter.aggregation_multiplier)}::numeric)"
    return quantity


def meter_filters(meter: Meter) -> list[tuple[str, object]]:
    filters = meter.filters or []
    if not isinstance(filters, list):
        raise ValueError(f"meter {meter.pk} has filters that are not a list")
    pairs = []
    for item in filters:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ValueError(f"meter {meter.pk} has a filter without a key")
        pairs.append((item["key"], item.get("values")))
    return pairs


def unique_value_sql(meter: Meter, params: SqlParams) -> str:
    """The value a COUNT_UNIQUE meter counts (canonical text of its field); NULL for others."""
    if meter.aggregation_type != AggregationType.COUNT_UNIQUE:
        return "NULL::text"
    if not meter.aggregation_field:
        raise ValueError(f"meter {meter.pk} (COUNT_UNIQUE) needs a field")
    return canonical_text_sql(meter.aggregation_field, params)


# The partials relation's columns, in every relation the engine aggregates (raw events, rollup
# rows, the backlog); a query adds `property_<i>` per group_by property.
PARTIAL_COLUMNS = (
    "customer",  # text: external_customer_id
    "source",  # text
    "group_value",  # text: canonical value of the meter's aggregation group_by property
    "ts",  # timestamptz: places the row in a window and a bucket
    "event_count",  # bigint: events
    "value_count",  # bigint: events that carry a value
    "value_sum",  # numeric: Σ quantity
    "value_max",  # numeric: max quantity
    "value_time_sum",  # numeric: Σ quantity * extract(epoch from event timestamp)
    "latest_ts",  # timestamptz ┐ the latest event that carries a value:
    "latest_ingested",  # timestamptz │ ordered by timestamp, then ingested_at,
    "latest_id",  # bigint │ then id
    "latest_value",  # numeric ┘ and its quantity
    "unique_value",  # text: the canonical value COUNT_UNIQUE counts (NULL for other types)
)


def property_column(index: int) -> str:
    """Partials column of the `index`-th group_by key when it is `properties.<name>`."""
    return f"property_{index}"


def group_value_sql(meter: Meter, params: SqlParams) -> str:
    """The event's value of the meter's aggregation group_by property (bucketed meters that
    have one); NULL otherwise."""
    if meter.bucket_size and meter.aggregation_group_by:
        return canonical_text_sql(meter.aggregation_group_by, params)
    return "NULL::text"


def event_partials_sql(
    meter: Meter,
    params: SqlParams,
    *,
    events: str,
    conditions: Sequence[str],
    extra_columns: Sequence[str] = (),
    fenced: bool = False,
) -> str:
    """SELECT of one partial row per event of `meter`: the events of `events` (a FROM clause
    naming the event row `e`) that have the meter's event name, pass its filters and
    `conditions`. Columns: PARTIAL_COLUMNS, then `extra_columns` (SQL `expression AS name`).

    The one definition of how an event counts, for raw-event queries and rollups alike.
    `fenced` computes the quantity once per event (OFFSET 0) instead of letting PostgreSQL
    inline it into each aggregate that reads it: the rollup job's aggregation reads it five
    times in one process; a query's runs in parallel workers, where inlining measured faster.
    """
    where = [f"e.event_name = {params.add(meter.event_name)}", *conditions]
    where += [filter_sql(name, values, params) for name, values in meter_filters(meter)]
    extra = "".join(f",\n       {column}" for column in extra_columns)
    fence = " OFFSET 0" if fenced else ""
    conditions_sql = "\n  AND ".join(where)
    return f"""SELECT e.external_customer_id AS customer,
       e.source AS source,
       {group_value_sql(meter, params)} AS group_value,
       e.timestamp AS ts,
       1::bigint AS event_count,
       (CASE WHEN v.quantity IS NULL THEN 0 ELSE 1 END)::bigint AS value_count,
       v.quantity AS value_sum,
       v.quantity AS value_max,
       v.quantity * extract(epoch FROM e.timestamp) AS value_time_sum,
       e.timestamp AS latest_ts,
       e.ingested_at AS latest_ingested,
       e.id AS latest_id,
       v.quantity AS latest_value,
       {unique_value_sql(meter, params)} AS unique_value{extra}
FROM {events}
CROSS JOIN LATERAL (SELECT {quantity_sql(meter, params)} AS quantity{fence}) AS v
WHERE {conditions_sql}"""  # noqa: S608 - placeholders and our own fragments only


def raw_partials_sql(
    query: UsageQuery,
    meter: Meter,
    params: SqlParams,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> str:
    """SELECT of one partial row per event of `meter` passing every filter of `query`, with a
    `property_<i>` column per group_by property.

    `start`/`end` narrow the time range (a rollup reader adds the not yet rolled up tail).
    """
    property_columns = [
        f"{canonical_text_sql(name, params)} AS {property_column(index)}"
        for index, key in enumerate(query.group_by)
        if (name := group_by_property(key)) is not None
    ]
    conditions = [
        f"e.environment_id = {params.add(query.environment_id)}",
        f"e.timestamp >= {params.add(start or query.start)}",
        f"e.timestamp < {params.add(end or query.end)}",
    ]
    if query.external_customer_ids is not None:
        customers = params.add(list(query.external_customer_ids))
        conditions.append(f"e.external_customer_id = ANY({customers}::text[])")
    if query.sources is not None:
        conditions.append(f"e.source = ANY({params.add(list(query.sources))}::text[])")
    for name, values in query.property_filters.items():
        conditions.append(filter_sql(name, values, params))
    return event_partials_sql(
        meter,
        params,
        events="analytics_event AS e",
        conditions=conditions,
        extra_columns=property_columns,
    )


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
