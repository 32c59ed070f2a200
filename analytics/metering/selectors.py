"""meter_usage: meters' usage over a range, per window and per group, computed in PostgreSQL.

One statement per meter; Python only reads its aggregated rows (a row per window, bucket and
group, never per event), finishes AVG and WEIGHTED_SUM divisions in Decimal and sorts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from analytics.metering.cumulative import (
    running_buckets,
    running_distinct,
    running_points,
    running_texts,
)
from analytics.metering.distinct import DistinctCounter, decode
from analytics.metering.numbers import EXACT, plain, weighted_sum
from analytics.metering.parallel import each_in_parallel
from analytics.metering.plan import counts_distinct, partials_sql
from analytics.metering.query import Bucket, UsagePoint, UsageQuery, UsageSeries
from analytics.metering.sql import SqlParams, fetch_rows
from analytics.metering.statements import (
    Layout,
    counts_statement,
    distinct_statement,
    layout_for,
    usage_statement,
)
from analytics.metering.windows import window_boundaries
from costsheets.models import AggregationType
from costsheets.pricing import ratio

if TYPE_CHECKING:
    from costsheets.models import Meter


def _value(
    kind: str, event_count: int, measures: Sequence[Any], *, start: datetime, end: datetime
) -> Decimal | None:
    """A window's (or the total's) value from its aggregated components (MEASURES order).

    SUM, MAX and LATEST values arrive plain from the statement; only quotients are rewritten.
    """
    if kind == AggregationType.COUNT:
        return Decimal(event_count)
    if kind == AggregationType.COUNT_UNIQUE:
        return Decimal(measures[0])
    if not measures[0]:  # no event carried a value
        return None
    if kind == AggregationType.AVG:
        return plain(ratio(measures[1], Decimal(measures[0])))
    if kind == AggregationType.WEIGHTED_SUM:
        return weighted_sum(measures, start, end)
    return measures[1]


# Types whose window value is the statement's second measure as it comes (None without values).
_AS_REPORTED = frozenset(
    {
        AggregationType.SUM,
        AggregationType.SUM_WITH_MULTIPLIER,
        AggregationType.MAX,
        AggregationType.LATEST,
    }
)


@dataclass
class _Series:
    group: tuple[str | None, ...]
    total: Decimal | None = None
    event_count: int = 0
    buckets: list[Bucket] = field(default_factory=list)
    # Window number → its point: finished UsagePoints (plain meters) or _Points (bucketed).
    points: dict[int, Any] = field(default_factory=dict)


@dataclass
class _Point:
    value: Decimal | None = None
    event_count: int = 0
    buckets: list[Bucket] = field(default_factory=list)


def _add(total: Decimal | None, value: Decimal | None) -> Decimal | None:
    if value is None:
        return total
    return value if total is None else total + value


def _read_plain(
    query: UsageQuery, meter: Meter, layout: Layout, rows: list[tuple]
) -> dict[tuple, _Series]:
    """Rows of a non-bucketed statement: per group, the total row and one row per window.

    Points are finished here, once each: a window's value needs its start and end only for
    WEIGHTED_SUM, so the other types skip that arithmetic. A cumulative query's points fold
    each group's window rows in order instead (cumulative.running_points).
    """
    width = len(layout.group_columns)
    windows = layout.windows
    kind = meter.aggregation_type
    timed = kind == AggregationType.WEIGHTED_SUM
    as_reported = kind in _AS_REPORTED
    series: dict[tuple, _Series] = {}
    get = series.get
    start, end = query.start, query.end
    point_at = 2 if windows is not None else 0  # where the event count is, after the group
    cumulative: dict[tuple, list[tuple]] | None = defaultdict(list) if query.cumulative else None
    for row in rows:
        group = row[:width]
        item = get(group)
        if item is None:
            item = series[group] = _Series(group)
        event_count = row[width + point_at]
        measures = row[width + point_at + 1 :]
        if windows is None or row[width + 1]:  # the total (GROUPING(w) = 1)
            item.event_count = event_count
            item.total = _value(kind, event_count, measures, start=start, end=end)
            continue
        window = row[width]
        if cumulative is not None:
            cumulative[group].append((window, event_count, measures))
            continue
        timestamp = windows[window - 1]
        if as_reported:
            value = measures[1] if measures[0] else None
        elif kind == AggregationType.COUNT:
            value = Decimal(event_count)
        elif timed and measures[0]:
            value = weighted_sum(measures, max(timestamp, start), min(windows[window], end))
        elif timed:
            value = None  # no event carried a value
        else:
            value = _value(kind, event_count, measures, start=start, end=end)
        item.points[window] = UsagePoint(timestamp, value, event_count)
    for group, window_rows in (cumulative or {}).items():
        assert windows is not None
        points = running_points(kind, window_rows, windows=windows, start=start, end=end)
        series[group].points = {
            window: point for (window, _, _), point in zip(sorted(window_rows), points, strict=True)
        }
    return series


def _read_bucketed(layout: Layout, rows: list[tuple]) -> dict[tuple, _Series]:
    """Rows of a bucketed statement: whole buckets make the total, their parts in each window
    (the whole bucket when it lies inside one) make the points."""
    width = len(layout.group_columns)
    assert layout.buckets is not None
    series: dict[tuple, _Series] = {}
    for row in rows:
        group, rest = tuple(row[:width]), row[width:]
        item = series.setdefault(group, _Series(group))
        if layout.windows is None:
            group_value, bucket, window, whole = rest[0], rest[1], None, True
            event_count, value_count, value = rest[2:]
        else:
            group_value, bucket, window, whole, event_count, value_count, value = rest
        piece = (
            Bucket(start=layout.buckets[bucket - 1], group_value=group_value, value=value)
            if value_count
            else None
        )
        target = item if whole else item.points.setdefault(window, _Point())
        target.event_count += event_count
        if piece is not None:
            target.buckets.append(piece)
            if whole:
                item.total = _add(item.total, piece.value)
            else:
                target.value = _add(target.value, piece.value)  # type: ignore[union-attr]
    return series


def _read_distinct(
    layout: Layout, rows: list[tuple], *, cumulative: bool = False
) -> dict[tuple, _Series]:
    """Rows of a distinct statement (one per group and window): each window's distinct
    count, and each group's over all of its windows (a value seen in several windows counts
    once), from the ids in numpy plus the raw values the dictionary lacks. `cumulative`:
    each window counts the distinct values of the windows up to it instead."""
    width = len(layout.group_columns)
    windows = layout.windows
    key_width = width if windows is None else width + 1
    by_group: dict[tuple, list[tuple]] = defaultdict(list)
    for row in rows:
        by_group[row[:width]].append(row)
    decoded = {}
    largest = 0
    for group, mine in by_group.items():
        if windows is not None:
            mine.sort(key=lambda row: row[width])
        ids = decode(b"".join(row[key_width + 1] or b"" for row in mine))
        decoded[group] = ids
        if len(ids):
            largest = max(largest, int(ids.max()))
    counter = DistinctCounter(largest + 1)
    series: dict[tuple, _Series] = {}
    for group, mine in by_group.items():
        bounds = [0]
        for row in mine:
            bounds.append(bounds[-1] + len(row[key_width + 1] or b"") // 4)
        counts = counter.group(decoded[group], bounds, [row[key_width + 2] <= 1 for row in mine])
        item = series[group] = _Series(group)
        item.event_count = sum(row[key_width] for row in mine)
        texts = [row[key_width + 3] or () for row in mine]
        unknown = len(set().union(*texts)) if any(texts) else 0
        item.total = Decimal(counts[-1] + unknown)
        if windows is None:
            continue
        events = [row[key_width] for row in mine]
        if cumulative:
            # Ids and raw values never stand for the same value, so their counts add up.
            both = zip(running_distinct(decoded[group], bounds), running_texts(texts), strict=True)
            values_so_far = [ids + raw for ids, raw in both]
            events = list(accumulate(events))
        else:
            in_windows = zip(counts[:-1], texts, strict=True)
            values_so_far = [count + len(values) for count, values in in_windows]
        for row, count, event_count in zip(mine, values_so_far, events, strict=True):
            window = row[width]
            item.points[window] = UsagePoint(windows[window - 1], Decimal(count), event_count)
    return series


def _bucket_order(bucket: Bucket) -> tuple:
    return (bucket.start, bucket.group_value is not None, bucket.group_value or "")


def _values_order(values: Iterable[str | None]) -> tuple:
    """Group values in the engine's order: None first, then ascending."""
    return tuple((value is not None, value or "") for value in values)


def _group_order(item: _Series) -> tuple:
    return _values_order(item.group)


def _bucketed_points(layout: Layout, item: _Series) -> tuple[UsagePoint, ...]:
    """A bucketed series' points: each window's Σ of its bucket parts, made plain."""
    return tuple(
        UsagePoint(
            timestamp=layout.windows[window - 1],  # type: ignore[index]
            value=None if point.value is None else plain(point.value),
            event_count=point.event_count,
            buckets=tuple(sorted(point.buckets, key=_bucket_order)),
        )
        for window, point in sorted(item.points.items())
    )


# Answers already read within `shared_answers()`, by statement and parameters.
_answers: ContextVar[dict[tuple[object, ...], list[UsageSeries]] | None] = ContextVar(
    "metering_answers", default=None
)


@contextmanager
def shared_answers() -> Iterator[None]:
    """Within the block, a statement asked again with the same parameters is answered from the
    first time's series, not run again.

    One request often asks the same question from two sides (cost analytics prices each
    customer's usage with the costsheet and again with its line items). Nested blocks share the
    outermost one's answers; series are immutable, so sharing them is safe.
    """
    if _answers.get() is not None:
        yield
        return
    token = _answers.set({})
    try:
        yield
    finally:
        _answers.reset(token)


def _run(
    query: UsageQuery, meter: Meter, layout: Layout, sql: str, params: SqlParams
) -> list[UsageSeries]:
    answers = _answers.get()
    if answers is None:
        return _run_statement(query, meter, layout, sql, params)
    # The rows' meaning also depends on the meter and the group_by names they are read with.
    key = (
        sql,
        repr(params.values),
        meter.pk,
        meter.aggregation_type,
        query.group_by,
        query.cumulative,
    )
    if key not in answers:
        answers[key] = _run_statement(query, meter, layout, sql, params)
    return list(answers[key])


def _run_statement(
    query: UsageQuery, meter: Meter, layout: Layout, sql: str, params: SqlParams
) -> list[UsageSeries]:
    rows = fetch_rows(sql, params.values)
    sources: dict[tuple, set[str]] = defaultdict(set)
    if layout.sources:
        width = len(layout.group_columns)
        for row in rows:
            sources[row[:width]].update(row[-1] or ())
        rows = [row[:-1] for row in rows]
    if query.counts_only:
        return _counts(query, meter, rows, sources)
    bucketed = layout.buckets is not None
    with localcontext(EXACT):
        if counts_distinct(meter):
            built = _read_distinct(layout, rows, cumulative=query.cumulative)
        elif bucketed:
            built = _read_bucketed(layout, rows)
        else:
            built = _read_plain(query, meter, layout, rows)
    result = []
    group_by, meter_id = query.group_by, meter.pk
    for item in sorted(built.values(), key=_group_order) if len(built) > 1 else built.values():
        buckets: tuple[Bucket, ...] = ()
        if bucketed:
            points = _bucketed_points(layout, item)
            if query.cumulative:
                points = running_buckets(points, meter.aggregation_type)
            total = None if item.total is None else plain(item.total)
            buckets = tuple(sorted(item.buckets, key=_bucket_order))
        else:
            found = item.points
            points = tuple([found[window] for window in sorted(found)])
            total = item.total
        result.append(
            UsageSeries(
                meter_id=meter_id,
                group=dict(zip(group_by, item.group, strict=True)),
                total=total,
                event_count=item.event_count,
                points=points,
                buckets=buckets,
                sources=tuple(sorted(sources[item.group])) if item.group in sources else (),
            )
        )
    return result


def _counts(
    query: UsageQuery, meter: Meter, rows: list[tuple], sources: dict[tuple, set[str]]
) -> list[UsageSeries]:
    """A counts_only statement's rows: each group's event count, no values."""
    width = len(query.group_by)
    found = [
        UsageSeries(
            meter_id=meter.pk,
            group=dict(zip(query.group_by, row[:width], strict=True)),
            total=None,
            event_count=row[width],
            sources=tuple(sorted(sources.get(row[:width], ()))),
        )
        for row in rows
    ]
    found.sort(key=lambda series: _values_order(series.group.values()))
    return found


def _windows(query: UsageQuery) -> tuple[datetime, ...] | None:
    if query.window_size is None:
        return None
    return window_boundaries(
        query.window_size,
        start=query.start,
        end=query.end,
        time_zone=query.zone,
        billing_anchor=query.billing_anchor,
    )


def usage_from_partials(
    query: UsageQuery,
    meter: Meter,
    *,
    partials_sql: str,
    params: SqlParams,
    windows: tuple[datetime, ...] | None = None,
) -> list[UsageSeries]:
    """`meter`'s usage series from any relation of partial rows (see partials.PARTIAL_COLUMNS).

    `partials_sql` is a SELECT whose placeholders are in `params`; it must already apply
    every filter of `query` (time range, customers, sources, meter filters). `windows` are
    the query's window boundaries when the caller has them already. A COUNT_UNIQUE meter's
    partials carry the distinct columns (`unique_ids`, `unique_value`; plan.partials_sql
    with distinct=True).
    """
    if windows is None:
        windows = _windows(query)
    layout = layout_for(query, meter, windows)
    if query.counts_only:
        sql = counts_statement(layout=layout, partials_sql=partials_sql)
    elif counts_distinct(meter):
        sql = distinct_statement(layout=layout, partials_sql=partials_sql, params=params)
    else:
        sql = usage_statement(meter=meter, layout=layout, partials_sql=partials_sql, params=params)
    return _run(query, meter, layout, sql, params)


def meter_usage(query: UsageQuery) -> list[UsageSeries]:
    """Usage of each meter of `query`, one series per (meter, group values) with events.

    Series come in the order of `query.meters`, then of group values (None first).
    """
    if query.external_customer_ids == () or query.sources == ():
        return []
    windows = _windows(query)

    def of_meter(meter: Meter) -> list[UsageSeries]:
        params = SqlParams()
        partials = partials_sql(
            query,
            meter,
            params,
            windows=windows,
            distinct=counts_distinct(meter) and not query.counts_only,
        )
        return usage_from_partials(
            query, meter, partials_sql=partials, params=params, windows=windows
        )

    # One statement per meter, side by side on their own connections when that can help.
    return [series for found in each_in_parallel(of_meter, query.meters) for series in found]
