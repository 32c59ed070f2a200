"""Margin reports delivered to a real SMTP server (aiosmtpd, in this process, on loopback)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller

from analytics.reports import tasks
from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from analytics.reports.services import (
    DeliveryDeferred,
    SendOutcome,
    report_run_send,
    report_schedule_create,
    report_schedules_tick,
)
from costsheets.formatting import money_text
from costsheets.models import Customer
from flexprice_site.celery import app as celery_app
from flexprice_site.models import Environment
from tests.analytics.cost_world import World, build_world, customer, event, ingest, subscribe
from tests.conftest import KeyedClient

D = Decimal
WAIT_SECONDS = 30  # waits for a message to arrive; never a speed assertion
# The week of Mon 29 Dec 2025 to Sun 4 Jan 2026 (UTC) closes Monday 5 Jan; reports go at 08:00.
PLANNED_AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
TICK_AT = datetime(2026, 1, 5, 9, tzinfo=UTC)
WEEK_START, WEEK_END = "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z"
CHART_CID = "margin-chart@flexprice.reports"
REFUSED = "Delivery failed: ConnectionRefusedError: [Errno 111] Connection refused"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps what it receives. `refuse_with` answers every
    RCPT TO with that reply instead (e.g. "550 5.1.1 no such mailbox")."""

    def __init__(self, port: int | None = None, refuse_with: str = "") -> None:
        self.port = port or free_port()
        self.refuse_with = refuse_with
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message)  # type: ignore[arg-type]
            )
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.1)
        with self._lock:
            return list(self.received)


def use_smtp(settings: Any, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "reports@flexprice.test"


@pytest.fixture
def smtp(settings: Any) -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    use_smtp(settings, sink.port)
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks run in the calling thread (retries at once), never through the checkout's broker."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous


@pytest.fixture
def at_tick_time() -> Iterator[None]:
    """The clock runs from the moment of the tick, so runs claimed now look fresh to it."""
    with time_machine.travel(TICK_AT, tick=True):
        yield


def report_world(environment: Environment) -> World:
    """cost_world's acme-1 (Jan 1 and 2) plus Bolt Two and its child, in the week of 29 Dec:

    - bolt-2: 1 API call on Jan 3, priced at 2 per call by its subscription.
    - bolt-kid (child of bolt-2, no subscription): 1 API call on Jan 3, 300 tokens on Jan 4.
    - bolt-2's call on Jan 5 belongs to the next week.
    """
    world = build_world(environment)
    bolt = customer(environment, "bolt-2", name="Bolt Two")
    customer(environment, "bolt-kid", name="Bolt Kid", parent=bolt)
    subscribe(bolt, world.calls, amount="2")
    ingest(
        environment,
        event("2026-01-03T08:00:00Z", customer="bolt-2"),
        event("2026-01-03T09:00:00Z", customer="bolt-kid"),
        event("2026-01-04T23:30:00Z", customer="bolt-kid", name="llm_call", tokens=300),
        event("2026-01-05T00:30:00Z", customer="bolt-2"),
    )
    return world


def weekly_schedule(environment: Environment, **fields: Any) -> ReportSchedule:
    return report_schedule_create(
        now=PLANNED_AT,
        environment=environment,
        name=fields.pop("name", "Weekly margin"),
        recipients=fields.pop("recipients", "ops@example.com, cfo@example.com"),
        cadence="weekly",
        time_zone="UTC",
        send_hour=8,
        **fields,
    )


def tick_and_send() -> ReportRun:
    """The tick creates the week's run; the send service (what the task runs) sends it."""
    tick = report_schedules_tick(now=TICK_AT, enqueue=False)
    (run_id,) = tick.created_run_ids
    assert report_run_send(run_id=run_id) == SendOutcome.SENT
    return ReportRun.objects.get(pk=run_id)


def parts(message: EmailMessage) -> dict[str, Any]:
    return {part.get_content_type(): part for part in message.walk()}


def analytics_v2(api: KeyedClient, **body: Any) -> dict[str, Any]:
    response = api.client.post(
        "/v1/costs/analytics-v2",
        {"start_time": WEEK_START, "end_time": WEEK_END, "window_size": "DAY", **body},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        # acme-1 earns 14.5 and costs 5 (cost_world); bolt-2's call earns 2 and costs 0.5;
        # bolt-kid's call costs 0.5 and its 300 tokens 1 + (1 + 200 * 0.005) = 3, earning 0.
        pytest.param({}, ("16.5", "9", "7.5", "margin $7.50 (45.5 %)"), id="whole-environment"),
        # The child's usage folds into bolt-2: 2 calls at 2, costs 0.5 + 0.5 + 3.
        pytest.param(
            {"external_customer_id": "bolt-2", "include_children": True},
            ("4", "4", "0", "margin $0.00 (0.0 %)"),
            id="customer-with-children",
        ),
    ],
)
def test_a_report_reaches_a_real_smtp_server_with_csv_totals_equal_to_the_api(
    environment: Environment,
    api: KeyedClient,
    smtp: SmtpSink,
    scope: dict[str, Any],
    expected: tuple[str, str, str, str],
) -> None:
    *totals, subject = expected
    report_world(environment)
    fields: dict[str, Any] = {}
    if scope:
        fields = {
            "customer": environment_customer(environment, scope["external_customer_id"]),
            "include_children": True,
        }
    weekly_schedule(environment, **fields)

    run = tick_and_send()

    (received,) = smtp.wait_for(1)
    message = received.message
    assert received.sender == "reports@flexprice.test"
    assert received.recipients == ["ops@example.com", "cfo@example.com"]
    assert message["Message-ID"].strip() == run.message_id
    tree = [(part.get_content_type(), part.get_content_disposition()) for part in message.walk()]
    assert tree == [
        ("multipart/mixed", None),
        ("multipart/related", None),
        ("multipart/alternative", None),
        ("text/plain", None),
        ("text/html", None),
        ("image/png", "inline"),
        ("text/csv", "attachment"),
    ]
    by_type = parts(message)
    html = by_type["text/html"].get_content()
    chart = by_type["image/png"]
    assert f'<img src="cid:{CHART_CID}"' in html
    assert chart["Content-ID"] == f"<{CHART_CID}>"
    assert chart.get_content()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = list(csv.DictReader(io.StringIO(by_type["text/csv"].get_content())))
    body = analytics_v2(api, **scope)
    csv_revenue = sum((D(row["revenue"]) for row in rows), D(0))
    csv_cost = sum((D(row["cost"]) for row in rows), D(0))
    assert (csv_revenue, csv_cost, csv_revenue - csv_cost) == (
        D(body["total_revenue"]),
        D(body["total_cost"]),
        D(body["margin"]),
    )
    assert [body["total_revenue"], body["total_cost"], body["margin"]] == totals
    # Per customer and meter, the CSV's cost is the API's cost items added up.
    api_costs: dict[tuple[str, str], Decimal] = {}
    for item in body["cost_analytics"]:
        key = (item["external_customer_id"], item["meter_id"])
        api_costs[key] = api_costs.get(key, D(0)) + D(item["total_cost"])
    assert {
        (row["external_customer_id"], row["meter_id"]): D(row["cost"])
        for row in rows
        if D(row["cost"])
    } == api_costs
    # The run records the totals that were sent, and the subject and text say the same.
    run.refresh_from_db()
    assert (run.total_revenue, run.total_cost, run.margin, run.margin_percent, run.roi) == (
        D(body["total_revenue"]),
        D(body["total_cost"]),
        D(body["margin"]),
        D(body["margin_percent"]),
        D(body["roi"]),
    )
    assert (run.status, run.attempts, run.had_usage, run.currency) == (
        RunStatus.SENT,
        1,
        True,
        "usd",
    )
    # (Headers are folded and encoded; a reader unfolds them, so compare without the fold.)
    assert message["Subject"].strip() == f"Weekly margin · 29 Dec 2025 – 4 Jan 2026 · {subject}"
    text_lines = by_type["text/plain"].get_content().splitlines()
    revenue_line = next(line for line in text_lines if line.startswith("Revenue "))
    assert revenue_line.split()[1] == money_text(D(body["total_revenue"]), "usd")


def environment_customer(environment: Environment, external_id: str) -> Customer:
    return Customer.objects.get(environment=environment, external_customer_id=external_id)


def test_a_period_without_usage_still_sends_and_says_so(
    environment: Environment, smtp: SmtpSink
) -> None:
    # The catalogue but no event: only acme-1's token commitment earns (its true-up of 5).
    build_world(environment, with_events=False)
    weekly_schedule(environment)

    run = tick_and_send()

    (received,) = smtp.wait_for(1)
    by_type = parts(received.message)
    assert received.message["Subject"].strip() == (
        "Weekly margin · 29 Dec 2025 – 4 Jan 2026 · no usage · margin $5.00 (100.0 %)"
    )
    assert "No usage in this period" in by_type["text/plain"].get_content()
    assert "No usage in this period" in by_type["text/html"].get_content()
    assert "image/png" not in by_type
    rows = list(csv.DictReader(io.StringIO(by_type["text/csv"].get_content())))
    assert [(row["meter_name"], row["quantity"], row["revenue"], row["cost"]) for row in rows] == [
        ("Tokens", "0", "5", "0")
    ]
    run.refresh_from_db()
    assert (run.status, run.had_usage, run.total_revenue, run.total_cost) == (
        RunStatus.SENT,
        False,
        D(5),
        D(0),
    )


def test_a_retried_send_after_success_sends_nothing_more(
    environment: Environment, smtp: SmtpSink, eager_celery: None
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    run = tick_and_send()
    smtp.wait_for(1)

    # The task redelivered (a worker crashed before acknowledging) and asked again by hand.
    again = tasks.report_run_send.apply(args=[run.pk]).get()
    direct = report_run_send(run_id=run.pk)

    assert (again, direct) == ("already sent", SendOutcome.ALREADY_SENT)
    assert len(smtp.wait_for(2, timeout=1)) == 1
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SENT, 1)


def test_refused_connections_are_retried_then_delivered_once_when_the_server_is_back(
    environment: Environment, settings: Any
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    settings.REPORT_RETRY_BACKOFF_SECONDS = 30
    down = SmtpSink()
    use_smtp(settings, down.port)  # nothing listens there yet
    (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids

    with pytest.raises(DeliveryDeferred) as first:
        report_run_send(run_id=run_id)
    with pytest.raises(DeliveryDeferred) as second:
        report_run_send(run_id=run_id)

    run = ReportRun.objects.get(pk=run_id)
    assert (first.value.retry_in_seconds, second.value.retry_in_seconds) == (30, 60)
    assert (run.status, run.attempts, run.sent_at) == (RunStatus.PENDING, 2, None)
    assert (
        run.last_error == "Delivery failed: ConnectionRefusedError: [Errno 111] Connection refused"
    )

    down.start()  # the server comes back on the same port
    try:
        assert report_run_send(run_id=run_id) == SendOutcome.SENT
        assert report_run_send(run_id=run_id) == SendOutcome.ALREADY_SENT
        assert len(down.wait_for(2, timeout=1)) == 1
    finally:
        down.stop()
    run.refresh_from_db()
    assert (run.status, run.attempts, run.next_attempt_at) == (RunStatus.SENT, 3, None)


def test_past_the_retry_limit_the_run_fails_and_keeps_its_record(
    environment: Environment, settings: Any, eager_celery: None, caplog: Any
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    settings.REPORT_SEND_MAX_ATTEMPTS = 3
    down = SmtpSink()
    use_smtp(settings, down.port)
    (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids
    message_id = ReportRun.objects.get(pk=run_id).message_id

    # The Celery task retries (at once, eagerly) until the run's attempts are used up.
    outcome = tasks.report_run_send.apply(args=[run_id]).get()

    run = ReportRun.objects.get(pk=run_id)
    assert outcome == "failed"
    assert (run.status, run.attempts, run.attempt_limit) == (RunStatus.FAILED, 3, 3)
    assert (
        run.last_error == "Delivery failed: ConnectionRefusedError: [Errno 111] Connection refused"
    )
    assert run.last_error_at is not None and run.next_attempt_at is None
    # Nothing lost: the period, the totals that were to be sent, the subject and Message-ID.
    assert (run.period_start, run.period_end) == (
        datetime(2025, 12, 29, tzinfo=UTC),
        datetime(2026, 1, 5, tzinfo=UTC),
    )
    assert (run.total_revenue, run.total_cost, run.margin) == (D("14.5"), D(5), D("9.5"))
    assert run.subject == "Weekly margin · 29 Dec 2025 – 4 Jan 2026 · margin $9.50 (65.5 %)"
    assert run.message_id == message_id
    assert f"report run {run_id} failed after 3 attempt(s): Delivery failed" in caplog.text

    # A failed run is not sent again by itself, even once the server is back.
    down.start()
    try:
        assert tasks.report_run_send.apply(args=[run_id]).get() == "failed"
        report_schedules_tick(now=TICK_AT, enqueue=False)
        assert down.wait_for(1, timeout=1) == []
    finally:
        down.stop()


def test_a_recipient_the_server_rejects_fails_the_run_at_once(
    environment: Environment, settings: Any
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    sink = SmtpSink(refuse_with="550 5.1.1 No such mailbox").start()
    use_smtp(settings, sink.port)
    try:
        (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids

        assert report_run_send(run_id=run_id) == SendOutcome.FAILED

        assert sink.wait_for(1, timeout=1) == []
    finally:
        sink.stop()
    run = ReportRun.objects.get(pk=run_id)
    assert (run.status, run.attempts) == (RunStatus.FAILED, 1)
    assert run.last_error == (
        "Delivery failed: the mail server refused every recipient: "
        "cfo@example.com (550), ops@example.com (550)"
    )
