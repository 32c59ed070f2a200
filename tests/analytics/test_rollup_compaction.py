"""Compaction (analytics/rollups/compaction.py): closed UTC days of hourly rollups become day rows,
one day per transaction, for ready meters only; late events keep day rows exact and their ids
stale until compaction refreshes them; a meter that changes starts its day rows over. Also the
command and the beat entry that run it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings

from analytics import tasks
from analytics.metering import UsageQuery, meter_usage
from analytics.models import Event
from analytics.rollups.compaction import rollups_compact
from analytics.rollups.models import (
    MeterRollupState,
    MeterValue,
    RollupStatus,
    UsageDayRollup,
    UsageRollup,
)
from analytics.rollups.services import (
    RebuildOutcome,
    rollup_rebuild,
    rollup_state_sync,
    rollups_update,
)
from analytics.services import events_ingest
from costsheets.models import AggregationType, Meter
from costsheets.services import meter_update
from flexprice_site.models import Environment
from tests.factories import MeterFactory

pytestmark = pytest.mark.django_db

BUILT_AT = datetime(2026, 1, 1, tzinfo=UTC)  # meters are ready, without events, from here
INGESTED = datetime(2026, 1, 12, tzinfo=UTC)
JAN = {day: datetime(2026, 1, day, tzinfo=UTC) for day in range(1, 13)}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return JAN[day] + timedelta(hours=hour, minutes=minute)


def event(
    event_id: str, when: datetime, *, customer: str = "acme", **properties: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": "llm_call",
        "external_customer_id": customer,
        "source": "api",
        "timestamp": when.isoformat(),
        "properties": properties,
    }


# Three days with events, and 8 January without any between them.
HISTORY = [
    event("h1", at(6, 1, 15), tokens=1, model="a"),
    event("h2", at(6, 5, 15), tokens=2, model="b"),
    event("h3", at(6, 23, 30), tokens=3, model="a"),
    event("h4", at(7, 2), tokens=4, model="c"),
    event("h5", at(9, 10), tokens=5, model="a"),
    event("h6", at(9, 10, 30), tokens=6, model="d"),
]


def ready_meter(**fields: Any) -> Meter:
    """A meter whose rollups became ready before any event: the job rolls the events up into
    hourly rows, and every day is left to compaction."""
    meter = MeterFactory(event_name="llm_call", **fields)
    with time_machine.travel(BUILT_AT, tick=False):
        rollup_state_sync(meter=meter, enqueue=False)
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
    return meter


def sum_meter() -> Meter:
    return ready_meter(aggregation_type=AggregationType.SUM, aggregation_field="tokens")


def distinct_meter(field: str = "model") -> Meter:
    return ready_meter(aggregation_type=AggregationType.COUNT_UNIQUE, aggregation_field=field)


def ingest(environment: Environment, events: list[dict[str, Any]]) -> None:
    events_ingest(environment=environment, payloads=events, now=INGESTED)
    rollups_update()


def through(meter: Meter) -> datetime | None:
    return MeterRollupState.objects.get(meter=meter).compacted_through


def days_of(meter: Meter) -> list[datetime]:
    return list(
        UsageDayRollup.objects.filter(meter=meter).order_by("day").values_list("day", flat=True)
    )


def ids_of(meter: Meter, *values: str) -> list[int]:
    """The dictionary ids of `values`, ascending (as a row keeps them)."""
    found = dict(MeterValue.objects.filter(meter=meter).values_list("value", "value_id"))
    return sorted(found[value] for value in values)


def day_row(meter: Meter, day: int, customer: str = "acme") -> UsageDayRollup:
    return UsageDayRollup.objects.get(meter=meter, day=JAN[day], external_customer_id=customer)


def epoch(moment: datetime) -> Decimal:
    return Decimal(int(moment.timestamp()))


def daily_totals(environment: Environment, meter: Meter) -> list[tuple[datetime, Decimal | None]]:
    """The meter's DAY points from 6 to 10 January, checked against the raw events' own."""
    query = UsageQuery(
        environment_id=environment.pk,
        meters=(meter,),
        start=JAN[6],
        end=JAN[10],
        window_size="DAY",
    )
    (series,) = meter_usage(query)
    with override_settings(ROLLUP_QUERIES=False):
        assert meter_usage(query) == [series]
    return [(point.timestamp, point.value) for point in series.points] + [(None, series.total)]


class TestClosedDays:
    def test_each_closed_day_is_compacted_in_turn_and_days_without_rows_are_skipped(
        self, environment: Environment
    ) -> None:
        meter = sum_meter()
        ingest(environment, HISTORY)
        assert (through(meter), days_of(meter)) == (JAN[1], [])

        # 7 January ended less than an hour ago: only 6 January is closed.
        assert rollups_compact(now=at(8, 0, 59)) == 1
        assert (through(meter), days_of(meter)) == (JAN[7], [JAN[6]])
        # An hour after its end, 7 January is closed too.
        assert rollups_compact(now=at(8, 1)) == 1
        assert (through(meter), days_of(meter)) == (JAN[8], [JAN[6], JAN[7]])
        # 8 January has no rows: the next transaction compacts 9 January.
        assert rollups_compact(now=at(10, 1)) == 1
        assert (through(meter), days_of(meter)) == (JAN[10], [JAN[6], JAN[7], JAN[9]])
        # No rows left before the closed days' end: the point moves there at once.
        assert rollups_compact(now=at(12, 1)) == 1
        assert (through(meter), days_of(meter)) == (JAN[12], [JAN[6], JAN[7], JAN[9]])
        assert rollups_compact(now=at(12, 1)) == 0

    def test_a_meter_never_compacted_starts_at_its_first_day_with_rows(
        self, environment: Environment
    ) -> None:
        meter = sum_meter()
        ingest(environment, HISTORY)
        # As migration 0009 leaves the meters that were ready before day rows existed.
        MeterRollupState.objects.filter(meter=meter).update(compacted_through=None)

        assert rollups_compact(now=at(8, 1)) == 2

        assert (through(meter), days_of(meter)) == (JAN[8], [JAN[6], JAN[7]])

    def test_day_rows_hold_their_hours_combined(self, environment: Environment) -> None:
        tokens, models = sum_meter(), distinct_meter()
        ingest(environment, HISTORY)
        assert UsageRollup.objects.filter(meter=tokens, hour__lt=JAN[7]).count() == 3

        assert rollups_compact(now=at(8, 1)) == 4  # two days of each meter

        first = day_row(tokens, 6)
        assert (first.event_count, first.value_count) == (3, 3)
        assert (first.value_sum, first.value_max, first.latest_value) == (6, 3, 3)
        weighted = epoch(at(6, 1, 15)) + 2 * epoch(at(6, 5, 15)) + 3 * epoch(at(6, 23, 30))
        assert first.value_time_sum == weighted
        assert first.latest_ts == at(6, 23, 30)
        assert first.latest_id == Event.objects.get(event_id="h3").pk
        first_ids = day_row(models, 6)
        assert (first_ids.ids, first_ids.ids_stale) == (ids_of(models, "a", "b"), False)
        assert day_row(models, 7).ids == ids_of(models, "c")
        # The hourly rows stay: windows that cut a day (and a stale row's ids) read them.
        assert UsageRollup.objects.filter(meter=tokens, hour__lt=JAN[7]).count() == 3

    def test_only_ready_meters_built_for_their_current_settings_are_compacted(
        self, environment: Environment
    ) -> None:
        ready = sum_meter()
        building = sum_meter()
        MeterRollupState.objects.filter(meter=building).update(status=RollupStatus.BUILDING)
        changed = sum_meter()
        # Changed without its service: the state still carries the old fingerprint.
        Meter.objects.filter(pk=changed.pk).update(aggregation_field="bonus")
        pending = MeterFactory(event_name="llm_call", aggregation_type=AggregationType.COUNT)
        rollup_state_sync(meter=pending, enqueue=False)
        ingest(environment, HISTORY)

        assert rollups_compact(now=at(12, 1)) == 4  # 6, 7 and 9 January, then the rest

        assert days_of(ready) == [JAN[6], JAN[7], JAN[9]]
        assert through(ready) == JAN[12]
        assert not UsageDayRollup.objects.exclude(meter=ready).exists()
        assert [through(meter) for meter in (building, changed, pending)] == [JAN[1], JAN[1], None]


class TestLateEvents:
    def test_a_late_event_on_a_compacted_day_keeps_the_day_row_exact_and_its_ids_stale(
        self, environment: Environment
    ) -> None:
        tokens, models = sum_meter(), distinct_meter()
        ingest(environment, HISTORY)
        rollups_compact(now=at(12, 1))
        stored_ids = day_row(models, 6).ids

        # Late, on 6 January: a new value earlier than the day's latest event, and an event
        # without any value; on 7 January, a known value of a customer with no row that day.
        ingest(
            environment,
            [
                event("late-1", at(6, 12), tokens=10, model="e"),
                event("late-2", at(6, 13), tokens="n/a"),
                event("late-3", at(7, 9), customer="globex", tokens=7, model="a"),
            ],
        )

        first = day_row(tokens, 6)
        assert (first.event_count, first.value_count) == (5, 4)
        assert (first.value_sum, first.value_max) == (16, 10)
        weighted = epoch(at(6, 1, 15)) + 2 * epoch(at(6, 5, 15)) + 3 * epoch(at(6, 23, 30))
        assert first.value_time_sum == weighted + 10 * epoch(at(6, 12))
        # The latest event of the day is still the one at 23:30.
        assert (first.latest_ts, first.latest_value) == (at(6, 23, 30), 3)
        new_row = day_row(tokens, 7, "globex")
        assert (new_row.event_count, new_row.value_sum) == (1, 7)
        # The distinct-count row keeps its ids and says they are stale; a new row is fresh.
        stale = day_row(models, 6)
        assert (stale.event_count, stale.ids, stale.ids_stale) == (5, stored_ids, True)
        new_row = day_row(models, 7, "globex")
        assert (new_row.ids, new_row.ids_stale) == (ids_of(models, "a"), False)
        assert not day_row(models, 7).ids_stale
        # Queries read a stale row's ids from its hourly rows: "a", "b" and "e".
        expected = [(JAN[6], Decimal(3)), (JAN[7], Decimal(2)), (JAN[9], Decimal(2))]
        assert daily_totals(environment, models) == [*expected, (None, Decimal(5))]

        # Compaction (with no day left to compact) refreshes the stale ids.
        rollups_compact(now=at(12, 1))

        refreshed = day_row(models, 6)
        assert (refreshed.ids, refreshed.ids_stale) == (ids_of(models, "a", "b", "e"), False)
        assert through(models) == JAN[12]
        assert daily_totals(environment, models) == [*expected, (None, Decimal(5))]

    def test_a_late_event_without_a_value_leaves_the_ids_fresh(
        self, environment: Environment
    ) -> None:
        models = distinct_meter()
        ingest(environment, HISTORY)
        rollups_compact(now=at(12, 1))

        ingest(environment, [event("late", at(7, 9), tokens=1)])

        row = day_row(models, 7)
        assert (row.event_count, row.ids, row.ids_stale) == (2, ids_of(models, "c"), False)


class TestAMeterChanged:
    def test_its_dictionary_day_rows_and_compaction_point_start_over(
        self, environment: Environment
    ) -> None:
        meter = distinct_meter()
        ingest(environment, [*HISTORY, event("user", at(7, 3), user="u1", model="b")])
        rollups_compact(now=at(12, 1))
        assert MeterValue.objects.filter(meter=meter).count() == 4
        assert through(meter) == JAN[12]

        meter_update(meter=meter, data={"aggregation_field": "user"})
        # Pending: compaction leaves the rows of the old settings alone.
        assert rollups_compact(now=at(12, 1)) == 0
        with time_machine.travel(at(9, 12), tick=False):  # 9 January is not closed yet
            assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY

        state = MeterRollupState.objects.get(meter=meter)
        assert list(
            MeterValue.objects.filter(meter=meter)
            .order_by("value_id")
            .values_list("value_id", "value")
        ) == [(1, "u1")]
        assert state.values_assigned == 1
        assert state.compacted_through == JAN[9]
        rows = UsageDayRollup.objects.filter(meter=meter).order_by("day")
        assert [(row.day, row.ids) for row in rows] == [(JAN[6], []), (JAN[7], [1])]


class TestRunningIt:
    def test_the_command_compacts_every_closed_day(self, environment: Environment) -> None:
        meter = sum_meter()
        ingest(environment, HISTORY)
        out = StringIO()

        with time_machine.travel(at(8, 1), tick=False):
            call_command("rollups_compact", stdout=out)

        assert out.getvalue() == "Compacted 2 meter-day(s).\n"
        assert days_of(meter) == [JAN[6], JAN[7]]

    def test_beat_runs_the_compaction_task(self, environment: Environment, settings: Any) -> None:
        assert settings.CELERY_BEAT_SCHEDULE["rollups-compact"] == {
            "task": "analytics.tasks.rollups_compact",
            "schedule": settings.ROLLUP_COMPACT_SECONDS,
            "options": {"expires": settings.ROLLUP_COMPACT_SECONDS},
        }
        assert tasks.rollups_compact.name == "analytics.tasks.rollups_compact"
        meter = sum_meter()
        ingest(environment, HISTORY)

        with time_machine.travel(at(12, 1), tick=False):
            assert tasks.rollups_compact.apply().get() == 4

        assert days_of(meter) == [JAN[6], JAN[7], JAN[9]]


class TestMetersThatKeepProperties:
    def test_day_rows_come_split_by_the_kept_values_and_collapsed_over_them(
        self, environment: Environment
    ) -> None:
        # given a SUM and a distinct count that keep `model` in their rollups
        tokens = ready_meter(
            aggregation_type=AggregationType.SUM,
            aggregation_field="tokens",
            rollup_properties=["model"],
        )
        users = ready_meter(
            aggregation_type=AggregationType.COUNT_UNIQUE,
            aggregation_field="user",
            rollup_properties=["model"],
        )
        history = [
            event("k1", at(6, 1), tokens=1, model="a", user="u1"),
            event("k2", at(6, 2), tokens=2, model="b", user="u1"),
            event("k3", at(6, 3), tokens=4, model="a", user="u2"),
        ]
        ingest(environment, history)

        # when 6 January is compacted
        rollups_compact(now=at(12, 1))

        # then each meter has a row per model, and one over every model
        rows = UsageDayRollup.objects.filter(meter=tokens, day=JAN[6])
        assert sorted((tuple(row.property_values), row.value_sum) for row in rows) == [
            ((), 7),
            (("a",), 5),
            (("b",), 2),
        ]
        (collapsed,) = UsageDayRollup.objects.filter(meter=users, day=JAN[6], property_values=[])
        assert (collapsed.ids, collapsed.ids_stale) == (ids_of(users, "u1", "u2"), False)

        def answers(**fields: Any) -> list[Any]:
            query = UsageQuery(
                environment_id=environment.pk,
                meters=(tokens, users),
                start=JAN[6],
                end=JAN[10],
                window_size="DAY",
                **fields,
            )
            found = meter_usage(query)
            with override_settings(ROLLUP_QUERIES=False):
                assert meter_usage(query) == found
            return [(series.group, series.total) for series in found]

        # and questions with and without the property read the matching form, exactly
        assert answers() == [({}, Decimal(7)), ({}, Decimal(2))]
        assert answers(group_by=("properties.model",)) == [
            ({"properties.model": "a"}, Decimal(5)),
            ({"properties.model": "b"}, Decimal(2)),
            ({"properties.model": "a"}, Decimal(2)),
            ({"properties.model": "b"}, Decimal(1)),
        ]

        # when a late event adds a model and a user to the compacted day
        ingest(environment, [event("k4", at(6, 4), tokens=8, model="c", user="u3")])

        # then both forms take it at once (ids stale until the next compaction)
        assert answers() == [({}, Decimal(15)), ({}, Decimal(3))]
        assert UsageDayRollup.objects.get(meter=users, day=JAN[6], property_values=[]).ids_stale
        rollups_compact(now=at(12, 1))
        refreshed = UsageDayRollup.objects.get(meter=users, day=JAN[6], property_values=[])
        assert (refreshed.ids, refreshed.ids_stale) == (
            ids_of(users, "u1", "u2", "u3"),
            False,
        )
        assert answers(property_filters={"model": ("c",)}) == [
            ({}, Decimal(8)),
            ({}, Decimal(1)),
        ]
