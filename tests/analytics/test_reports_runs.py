"""Exactly one report per schedule and period: racing ticks, concurrent sends, lost tasks and
crashed workers (real PostgreSQL locks, a real SMTP server)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connections, transaction

from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from analytics.reports.periods import Period
from analytics.reports.services import (
    SendOutcome,
    TickResult,
    report_run_send,
    report_schedules_tick,
    report_send_now,
)
from flexprice_site.models import Environment
from tests.analytics import test_reports_smtp as reports_smtp
from tests.analytics.cost_world import build_world
from tests.analytics.test_reports_smtp import TICK_AT, SmtpSink, weekly_schedule

# The SMTP server and eager Celery fixtures of the delivery tests.
smtp = reports_smtp.smtp
eager_celery = reports_smtp.eager_celery
at_tick_time = reports_smtp.at_tick_time

WAIT_SECONDS = 30
WEEK = Period(start=datetime(2025, 12, 29, tzinfo=UTC), end=datetime(2026, 1, 5, tzinfo=UTC))


def in_threads(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run `work` in `count` threads released together; each has its own DB connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(WAIT_SECONDS)
            results.append(work())
        except BaseException as error:  # reported in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert errors == []
    return results


def test_two_ticks_racing_make_one_run_and_send_one_email(
    transactional_db: None, environment: Environment, smtp: SmtpSink, eager_celery: None
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)

    # Each tick queues the sends of what it created; Celery runs them eagerly, after commit.
    results: list[TickResult] = in_threads(
        2, lambda: report_schedules_tick(now=TICK_AT, enqueue=True)
    )

    assert sorted(result.claimed_schedule_ids for result in results) == [[], [schedule.pk]]
    run = ReportRun.objects.get()
    assert (run.schedule_id, run.period_start, run.status, run.attempts) == (
        schedule.pk,
        WEEK.start,
        RunStatus.SENT,
        1,
    )
    assert len(smtp.wait_for(2, timeout=2)) == 1
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2026, 1, 12, 8, tzinfo=UTC)


def test_a_schedule_another_tick_holds_is_skipped_not_waited_for(
    transactional_db: None, environment: Environment
) -> None:
    schedule = weekly_schedule(environment)
    locked, release = threading.Event(), threading.Event()

    def other_tick() -> None:
        try:
            with transaction.atomic():
                ReportSchedule.objects.select_for_update().get(pk=schedule.pk)
                locked.set()
                release.wait(WAIT_SECONDS)
        finally:
            connections.close_all()

    holder = threading.Thread(target=other_tick)
    holder.start()
    assert locked.wait(WAIT_SECONDS)
    try:
        skipped = report_schedules_tick(now=TICK_AT, enqueue=False)
        runs_while_locked = ReportRun.objects.count()
    finally:
        release.set()
        holder.join(WAIT_SECONDS)
    claimed = report_schedules_tick(now=TICK_AT, enqueue=False)

    assert (skipped.claimed_schedule_ids, runs_while_locked) == ([], 0)
    assert claimed.claimed_schedule_ids == [schedule.pk]
    assert ReportRun.objects.count() == 1


def test_two_workers_sending_the_same_run_deliver_it_once(
    transactional_db: None, environment: Environment, smtp: SmtpSink
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids

    outcomes = in_threads(2, lambda: report_run_send(run_id=run_id))

    # The loser finds the run claimed (being sent) or, if it came late, already sent.
    assert SendOutcome.SENT in outcomes
    assert len(outcomes) == 2
    assert {outcome for outcome in outcomes if outcome != SendOutcome.SENT} <= {
        SendOutcome.IN_PROGRESS,
        SendOutcome.ALREADY_SENT,
    }
    assert outcomes.count(SendOutcome.SENT) == 1
    assert len(smtp.wait_for(2, timeout=2)) == 1
    assert ReportRun.objects.get(pk=run_id).attempts == 1


def test_send_now_then_the_tick_for_the_same_period_sends_once(
    environment: Environment, smtp: SmtpSink
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)

    by_hand = report_send_now(schedule=schedule, period=WEEK)
    tick = report_schedules_tick(now=TICK_AT, enqueue=False)
    again = report_send_now(schedule=schedule, period=WEEK)

    assert (by_hand.created, by_hand.outcome) == (True, SendOutcome.SENT)
    assert (tick.created_run_ids, tick.enqueued_run_ids) == ([], [])
    assert (again.created, again.outcome) == (False, SendOutcome.ALREADY_SENT)
    assert ReportRun.objects.count() == 1
    assert len(smtp.wait_for(2, timeout=2)) == 1


def test_a_run_whose_worker_died_before_delivery_is_recovered_and_sent_once(
    environment: Environment, smtp: SmtpSink, at_tick_time: None
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids
    # A worker claimed it, then died while computing: no delivery had started.
    ReportRun.objects.filter(pk=run_id).update(
        status=RunStatus.SENDING, attempts=1, claimed_at=TICK_AT
    )

    # Redelivered at once, its claim is not stale yet: nothing happens.
    assert report_run_send(run_id=run_id) == SendOutcome.IN_PROGRESS
    later = TICK_AT + timedelta(minutes=20)
    recovery = report_schedules_tick(now=later, enqueue=False)
    run = ReportRun.objects.get(pk=run_id)
    assert recovery.recovered_run_ids == [run_id]
    assert (run.status, run.last_error) == (
        RunStatus.PENDING,
        "The worker stopped before delivering (attempt 1); retried.",
    )

    assert report_run_send(run_id=run_id) == SendOutcome.SENT
    assert len(smtp.wait_for(2, timeout=2)) == 1
    assert ReportRun.objects.get(pk=run_id).attempts == 2


def test_a_run_whose_worker_died_during_delivery_is_failed_not_resent(
    environment: Environment, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids
    # The worker died after it began handing the message to the mail server.
    ReportRun.objects.filter(pk=run_id).update(
        status=RunStatus.SENDING, attempts=1, claimed_at=TICK_AT, delivery_started_at=TICK_AT
    )

    recovery = report_schedules_tick(now=TICK_AT + timedelta(minutes=20), enqueue=False)
    outcome = report_run_send(run_id=run_id)

    run = ReportRun.objects.get(pk=run_id)
    assert (recovery.failed_run_ids, outcome, run.status) == (
        [run_id],
        SendOutcome.FAILED,
        RunStatus.FAILED,
    )
    assert run.last_error.startswith(
        "Delivery outcome unknown: the worker stopped while handing the email to the mail "
        "server (attempt 1, 2026-01-05T09:00:00+00:00). It is not resent automatically"
    )
    assert f"report run {run_id} failed: Delivery outcome unknown" in caplog.text
    assert smtp.wait_for(1, timeout=1) == []


def test_a_run_whose_task_was_lost_is_queued_again_by_the_tick(
    environment: Environment,
    smtp: SmtpSink,
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    # Created, but the broker never got its task (enqueue=False stands for a broker outage).
    (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids

    # Queued sends run (eagerly) when the tick's transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        soon = report_schedules_tick(now=TICK_AT + timedelta(minutes=5), enqueue=True)
    with django_capture_on_commit_callbacks(execute=True):
        later = report_schedules_tick(now=TICK_AT + timedelta(minutes=20), enqueue=True)

    assert (soon.recovered_run_ids, later.recovered_run_ids) == ([], [run_id])
    assert ReportRun.objects.get(pk=run_id).status == RunStatus.SENT
    assert len(smtp.wait_for(2, timeout=2)) == 1


def test_inactive_and_unplanned_schedules_send_nothing(
    environment: Environment, mailoutbox: list[Any]
) -> None:
    inactive = weekly_schedule(environment, name="Paused", is_active=False)
    unplanned = weekly_schedule(environment, name="Made in a shell")
    ReportSchedule.objects.filter(pk=unplanned.pk).update(next_run_at=None)

    result = report_schedules_tick(now=TICK_AT, enqueue=False)

    unplanned.refresh_from_db()
    inactive.refresh_from_db()
    assert result.claimed_schedule_ids == [unplanned.pk]
    assert result.created_run_ids == []
    assert unplanned.next_run_at == datetime(2026, 1, 12, 8, tzinfo=UTC)
    assert inactive.next_run_at == datetime(2026, 1, 5, 8, tzinfo=UTC)
    assert (ReportRun.objects.count(), len(mailoutbox)) == (0, 0)


def test_a_schedule_is_not_due_before_its_send_hour(
    environment: Environment, mailoutbox: list[Any]
) -> None:
    schedule = weekly_schedule(environment)

    early = report_schedules_tick(now=datetime(2026, 1, 5, 7, 59, tzinfo=UTC), enqueue=False)

    assert (early.claimed_schedule_ids, ReportRun.objects.count(), len(mailoutbox)) == ([], 0, 0)
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2026, 1, 5, 8, tzinfo=UTC)
