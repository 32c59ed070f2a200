"""Property test: meter_usage agrees with a naive Python recomputation from the raw events.

Random event streams (out of order, outside the range, re-sent duplicates, missing and
non-numeric properties) are stored through the real ingestion path; every aggregation type is
then computed by the engine, per window and per source, and recomputed here event by event.
The second test does the same for meters that keep a property in their rollups, with queries
filtered and grouped by it, answered from rollups plus late events still in the backlog. The
third follows two tenants' events through the value dictionary, hourly rows, compaction into day
rows, late events (in the backlog, then in stale day rows), a rebuild and a last compaction, with
questions that day rows, hourly rows and raw edges answer together.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.metering import UsageQuery, UsageSeries, meter_usage
from analytics.metering.plan import rollup_span
from analytics.metering.windows import window_boundaries
from analytics.models import Event
from analytics.rollups.compaction import rollups_compact
from analytics.rollups.models import (
    EventBacklog,
    MeterRollupState,
    MeterValue,
    UsageDayRollup,
    UsageRollup,
)
from analytics.rollups.services import rollup_rebuild, rollup_state_sync, rollups_update
from analytics.services import events_ingest
from costsheets.models import Meter
from costsheets.pricing import ratio
from flexprice_site.models import Environment
from flexprice_site.services import environment_get_or_create
from tests.factories import MeterFactory

pytestmark = pytest.mark.django_db

START = datetime(2025, 11, 1, 20, tzinfo=UTC)
END = datetime(2025, 11, 3, 8, tzinfo=UTC)  # 36 hours, across New York's clock change
NUMERIC_TEXT = re.compile(r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,3})?")
MISSING = object()
environments = count()

values = st.one_of(
    st.just(MISSING),
    st.none(),
    st.integers(min_value=-5, max_value=50),
    st.sampled_from([0.5, 1.25, 2.1, 100.0]),
    st.sampled_from(["2.5", "-3", "1e2", "abc", ""]),
    st.booleans(),
)
PAYLOAD_FIELDS = {
    "id": st.integers(min_value=0, max_value=30),
    # Edges of the range and repeated instants (LATEST's ties) come up often.
    "minute": st.one_of(
        st.sampled_from([-1, 0, 600, 36 * 60 - 1, 36 * 60]),
        st.integers(min_value=-90, max_value=36 * 60 + 90),
    ),
    "name": st.sampled_from(["call", "call", "call", "other"]),
    "source": st.sampled_from(["api", "web", ""]),
    "v": values,
    "w": values,
    "m": st.sampled_from([MISSING, "a", "b", 7]),
}
event_payloads = st.fixed_dictionaries(PAYLOAD_FIELDS)
# Late events bring values the rollups have not seen yet too.
late_payloads = st.fixed_dictionaries(
    {**PAYLOAD_FIELDS, "m": st.sampled_from([MISSING, "a", 7, "c", 8, True, ""])}
)


@dataclass(frozen=True)
class Stored:
    minute: int
    name: str
    source: str
    properties: dict[str, Any]
    ingested: datetime
    row_id: int = 0

    @property
    def timestamp(self) -> datetime:
        return START + timedelta(minutes=self.minute)


def quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    return Decimal(value) if NUMERIC_TEXT.fullmatch(value) else None


def operand(value: Any) -> Decimal | None:
    """An expression identifier: missing or null is 0."""
    return Decimal(0) if value is None or value is MISSING else quantity(value)


def canonical(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


def seconds(moment: datetime) -> Decimal:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def aggregate(kind: str, events: list[Stored], start: datetime, end: datetime) -> Decimal | None:
    """SPEC §3, one event at a time."""
    multiplier = Decimal(2) if kind == "SUM_WITH_MULTIPLIER" else Decimal(1)
    if kind == "EXPRESSION":
        valued = []
        for event in events:
            v, w = (
                operand(event.properties.get("v", MISSING)),
                operand(event.properties.get("w", MISSING)),
            )
            if v is not None and w is not None:
                valued.append((event, v * 2 + w))
    else:
        valued = [
            (event, q * multiplier)
            for event in events
            if (q := quantity(event.properties.get("v", MISSING))) is not None
        ]
    if kind == "COUNT":
        return Decimal(len(events))
    if kind == "COUNT_UNIQUE":
        found = {canonical(event.properties.get("m", MISSING)) for event in events}
        return Decimal(len(found - {None}))
    if not valued:
        return None
    numbers = [number for _, number in valued]
    if kind in ("SUM", "SUM_WITH_MULTIPLIER", "EXPRESSION"):
        return sum(numbers, Decimal(0))
    if kind == "AVG":
        return ratio(sum(numbers, Decimal(0)), Decimal(len(numbers)))
    if kind == "MAX":
        return max(numbers)
    if kind == "LATEST":
        latest = max(valued, key=lambda pair: (pair[0].timestamp, pair[0].ingested, pair[0].row_id))
        return latest[1]
    assert kind == "WEIGHTED_SUM"
    weighted = sum((q * (seconds(end) - seconds(e.timestamp)) for e, q in valued), Decimal(0))
    return ratio(weighted, seconds(end) - seconds(start))


def bucket_values(kind: str, events: list[Stored], buckets: tuple[datetime, ...]) -> dict:
    """(bucket start, model) → MAX (or SUM) of the events with a value."""
    found: dict[tuple, list[Decimal]] = defaultdict(list)
    for event in events:
        q = quantity(event.properties.get("v", MISSING))
        if q is not None:
            start = buckets[bisect_right(buckets, event.timestamp) - 1]
            model = canonical(event.properties.get("m", MISSING)) if kind == "MAX" else None
            found[(start, model)].append(q)
    return {key: max(qs) if kind == "MAX" else sum(qs, Decimal(0)) for key, qs in found.items()}


def by_source(event: Stored) -> Any:
    return event.source


def expected_series(
    kind: str,
    events: list[Stored],
    windows: tuple[datetime, ...],
    buckets: tuple | None,
    group: Callable[[Stored], Any] = by_source,
    *,
    start: datetime = START,
    end: datetime = END,
    running: bool = False,
) -> dict:
    """group (the source) → (total, event_count, [(window start, value, event_count)],
    [buckets]) over [start, end). `running`: each point is the usage from `start` to the end
    of its window (a cumulative query), recomputed from the events up to there."""
    result = {}
    for key in {group(event) for event in events}:
        mine = [event for event in events if group(event) == key]
        by_window: dict[int, list[Stored]] = defaultdict(list)
        for event in mine:
            by_window[bisect_right(windows, event.timestamp) - 1].append(event)
        points = []
        for index in sorted(by_window):
            first, last = max(windows[index], start), min(windows[index + 1], end)
            counted = by_window[index]
            if running:
                first, counted = start, [event for event in mine if event.timestamp < last]
            if buckets is None:
                value = aggregate(kind, counted, first, last)
            else:
                pieces = bucket_values(kind.removeprefix("BUCKETED_"), counted, buckets)
                value = sum(pieces.values(), Decimal(0)) if pieces else None
            points.append((windows[index], value, len(counted)))
        if buckets is None:
            total, listed = aggregate(kind, mine, start, end), []
        else:
            whole = bucket_values(kind.removeprefix("BUCKETED_"), mine, buckets)
            total = sum(whole.values(), Decimal(0)) if whole else None
            listed = sorted(
                whole.items(),
                key=lambda item: (item[0][0], item[0][1] is not None, item[0][1] or ""),
            )
        result[key] = (total, len(mine), points, [(s, m, v) for (s, m), v in listed])
    return result


def buckets_of(
    meter: Meter, zone: ZoneInfo, start: datetime = START, end: datetime = END
) -> tuple[datetime, ...] | None:
    if not meter.bucket_size:
        return None
    return window_boundaries(meter.bucket_size, start=start, end=end, time_zone=zone)


def answered(
    series: list[UsageSeries], meter: Meter, group: Callable[[UsageSeries], Any]
) -> dict[Any, tuple]:
    """The engine's series of `meter`, in expected_series' form, by `group` of each series."""
    return {
        group(item): (
            item.total,
            item.event_count,
            [(point.timestamp, point.value, point.event_count) for point in item.points],
            [(bucket.start, bucket.group_value, bucket.value) for bucket in item.buckets],
        )
        for item in series
        if item.meter_id == meter.pk
    }


def source_of(item: UsageSeries) -> Any:
    return item.group["source"]


METERS: dict[str, Callable[[Environment], Meter]] = {
    "COUNT": lambda env: MeterFactory(environment=env, event_name="call", aggregation_type="COUNT"),
    "SUM": lambda env: MeterFactory(
        environment=env, event_name="call", aggregation_type="SUM", aggregation_field="v"
    ),
    "SUM_WITH_MULTIPLIER": lambda env: MeterFactory(
        environment=env,
        event_name="call",
        aggregation_type="SUM_WITH_MULTIPLIER",
        aggregation_field="v",
        aggregation_multiplier=Decimal(2),
    ),
    "AVG": lambda env: MeterFactory(
        environment=env, event_name="call", aggregation_type="AVG", aggregation_field="v"
    ),
    "MAX": lambda env: MeterFactory(
        environment=env, event_name="call", aggregation_type="MAX", aggregation_field="v"
    ),
    "LATEST": lambda env: MeterFactory(
        environment=env, event_name="call", aggregation_type="LATEST", aggregation_field="v"
    ),
    "COUNT_UNIQUE": lambda env: MeterFactory(
        environment=env, event_name="call", aggregation_type="COUNT_UNIQUE", aggregation_field="m"
    ),
    "WEIGHTED_SUM": lambda env: MeterFactory(
        environment=env, event_name="call", aggregation_type="WEIGHTED_SUM", aggregation_field="v"
    ),
    "EXPRESSION": lambda env: MeterFactory(
        environment=env,
        event_name="call",
        aggregation_type="SUM",
        aggregation_expression="v * 2 + w",
    ),
    "BUCKETED_MAX": lambda env: MeterFactory(
        environment=env,
        event_name="call",
        aggregation_type="MAX",
        aggregation_field="v",
        bucket_size="HOUR",
        aggregation_group_by="m",
    ),
    "BUCKETED_SUM": lambda env: MeterFactory(
        environment=env,
        event_name="call",
        aggregation_type="SUM",
        aggregation_field="v",
        bucket_size="3HOUR",
    ),
}


def store(
    environment: Environment, batches: list[list[dict[str, Any]]], *, first: int = 0
) -> list[Stored]:
    """Ingest the batches in order; the naive model keeps each ID's first occurrence (of every
    event stored in the environment, so a later call sees the earlier ones too)."""
    kept: dict[str, Stored] = {
        event.event_id: Stored(
            int((event.timestamp - START).total_seconds() // 60),
            event.event_name,
            event.source,
            event.properties,
            event.ingested_at,
        )
        for event in Event.objects.filter(environment=environment)
    }
    for number, batch in enumerate(batches, start=first):
        now = datetime(2025, 11, 5, tzinfo=UTC) + timedelta(minutes=number)
        payloads = []
        for event in batch:
            properties = {key: event[key] for key in ("v", "w", "m") if event[key] is not MISSING}
            payload = {
                "event_id": f"e{event['id']}",
                "event_name": event["name"],
                "external_customer_id": "acme",
                "timestamp": (START + timedelta(minutes=event["minute"])).isoformat(),
                "source": event["source"],
                "properties": properties,
            }
            payloads.append(payload)
            kept.setdefault(
                payload["event_id"],
                Stored(event["minute"], event["name"], event["source"], properties, now),
            )
        events_ingest(environment=environment, payloads=payloads, now=now)
    rows = dict(Event.objects.filter(environment=environment).values_list("event_id", "id"))
    assert set(rows) == set(kept)
    return [
        Stored(e.minute, e.name, e.source, e.properties, e.ingested, rows[event_id])
        for event_id, e in kept.items()
    ]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(st.lists(event_payloads, min_size=1, max_size=12), min_size=1, max_size=3),
    window_size=st.sampled_from(["HOUR", "3HOUR", "DAY"]),
    time_zone=st.sampled_from(["UTC", "America/New_York"]),
)
def test_meter_usage_equals_a_naive_recomputation(
    db: None, batches: list[list[dict[str, Any]]], window_size: str, time_zone: str
) -> None:
    # A fresh environment per example keeps examples apart inside the test's transaction.
    environment = environment_get_or_create(
        tenant_name=f"Property {next(environments)}", environment_name="production"
    )
    stored = store(environment, batches)
    counted = [e for e in stored if e.name == "call" and START <= e.timestamp < END]
    zone = ZoneInfo(time_zone)
    windows = window_boundaries(window_size, start=START, end=END, time_zone=zone)
    meters = {kind: build(environment) for kind, build in METERS.items()}

    series = meter_usage(
        UsageQuery(
            environment_id=environment.pk,
            meters=tuple(meters.values()),
            start=START,
            end=END,
            window_size=window_size,
            time_zone=time_zone,
            group_by=("source",),
        )
    )

    running = meter_usage(
        UsageQuery(
            environment_id=environment.pk,
            meters=tuple(meters.values()),
            start=START,
            end=END,
            window_size=window_size,
            time_zone=time_zone,
            group_by=("source",),
            cumulative=True,
        )
    )

    for kind, meter in meters.items():
        buckets = buckets_of(meter, zone)
        expected = expected_series(kind, counted, windows, buckets)
        assert answered(series, meter, source_of) == expected, kind
        expected = expected_series(kind, counted, windows, buckets, running=True)
        assert answered(running, meter, source_of) == expected, ("cumulative", kind)


# Meters that keep `m` in their rollups; a query filtered on it and grouped by it must come out
# of the rollups (plus the backlog) exactly as the naive recomputation says.
KEEPING = (
    "COUNT",
    "COUNT_UNIQUE",
    "SUM",
    "AVG",
    "MAX",
    "LATEST",
    "WEIGHTED_SUM",
    "EXPRESSION",
    "BUCKETED_MAX",
)
FILTERED = ("a", "7", "")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.lists(st.lists(event_payloads, min_size=1, max_size=12), min_size=1, max_size=2),
    after=st.lists(event_payloads, min_size=0, max_size=12),
    window_size=st.sampled_from(["HOUR", "3HOUR", "DAY"]),
    time_zone=st.sampled_from(["UTC", "America/New_York"]),
    kept=st.sampled_from([("m",), ("w", "m")]),
)
def test_rollups_kept_properties_equal_a_naive_recomputation(
    db: None,
    monkeypatch: pytest.MonkeyPatch,
    before: list[list[dict[str, Any]]],
    after: list[dict[str, Any]],
    window_size: str,
    time_zone: str,
    kept: tuple[str, ...],
) -> None:
    monkeypatch.setattr("analytics.tasks.rollup_rebuild.delay", lambda meter_id: None)
    environment = environment_get_or_create(
        tenant_name=f"Property {next(environments)}", environment_name="production"
    )
    # Given events rolled up into meters that keep `m` (and maybe `w`) …
    store(environment, before)
    rollups_update()
    meters = {kind: METERS[kind](environment) for kind in KEEPING}
    for meter in meters.values():
        meter.rollup_properties = list(kept)
        meter.save(update_fields=["rollup_properties"])
        rollup_state_sync(meter=meter, enqueue=False)
        assert rollup_rebuild(meter_id=meter.pk) == "ready"
    # … and late events, re-sent IDs among them, still waiting in the backlog
    stored = store(environment, [after], first=len(before))
    counted = [e for e in stored if e.name == "call" and START <= e.timestamp < END]
    chosen = [e for e in counted if canonical(e.properties.get("m", MISSING)) in FILTERED]
    zone = ZoneInfo(time_zone)
    windows = window_boundaries(window_size, start=START, end=END, time_zone=zone)
    query = UsageQuery(
        environment_id=environment.pk,
        meters=tuple(meters.values()),
        start=START,
        end=END,
        window_size=window_size,
        time_zone=time_zone,
        group_by=("properties.m", "source"),
        property_filters={"m": FILTERED},
    )

    def by_model_and_source(event: Stored) -> tuple:
        return (canonical(event.properties.get("m", MISSING)), event.source)

    def model_and_source_of(item: UsageSeries) -> tuple:
        return (item.group["properties.m"], item.group["source"])

    def check() -> None:
        series = meter_usage(query)
        for kind, meter in meters.items():
            assert rollup_span(query, meter, windows=windows) is not None
            buckets = buckets_of(meter, zone)
            expected = expected_series(kind, chosen, windows, buckets, by_model_and_source)
            assert answered(series, meter, model_and_source_of) == expected, kind

    # Then the answers read from rollups and backlog equal the naive ones, before …
    assert (
        not UsageRollup.objects.filter(meter__in=list(meters.values()))
        .exclude(property_values__len=len(kept))
        .exclude(property_values=[])  # the rows collapsed over the kept properties
        .exists()
    )
    check()
    # … and after the backlog job has moved the late events into the rollups.
    rollups_update()
    assert not EventBacklog.objects.exists()
    check()


# The stages of the day-row test, in UTC: meters are built before any event (so the job rolls
# the events up), the first compaction closes 1 and 2 November and leaves 3 November open, the
# last one closes every day.
BUILT_AT = datetime(2025, 11, 1, tzinfo=UTC)
FIRST_COMPACTION = datetime(2025, 11, 3, 1, 30, tzinfo=UTC)
LAST_COMPACTION = datetime(2025, 11, 5, tzinfo=UTC)
# The one whole UTC day of [START, END): UTC DAY windows (and no windows) read its day rows.
WHOLE_DAY = (datetime(2025, 11, 2, tzinfo=UTC), datetime(2025, 11, 3, tzinfo=UTC))
SHAPES: dict[str, dict[str, Any]] = {
    "UTC days": {"window_size": "DAY", "time_zone": "UTC"},
    "New York days": {"window_size": "DAY", "time_zone": "America/New_York"},
    "hours": {"window_size": "HOUR", "time_zone": "UTC"},
    "no windows": {"window_size": None, "time_zone": "UTC"},
}


def fixed(event_id: int, minute: int, model: Any) -> dict[str, Any]:
    """A payload like event_payloads', for the events every example needs."""
    return {
        "id": event_id,
        "minute": minute,
        "name": "call",
        "source": "api",
        "v": 1,
        "w": MISSING,
        "m": model,
    }


# An event on the whole day, so that it has day rows once compacted; then, late: a value no
# other event has on that day (its day row's ids go stale), the same event ID re-sent with
# another value (a duplicate: it changes nothing), and a new value on the open day.
ANCHOR = [fixed(100, 16 * 60, "a")]
LATE = [
    fixed(101, 17 * 60, "late-only"),
    fixed(100, 16 * 60 + 5, "re-sent"),
    fixed(102, 30 * 60, "open-day"),
]


def utc_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def check_answers(
    environment: Environment,
    meters: dict[str, Meter],
    stored: list[Stored],
    asked: tuple[datetime, datetime],
) -> None:
    """Every shape of question over `asked`, for every meter of the environment: the engine's
    answers equal the naive ones, and the UTC days (only they) are read from day rows."""
    start, end = asked
    counted = [e for e in stored if e.name == "call" and start <= e.timestamp < end]
    for shape, fields in SHAPES.items():
        zone = ZoneInfo(fields["time_zone"])
        windows = None
        if fields["window_size"] is not None:
            windows = window_boundaries(fields["window_size"], start=start, end=end, time_zone=zone)
        query = UsageQuery(
            environment_id=environment.pk,
            meters=tuple(meters.values()),
            start=start,
            end=end,
            group_by=("source",),
            **fields,
        )
        series = meter_usage(query)
        for kind, meter in meters.items():
            span = rollup_span(query, meter, windows=windows)
            assert span is not None
            assert (span.start > start, span.end < end) == (start.minute > 0, end.minute > 0)
            on_days = shape in ("UTC days", "no windows") and not meter.bucket_size
            assert span.day_ranges == ((WHOLE_DAY,) if on_days else ()), (shape, kind)
            buckets = buckets_of(meter, zone, start, end)
            naive = functools.partial(expected_series, start=start, end=end)
            if windows is None:  # totals only: the naive points of one window are dropped
                expected = naive(kind, counted, asked, buckets)
                expected = {key: (t, n, [], b) for key, (t, n, _, b) in expected.items()}
            else:
                expected = naive(kind, counted, windows, buckets)
            assert answered(series, meter, source_of) == expected, (shape, kind)
        if windows is None:
            continue
        # The running values (distinct values so far included) come from the same rows.
        running = meter_usage(replace(query, cumulative=True))
        for kind, meter in meters.items():
            buckets = buckets_of(meter, zone, start, end)
            expected = expected_series(
                kind, counted, windows, buckets, start=start, end=end, running=True
            )
            assert answered(running, meter, source_of) == expected, (shape, kind, "cumulative")


def dictionary(meters: dict[str, Meter]) -> dict[int, str]:
    """The value dictionary of the distinct-count meter: id → value."""
    entries = MeterValue.objects.filter(meter=meters["COUNT_UNIQUE"])
    return dict(entries.values_list("value_id", "value"))


def check_rows(meters: dict[str, Meter], stored: list[Stored]) -> None:
    """The rollups once the backlog is empty: the dictionary holds each value of the meter's
    events once, numbered 1..n, and the day rows' event counts are the events' of their day."""
    state = MeterRollupState.objects.get(meter=meters["COUNT_UNIQUE"])
    values = {canonical(e.properties.get("m", MISSING)) for e in stored if e.name == "call"}
    values.discard(None)
    entries = dictionary(meters)
    assert sorted(entries) == list(range(1, len(values) + 1))
    assert set(entries.values()) == values
    assert state.values_assigned == len(values)
    through = MeterRollupState.objects.get(meter=meters["COUNT"]).compacted_through
    per_day: dict[tuple[datetime, str], int] = defaultdict(int)
    for e in stored:
        if e.name == "call" and e.timestamp < through:
            per_day[(utc_day(e.timestamp), e.source)] += 1
    day_rows = UsageDayRollup.objects.filter(meter=meters["COUNT"])
    assert {(row.day, row.source): row.event_count for row in day_rows} == per_day


def meters_built_before_the_events(environment: Environment) -> dict[str, Meter]:
    """Every kind of meter, ready (without events) at BUILT_AT: the job rolls events up."""
    meters = {kind: build(environment) for kind, build in METERS.items()}
    with time_machine.travel(BUILT_AT, tick=False):
        for meter in meters.values():
            rollup_state_sync(meter=meter, enqueue=False)
            assert rollup_rebuild(meter_id=meter.pk) == "ready"
    return meters


def compacted_through(meters: dict[str, Meter]) -> set[datetime]:
    states = MeterRollupState.objects.filter(meter__in=list(meters.values()))
    return set(states.values_list("compacted_through", flat=True))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.lists(st.lists(event_payloads, min_size=1, max_size=10), min_size=1, max_size=2),
    theirs=st.lists(event_payloads, max_size=8),
    late=st.lists(late_payloads, max_size=10),
    during_rebuild=st.lists(late_payloads, max_size=6),
    # Minutes cut off the range's first and last hours: raw events answer those edges.
    edges=st.tuples(st.sampled_from([0, 17, 59]), st.sampled_from([0, 1, 23])),
)
def test_day_rows_hourly_rows_backlog_and_edges_equal_a_naive_recomputation(
    db: None,
    before: list[list[dict[str, Any]]],
    theirs: list[dict[str, Any]],
    late: list[dict[str, Any]],
    during_rebuild: list[dict[str, Any]],
    edges: tuple[int, int],
) -> None:
    asked = (START + timedelta(minutes=edges[0]), END - timedelta(minutes=edges[1]))
    # Each example rolls back what it wrote: compaction then sees this example's meters only.
    with transaction.atomic():
        tell_the_day_rows_story(before, theirs, late, during_rebuild, asked)
        transaction.set_rollback(True)


def tell_the_day_rows_story(
    before: list[list[dict[str, Any]]],
    theirs: list[dict[str, Any]],
    late: list[dict[str, Any]],
    during_rebuild: list[dict[str, Any]],
    asked: tuple[datetime, datetime],
) -> None:
    ours = environment_get_or_create(
        tenant_name=f"Property {next(environments)}", environment_name="production"
    )
    other = environment_get_or_create(
        tenant_name=f"Property {next(environments)}", environment_name="production"
    )
    tenants = (ours, other)
    # Given two tenants' meters, ready before any event; both tenants send the same values (in
    # another order, so that their dictionaries number them differently) …
    meters = {ours.pk: meters_built_before_the_events(ours)}
    meters[other.pk] = meters_built_before_the_events(other)
    stored = {
        ours.pk: store(ours, [*before, ANCHOR]),
        other.pk: store(other, [theirs, ANCHOR, *before[::-1]]),
    }

    def check(*environments: Environment) -> None:
        for environment in environments:
            check_answers(environment, meters[environment.pk], stored[environment.pk], asked)

    # … rolled up by the job, and 1 and 2 November compacted into day rows
    rollups_update()
    rollups_compact(now=FIRST_COMPACTION)
    for environment in tenants:
        mine = meters[environment.pk]
        assert compacted_through(mine) == {WHOLE_DAY[1]}
        assert UsageDayRollup.objects.filter(meter=mine["COUNT_UNIQUE"], day=WHOLE_DAY[0]).exists()
        check_rows(mine, stored[environment.pk])
    check(*tenants)

    # When late events arrive (re-sent IDs, new values, compacted days and the open day) they
    # are answered from the backlog …
    stored[ours.pk] = store(ours, [late, LATE], first=len(before) + 1)
    stored[other.pk] = store(other, [late[::-1]], first=len(before) + 2)
    check(*tenants)
    # … then from the rollups: day rows they reached (with their ids stale) and hourly rows
    rollups_update()
    stale = UsageDayRollup.objects.get(
        meter=meters[ours.pk]["COUNT_UNIQUE"], day=WHOLE_DAY[0], source="api"
    )
    assert stale.ids_stale
    for environment in tenants:
        check_rows(meters[environment.pk], stored[environment.pk])
    check(*tenants)

    # When our meters are rebuilt (their dictionaries start over) with events in the backlog,
    # the other tenant's rows, ids and answers stay as they were
    stored[ours.pk] = store(ours, [during_rebuild], first=len(before) + 3)
    theirs_before = dictionary(meters[other.pk])
    with time_machine.travel(FIRST_COMPACTION, tick=False):
        for meter in meters[ours.pk].values():
            assert rollup_state_sync(meter=meter, force=True, enqueue=False)
            assert rollup_rebuild(meter_id=meter.pk) == "ready"
    assert compacted_through(meters[ours.pk]) == {WHOLE_DAY[1]}
    assert dictionary(meters[other.pk]) == theirs_before
    check(*tenants)
    # When the last day is compacted with events of it still in the backlog, and the job
    # adds them to its day rows afterwards
    rollups_compact(now=LAST_COMPACTION)
    check(ours)
    rollups_update()
    check(ours)

    # Then compaction refreshes the stale ids, and the answers stay exact
    rollups_compact(now=LAST_COMPACTION)
    assert not UsageDayRollup.objects.filter(ids_stale=True).exists()
    for environment in tenants:
        assert compacted_through(meters[environment.pk]) == {LAST_COMPACTION - timedelta(days=1)}
        check_rows(meters[environment.pk], stored[environment.pk])
    check(*tenants)
