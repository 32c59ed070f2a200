"""Running values: what a series amounts to from the query's start to the end of each of its
windows (UsageQuery(cumulative=True)), made of the same windows' components the statement
returns.

Earned attribution prices a billing period's usage so far at every window boundary: the
running sum and count, the distinct values so far, the running maximum, the latest value so
far, the running average and the weighted sum. Each is a fold over the windows in order:
sums add, maxima take the greater, the latest is the last window that has one, and distinct
values are counted the first time they are seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from analytics.metering.numbers import plain, weighted_sum
from analytics.metering.query import UsagePoint
from costsheets.models import AggregationType
from costsheets.pricing import ratio


def running_points(
    kind: str,
    rows: Sequence[tuple[int, int, Sequence[Any]]],
    *,
    windows: Sequence[datetime],
    start: datetime,
    end: datetime,
) -> list[UsagePoint]:
    """The running points of one group of a non-bucketed meter (not COUNT_UNIQUE: see
    running_distinct) from its window rows `(window number, events, MEASURES components)`, in
    window order. `windows` are the query's window boundaries (window n is
    [windows[n - 1], windows[n]))."""
    points = []
    events = 0
    count = 0
    total: Decimal | None = None  # Σ value (SUM, AVG, WEIGHTED_SUM) or the max or the latest
    time_sum = Decimal(0)
    for window, event_count, measures in sorted(rows, key=lambda row: row[0]):
        events += event_count
        window_end = min(windows[window], end)
        if kind == AggregationType.COUNT:
            value: Decimal | None = Decimal(events)
        else:
            valued = measures[0]
            if valued:
                count += valued
                if kind == AggregationType.MAX:
                    total = measures[1] if total is None else max(total, measures[1])
                elif kind == AggregationType.LATEST:
                    total = measures[1]  # windows come in order: the latest one wins
                else:
                    total = measures[1] if total is None else total + measures[1]
                    if kind == AggregationType.WEIGHTED_SUM:
                        time_sum += measures[2]
            if total is None:
                value = None
            elif kind == AggregationType.AVG:
                value = plain(ratio(total, Decimal(count)))
            elif kind == AggregationType.WEIGHTED_SUM:
                value = weighted_sum((count, total, time_sum), start, window_end)
            else:
                value = plain(total)
        points.append(UsagePoint(windows[window - 1], value, events))
    return points


def running_distinct(ids: np.ndarray, bounds: Sequence[int]) -> list[int]:
    """How many distinct ids windows 0 … i hold together, for each i: window i holds
    `ids[bounds[i]:bounds[i + 1]]`. Each id counts in the window it is first seen in."""
    windows = len(bounds) - 1
    if not len(ids):
        return [0] * windows
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    # A stable sort keeps each id's earliest position first among its equals.
    first_seen = np.searchsorted(np.asarray(bounds[1:]), order[first], side="right")
    return np.cumsum(np.bincount(first_seen, minlength=windows)[:windows]).tolist()


def running_texts(texts: Sequence[Sequence[str]]) -> list[int]:
    """How many distinct raw values windows 0 … i hold together, for each i."""
    seen: set[str] = set()
    counts = []
    for values in texts:
        seen.update(values)
        counts.append(len(seen))
    return counts


def running_buckets(points: Sequence[UsagePoint], kind: str) -> tuple[UsagePoint, ...]:
    """The running points of a bucketed meter: every bucket's value so far (its parts in the
    windows so far: their max for MAX, their sum for SUM), added up."""
    so_far: dict[tuple[datetime, str | None], Decimal] = {}
    events = 0
    running = []
    for point in points:
        events += point.event_count
        for bucket in point.buckets:
            key = (bucket.start, bucket.group_value)
            before = so_far.get(key)
            if before is None:
                so_far[key] = bucket.value
            elif kind == AggregationType.MAX:
                so_far[key] = max(before, bucket.value)
            else:
                so_far[key] = before + bucket.value
        value = plain(sum(so_far.values(), Decimal(0))) if so_far else None
        running.append(UsagePoint(point.timestamp, value, events, point.buckets))
    return tuple(running)
