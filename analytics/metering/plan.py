"""The plan of a usage question for one meter: which part of its range each source answers.

Raw events answer every question exactly; rollups answer most of them faster. For one meter a
question is read as one relation of partial rows (partials.PARTIAL_COLUMNS), in one statement
and so in one snapshot:

- raw events before the first and after the last whole UTC hour of the range (the edges);
- day rows (analytics_usagedayrollup) for whole UTC days that no window or bucket boundary
  cuts, up to the meter's `compacted_through`;
- hourly rows (analytics_usagerollup) for the other whole hours;
- events of those hours still in the backlog (stored, not yet rolled up);

or, when the meter's rollups are not ready for its current settings (checked in the statement
itself), raw events for the whole range. See docs/metering.md, "How a question is answered".
The rollup tables are written by analytics/rollups, which keeps them equal to the events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings

from analytics.metering.partials import (
    PARTIAL_COLUMNS,
    partials_with_kept_values_sql,
    property_column,
    raw_partials_sql,
)
from analytics.metering.query import UsageQuery, group_by_property
from analytics.metering.sql import SqlParams
from analytics.metering.statements import is_bucketed
from analytics.metering.windows import MINUTES, window_boundaries
from costsheets.models import AggregationType, Meter
from flexprice_site.models import Status

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_NO_TIME = timedelta(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# MeterRollupState.status of rollups that answer queries.
READY = "ready"
# Backlog events joined to their rows: the events stored but not yet in the rollups.
BACKLOG_EVENTS = "analytics_eventbacklog AS b JOIN analytics_event AS e ON e.id = b.event_id"


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
    for). COUNT_UNIQUE rows keep their distinct values as dictionary ids."""
    return meter.status != Status.DELETED


def counts_distinct(meter: Meter) -> bool:
    return meter.aggregation_type == AggregationType.COUNT_UNIQUE


def query_properties(query: UsageQuery) -> list[str]:
    """The event properties a query filters on or groups by."""
    grouped = [name for key in query.group_by if (name := group_by_property(key)) is not None]
    return [*query.property_filters, *grouped]


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + _HOUR


def _ceil_day(moment: datetime) -> datetime:
    floor = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + _DAY


def _on_whole_hours(boundaries: Sequence[datetime], start: datetime, end: datetime) -> bool:
    """Every boundary strictly inside (start, end) starts a UTC hour, so that each rollup hour
    falls in one window (or bucket) as a whole."""
    return all(
        (moment - _EPOCH) % _HOUR == _NO_TIME for moment in boundaries if start < moment < end
    )


@dataclass(frozen=True)
class RollupSpan:
    """The whole UTC hours [start, end) of a query that rollup rows answer (the rest of the
    range comes from raw events), and within them the ranges of whole UTC days that day rows
    may answer: days no window or bucket boundary cuts."""

    start: datetime
    end: datetime
    day_ranges: tuple[tuple[datetime, datetime], ...] = ()

    def hour_ranges(self) -> list[tuple[datetime, datetime]]:
        """The parts of [start, end) outside the day ranges: always read from hourly rows."""
        ranges, cursor = [], self.start
        for first, last in self.day_ranges:
            if cursor < first:
                ranges.append((cursor, first))
            cursor = last
        if cursor < self.end:
            ranges.append((cursor, self.end))
        return ranges


def _day_ranges(
    start: datetime, end: datetime, cuts: Sequence[Sequence[datetime]]
) -> tuple[tuple[datetime, datetime], ...]:
    """Ranges of whole UTC days in [start, end) that no boundary of `cuts` falls strictly
    inside, adjacent days merged."""
    inside = sorted(
        {moment for boundaries in cuts for moment in boundaries if start < moment < end}
    )
    ranges: list[tuple[datetime, datetime]] = []
    day, index = _ceil_day(start), 0
    while day + _DAY <= end:
        while index < len(inside) and inside[index] <= day:
            index += 1
        cut = index < len(inside) and inside[index] < day + _DAY
        if not cut:
            if ranges and ranges[-1][1] == day:
                ranges[-1] = (ranges[-1][0], day + _DAY)
            else:
                ranges.append((day, day + _DAY))
        day += _DAY
    return tuple(ranges)


def rollup_span(
    query: UsageQuery, meter: Meter, *, windows: Sequence[datetime] | None
) -> RollupSpan | None:
    """The part of the query that rollups can answer exactly, or None to use raw events only.

    Rollup rows hold per hour (and per closed day) what the engine needs for every aggregation
    (for COUNT_UNIQUE, the ids of the distinct values), per customer, source, the meter's group
    value and the values of the meter's rollup_properties, so they can't serve filters on or
    grouping by other properties, buckets shorter than an hour, or windows and buckets that cut
    an hour (a time zone with a half-hour offset). The state is checked in the statement
    itself (see partials_sql).
    """
    if not settings.ROLLUP_QUERIES or not meter_has_rollups(meter):
        return None
    if not all(name in meter.rollup_properties for name in query_properties(query)):
        return None
    if meter.bucket_size in MINUTES and MINUTES[meter.bucket_size] < 60:
        return None
    start, end = _ceil_hour(query.start), _floor_hour(query.end)
    if start >= end:
        return None
    if windows is not None and not _on_whole_hours(windows, query.start, query.end):
        return None
    cuts: list[Sequence[datetime]] = [] if windows is None else [windows]
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
        cuts.append(buckets)
    return RollupSpan(start=start, end=end, day_ranges=_day_ranges(start, end, cuts))


# Ids packed as day rows keep them: 4 bytes each, big-endian, ascending. For ids ≥ 1 the
# big-endian bytes sort as the numbers do, so ordering by them orders the ids.
PACKED_IDS = "string_agg(DISTINCT int4send({ids}), ''::bytea ORDER BY int4send({ids}))"


def dictionary_match(meter_param: str, value: str, alias: str = "v") -> str:
    """The condition that dictionary row `alias` (analytics_metervalue) is `value`'s entry in
    the meter `meter_param`: found through the (meter, MD5) index, then compared in full."""
    return (
        f"{alias}.meter_id = {meter_param} AND md5({alias}.value) = md5({value}) "
        f"AND {alias}.value = {value}"
    )


def dictionary_lookup(meter_param: str, value: str) -> str:
    """A join giving `v.value_id`, the id of `value` in the meter's dictionary (NULL when it has
    none): one index lookup per value, whatever the planner estimates. (As a plain join, a
    planner that believed one event was coming read the meter's whole dictionary per event;
    a LATERAL subquery it can't flatten (OFFSET 0) is always looked up by the value's MD5.)"""
    match = dictionary_match(meter_param, value)
    return (
        "LEFT JOIN LATERAL (SELECT v.value_id FROM analytics_metervalue AS v "  # noqa: S608
        f"WHERE {match} OFFSET 0) AS v ON true"
    )


def day_ids_sql(row: str) -> str:
    """A scalar subquery: the ids of the hourly rows behind the day row `row`, united and
    packed as a day row keeps them (what its ids are once compaction has refreshed them)."""
    return f"""(SELECT coalesce(string_agg(DISTINCT u, ''::bytea ORDER BY u), ''::bytea)
     FROM analytics_usagerollup AS h
     CROSS JOIN LATERAL generate_series(1, length(h.unique_ids), 4) AS at
     CROSS JOIN LATERAL substring(h.unique_ids FROM at FOR 4) AS u
     WHERE h.meter_id = {row}.meter_id
       AND h.external_customer_id = {row}.external_customer_id
       AND h.hour >= {row}.day AND h.hour < {row}.day + interval '1 day'
       AND h.source = {row}.source
       AND h.group_value IS NOT DISTINCT FROM {row}.group_value
       AND h.property_values = {row}.property_values)"""  # noqa: S608 - our own fragments


# The measure columns of the partials (PARTIAL_COLUMNS without the raw unique value).
_MEASURES = PARTIAL_COLUMNS[:-1]


def _select(columns: str, relation: str, conditions: Sequence[str]) -> str:
    """SELECT text from our own fragments; every value in them is a placeholder."""
    return f"SELECT {columns} FROM {relation} WHERE {' AND '.join(conditions)}"  # noqa: S608


def _kept_value(meter: Meter, name: str, alias: str) -> str:
    """A kept property's canonical value in a rollup row (or a backlog partial) `alias`.

    The position is an integer we compute from the meter's own list, never user text.
    """
    return f"{alias}.property_values[{meter.rollup_properties.index(name) + 1}]"


@dataclass(frozen=True)
class _Reader:
    """Builds the branches of one (query, meter) relation; `distinct` adds the columns a
    distinct count reads: a row's dictionary ids packed (a rollup row's, or a raw event's one
    id), and the text of a raw value the dictionary does not know (it counts as itself)."""

    query: UsageQuery
    meter: Meter
    params: SqlParams
    distinct: bool

    @property
    def grouped(self) -> list[tuple[str, str]]:
        """(partials column, property name) of each group_by property."""
        return [
            (property_column(index), name)
            for index, key in enumerate(self.query.group_by)
            if (name := group_by_property(key)) is not None
        ]

    def raw(self, alias: str, *, kept: bool = False, mapped: bool = True) -> str:
        """Columns of raw partial rows `alias` (one per event), in the relation's order. `kept`:
        the group properties come from the rows' kept values (backlog partials), not from
        columns of their own (raw_partials_sql). `mapped`: a distinct count's values are read
        as dictionary ids where they have one (beside rollup rows, which hold ids); unmapped,
        every value counts as its text (raw events alone: no id is read anywhere)."""
        columns = [f"{alias}.{column}" for column in _MEASURES]
        if self.distinct and not mapped:
            columns += ["NULL::bytea AS packed_ids", f"{alias}.unique_value"]
        elif self.distinct:
            columns += [
                "int4send(v.value_id) AS packed_ids",
                f"CASE WHEN v.value_id IS NULL THEN {alias}.unique_value END AS unique_value",
            ]
        else:
            columns.append(f"{alias}.unique_value")
        for column, name in self.grouped:
            value = _kept_value(self.meter, name, alias) if kept else f"{alias}.{column}"
            columns.append(f"{value} AS {column}")
        return ", ".join(columns)

    def raw_relation(self, partials: str, alias: str = "p", *, mapped: bool = True) -> str:
        """FROM text of raw partials, joined to the meter's dictionary for a distinct count."""
        relation = f"({partials}) AS {alias}"
        if not self.distinct or not mapped:
            return relation
        lookup = dictionary_lookup(self.params.add(self.meter.pk), f"{alias}.unique_value")
        return f"{relation} {lookup}"

    def rows(self, alias: str, time_column: str, packed: str) -> str:
        """Columns of rollup rows `alias` read as partial rows; `packed`: their ids."""
        columns = [
            f"{alias}.external_customer_id AS customer",
            f"{alias}.source",
            f"{alias}.group_value",
            f"{alias}.{time_column} AS ts",
            *(f"{alias}.{column}" for column in _MEASURES[4:]),
        ]
        if self.distinct:
            columns += [
                f"{packed} AS packed_ids",
                "NULL::text AS unique_value",
            ]
        else:
            columns.append("NULL::text AS unique_value")
        columns += [
            f"{_kept_value(self.meter, name, alias)} AS {column}" for column, name in self.grouped
        ]
        return ", ".join(columns)

    def form(self, alias: str) -> str:
        """Which rollup rows answer: those split by the kept properties when the query filters
        or groups by them, else those collapsed over them (the only form of a meter that keeps
        none); see analytics/rollups/sql.row_forms."""
        if query_properties(self.query):
            return f"cardinality({alias}.property_values) > 0"
        return f"{alias}.property_values = '{{}}'"

    def row_conditions(self, alias: str) -> list[str]:
        """The query's customers, sources and property filters on rollup rows `alias`."""
        query, params = self.query, self.params
        conditions = [f"{alias}.meter_id = {params.add(self.meter.pk)}"]
        if query.external_customer_ids is not None:
            customers = params.add(list(query.external_customer_ids))
            conditions.append(f"{alias}.external_customer_id = ANY({customers}::text[])")
        if query.sources is not None:
            conditions.append(f"{alias}.source = ANY({params.add(list(query.sources))}::text[])")
        for name, values in query.property_filters.items():
            texts = params.add([str(value) for value in values])
            conditions.append(f"{_kept_value(self.meter, name, alias)} = ANY({texts}::text[])")
        return conditions


def partials_sql(
    query: UsageQuery,
    meter: Meter,
    params: SqlParams,
    *,
    windows: Sequence[datetime] | None,
    distinct: bool = False,
) -> str:
    """The meter's partial rows for `query` (see the module's docstring), as one SELECT.

    `distinct`: rows carry the columns a distinct count reads (see _Reader) instead of the
    raw unique value alone.
    """
    reader = _Reader(query=query, meter=meter, params=params, distinct=distinct)
    span = rollup_span(query, meter, windows=windows)
    if span is None:
        raw = raw_partials_sql(query, meter, params)
        return _select(
            reader.raw("p", mapped=False), reader.raw_relation(raw, mapped=False), ["true"]
        )
    state = _select(
        "count(*) > 0 AS ready, "
        "coalesce(max(s.compacted_through), '-infinity'::timestamptz) AS through",
        "analytics_meterrollupstate AS s",
        [
            f"s.meter_id = {params.add(meter.pk)}",
            f"s.status = {params.add(READY)}",
            f"s.config_fingerprint = {params.add(meter_config_fingerprint(meter))}",
        ],
    )
    ready = "(SELECT ready FROM rollup_state)"
    through = "(SELECT through FROM rollup_state)"
    # The fallback is a CTE of its own: PostgreSQL runs it only if the gate lets a row through,
    # so when the rollups are ready it never starts (nor launches parallel workers for it).
    fallback = raw_partials_sql(query, meter, params)
    raw_columns = reader.raw("p")
    branches = [
        _select(
            reader.raw("p", mapped=False),
            reader.raw_relation("SELECT * FROM raw_events", mapped=False),
            [f"NOT {ready}"],
        )
    ]
    if query.start < span.start:
        edge = raw_partials_sql(query, meter, params, end=span.start)
        branches.append(_select(raw_columns, reader.raw_relation(edge), [ready]))
    if span.end < query.end:
        edge = raw_partials_sql(query, meter, params, start=span.end)
        branches.append(_select(raw_columns, reader.raw_relation(edge), [ready]))

    hourly = reader.rows("r", "hour", "r.unique_ids")
    daily = reader.rows(
        "d",
        "day",
        f"CASE WHEN d.ids_stale THEN {day_ids_sql('d')} ELSE d.unique_ids END",
    )
    for first, last in span.hour_ranges():
        conditions = [ready, *reader.row_conditions("r"), reader.form("r")]
        conditions += [f"r.hour >= {params.add(first)}", f"r.hour < {params.add(last)}"]
        branches.append(_select(hourly, "analytics_usagerollup AS r", conditions))
    for first, last in span.day_ranges:
        # Days before the meter's compaction point come from day rows, the others from hourly
        # rows: the point is read in this statement's snapshot, so no day is read twice or
        # missed whatever compaction or a rebuild does meanwhile.
        conditions = [ready, *reader.row_conditions("d"), reader.form("d")]
        conditions += [
            f"d.day >= {params.add(first)}",
            f"d.day < least({params.add(last)}, {through})",
        ]
        branches.append(_select(daily, "analytics_usagedayrollup AS d", conditions))
        conditions = [ready, *reader.row_conditions("r"), reader.form("r")]
        conditions += [
            f"r.hour >= greatest({params.add(first)}, {through})",
            f"r.hour < {params.add(last)}",
        ]
        branches.append(_select(hourly, "analytics_usagerollup AS r", conditions))

    environment = params.add(meter.environment_id)
    events = [
        f"b.environment_id = {environment}",
        f"e.environment_id = {environment}",
        f"e.timestamp >= {params.add(span.start)}",
        f"e.timestamp < {params.add(span.end)}",
    ]
    if query.external_customer_ids is not None:
        events.append(
            f"e.external_customer_id = ANY({params.add(list(query.external_customer_ids))}::text[])"
        )
    if query.sources is not None:
        events.append(f"e.source = ANY({params.add(list(query.sources))}::text[])")
    backlog = partials_with_kept_values_sql(meter, params, events=BACKLOG_EVENTS, conditions=events)
    backlog_conditions = [ready]
    for name, values in query.property_filters.items():
        texts = params.add([str(value) for value in values])
        backlog_conditions.append(f"{_kept_value(meter, name, 'p')} = ANY({texts}::text[])")
    branches.append(
        _select(reader.raw("p", kept=True), reader.raw_relation(backlog), backlog_conditions)
    )
    return (
        f"WITH rollup_state AS MATERIALIZED ({state}),\n"
        f"raw_events AS MATERIALIZED (\n{fallback}\n)\n" + "\nUNION ALL\n".join(branches)
    )
