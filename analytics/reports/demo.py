"""Demo margin report: a weekly schedule for the demo tenant, made once."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.reports.models import Cadence, ReportSchedule
from analytics.reports.services import report_schedule_create
from flexprice_site.models import Environment

DEMO_SCHEDULE_NAME = "Weekly margin report"
DEMO_RECIPIENTS = "pricing-ops@example.com"


@dataclass(frozen=True)
class DemoReports:
    schedule: ReportSchedule
    created: bool

    def line(self) -> str:
        return (
            f"report schedule “{self.schedule.name}” (weekly, Mondays "
            f"{self.schedule.send_hour:02d}:00 {self.schedule.time_zone}, to "
            f"{self.schedule.recipients}; Preview / Send now in the admin)"
        )


def demo_reports_seed(*, environment: Environment) -> DemoReports:
    """A weekly whole-environment report to pricing ops, unless the demo already has it."""
    existing = ReportSchedule.objects.filter(
        environment=environment, name=DEMO_SCHEDULE_NAME
    ).first()
    if existing is not None:
        return DemoReports(existing, created=False)
    schedule = report_schedule_create(
        environment=environment,
        name=DEMO_SCHEDULE_NAME,
        recipients=DEMO_RECIPIENTS,
        cadence=Cadence.WEEKLY,
        time_zone="UTC",
        send_hour=8,
    )
    return DemoReports(schedule, created=True)
