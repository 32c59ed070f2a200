"""Rollups answer exactly what raw events answer: every aggregation, late, out-of-order and
duplicate events, events still in the backlog, and a backlog job that can run any number of
times."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F
from django.test import override_settings

from analytics.metering import UsageQuery, meter_usage, usage_from_partials
from analytics.metering.plan import meter_config_fingerprint, partials_sql, rollup_span
from analytics.metering.sql import SqlParams
from analytics.metering.windows import window_boundaries
from analytics.models import Event
from analytics.rollups.models import (
    EventBacklog,
    MeterRollupState,
    MeterValue,
    RollupStatus,
    UsageDayRollup,
    UsageRollup,
)
from analytics.rollups.services import rollup_rebuild, rollups_sweep, rollups_update
from analytics.services import events_ingest
from costsheets.models import AggregationType, Meter, WindowSize
from costsheets.services import meter_update
from flexprice_site.models import Environment
from tests.factories import MeterFactory

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # when the first events arrive
DAYS = (datetime(2026, 1, 7, tzinfo=UTC), datetime(2026, 1, 10, 12, tzinfo=UTC))


def event(
    event_id: str,
    at: datetime,
    *,
    customer: str = "acme",
    source: str = "api",
    name: str = "llm_call",
    **properties: Any,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": name,
        "external_customer_id": customer,
        "source": source,
        "timestamp": at.isoformat(),
        "properties": properties,
    }


def ingest(environment: Environment, events: list[dict[str, Any]], *, now: datetime) -> None:
    events_ingest(environment=environment, payloads=events, now=now)


def random_events(prefix: str, count: int, *, seed: int) -> list[dict[str, Any]]:
    """Events spread over DAYS at odd seconds and microseconds, with every kind of value: ints,
    decimals, numeric strings, no value (a word, or missing), and two customers and sources."""
    rng = random.Random(seed)
    span = int((DAYS[1] - DAYS[0]).total_seconds())
    events = []
    for index in range(count):
        at = DAYS[0] + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(10**6))
        tokens = rng.choice([7, 120, 3000, Decimal("2.5"), "12.75", "0.001", "many", None])
        properties: dict[str, Any] = {"model": rng.choice(["gpt-4o", "o3", ""]), "bonus": 1}
        if tokens is not None:
            properties["tokens"] = str(tokens) if isinstance(tokens, Decimal) else tokens
        if isinstance(tokens, Decimal):
            properties["tokens"] = float(tokens)  # a JSON number with a fraction
        events.append(
            event(
                f"{prefix}-{index}",
                at,
                customer=rng.choice(["acme", "globex"]),
                source=rng.choice(["api", "batch"]),
                **properties,
            )
        )
    return events


METERS: dict[str, dict[str, Any]] = {
    "count": {"aggregation_type": AggregationType.COUNT},
    "sum": {"aggregation_type": AggregationType.SUM, "aggregation_field": "tokens"},
    "sum_with_multiplier": {
        "aggregation_type": AggregationType.SUM_WITH_MULTIPLIER,
        "aggregation_field": "tokens",
        "aggregation_multiplier": Decimal("0.5"),
    },
    "avg": {"aggregation_type": AggregationType.AVG, "aggregation_field": "tokens"},
    "max": {"aggregation_type": AggregationType.MAX, "aggregation_field": "tokens"},
    "latest": {"aggregation_type": AggregationType.LATEST, "aggregation_field": "tokens"},
    "weighted_sum": {
        "aggregation_type": AggregationType.WEIGHTED_SUM,
        "aggregation_field": "tokens",
    },
    "bucketed_max_by_model": {
        "aggregation_type": AggregationType.MAX,
        "aggregation_field": "tokens",
        "bucket_size": WindowSize.HOUR,
        "aggregation_group_by": "model",
    },
    "bucketed_sum_per_day": {
        "aggregation_type": AggregationType.SUM,
        "aggregation_field": "tokens",
        "bucket_size": WindowSize.DAY,
    },
    "count_unique_model": {
        "aggregation_type": AggregationType.COUNT_UNIQUE,
        "aggregation_field": "model",
    },
    # Numbers count by their canonical text: 5 and 5.0 are one value.
    "count_unique_tokens": {
        "aggregation_type": AggregationType.COUNT_UNIQUE,
        "aggregation_field": "tokens",
    },
    "expression_with_filter": {
        "aggregation_type": AggregationType.SUM,
        "aggregation_expression": "tokens * 2 + bonus",
        "filters": [{"key": "model", "values": ["gpt-4o", "o3"]}],
    },
}

QUERIES: dict[str, dict[str, Any]] = {
    "whole days, total only": {"start": DAYS[0], "end": DAYS[1]},
    "one customer, hourly, ragged edges": {
        "start": datetime(2026, 1, 7, 3, 17, 5, tzinfo=UTC),
        "end": datetime(2026, 1, 10, 10, 42, tzinfo=UTC),
        "external_customer_ids": ("acme",),
        "window_size": "HOUR",
    },
    "per customer and source, daily": {
        "start": datetime(2026, 1, 7, 0, 30, tzinfo=UTC),
        "end": DAYS[1],
        "window_size": "DAY",
        "group_by": ("customer", "source"),
    },
    "new york days": {
        "start": datetime(2026, 1, 7, 5, tzinfo=UTC),
        "end": datetime(2026, 1, 10, 5, tzinfo=UTC),
        "window_size": "DAY",
        "time_zone": "America/New_York",
        "external_customer_ids": ("acme", "globex"),
    },
    "one source, 3-hourly": {
        "start": DAYS[0],
        "end": DAYS[1],
        "window_size": "3HOUR",
        "sources": ("batch",),
    },
}


def usage_query(environment: Environment, meter: Meter, **fields: Any) -> UsageQuery:
    return UsageQuery(environment_id=environment.pk, meters=(meter,), **fields)


def raw_usage(query: UsageQuery) -> list[Any]:
    with override_settings(ROLLUP_QUERIES=False):
        return meter_usage(query)


def rollup_usage(query: UsageQuery) -> list[Any]:
    """The usage the engine gets from rollup partials (insisting that rollups do answer)."""
    (meter,) = query.meters
    params = SqlParams()
    windows = None
    if query.window_size is not None:
        windows = window_boundaries(
            query.window_size, start=query.start, end=query.end, time_zone=query.zone
        )
    assert rollup_span(query, meter, windows=windows) is not None, "rollups should answer this"
    partials = partials_sql(
        query,
        meter,
        params,
        windows=windows,
        distinct=meter.aggregation_type == AggregationType.COUNT_UNIQUE and not query.counts_only,
    )
    return usage_from_partials(query, meter, partials_sql=partials, params=params, windows=windows)


def build(meter: Meter) -> None:
    """What the sweep and the rebuild task do for a new meter."""
    assert meter.pk in rollups_sweep()
    assert rollup_rebuild(meter_id=meter.pk) == "ready"


def rollup_rows(meter: Meter) -> list[dict[str, Any]]:
    return list(
        UsageRollup.objects.filter(meter=meter)
        .order_by("hour", "external_customer_id", "source", "group_value")
        .values(
            "external_customer_id",
            "source",
            "group_value",
            "hour",
            "event_count",
            "value_count",
            "value_sum",
            "value_max",
            "value_time_sum",
            "latest_ts",
            "latest_id",
            "latest_value",
        )
    )


@pytest.fixture
def stored_before_the_meter(environment: Environment) -> None:
    """Old events, already moved through the backlog before any meter existed."""
    ingest(environment, random_events("old", 150, seed=1), now=T0)
    rollups_update()


class TestRollupsEqualRawEvents:
    @pytest.mark.parametrize("kind", METERS)
    def test_every_query_answers_the_same_through_every_stage(
        self, kind: str, environment: Environment, stored_before_the_meter: None
    ) -> None:
        meter = MeterFactory(event_name="llm_call", **METERS[kind])
        build(meter)  # from the old events, which are no longer in the backlog
        assert UsageRollup.objects.filter(meter=meter).exists()

        def check() -> None:
            for fields in QUERIES.values():
                query = usage_query(environment, meter, **fields)
                assert rollup_usage(query) == raw_usage(query)

        check()
        # New events wait in the backlog: counted from there before the job runs.
        ingest(environment, random_events("new", 80, seed=2), now=T0 + timedelta(minutes=5))
        check()
        rollups_update()
        check()
        # Late and out-of-order events (into hours already rolled up), re-sent duplicates
        # carrying other values, and two events at one instant (the later ingested is LATEST).
        late = random_events("late", 60, seed=3)
        resent = [
            {**item, "properties": {"tokens": 999_999}} for item in random_events("new", 10, seed=2)
        ]
        tie = datetime(2026, 1, 8, 9, 30, tzinfo=UTC)
        ingest(environment, [event("tie-1", tie, tokens=5)], now=T0 + timedelta(minutes=6))
        ingest(
            environment,
            [*late[::-1], *resent, event("tie-2", tie, tokens=6)],
            now=T0 + timedelta(minutes=7),
        )
        check()
        rollups_update()
        check()
        assert not EventBacklog.objects.exists()

    @pytest.mark.parametrize("kind", ["sum", "bucketed_max_by_model", "count"])
    def test_queries_rollups_cannot_answer_exactly_fall_back_to_raw_events(
        self, kind: str, environment: Environment, stored_before_the_meter: None
    ) -> None:
        meter = MeterFactory(event_name="llm_call", **METERS[kind])
        build(meter)
        refused = [
            # Windows cut hours in half: India is UTC+5:30.
            {"start": DAYS[0], "end": DAYS[1], "window_size": "DAY", "time_zone": "Asia/Kolkata"},
            {"start": DAYS[0], "end": DAYS[1], "property_filters": {"model": ["o3"]}},
            {"start": DAYS[0], "end": DAYS[1], "group_by": ("properties.model",)},
            {"start": DAYS[0], "end": DAYS[1], "window_size": "15MIN"},
            # Not one whole hour inside the range.
            {"start": datetime(2026, 1, 8, 9, 10, tzinfo=UTC),
             "end": datetime(2026, 1, 8, 9, 50, tzinfo=UTC)},
        ]  # fmt: skip
        for fields in refused:
            query = usage_query(environment, meter, **fields)
            windows = None
            if query.window_size:
                windows = window_boundaries(
                    query.window_size, start=query.start, end=query.end, time_zone=query.zone
                )
            assert rollup_span(query, meter, windows=windows) is None, fields
            assert meter_usage(query) == raw_usage(query)

    def test_count_unique_rows_keep_the_ids_of_each_hours_distinct_values(
        self, environment: Environment, stored_before_the_meter: None
    ) -> None:
        meter = MeterFactory(
            event_name="llm_call",
            aggregation_type=AggregationType.COUNT_UNIQUE,
            aggregation_field="model",
        )
        build(meter)
        # The dictionary numbers the meter's values 1, 2, 3 …
        dictionary = dict(MeterValue.objects.filter(meter=meter).values_list("value_id", "value"))
        assert sorted(dictionary) == list(range(1, len(dictionary) + 1))
        assert set(dictionary.values()) == {"gpt-4o", "o3", ""}
        assert MeterRollupState.objects.get(meter=meter).values_assigned == len(dictionary)
        # … and each hour's row holds the ids of the values its events carry, ascending.
        rows = UsageRollup.objects.filter(meter=meter)
        assert rows.exists()
        for row in rows:
            events = Event.objects.filter(
                environment=environment,
                event_name="llm_call",
                timestamp__gte=row.hour,
                timestamp__lt=row.hour + timedelta(hours=1),
                external_customer_id=row.external_customer_id,
                source=row.source,
                properties__has_key="model",
            )
            values = {event.properties["model"] for event in events}
            assert row.ids == sorted(row.ids)
            assert {dictionary[value_id] for value_id in row.ids} == values
            assert len(row.ids) == len(values)
        query = usage_query(environment, meter, start=DAYS[0], end=DAYS[1])
        assert rollup_span(query, meter, windows=None) is not None
        assert rollup_usage(query) == raw_usage(query)
        assert meter_usage(query)[0].total == Decimal(3)  # "gpt-4o", "o3" and ""

    @pytest.mark.parametrize("kind", ["count_unique_model", "bucketed_max_by_model", "sum"])
    def test_a_counts_only_query_finds_the_same_groups_and_event_counts(
        self, kind: str, environment: Environment, stored_before_the_meter: None
    ) -> None:
        meter = MeterFactory(event_name="llm_call", **METERS[kind])
        build(meter)
        ingest(environment, random_events("new", 40, seed=5), now=T0 + timedelta(minutes=5))
        full = usage_query(
            environment, meter, start=DAYS[0], end=DAYS[1], group_by=("customer", "source")
        )
        counted = UsageQuery(
            environment_id=environment.pk,
            meters=(meter,),
            start=DAYS[0],
            end=DAYS[1],
            group_by=("customer", "source"),
            counts_only=True,
        )

        def counts(series: list[Any]) -> list[tuple[Any, ...]]:
            return [(item.group, item.event_count) for item in series]

        # From rollups plus the backlog, and from raw events: the full query's groups and counts.
        answered = meter_usage(counted)
        assert counts(answered) == counts(meter_usage(full)) == counts(raw_usage(counted))
        assert answered
        assert all(item.total is None and not item.points for item in answered)

    def test_a_counts_only_query_has_no_windows(self, environment: Environment) -> None:
        meter = MeterFactory(event_name="llm_call", **METERS["count"])
        with pytest.raises(ValueError, match="no windows"):
            usage_query(
                environment,
                meter,
                start=DAYS[0],
                end=DAYS[1],
                window_size="DAY",
                counts_only=True,
            )

    def test_other_meters_keep_no_values(
        self, environment: Environment, stored_before_the_meter: None
    ) -> None:
        meter = MeterFactory(event_name="llm_call", **METERS["sum"])
        build(meter)
        assert not UsageRollup.objects.filter(meter=meter).exclude(unique_ids=b"").exists()
        assert not MeterValue.objects.filter(meter=meter).exists()


class TestTheEngineReadsRollups:
    def test_meter_usage_reads_them_once_ready_and_only_then(
        self,
        environment: Environment,
        stored_before_the_meter: None,
        django_assert_num_queries: Any,
    ) -> None:
        meter = MeterFactory(
            event_name="llm_call", aggregation_type=AggregationType.SUM, aggregation_field="tokens"
        )
        query = usage_query(environment, meter, start=DAYS[0], end=DAYS[1])
        (raw,) = raw_usage(query)
        build(meter)
        # Rows that disagree with the events show which of the two answered: the day rows of
        # the whole days (all compacted: they are long over), the hourly rows of the last half.
        assert MeterRollupState.objects.get(meter=meter).compacted_through > DAYS[1]
        last_midnight = datetime(2026, 1, 10, tzinfo=UTC)
        days = UsageDayRollup.objects.filter(
            meter=meter, value_sum__isnull=False, day__lt=last_midnight
        )
        hours = UsageRollup.objects.filter(
            meter=meter, value_sum__isnull=False, hour__gte=last_midnight
        )
        marked = days.update(value_sum=F("value_sum") + 1)
        marked += hours.update(value_sum=F("value_sum") + 1)

        with django_assert_num_queries(1):  # the state is checked inside the usage statement
            (answer,) = meter_usage(query)
        assert answer.total == raw.total + marked

        MeterRollupState.objects.filter(meter=meter).update(status=RollupStatus.BUILDING)
        assert meter_usage(query) == [raw]
        MeterRollupState.objects.filter(meter=meter).update(status=RollupStatus.READY)
        with override_settings(ROLLUP_QUERIES=False):
            assert meter_usage(query) == [raw]

    def test_an_accepted_event_counts_at_once_before_the_job_runs(
        self, environment: Environment, stored_before_the_meter: None
    ) -> None:
        meter = MeterFactory(
            event_name="llm_call", aggregation_type=AggregationType.SUM, aggregation_field="tokens"
        )
        build(meter)
        query = usage_query(environment, meter, start=DAYS[0], end=DAYS[1])
        (before,) = meter_usage(query)

        ingest(environment, [event("fresh", DAYS[0] + timedelta(hours=5), tokens=1000)], now=T0)

        assert EventBacklog.objects.count() == 1  # the job has not run
        (after,) = meter_usage(query)
        assert (after.total, after.event_count) == (before.total + 1000, before.event_count + 1)
        rollups_update()
        assert meter_usage(query) == [after]


class TestTheBacklogJob:
    def test_ingestion_puts_each_new_event_in_the_backlog_once(
        self, environment: Environment
    ) -> None:
        first = [event("a", T0 - timedelta(hours=1)), event("b", T0 - timedelta(hours=2))]
        ingest(environment, first, now=T0)
        ingest(environment, [event("a", T0), event("c", T0)], now=T0)  # "a" is a duplicate

        waiting = set(EventBacklog.objects.values_list("event__event_id", flat=True))
        assert waiting == {"a", "b", "c"}
        assert EventBacklog.objects.count() == 3

    def test_events_merge_into_their_hour_with_exact_measures(
        self, environment: Environment
    ) -> None:
        meter = MeterFactory(
            event_name="llm_call", aggregation_type=AggregationType.SUM, aggregation_field="tokens"
        )
        build(meter)
        hour = datetime(2026, 1, 9, 10, tzinfo=UTC)
        ingest(
            environment,
            [
                event("e1", hour + timedelta(minutes=10), tokens=4),
                event("e2", hour + timedelta(minutes=50), tokens="1.5"),
                event("e3", hour + timedelta(minutes=20), tokens="n/a"),
            ],
            now=T0,
        )
        rollups_update()
        # A late event for the same hour, earlier than the others; and the latest-valued
        # event is still e2.
        ingest(environment, [event("e4", hour + timedelta(minutes=5), tokens=10)], now=T0)
        rollups_update()

        ids = {
            event_id: pk for pk, event_id in meter_events(environment).values_list("id", "event_id")
        }
        seconds = {
            minutes: Decimal(int((hour + timedelta(minutes=minutes)).timestamp()))
            for minutes in (5, 10, 50)
        }
        assert rollup_rows(meter) == [
            {
                "external_customer_id": "acme",
                "source": "api",
                "group_value": None,
                "hour": hour,
                "event_count": 4,
                "value_count": 3,
                "value_sum": Decimal("15.5"),
                "value_max": Decimal(10),
                "value_time_sum": 4 * seconds[10] + Decimal("1.5") * seconds[50] + 10 * seconds[5],
                "latest_ts": hour + timedelta(minutes=50),
                "latest_id": ids["e2"],
                "latest_value": Decimal("1.5"),
            }
        ]

    def test_running_the_job_again_changes_nothing(
        self, environment: Environment, stored_before_the_meter: None
    ) -> None:
        meter = MeterFactory(
            event_name="llm_call", aggregation_type=AggregationType.MAX, aggregation_field="tokens"
        )
        build(meter)
        ingest(environment, random_events("new", 50, seed=4), now=T0)
        assert rollups_update() == 50
        rows = rollup_rows(meter)

        assert rollups_update() == 0
        assert rollups_update(environment_id=environment.pk) == 0
        assert rollup_rows(meter) == rows

    def test_only_meters_that_are_ready_or_building_are_kept_up(
        self, environment: Environment
    ) -> None:
        kept = MeterFactory(event_name="llm_call")
        build(kept)
        waiting = MeterFactory(event_name="llm_call")
        rollups_sweep()  # pending: its rebuild will read the events themselves
        other_name = MeterFactory(event_name="embedding")
        build(other_name)

        ingest(environment, [event("e1", T0 - timedelta(hours=1))], now=T0)
        rollups_update()

        assert UsageRollup.objects.filter(meter=kept).count() == 1
        assert not UsageRollup.objects.filter(meter__in=[waiting, other_name]).exists()
        assert MeterRollupState.objects.get(meter=waiting).status == RollupStatus.PENDING

    def test_the_job_works_in_batches_and_per_environment(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        ours = MeterFactory(event_name="llm_call")
        theirs = MeterFactory(event_name="llm_call", environment=other_environment)
        build(ours)
        build(theirs)
        ingest(environment, random_events("ours", 25, seed=5), now=T0)
        ingest(other_environment, random_events("theirs", 7, seed=6), now=T0)

        assert rollups_update(environment_id=other_environment.pk, batch_size=3) == 7
        assert EventBacklog.objects.count() == 25
        assert rollups_update(batch_size=4) == 25

        totals = {
            meter.pk: sum(row["event_count"] for row in rollup_rows(meter))
            for meter in (ours, theirs)
        }
        assert totals == {ours.pk: 25, theirs.pk: 7}


def meter_events(environment: Environment) -> Any:
    return Event.objects.filter(environment=environment)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Rebuilds enqueued on commit are recorded, not sent to a broker."""
    enqueued: list[str] = []
    monkeypatch.setattr("analytics.tasks.rollup_rebuild.delay", enqueued.append)
    yield enqueued


def property_events(prefix: str, count: int, *, seed: int) -> list[dict[str, Any]]:
    """random_events with kept properties in every form: strings, the empty string, numbers
    (canonical `7` and `1.5`), booleans, JSON null, and missing keys."""
    rng = random.Random(seed)
    events = random_events(prefix, count, seed=seed)
    for item in events:
        for name in ("model", "region"):
            choice = rng.choice(["gpt-4o", "o3", "", 7, 1.50, True, None, "missing"])
            if choice == "missing":
                item["properties"].pop(name, None)
            else:
                item["properties"][name] = choice
    return events


KEPT_QUERIES: dict[str, dict[str, Any]] = {
    "filter, hourly, ragged edges": {
        "start": datetime(2026, 1, 7, 3, 17, 5, tzinfo=UTC),
        "end": datetime(2026, 1, 10, 10, 42, tzinfo=UTC),
        "window_size": "HOUR",
        "property_filters": {"model": ["gpt-4o", "7"]},
    },
    "two filters, one customer, daily": {
        "start": DAYS[0],
        "end": DAYS[1],
        "window_size": "DAY",
        "external_customer_ids": ("acme",),
        "property_filters": {"model": ["o3", "1.5", "true"], "region": ["", "gpt-4o"]},
    },
    "grouped by both, per source": {
        "start": datetime(2026, 1, 7, 0, 30, tzinfo=UTC),
        "end": DAYS[1],
        "window_size": "DAY",
        "group_by": ("properties.region", "source", "properties.model"),
    },
    "filtered and grouped, new york days": {
        "start": datetime(2026, 1, 7, 5, tzinfo=UTC),
        "end": datetime(2026, 1, 10, 5, tzinfo=UTC),
        "window_size": "DAY",
        "time_zone": "America/New_York",
        "group_by": ("properties.model",),
        "property_filters": {"region": ["o3", "7"]},
    },
    "no property at all, total only": {"start": DAYS[0], "end": DAYS[1]},
}


class TestKeptProperties:
    """Meters that keep properties in their rollups answer queries filtered or grouped by those
    properties from rollups, with exactly the raw events' numbers."""

    @pytest.mark.parametrize(
        "kind", ["sum", "avg", "latest", "weighted_sum", "bucketed_max_by_model", "count"]
    )
    def test_filtered_and_grouped_queries_answer_the_same_through_every_stage(
        self, kind: str, environment: Environment
    ) -> None:
        ingest(environment, property_events("old", 200, seed=11), now=T0)
        rollups_update()
        meter = MeterFactory(
            event_name="llm_call", rollup_properties=["model", "region"], **METERS[kind]
        )
        build(meter)

        def check() -> None:
            for fields in KEPT_QUERIES.values():
                query = usage_query(environment, meter, **fields)
                answer = rollup_usage(query)
                assert answer == raw_usage(query), fields
                assert answer == meter_usage(query), fields

        check()
        # Waiting in the backlog, then rolled up.
        ingest(environment, property_events("new", 80, seed=12), now=T0 + timedelta(minutes=5))
        check()
        rollups_update()
        check()
        # Late events into hours already rolled up, and re-sent duplicates carrying other
        # properties (the first one stored counts).
        resent = [
            {**item, "properties": {"tokens": 999_999, "model": "o3", "region": "o3"}}
            for item in property_events("new", 10, seed=12)
        ]
        ingest(
            environment,
            [*property_events("late", 60, seed=13)[::-1], *resent],
            now=T0 + timedelta(minutes=7),
        )
        check()
        rollups_update()
        check()

    def test_rows_carry_the_canonical_values_and_missing_ones_as_null(
        self, environment: Environment
    ) -> None:
        hour = datetime(2026, 1, 8, 9, tzinfo=UTC)
        ingest(
            environment,
            [
                event("a", hour, tokens=1, model=7, region="eu"),
                event("b", hour + timedelta(minutes=1), tokens=2, model=7.0, region="eu"),
                event("c", hour + timedelta(minutes=2), tokens=3, region="eu"),
                event("d", hour + timedelta(minutes=3), tokens=4, model=None, region="eu"),
                event("e", hour + timedelta(minutes=4), tokens=5, model=True),
            ],
            now=T0,
        )
        rollups_update()
        meter = MeterFactory(
            event_name="llm_call",
            aggregation_type=AggregationType.SUM,
            aggregation_field="tokens",
            rollup_properties=["model", "region"],
        )
        build(meter)

        rows = UsageRollup.objects.filter(meter=meter).order_by("value_sum")
        assert [(row.property_values, row.event_count, row.value_sum) for row in rows] == [
            (["7", "eu"], 2, Decimal(3)),  # 7 and 7.0 are one canonical value
            (["true", None], 1, Decimal(5)),
            ([None, "eu"], 2, Decimal(7)),  # missing and JSON null are both no value
            # and the hour collapsed over every value, for questions that name none
            ([], 5, Decimal(15)),
        ]
        query = usage_query(
            environment, meter, start=DAYS[0], end=DAYS[1], property_filters={"model": ["7"]}
        )
        assert rollup_usage(query)[0].total == Decimal(3)  # a missing key fails the filter

    def test_queries_on_properties_not_kept_read_raw_events(self, environment: Environment) -> None:
        ingest(environment, property_events("old", 50, seed=14), now=T0)
        rollups_update()
        meter = MeterFactory(
            event_name="llm_call",
            aggregation_type=AggregationType.SUM,
            aggregation_field="tokens",
            rollup_properties=["model"],
        )
        build(meter)
        for fields in (
            {"property_filters": {"region": ["o3"]}},
            {"property_filters": {"model": ["o3"], "region": ["o3"]}},
            {"group_by": ("properties.region",)},
            {"group_by": ("properties.model", "properties.bonus")},
        ):
            query = usage_query(environment, meter, start=DAYS[0], end=DAYS[1], **fields)
            assert rollup_span(query, meter, windows=None) is None, fields
            assert meter_usage(query) == raw_usage(query)
        kept = usage_query(
            environment, meter, start=DAYS[0], end=DAYS[1], group_by=("properties.model",)
        )
        assert rollup_span(kept, meter, windows=None) is not None

    def test_changing_the_kept_properties_rebuilds_and_answers_from_raw_events_meanwhile(
        self,
        environment: Environment,
        no_broker: list[str],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        ingest(environment, property_events("old", 120, seed=15), now=T0)
        rollups_update()
        meter = MeterFactory(
            event_name="llm_call",
            aggregation_type=AggregationType.SUM,
            aggregation_field="tokens",
            rollup_properties=["model"],
        )
        build(meter)
        fingerprint = MeterRollupState.objects.get(meter=meter).config_fingerprint
        by_region = usage_query(
            environment,
            meter,
            start=DAYS[0],
            end=DAYS[1],
            window_size="DAY",
            group_by=("properties.region",),
            property_filters={"model": ["o3", "7"]},
        )
        expected = raw_usage(by_region)

        with django_capture_on_commit_callbacks(execute=True):
            meter_update(meter=meter, data={"rollup_properties": ["region", "model"]})

        # Then a rebuild is due, and until it is done the rows of the old setting are not read
        assert no_broker == [meter.pk]
        state = MeterRollupState.objects.get(meter=meter)
        assert state.status == RollupStatus.PENDING
        assert state.config_fingerprint != fingerprint
        valued = UsageRollup.objects.filter(meter=meter, value_sum__isnull=False)
        assert valued.update(value_sum=F("value_sum") + 1) > 0  # stale rows that would show
        assert meter_usage(by_region) == expected
        # Events arriving meanwhile are counted once the rebuild is done.
        ingest(environment, property_events("during", 30, seed=16), now=T0 + timedelta(hours=1))
        assert rollup_rebuild(meter_id=meter.pk) == "ready"
        # Rows split by both kept properties, and rows collapsed over them: nothing else.
        rows = UsageRollup.objects.filter(meter=meter)
        assert not rows.exclude(property_values__len=2).exclude(property_values=[]).exists()
        assert rows.filter(property_values=[]).exists()
        rollups_update()
        assert rollup_usage(by_region) == raw_usage(by_region) == meter_usage(by_region)

    def test_removing_every_kept_property_restores_the_fingerprint_of_a_plain_meter(
        self, environment: Environment
    ) -> None:
        meter = MeterFactory(
            event_name="llm_call", aggregation_type=AggregationType.COUNT, rollup_properties=[]
        )
        plain = meter_config_fingerprint(meter)
        meter.rollup_properties = ["model"]
        assert meter_config_fingerprint(meter) != plain
        meter.rollup_properties = []
        assert meter_config_fingerprint(meter) == plain
