"""manage.py send_margin_reports: the margin-report tick and sends, in this process, no Celery."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from analytics.reports.models import ReportRun, ReportSchedule
from analytics.reports.periods import Period, period_label
from analytics.reports.rendering import report_render
from analytics.reports.selectors import report_data_for
from analytics.reports.services import (
    DeliveryDeferred,
    SendOutcome,
    report_period_of,
    report_run_send,
    report_runs_due,
    report_schedules_tick,
    report_send_now,
)
from flexprice_site.errors import ApiError


class Command(BaseCommand):
    help = (
        "Send margin reports now, without Celery. Without options: what the periodic tick does "
        "(create the runs of due schedules) and send every run that is due, retries included. "
        "With --schedule and/or --period-start: send those schedules' report of that period "
        "(default: the last closed one); a period already sent is not sent again. --dry-run "
        "computes and prints the reports, writing and sending nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schedule",
            action="append",
            type=int,
            default=[],
            metavar="ID",
            help="A report schedule's ID (repeatable). Default: the schedules that are due.",
        )
        parser.add_argument(
            "--period-start",
            type=date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="Send the period (day, week or month) containing this day, in each schedule's "
            "time zone. Default: the last closed period.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the reports (subject, recipients, text part); send and record nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        schedule_ids: list[int] = options["schedule"]
        period_day: date | None = options["period_start"]
        schedules = self._schedules(schedule_ids, chosen=bool(schedule_ids or period_day))
        if options["dry_run"]:
            for schedule in schedules:
                self._print(
                    schedule, report_period_of(schedule, day=period_day, now=timezone.now())
                )
            if not schedules:
                self.stdout.write("No report is due.")
            return
        problems = (
            self._send_chosen(schedules, period_day)
            if schedule_ids or period_day
            else self._send_due()
        )
        if problems:
            raise CommandError(f"{problems} report(s) not delivered; see above.")

    def _schedules(self, schedule_ids: list[int], *, chosen: bool) -> list[ReportSchedule]:
        rows = ReportSchedule.objects.select_related("environment", "customer").order_by("id")
        if schedule_ids:
            found = {schedule.pk: schedule for schedule in rows.filter(pk__in=schedule_ids)}
            unknown = sorted(set(schedule_ids) - set(found))
            if unknown:
                raise CommandError(
                    f"No report schedule with ID {', '.join(str(pk) for pk in unknown)}."
                )
            return [found[pk] for pk in dict.fromkeys(schedule_ids)]
        active = rows.filter(is_active=True)
        if chosen:
            return list(active)
        return list(active.filter(next_run_at__lte=timezone.now()))

    def _label(self, schedule: ReportSchedule, period: Period) -> str:
        label = period_label(schedule.cadence, period, schedule.zone)
        return f"schedule {schedule.pk} “{schedule.name}”, {label}"

    def _print(self, schedule: ReportSchedule, period: Period) -> None:
        try:
            rendered = report_render(report_data_for(schedule=schedule, period=period))
        except ApiError as error:
            self.stderr.write(f"{self._label(schedule, period)}: can't be computed: {error}")
            return
        self.stdout.write(
            f"{self._label(schedule, period)} (dry run, not sent)\n"
            f"To: {', '.join(schedule.recipient_list)}\n"
            f"Subject: {rendered.subject}\n"
            f"Attachments: {rendered.csv_filename}"
            + (", chart PNG (inline)" if rendered.chart_png else "")
            + f"\n\n{rendered.text}"
        )

    def _send_chosen(self, schedules: list[ReportSchedule], day: date | None) -> int:
        problems = 0
        for schedule in schedules:
            period = report_period_of(schedule, day=day, now=timezone.now())
            result = report_send_now(schedule=schedule, period=period, enqueue_retry=False)
            label = self._label(schedule, period)
            if result.outcome is None:
                problems += 1
                self.stderr.write(
                    f"{label}: delivery failed ({result.error}); run the command again to retry."
                )
            elif result.outcome == SendOutcome.FAILED:
                problems += 1
                self.stderr.write(f"{label}: failed: {result.run.last_error}")
            elif result.outcome == SendOutcome.SENT:
                self.stdout.write(f"{label}: sent to {result.run.recipients}.")
            else:
                self.stdout.write(f"{label}: {result.outcome.value}; not sent again.")
        return problems

    def _send_due(self) -> int:
        tick = report_schedules_tick(enqueue=False)
        problems = len(tick.failed_run_ids)
        for run_id in tick.failed_run_ids:
            error = ReportRun.objects.get(pk=run_id).last_error
            self.stderr.write(f"run {run_id}: failed: {error}")
        run_ids = report_runs_due()
        if not run_ids:
            self.stdout.write("No report is due.")
        for run_id in run_ids:
            run = ReportRun.objects.select_related("schedule").get(pk=run_id)
            label = self._label(run.schedule, run.period)
            try:
                outcome = report_run_send(run_id=run_id)
            except DeliveryDeferred as deferred:
                problems += 1
                self.stderr.write(
                    f"{label}: delivery failed ({deferred.error}); retried by the next run of "
                    f"this command in {deferred.retry_in_seconds} s or later."
                )
                continue
            run.refresh_from_db()
            if outcome == SendOutcome.SENT:
                self.stdout.write(f"{label}: sent to {run.recipients}.")
            elif outcome == SendOutcome.FAILED:
                problems += 1
                self.stderr.write(f"{label}: failed: {run.last_error}")
            else:
                self.stdout.write(f"{label}: {outcome.value}.")
        return problems
