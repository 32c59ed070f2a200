"""manage.py send_margin_reports: the same services as Celery, in one process."""

from __future__ import annotations

import email
import email.policy
import io
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command

from analytics.reports.models import ReportRun, RunStatus
from flexprice_site.models import Environment
from tests.analytics.cost_world import build_world
from tests.analytics.test_reports_smtp import TICK_AT, SmtpSink, use_smtp, weekly_schedule

SENT_LINE = "“Weekly margin”, 29 Dec 2025 – 4 Jan 2026: sent to ops@example.com, cfo@example.com.\n"


def run_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("send_margin_reports", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def at_tick_time() -> Any:
    with time_machine.travel(TICK_AT, tick=True):
        yield


def test_without_options_it_sends_what_is_due_once(
    environment: Environment, mailoutbox: list[Any], at_tick_time: None
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)

    first, _ = run_command()
    second, _ = run_command()

    assert first == f"schedule {schedule.pk} {SENT_LINE}"
    assert second == "No report is due.\n"
    assert len(mailoutbox) == 1
    assert ReportRun.objects.get().status == RunStatus.SENT


def test_a_chosen_schedule_and_period_is_sent_and_never_twice(
    environment: Environment, mailoutbox: list[Any]
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)

    first, _ = run_command("--schedule", str(schedule.pk), "--period-start", "2026-01-01")
    again, _ = run_command("--schedule", str(schedule.pk), "--period-start", "2025-12-29")

    assert first == f"schedule {schedule.pk} {SENT_LINE}"
    assert again == (
        f"schedule {schedule.pk} “Weekly margin”, 29 Dec 2025 – 4 Jan 2026: already sent; "
        "not sent again.\n"
    )
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ops@example.com", "cfo@example.com"]


def test_dry_run_prints_the_report_and_writes_and_sends_nothing(
    environment: Environment, mailoutbox: list[Any]
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)

    out, _ = run_command(
        "--schedule", str(schedule.pk), "--period-start", "2026-01-02", "--dry-run"
    )

    assert out.startswith(
        f"schedule {schedule.pk} “Weekly margin”, 29 Dec 2025 – 4 Jan 2026 (dry run, not sent)\n"
        "To: ops@example.com, cfo@example.com\n"
        "Subject: Weekly margin · 29 Dec 2025 – 4 Jan 2026 · margin $9.50 (65.5 %)\n"
        "Attachments: margin-breakdown-2025-12-29-to-2026-01-04.csv, chart PNG (inline)\n"
    )
    assert "Revenue        $14.50" in out
    assert (ReportRun.objects.count(), len(mailoutbox)) == (0, 0)


def test_an_unknown_schedule_is_an_error(environment: Environment) -> None:
    with pytest.raises(CommandError, match=r"No report schedule with ID 404\."):
        run_command("--schedule", "404")


def test_a_failed_delivery_exits_non_zero_and_the_next_run_retries_it(
    environment: Environment, settings: Any, at_tick_time: None
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)
    settings.REPORT_RETRY_BACKOFF_SECONDS = 0
    sink = SmtpSink()
    use_smtp(settings, sink.port)  # nothing listens yet

    with pytest.raises(CommandError, match=r"1 report\(s\) not delivered"):
        run_command()
    run = ReportRun.objects.get()
    assert (run.status, run.attempts) == (RunStatus.PENDING, 1)

    sink.start()
    try:
        out, _ = run_command()
        assert len(sink.wait_for(1)) == 1
    finally:
        sink.stop()
    assert out == f"schedule {schedule.pk} {SENT_LINE}"
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.SENT, 2)


def test_in_development_the_email_is_written_to_the_mail_folder(
    environment: Environment, settings: Any, tmp_path: Path
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"

    run_command("--schedule", str(schedule.pk), "--period-start", "2026-01-01")

    (written,) = (tmp_path / "mail").iterdir()
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed",
        "multipart/related",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "image/png",
        "text/csv",
    ]
    assert message["To"] == "ops@example.com, cfo@example.com"
