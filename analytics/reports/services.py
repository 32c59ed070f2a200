"""Margin report services: plan and claim due schedules, create runs, send them exactly once.

Guarantees (docs/reports.md):

- One run per schedule and period: a unique constraint, whoever (the tick, the command, "send
  now") creates it first; due schedules are claimed with `SELECT … FOR UPDATE SKIP LOCKED`, so
  two ticks never handle the same schedule at once.
- A run is sent at most once. Sending claims it (pending → sending, attempt + 1) under a row
  lock; a run marked sent is never sent again, whatever task or person asks.
- Failures are never silent. A failed delivery goes back to pending with the error and is
  retried with exponential backoff up to the run's attempt limit, then the run is failed,
  with the error in the admin and in the log. Runs whose task was lost (broker down, a worker
  killed) are found again by the tick.

SMTP itself is at-least-once: the server may have taken the message when the connection
broke. The run record is the source of truth, so a run whose worker died *during* delivery is
not resent automatically (that could send it twice); it is failed with an "outcome unknown"
error for a person to check, and every attempt carries the run's one Message-ID, so mail
clients collapse copies should a retried delivery duplicate one.
"""

from __future__ import annotations

import enum
import logging
import smtplib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail import utils as mail_utils
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from analytics.reports.periods import (
    Period,
    last_closed_period,
    local_midnight,
    next_send_time,
    period_containing,
)
from analytics.reports.rendering import RenderedReport, report_email, report_render
from analytics.reports.selectors import report_data_for
from flexprice_site.errors import ApiError

logger = logging.getLogger(__name__)

# Schedules handled per tick; the rest wait for the next tick (a few minutes).
TICK_BATCH = 100


class SendOutcome(enum.StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already sent"
    IN_PROGRESS = "being sent by another worker"
    FAILED = "failed"
    NOT_FOUND = "no such run"


class DeliveryDeferred(Exception):
    """The delivery failed and the run waits for another attempt in `retry_in_seconds`."""

    def __init__(self, run_id: int, error: str, retry_in_seconds: int) -> None:
        super().__init__(f"report run {run_id}: {error} (retry in {retry_in_seconds} s)")
        self.run_id = run_id
        self.error = error
        self.retry_in_seconds = retry_in_seconds


@dataclass
class TickResult:
    claimed_schedule_ids: list[int] = field(default_factory=list)
    created_run_ids: list[int] = field(default_factory=list)
    enqueued_run_ids: list[int] = field(default_factory=list)
    recovered_run_ids: list[int] = field(default_factory=list)
    failed_run_ids: list[int] = field(default_factory=list)


# --- schedules ------------------------------------------------------------------------------


def report_schedule_plan(*, schedule: ReportSchedule, now: datetime | None = None) -> None:
    """Set when the schedule is next due (not saved): the send time of the period after the
    last closed one. Called on every save, so a changed cadence, zone or hour applies at once."""
    schedule.next_run_at = next_send_time(
        schedule.cadence,
        zone=schedule.zone,
        send_hour=schedule.send_hour,
        now=now or timezone.now(),
    )


def report_schedule_create(*, now: datetime | None = None, **fields: Any) -> ReportSchedule:
    """A validated, planned schedule (the tenant follows from the environment)."""
    schedule = ReportSchedule(**fields)
    schedule.tenant_id = schedule.environment.tenant_id
    schedule.full_clean(exclude=["tenant"])
    report_schedule_plan(schedule=schedule, now=now)
    schedule.save()
    return schedule


def last_closed_period_of(schedule: ReportSchedule, *, now: datetime) -> Period:
    return last_closed_period(
        schedule.cadence, zone=schedule.zone, send_hour=schedule.send_hour, now=now
    )


def report_period_of(schedule: ReportSchedule, *, day: date | None, now: datetime) -> Period:
    """The schedule's period that contains the local `day`; without one, the last closed."""
    if day is None:
        return last_closed_period_of(schedule, now=now)
    zone = schedule.zone
    return period_containing(schedule.cadence, local_midnight(day, zone), zone)


# --- runs -----------------------------------------------------------------------------------


def retry_delay_seconds(attempt: int) -> int:
    """Exponential backoff after the `attempt`-th failure: base, twice that, 4 times … capped."""
    base = settings.REPORT_RETRY_BACKOFF_SECONDS
    return int(min(base * 2 ** (attempt - 1), settings.REPORT_RETRY_BACKOFF_MAX_SECONDS))


def report_run_get_or_create(
    *, schedule: ReportSchedule, period: Period, now: datetime | None = None
) -> tuple[ReportRun, bool]:
    """The schedule's run for `period`, created pending when there is none. Concurrent callers
    meet at the unique (schedule, period_start) constraint: one creates, the others get it."""
    now = now or timezone.now()
    return ReportRun.objects.get_or_create(
        schedule=schedule,
        period_start=period.start,
        defaults={
            "period_end": period.end,
            "attempt_limit": settings.REPORT_SEND_MAX_ATTEMPTS,
            "next_attempt_at": now,
            "recipients": ", ".join(schedule.recipient_list),
            # Fixed before the first attempt: every attempt sends the same Message-ID.
            "message_id": _message_id(schedule, period),
        },
    )


def _message_id(schedule: ReportSchedule, period: Period) -> str:
    return make_msgid(
        idstring=f"margin-report.{schedule.pk}.{period.start:%Y%m%dT%H%M}",
        domain=str(mail_utils.DNS_NAME),
    )


def report_run_enqueue(*, run_id: int, countdown: int | None = None) -> None:
    """Queue the send task once the current transaction commits (so the worker sees the run).
    A broker that refuses is logged, not raised: the tick finds the pending run again."""
    from analytics.reports.tasks import report_run_send as send_task

    def enqueue() -> None:
        try:
            send_task.apply_async(args=[run_id], countdown=countdown)
        except Exception:
            logger.exception("could not queue report run %s; the tick will retry it", run_id)

    transaction.on_commit(enqueue)


def report_schedules_tick(*, now: datetime | None = None, enqueue: bool = True) -> TickResult:
    """The periodic job: claim due schedules (skipping those another tick holds), create the
    run of each one's last closed period, plan the next one, and queue the sends (or leave
    them to the caller with `enqueue=False`). Then recover runs whose task went missing."""
    now = now or timezone.now()
    result = TickResult()
    with transaction.atomic():
        due = list(
            ReportSchedule.objects.select_for_update(skip_locked=True)
            .filter(is_active=True)
            .filter(Q(next_run_at__lte=now) | Q(next_run_at__isnull=True))
            .order_by("next_run_at", "id")[:TICK_BATCH]
        )
        for schedule in due:
            result.claimed_schedule_ids.append(schedule.pk)
            # A schedule never planned (made outside the admin) is planned, not sent at once.
            if schedule.next_run_at is not None:
                period = last_closed_period_of(schedule, now=now)
                run, created = report_run_get_or_create(schedule=schedule, period=period, now=now)
                if created:
                    result.created_run_ids.append(run.pk)
                    logger.info(
                        "report run %s created: schedule %s, period %s – %s",
                        run.pk,
                        schedule.pk,
                        period.start.isoformat(),
                        period.end.isoformat(),
                    )
                if created or run.status == RunStatus.PENDING:
                    result.enqueued_run_ids.append(run.pk)
            report_schedule_plan(schedule=schedule, now=now)
            schedule.save(update_fields=["next_run_at", "updated_at"])
        if enqueue:
            for run_id in result.enqueued_run_ids:
                report_run_enqueue(run_id=run_id)
    recovered, failed = report_runs_recover(now=now, enqueue=enqueue)
    result.recovered_run_ids, result.failed_run_ids = recovered, failed
    return result


def report_runs_recover(*, now: datetime, enqueue: bool = True) -> tuple[list[int], list[int]]:
    """Runs nobody is working on any more: pending ones whose send is long overdue (their task
    was lost) are queued again; ones a worker claimed and never finished are made pending
    again when the worker stopped before delivery, and failed when it stopped during delivery
    (the mail server may have the message: resending could deliver it twice)."""
    stale = now - timedelta(seconds=settings.REPORT_STALE_SECONDS)
    recovered: list[int] = []
    failed: list[int] = []
    with transaction.atomic():
        runs = list(
            ReportRun.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=RunStatus.PENDING, next_attempt_at__lte=stale)
                | Q(status=RunStatus.SENDING, claimed_at__lte=stale)
            )
            .order_by("id")[:TICK_BATCH]
        )
        for run in runs:
            if run.status == RunStatus.SENDING and run.delivery_started_at is not None:
                started = run.delivery_started_at.isoformat()
                _fail(
                    run,
                    now,
                    f"Delivery outcome unknown: the worker stopped while handing the email to "
                    f"the mail server (attempt {run.attempts}, {started}). It is not resent "
                    f"automatically, so it can't arrive twice: check with the recipients and "
                    f"use “Send now” if it did not arrive.",
                )
                failed.append(run.pk)
                continue
            if run.status == RunStatus.SENDING:
                run.last_error = (
                    f"The worker stopped before delivering (attempt {run.attempts}); retried."
                )
                run.last_error_at = now
                if run.attempts >= run.attempt_limit:
                    _fail(run, now, run.last_error.replace("; retried.", "; no attempts left."))
                    failed.append(run.pk)
                    continue
            run.status = RunStatus.PENDING
            run.next_attempt_at = now
            run.save(
                update_fields=[
                    "status",
                    "next_attempt_at",
                    "last_error",
                    "last_error_at",
                    "updated_at",
                ]
            )
            logger.warning("report run %s recovered: queued again", run.pk)
            recovered.append(run.pk)
            if enqueue:
                report_run_enqueue(run_id=run.pk)
    return recovered, failed


def _fail(run: ReportRun, now: datetime, error: str) -> None:
    run.status = RunStatus.FAILED
    run.last_error = error
    run.last_error_at = now
    run.next_attempt_at = None
    run.save(
        update_fields=["status", "last_error", "last_error_at", "next_attempt_at", "updated_at"]
    )
    logger.error("report run %s failed: %s", run.pk, error)


def _claim(run_id: int, now: datetime) -> ReportRun | SendOutcome:
    """pending → sending with one more attempt, under the row lock; or why not."""
    stale = now - timedelta(seconds=settings.REPORT_STALE_SECONDS)
    with transaction.atomic():
        run = (
            ReportRun.objects.select_for_update(of=("self",))
            .select_related("schedule__environment", "schedule__customer")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return SendOutcome.NOT_FOUND
        if run.status == RunStatus.SENT:
            return SendOutcome.ALREADY_SENT
        if run.status == RunStatus.FAILED:
            return SendOutcome.FAILED
        if run.status == RunStatus.SENDING and (
            run.delivery_started_at is not None or run.claimed_at is None or run.claimed_at > stale
        ):
            return SendOutcome.IN_PROGRESS
        run.status = RunStatus.SENDING
        run.attempts += 1
        run.claimed_at = now
        run.delivery_started_at = None
        run.save(
            update_fields=[
                "status",
                "attempts",
                "claimed_at",
                "delivery_started_at",
                "updated_at",
            ]
        )
        return run


def report_run_send(*, run_id: int) -> SendOutcome:
    """Compute, render and send one run, and record the outcome.

    Returns SENT, or why nothing was sent (already sent, being sent, failed). Raises
    DeliveryDeferred when delivery failed and the run waits for a retry in the given time.
    """
    now = timezone.now()
    claimed = _claim(run_id, now)
    if isinstance(claimed, SendOutcome):
        if claimed != SendOutcome.SENT:
            logger.info("report run %s not sent: %s", run_id, claimed.value)
        return claimed
    run = claimed
    attempt = run.attempts
    schedule = run.schedule
    try:
        data = report_data_for(schedule=schedule, period=run.period)
        rendered = report_render(data)
    except ApiError as error:
        # The scope itself is wrong (a deleted customer, mixed currencies): retrying can't help.
        return _attempt_failed(run, attempt, f"The report can't be computed: {error}", final=True)
    except Exception as error:
        logger.exception("report run %s: computing the report failed", run.pk)
        return _attempt_failed(run, attempt, f"Computing the report failed: {error!r}")

    recipients = schedule.recipient_list
    marked = ReportRun.objects.filter(pk=run.pk, status=RunStatus.SENDING, attempts=attempt).update(
        delivery_started_at=timezone.now(),
        subject=rendered.subject,
        recipients=", ".join(recipients),
        currency=data.currency,
        had_usage=not data.is_empty,
        total_revenue=data.total_revenue,
        total_cost=data.total_cost,
        margin=data.margin,
        margin_percent=data.margin_percent,
        roi=data.roi,
        roi_percent=data.roi_percent,
        updated_at=timezone.now(),
    )
    if not marked:
        # The tick took the run back (this worker was too slow); whoever has it now sends it.
        logger.warning("report run %s: claim lost before delivery; not sent", run.pk)
        return SendOutcome.IN_PROGRESS

    try:
        _deliver(rendered, recipients=recipients, message_id=run.message_id)
    except (smtplib.SMTPException, OSError) as error:
        return _attempt_failed(
            run, attempt, f"Delivery failed: {_describe(error)}", final=_permanent(error)
        )
    except Exception as error:
        logger.exception("report run %s: delivery failed", run.pk)
        return _attempt_failed(run, attempt, f"Delivery failed: {error!r}")

    # Delivered: recorded whatever the run's state says now (even if the tick, thinking this
    # worker dead, failed it meanwhile): the record must say what really happened.
    ReportRun.objects.filter(pk=run.pk, attempts=attempt).update(
        status=RunStatus.SENT,
        sent_at=timezone.now(),
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    logger.info(
        "report run %s sent to %s (attempt %s, %s)",
        run.pk,
        ", ".join(recipients),
        attempt,
        run.message_id,
    )
    return SendOutcome.SENT


def _deliver(rendered: RenderedReport, *, recipients: list[str], message_id: str) -> None:
    connection = get_connection(fail_silently=False)
    email = report_email(
        rendered,
        to=recipients,
        from_email=settings.DEFAULT_FROM_EMAIL,
        message_id=message_id,
        connection=connection,
    )
    email.send(fail_silently=False)


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        message = error.smtp_error
        text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
        return f"the mail server answered {error.smtp_code} {text}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(
            f"{address} ({code})" for address, (code, _) in sorted(error.recipients.items())
        )
        return f"the mail server refused every recipient: {refused}"
    return f"{type(error).__name__}: {error}"


def _permanent(error: BaseException) -> bool:
    """A 5xx answer (bad sender, every recipient refused, message rejected) won't change by
    retrying; 4xx answers and network errors might."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def _attempt_failed(
    run: ReportRun, attempt: int, error: str, *, final: bool = False
) -> SendOutcome:
    """Record a failed attempt: failed for good when `final` or out of attempts (returns
    FAILED), else pending again (raises DeliveryDeferred with the backoff)."""
    now = timezone.now()
    give_up = final or attempt >= run.attempt_limit
    retry_in = retry_delay_seconds(attempt)
    ReportRun.objects.filter(pk=run.pk, attempts=attempt).update(
        status=RunStatus.FAILED if give_up else RunStatus.PENDING,
        last_error=error,
        last_error_at=now,
        delivery_started_at=None,
        next_attempt_at=None if give_up else now + timedelta(seconds=retry_in),
        updated_at=now,
    )
    if give_up:
        logger.error("report run %s failed after %s attempt(s): %s", run.pk, attempt, error)
        return SendOutcome.FAILED
    logger.warning(
        "report run %s attempt %s of %s failed, retrying in %s s: %s",
        run.pk,
        attempt,
        run.attempt_limit,
        retry_in,
        error,
    )
    raise DeliveryDeferred(run.pk, error, retry_in)


# --- by hand: send now, the command ---------------------------------------------------------


@dataclass(frozen=True)
class SendNowResult:
    run: ReportRun
    created: bool
    outcome: SendOutcome | None
    retry_in_seconds: int | None = None
    error: str = ""


def report_send_now(
    *, schedule: ReportSchedule, period: Period | None = None, enqueue_retry: bool = True
) -> SendNowResult:
    """Send the schedule's report for `period` (default: the last closed one) now, in this
    process. The period's run is created if needed; a failed run gets a fresh set of attempts;
    a run already sent is not sent again. A delivery that fails is retried by Celery (with
    `enqueue_retry`), and the result says so."""
    now = timezone.now()
    period = period or last_closed_period_of(schedule, now=now)
    with transaction.atomic():
        run, created = report_run_get_or_create(schedule=schedule, period=period, now=now)
        run = ReportRun.objects.select_for_update().get(pk=run.pk)
        if run.status == RunStatus.FAILED:
            run.status = RunStatus.PENDING
            run.attempt_limit = run.attempts + settings.REPORT_SEND_MAX_ATTEMPTS
            run.next_attempt_at = now
            run.save(update_fields=["status", "attempt_limit", "next_attempt_at", "updated_at"])
    try:
        outcome = report_run_send(run_id=run.pk)
    except DeliveryDeferred as deferred:
        if enqueue_retry:
            report_run_enqueue(run_id=run.pk, countdown=deferred.retry_in_seconds)
        run.refresh_from_db()
        return SendNowResult(run, created, None, deferred.retry_in_seconds, deferred.error)
    run.refresh_from_db()
    return SendNowResult(run, created, outcome, error=run.last_error)


def report_runs_due(*, now: datetime | None = None) -> list[int]:
    """Pending runs whose (next) attempt is due: what the command sends when Celery doesn't."""
    now = now or timezone.now()
    return list(
        ReportRun.objects.filter(status=RunStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)
    )
