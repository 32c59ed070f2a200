"""Meters created or changed later apply to the events already stored: their rollups are rebuilt
in the background, day by day, resumably, with progress on the state row, and meanwhile (and
after) usage answers equal the raw events'. Also: the sweep, the commands and the admin."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import Client, override_settings

from analytics.metering import UsageQuery, meter_usage
from analytics.metering.plan import meter_config_fingerprint
from analytics.rollups import sql
from analytics.rollups.locks import lock_environment
from analytics.rollups.models import (
    EventBacklog,
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
    rollups_sweep,
    rollups_update,
)
from analytics.services import events_ingest
from costsheets.models import AggregationType, Meter
from costsheets.services import meter_create, meter_delete, meter_update
from flexprice_site.demo import pricing_ops_group
from flexprice_site.models import Environment, User
from tests.factories import MeterFactory

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
RANGE = (datetime(2026, 1, 6, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC))


def event(event_id: str, at: datetime, **properties: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_name": "llm_call",
        "external_customer_id": "acme",
        "source": "api",
        "timestamp": at.isoformat(),
        "properties": properties,
    }


def history() -> list[dict[str, Any]]:
    """Five days of events: 6 a day at 01:15, 05:15, …; tokens 1..30, every third one "o3"."""
    events = []
    for index in range(30):
        at = RANGE[0] + timedelta(days=index // 6, hours=1 + 4 * (index % 6), minutes=15)
        model = "o3" if index % 3 == 0 else "gpt-4o"
        events.append(event(f"h-{index}", at, tokens=index + 1, model=model))
    return events


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Rebuilds enqueued on commit, recorded instead of sent to a broker."""
    calls: list[str] = []
    monkeypatch.setattr("analytics.tasks.rollup_rebuild.delay", calls.append)
    return calls


@pytest.fixture
def stored(environment: Environment, enqueued: list[str]) -> None:
    """The history, stored and moved out of the backlog before the meters in question exist."""
    events_ingest(environment=environment, payloads=history(), now=T0)
    rollups_update()


def total(environment: Environment, meter: Meter, **fields: Any) -> Decimal | None:
    query = UsageQuery(
        environment_id=environment.pk, meters=(meter,), start=RANGE[0], end=RANGE[1], **fields
    )
    (series,) = meter_usage(query)
    with override_settings(ROLLUP_QUERIES=False):
        (raw,) = meter_usage(query)
    assert series == raw
    return series.total


def state_of(meter: Meter) -> MeterRollupState:
    return MeterRollupState.objects.get(meter=meter)


def sum_meter(environment: Environment, **fields: Any) -> Meter:
    return meter_create(
        environment=environment,
        name="Tokens",
        event_name="llm_call",
        aggregation_type=AggregationType.SUM,
        aggregation_field="tokens",
        **fields,
    )


class TestAMeterCreatedLater:
    def test_is_pending_then_rebuilt_in_the_background_from_stored_events(
        self,
        environment: Environment,
        stored: None,
        enqueued: list[str],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            meter = sum_meter(environment)

        assert enqueued == [meter.pk]
        assert state_of(meter).status == RollupStatus.PENDING
        assert total(environment, meter) == Decimal(465)  # from raw events meanwhile

        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY

        state = state_of(meter)
        assert (state.status, state.chunks_done, state.chunks_total) == ("ready", 5, 5)
        assert (state.rebuild_from, state.rebuild_until) == (RANGE[0], RANGE[1])
        assert state.progress_percent == 100
        assert UsageRollup.objects.filter(meter=meter).count() == 30
        assert total(environment, meter) == Decimal(465)

    def test_a_second_rebuild_of_a_ready_meter_does_nothing(
        self, environment: Environment, stored: None
    ) -> None:
        meter = sum_meter(environment)
        rollup_rebuild(meter_id=meter.pk)
        rows = list(UsageRollup.objects.filter(meter=meter).values_list("id", flat=True))

        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.NOT_DUE
        assert list(UsageRollup.objects.filter(meter=meter).values_list("id", flat=True)) == rows

    def test_events_arriving_during_the_rebuild_are_counted(
        self, environment: Environment, stored: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        meter = sum_meter(environment)
        real_insert_day = sql.insert_day
        days_done: list[datetime] = []

        def insert_day_then_ingest(**kwargs: Any) -> tuple[str, dict[str, Any]]:
            days_done.append(kwargs["day_start"])
            if len(days_done) == 2:
                # Mid-rebuild: one late event for a day already rebuilt, one for a day
                # still to come, and the rollup job runs.
                late = [
                    event("late-1", RANGE[0] + timedelta(hours=3), tokens=100),
                    event("late-2", RANGE[1] - timedelta(hours=3), tokens=1000),
                ]
                events_ingest(environment=environment, payloads=late, now=T0)
                rollups_update()
            return real_insert_day(**kwargs)

        monkeypatch.setattr(sql, "insert_day", insert_day_then_ingest)
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY

        assert total(environment, meter) == Decimal(465 + 100 + 1000)

    def test_a_meter_without_events_is_ready_at_once(self, environment: Environment) -> None:
        meter = sum_meter(environment)
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        assert (state_of(meter).chunks_total, state_of(meter).status) == (0, "ready")


class TestAMeterChanged:
    def test_a_new_filter_resets_the_state_and_the_rebuild_gives_the_new_numbers(
        self,
        environment: Environment,
        stored: None,
        enqueued: list[str],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        meter = sum_meter(environment)
        rollup_rebuild(meter_id=meter.pk)
        enqueued.clear()
        assert total(environment, meter) == Decimal(465)

        with django_capture_on_commit_callbacks(execute=True):
            meter_update(meter=meter, data={"filters": [{"key": "model", "values": ["o3"]}]})

        assert enqueued == [meter.pk]
        state = state_of(meter)
        assert (state.status, state.chunks_done, state.rebuild_from) == ("pending", 0, None)
        assert state.config_fingerprint == meter_config_fingerprint(meter)
        # Not ready: answered from raw events, already with the filter.
        o3_tokens = sum(index + 1 for index in range(30) if index % 3 == 0)
        assert total(environment, meter) == Decimal(o3_tokens)

        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        assert UsageRollup.objects.filter(meter=meter).count() == 10
        assert total(environment, meter) == Decimal(o3_tokens)

    def test_renaming_a_meter_keeps_its_rollups(
        self,
        environment: Environment,
        stored: None,
        enqueued: list[str],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        meter = sum_meter(environment)
        rollup_rebuild(meter_id=meter.pk)
        enqueued.clear()

        with django_capture_on_commit_callbacks(execute=True):
            meter_update(meter=meter, data={"name": "Tokens used"})

        assert enqueued == []
        assert state_of(meter).status == RollupStatus.READY

    def test_a_meter_changed_behind_the_services_back_is_never_answered_from_stale_rows(
        self, environment: Environment, stored: None
    ) -> None:
        meter = sum_meter(environment)
        rollup_rebuild(meter_id=meter.pk)
        Meter.objects.filter(pk=meter.pk).update(aggregation_multiplier=Decimal(2))
        meter.refresh_from_db()

        # Ready, but built for other settings: raw events answer.
        assert total(environment, meter) == Decimal(930)
        assert meter.pk in rollups_sweep()
        assert state_of(meter).status == RollupStatus.PENDING
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        assert total(environment, meter) == Decimal(930)

    def test_a_change_during_a_rebuild_stops_it_and_the_next_one_starts_over(
        self, environment: Environment, stored: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        meter = sum_meter(environment)
        real_insert_day = sql.insert_day
        calls: list[datetime] = []

        def insert_day_then_change(**kwargs: Any) -> tuple[str, dict[str, Any]]:
            calls.append(kwargs["day_start"])
            if len(calls) == 2:
                changed = Meter.objects.get(pk=meter.pk)
                meter_update(meter=changed, data={"aggregation_multiplier": Decimal(3)})
            return real_insert_day(**kwargs)

        monkeypatch.setattr(sql, "insert_day", insert_day_then_change)
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.SUPERSEDED
        assert len(calls) == 2
        assert state_of(meter).status == RollupStatus.PENDING

        meter.refresh_from_db()
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        assert total(environment, meter) == Decimal(465 * 3)


class TestRestarts:
    def test_a_failed_rebuild_resumes_where_it_stopped(
        self, environment: Environment, stored: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        meter = sum_meter(environment)
        real_insert_day = sql.insert_day
        days: list[datetime] = []

        def failing_on_the_third_day(**kwargs: Any) -> tuple[str, dict[str, Any]]:
            days.append(kwargs["day_start"])
            if len(days) == 3:
                raise RuntimeError("the database went away")
            return real_insert_day(**kwargs)

        monkeypatch.setattr(sql, "insert_day", failing_on_the_third_day)
        with pytest.raises(RuntimeError):
            rollup_rebuild(meter_id=meter.pk)

        state = state_of(meter)
        assert (state.status, state.chunks_done) == ("pending", 2)
        assert state.built_through == RANGE[0] + timedelta(days=2)
        assert state.error == "RuntimeError: the database went away"
        # Before the retry, a late event for a day already rebuilt goes through the job.
        late = event("late", RANGE[0] + timedelta(hours=2), tokens=1000)
        events_ingest(environment=environment, payloads=[late], now=T0)
        assert rollups_update() == 1

        days.clear()

        def counting(**kwargs: Any) -> tuple[str, dict[str, Any]]:
            days.append(kwargs["day_start"])
            return real_insert_day(**kwargs)

        monkeypatch.setattr(sql, "insert_day", counting)
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        assert days == [RANGE[0] + timedelta(days=n) for n in (2, 3, 4)]  # the rest only
        assert state_of(meter).error == ""
        assert total(environment, meter) == Decimal(1465)

    def test_the_sweep_hands_a_rebuild_whose_worker_died_to_a_new_one(
        self, environment: Environment, stored: None
    ) -> None:
        meter = sum_meter(environment)
        MeterRollupState.objects.filter(meter=meter).update(
            status=RollupStatus.BUILDING, updated_at=T0
        )

        assert rollups_sweep(now=T0 + timedelta(minutes=5)) == []  # still working, perhaps
        assert rollups_sweep(now=T0 + timedelta(minutes=11)) == [meter.pk]
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        assert total(environment, meter) == Decimal(465)

    def test_a_live_rebuild_is_not_started_twice(
        self, environment: Environment, stored: None
    ) -> None:
        meter = sum_meter(environment)
        MeterRollupState.objects.filter(meter=meter).update(status=RollupStatus.BUILDING)

        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.NOT_DUE
        assert not UsageRollup.objects.filter(meter=meter).exists()


class TestMetersThatLeave:
    def test_a_deleted_meter_loses_its_rows_and_state(
        self,
        environment: Environment,
        stored: None,
        enqueued: list[str],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        meter = sum_meter(environment)
        rollup_rebuild(meter_id=meter.pk)
        enqueued.clear()

        with django_capture_on_commit_callbacks(execute=True):
            meter_delete(meter=meter)

        assert enqueued == [meter.pk]
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.DISCARDED
        assert not UsageRollup.objects.filter(meter=meter).exists()
        assert not UsageDayRollup.objects.filter(meter=meter).exists()
        assert not MeterRollupState.objects.filter(meter=meter).exists()
        assert rollups_sweep() == []

    def test_a_meter_turned_count_unique_is_rebuilt_with_its_values(
        self, environment: Environment, stored: None
    ) -> None:
        meter = sum_meter(environment)
        rollup_rebuild(meter_id=meter.pk)
        assert not UsageRollup.objects.filter(meter=meter).exclude(unique_ids=b"").exists()
        meter_update(
            meter=meter,
            data={"aggregation_type": AggregationType.COUNT_UNIQUE, "aggregation_field": "model"},
        )

        assert rollups_sweep() == [meter.pk]
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        rows = UsageRollup.objects.filter(meter=meter)
        assert rows.exists()
        assert not rows.filter(unique_ids=b"").exists()
        assert MeterValue.objects.filter(meter=meter).count() == (
            MeterRollupState.objects.get(meter=meter).values_assigned
        )


class TestTheSweep:
    def test_meters_without_a_state_get_one_and_are_due(
        self, environment: Environment, stored: None
    ) -> None:
        first, second = MeterFactory(event_name="llm_call"), MeterFactory(event_name="llm_call")

        assert sorted(rollups_sweep()) == sorted([first.pk, second.pk])
        for meter in (first, second):
            assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        assert rollups_sweep() == []

    def test_the_sweep_task_enqueues_each_due_meter(
        self, environment: Environment, enqueued: list[str]
    ) -> None:
        from analytics.tasks import rollups_sweep as sweep_task

        meter = MeterFactory(event_name="llm_call")
        assert sweep_task() == [meter.pk]
        assert enqueued == [meter.pk]


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_a_batch_committed_while_the_job_runs_is_not_lost(
        self, environment: Environment, enqueued: list[str]
    ) -> None:
        meter = MeterFactory(event_name="llm_call", aggregation_type=AggregationType.COUNT)
        assert rollups_sweep() == [meter.pk]
        rollup_rebuild(meter_id=meter.pk)
        events_ingest(environment=environment, payloads=[event("before", T0)], now=T0)
        in_transaction, release = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def ingest_slowly() -> None:
            try:
                with transaction.atomic():
                    events_ingest(
                        environment=environment,
                        payloads=[
                            event(f"during-{n}", T0 + timedelta(minutes=n)) for n in range(3)
                        ],
                        now=T0,
                    )
                    in_transaction.set()
                    release.wait(30)
            except BaseException as error:  # surfaced below; a thread can't fail the test
                errors.append(error)
            finally:
                connection.close()

        thread = threading.Thread(target=ingest_slowly)
        thread.start()
        assert in_transaction.wait(30)
        # The job runs while the batch is stored but not committed: it can't see it.
        assert rollups_update() == 1
        release.set()
        thread.join(30)
        assert errors == []

        assert EventBacklog.objects.count() == 3
        assert rollups_update() == 3
        assert UsageRollup.objects.get(meter=meter).event_count == 4

    def test_ingestion_never_waits_for_the_job(self, environment: Environment) -> None:
        done = threading.Event()

        def ingest() -> None:
            try:
                events_ingest(environment=environment, payloads=[event("e", T0)], now=T0)
                done.set()
            finally:
                connection.close()

        with transaction.atomic():
            lock_environment(environment.pk)  # as a long job (or rebuild) would
            thread = threading.Thread(target=ingest)
            thread.start()
            assert done.wait(30)
        thread.join(30)
        assert EventBacklog.objects.count() == 1

    def test_two_jobs_meeting_the_same_new_values_give_each_value_one_id(
        self, environment: Environment, enqueued: list[str]
    ) -> None:
        meter = users_meter()
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        events_ingest(environment=environment, payloads=user_events(range(240)), now=T0)

        # Two workers take small batches side by side: each meets values the other met too.
        assert run_together(drain_backlog, drain_backlog) == []

        assert not EventBacklog.objects.exists()
        assert dictionary_of(meter) == (list(range(1, 101)), USERS)
        assert state_of(meter).values_assigned == 100
        assert distinct_users(environment, meter) == ([Decimal(100), Decimal(96)], Decimal(100))

    def test_a_job_racing_a_rebuild_gives_each_value_one_id(
        self, environment: Environment, enqueued: list[str]
    ) -> None:
        meter = users_meter()
        events_ingest(environment=environment, payloads=user_events(range(120)), now=T0)
        assert rollups_update() == 120
        assert rollup_rebuild(meter_id=meter.pk) == RebuildOutcome.READY
        # A rebuild that starts over (its dictionary with it) while the second half of the
        # events waits in the backlog: the rebuild and the job both meet their values anew.
        assert rollup_state_sync(meter=meter, force=True, enqueue=False)
        events_ingest(environment=environment, payloads=user_events(range(120, 240)), now=T0)
        outcomes: list[RebuildOutcome] = []

        def rebuild() -> None:
            outcomes.append(rollup_rebuild(meter_id=meter.pk))

        assert run_together(rebuild, drain_backlog) == []

        assert outcomes == [RebuildOutcome.READY]
        assert not EventBacklog.objects.exists()
        assert dictionary_of(meter) == (list(range(1, 101)), USERS)
        assert state_of(meter).values_assigned == 100
        assert distinct_users(environment, meter) == ([Decimal(100), Decimal(96)], Decimal(100))


# 100 users; events every 10 minutes from 6 January on, the n-th one by user n % 100.
USERS = sorted(f"u{n}" for n in range(100))


def users_meter() -> Meter:
    meter = MeterFactory(
        event_name="llm_call",
        aggregation_type=AggregationType.COUNT_UNIQUE,
        aggregation_field="user",
    )
    assert rollups_sweep() == [meter.pk]
    return meter


def user_events(numbers: range) -> list[dict[str, Any]]:
    return [
        event(f"u-{n}", RANGE[0] + timedelta(minutes=10 * n), user=f"u{n % 100}") for n in numbers
    ]


def drain_backlog() -> None:
    while rollups_update(batch_size=7):
        pass


def run_together(*jobs: Callable[[], None]) -> list[BaseException]:
    """Run each job on a thread of its own (with its own database connection), all released at
    once; returns what they raised."""
    start = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        try:
            start.wait(30)
            job()
        except BaseException as error:  # surfaced by the caller; a thread can't fail the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def dictionary_of(meter: Meter) -> tuple[list[int], list[str]]:
    """The meter's dictionary: its ids ascending, and its values sorted (one entry per value
    when both lists are as long as the values are many)."""
    entries = MeterValue.objects.filter(meter=meter)
    ids = sorted(entries.values_list("value_id", flat=True))
    return ids, sorted(entries.values_list("value", flat=True))


def distinct_users(environment: Environment, meter: Meter) -> tuple[list[Decimal], Decimal]:
    """Distinct users on 6 and 7 January and over both days, equal to the raw events' count."""
    query = UsageQuery(
        environment_id=environment.pk,
        meters=(meter,),
        start=RANGE[0],
        end=RANGE[0] + timedelta(days=2),
        window_size="DAY",
    )
    (series,) = meter_usage(query)
    with override_settings(ROLLUP_QUERIES=False):
        assert meter_usage(query) == [series]
    return [point.value for point in series.points], series.total


def test_beat_runs_the_job_and_the_sweep(settings: Any) -> None:
    from analytics import tasks

    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["rollups-update"]["task"] == tasks.rollups_update.name
    assert schedule["rollups-update"]["schedule"] == settings.ROLLUP_SECONDS
    assert schedule["rollups-sweep"]["task"] == tasks.rollups_sweep.name


class TestCommands:
    def test_rollups_update_moves_the_backlog(self, environment: Environment, stored: None) -> None:
        meter = MeterFactory(event_name="llm_call")
        rollups_sweep()
        rollup_rebuild(meter_id=meter.pk)
        events_ingest(environment=environment, payloads=[event("x", T0)], now=T0)
        out = StringIO()

        call_command("rollups_update", stdout=out)

        assert out.getvalue() == "Moved 1 event(s) from the backlog into the rollups.\n"
        assert not EventBacklog.objects.exists()

    def test_rollups_rebuild_rebuilds_what_the_sweep_finds(
        self, environment: Environment, stored: None
    ) -> None:
        meter = MeterFactory(event_name="llm_call")
        out = StringIO()

        call_command("rollups_rebuild", stdout=out)
        assert out.getvalue() == f"{meter.pk}: ready\n"

        out = StringIO()
        call_command("rollups_rebuild", stdout=out)
        assert out.getvalue() == "Every meter's rollups are up to date.\n"

    def test_rollups_rebuild_of_one_meter_starts_over(
        self, environment: Environment, stored: None, enqueued: list[str]
    ) -> None:
        meter = sum_meter(environment)
        rollup_rebuild(meter_id=meter.pk)
        UsageRollup.objects.filter(meter=meter).update(value_sum=Decimal(0))  # damaged rows
        out = StringIO()

        call_command("rollups_rebuild", "--meter", meter.pk, stdout=out)

        assert out.getvalue() == f"{meter.pk}: ready\n"
        assert enqueued == []  # done here, not by a worker
        assert total(environment, meter) == Decimal(465)

    def test_an_unknown_meter_is_an_error(self, environment: Environment) -> None:
        with pytest.raises(CommandError, match="No meter with ID meter_nope"):
            call_command("rollups_rebuild", "--meter", "meter_nope")


def staff(environment: Environment, username: str) -> Client:
    user = User.objects.create_user(
        username=username, password="pw-123456!", is_staff=True, tenant=environment.tenant
    )
    user.groups.add(pricing_ops_group())
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acme(environment: Environment) -> Client:
    return staff(environment, "alice")


class TestAdmin:
    URL = "/admin/analytics/meterrollupstate/"

    @pytest.mark.parametrize("meters", [1, 15])
    def test_the_status_list_shows_progress_and_the_backlog_in_a_fixed_number_of_queries(
        self,
        meters: int,
        environment: Environment,
        other_environment: Environment,
        acme: Client,
        django_assert_max_num_queries: Any,
    ) -> None:
        for index in range(meters):
            MeterFactory(name=f"Meter {index:02}", event_name="llm_call")
        theirs = MeterFactory(name="Globex meter", environment=other_environment)
        rollups_sweep()
        building = Meter.objects.get(name="Meter 00")
        MeterRollupState.objects.filter(meter=building).update(
            status=RollupStatus.BUILDING, chunks_done=3, chunks_total=12
        )
        events_ingest(environment=environment, payloads=[event("a", T0), event("b", T0)], now=T0)
        events_ingest(environment=other_environment, payloads=[event("c", T0)], now=T0)

        with django_assert_max_num_queries(11):
            response = acme.get(self.URL)

        assert response.status_code == 200
        page = response.content.decode()
        assert response.context["cl"].result_count == meters
        assert "Building: 25 % (3 of 12 days)" in page
        assert theirs.name not in page
        assert response.context["backlog"].events == 2  # their event is not counted

    def test_rebuild_now_resets_and_enqueues(
        self,
        environment: Environment,
        acme: Client,
        enqueued: list[str],
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        meter = MeterFactory(event_name="llm_call")
        rollups_sweep()
        rollup_rebuild(meter_id=meter.pk)

        with django_capture_on_commit_callbacks(execute=True):
            response = acme.post(
                self.URL, {"action": "rebuild_now", "_selected_action": [meter.pk]}, follow=True
            )

        assert response.status_code == 200
        assert "Rebuild started for 1 meter(s)" in response.content.decode()
        assert state_of(meter).status == RollupStatus.PENDING
        assert enqueued == [meter.pk]

    def test_the_detail_page_and_the_meter_page_show_the_status(
        self, environment: Environment, acme: Client
    ) -> None:
        meter = MeterFactory(event_name="llm_call")
        rollups_sweep()
        rollup_rebuild(meter_id=meter.pk)

        detail = acme.get(f"{self.URL}{meter.pk}/change/")
        meter_page = acme.get(f"/admin/costsheets/meter/{meter.pk}/change/")

        assert detail.status_code == 200
        assert "Ready" in detail.content.decode()
        assert meter_page.status_code == 200
        assert "Ready" in meter_page.content.decode()

    def test_another_tenants_staff_cannot_see_the_state(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        meter = MeterFactory(event_name="llm_call")
        rollups_sweep()
        globex = staff(other_environment, "gina")

        assert globex.get(self.URL).context["cl"].result_count == 0
        assert globex.get(f"{self.URL}{meter.pk}/change/").status_code == 302


def test_force_resets_even_an_unchanged_meter(
    environment: Environment, enqueued: list[str]
) -> None:
    meter = MeterFactory(event_name="llm_call")
    rollups_sweep()
    rollup_rebuild(meter_id=meter.pk)

    assert rollup_state_sync(meter=meter) is False
    assert rollup_state_sync(meter=meter, force=True) is True
    assert state_of(meter).status == RollupStatus.PENDING
