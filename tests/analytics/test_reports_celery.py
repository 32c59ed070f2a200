"""End to end: a real Celery beat and worker (Redis at 127.0.0.1:6379, or the filesystem broker)
tick, send and retry margin reports to an SMTP server in this process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from analytics.reports.rendering import report_render
from analytics.reports.selectors import report_data_for
from analytics.reports.services import last_closed_period_of
from flexprice_site.models import Environment
from tests.analytics.cost_world import build_world, event, ingest
from tests.analytics.test_reports_smtp import SmtpSink, weekly_schedule
from tests.celery_processes import celery_beat_and_worker, redis_reachable

WAIT_SECONDS = 90  # waits for an email or a state, never a speed assertion
# A Redis database of its own, so other suites' workers never take these tasks.
REDIS_URL = "redis://127.0.0.1:6379/5"

BROKERS = [
    pytest.param("", id="filesystem"),
    pytest.param(
        REDIS_URL,
        id="redis",
        marks=pytest.mark.skipif(not redis_reachable(), reason="no Redis on 127.0.0.1:6379"),
    ),
]


@contextmanager
def beat_and_worker(tmp_path: Path, broker_url: str, smtp_port: int) -> Iterator[Path]:
    """A worker and a beat ticking every second, mailing through 127.0.0.1:`smtp_port`."""
    if broker_url:
        redis.Redis.from_url(broker_url).flushdb()  # no task left by an earlier run
    with celery_beat_and_worker(
        tmp_path,
        broker_url,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        DEFAULT_FROM_EMAIL="reports@flexprice.test",
        EMAIL_TIMEOUT="5",
        REPORTS_TICK_SECONDS="1",
        REPORT_RETRY_BACKOFF_SECONDS="1",
        REPORT_RETRY_BACKOFF_MAX_SECONDS="2",
        # Room for a slow machine between "retried twice" and the server coming back.
        REPORT_SEND_MAX_ATTEMPTS="30",
        HEARTBEAT_SECONDS="3600",
    ) as (_worker, log):
        yield log


def wait_until(condition: Callable[[], bool], log: Path) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    print(log.read_text())  # shown when the assertion after this fails
    return False


def schedule_with_usage(environment: Environment) -> tuple[ReportSchedule, str]:
    """A weekly schedule long due, and usage in the week it will report (the last closed one);
    with the subject its report must have."""
    world = build_world(environment, with_events=False)
    schedule = weekly_schedule(environment)
    period = last_closed_period_of(schedule, now=timezone.now())
    day = period.start + timedelta(days=2, hours=10)
    ingest(
        environment,
        *[event((day + timedelta(minutes=m)).isoformat()) for m in range(3)],
        event(day.isoformat(), name="llm_call", tokens=150, model="a"),
    )
    assert world.customer.external_customer_id == "acme-1"
    subject = report_render(report_data_for(schedule=schedule, period=period)).subject
    assert "no usage" not in subject
    return schedule, subject


@pytest.mark.parametrize("broker_url", BROKERS)
def test_beat_and_worker_deliver_a_report_to_the_smtp_server(
    transactional_db: None, environment: Environment, tmp_path: Path, broker_url: str
) -> None:
    schedule, subject = schedule_with_usage(environment)
    sink = SmtpSink().start()
    try:
        with beat_and_worker(tmp_path, broker_url, sink.port) as log:
            received = sink.wait_for(1, timeout=WAIT_SECONDS)
            assert len(received) == 1, log.read_text()
            # Ticks go on every second; the period's report is still sent once.
            time.sleep(3)
            assert len(sink.received) == 1
    finally:
        sink.stop()

    (message,) = [item.message for item in received]
    run = ReportRun.objects.get(schedule=schedule)
    assert message["Subject"].strip() == subject
    assert message["Message-ID"].strip() == run.message_id
    assert (run.status, run.attempts) == (RunStatus.SENT, 1)
    assert f"report run {run.pk} sent to ops@example.com, cfo@example.com" in log.read_text()


@pytest.mark.parametrize("broker_url", BROKERS)
def test_the_worker_retries_while_smtp_is_down_and_delivers_once_it_is_back(
    transactional_db: None, environment: Environment, tmp_path: Path, broker_url: str
) -> None:
    schedule, subject = schedule_with_usage(environment)
    sink = SmtpSink()  # its port, but nothing listening yet: connections are refused

    def retried_twice() -> bool:
        run = ReportRun.objects.filter(schedule=schedule).first()
        return run is not None and run.attempts >= 2 and run.status == RunStatus.PENDING

    try:
        with beat_and_worker(tmp_path, broker_url, sink.port) as log:
            assert wait_until(retried_twice, log)
            waiting = ReportRun.objects.get(schedule=schedule)
            sink.start()
            received = sink.wait_for(1, timeout=WAIT_SECONDS)
            assert len(received) == 1, log.read_text()
            time.sleep(3)
            assert len(sink.received) == 1
    finally:
        sink.stop()

    assert waiting.last_error == (
        "Delivery failed: ConnectionRefusedError: [Errno 111] Connection refused"
    )
    run = ReportRun.objects.get(schedule=schedule)
    assert received[0].message["Subject"].strip() == subject
    assert run.status == RunStatus.SENT
    assert run.attempts >= 3
    assert run.last_error == waiting.last_error  # the failures stay on the record
    text = log.read_text()
    assert f"report run {run.pk} attempt 1 of 30 failed, retrying in 1 s" in text
    assert f"report run {run.pk} sent to ops@example.com, cfo@example.com" in text
