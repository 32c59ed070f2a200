"""Property test: meter_usage agrees with a naive Python recomputation from the raw events.

Random event streams (out of order, outside the range, re-sent duplicates, missing and
non-numeric properties) are stored through the real ingestion path; every aggregation type is
then computed by the engine, per window and per source, and recomputed here event by event.
The second test does the same for meters that keep a property in their rollups, with queries
filtered and grouped by it, answered from rollups plus late events still in the backlog.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.metering import UsageQuery, meter_usage
from analytics.metering.plan import rollup_span
from analytics.metering.windows import window_boundaries
from analytics.models import Event
from analytics.rollups.models import EventBacklog, UsageRollup
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
event_payloads = st.fixed_dictionaries(
    {
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
) -> dict:
    """group (the source) → (total, event_count, [(window start, value, event_count)],
    [buckets])."""
    result = {}
    for key in {group(event) for event in events}:
        mine = [event for event in events if group(event) == key]
        by_window: dict[int, list[Stored]] = defaultdict(list)
        for event in mine:
            by_window[bisect_right(windows, event.timestamp) - 1].append(event)
        points = []
        for index in sorted(by_window):
            start, end = max(windows[index], START), min(windows[index + 1], END)
            if buckets is None:
                value = aggregate(kind, by_window[index], start, end)
            else:
                pieces = bucket_values(kind.removeprefix("BUCKETED_"), by_window[index], buckets)
                value = sum(pieces.values(), Decimal(0)) if pieces else None
            points.append((windows[index], value, len(by_window[index])))
        if buckets is None:
            total, listed = aggregate(kind, mine, START, END), []
        else:
            whole = bucket_values(kind.removeprefix("BUCKETED_"), mine, buckets)
            total = sum(whole.values(), Decimal(0)) if whole else None
            listed = sorted(
                whole.items(),
                key=lambda item: (item[0][0], item[0][1] is not None, item[0][1] or ""),
            )
        result[key] = (total, len(mine), points, [(s, m, v) for (s, m), v in listed])
    return result


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

    for kind, meter in meters.items():
        buckets = None
        if meter.bucket_size:
            buckets = window_boundaries(meter.bucket_size, start=START, end=END, time_zone=zone)
        actual = {
            item.group["source"]: (
                item.total,
                item.event_count,
                [(point.timestamp, point.value, point.event_count) for point in item.points],
                [(bucket.start, bucket.group_value, bucket.value) for bucket in item.buckets],
            )
            for item in series
            if item.meter_id == meter.pk
        }
        assert actual == expected_series(kind, counted, windows, buckets), kind


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

    def check() -> None:
        series = meter_usage(query)
        for kind, meter in meters.items():
            assert rollup_span(query, meter, windows=windows) is not None
            buckets = None
            if meter.bucket_size:
                buckets = window_boundaries(meter.bucket_size, start=START, end=END, time_zone=zone)
            actual = {
                (item.group["properties.m"], item.group["source"]): (
                    item.total,
                    item.event_count,
                    [(point.timestamp, point.value, point.event_count) for point in item.points],
                    [(bucket.start, bucket.group_value, bucket.value) for bucket in item.buckets],
                )
                for item in series
                if item.meter_id == meter.pk
            }
            expected = expected_series(kind, chosen, windows, buckets, by_model_and_source)
            assert actual == expected, kind

    # Then the answers read from rollups and backlog equal the naive ones, before …
    assert (
        not UsageRollup.objects.filter(meter__in=list(meters.values()))
        .exclude(property_values__len=len(kept))
        .exists()
    )
    check()
    # … and after the backlog job has moved the late events into the rollups.
    rollups_update()
    assert not EventBacklog.objects.exists()
    check()
