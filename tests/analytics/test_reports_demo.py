"""The demo's weekly margin report schedule (seed_demo): made once, planned, ready to send."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from analytics.reports.demo import demo_reports_seed
from analytics.reports.models import ReportSchedule
from flexprice_site.models import Environment


def test_the_demo_gets_one_weekly_schedule_however_often_it_is_seeded(
    environment: Environment,
) -> None:
    with time_machine.travel(datetime(2026, 1, 7, 12, tzinfo=UTC), tick=False):
        first = demo_reports_seed(environment=environment)
        second = demo_reports_seed(environment=environment)

    schedule = ReportSchedule.objects.get()
    assert (first.created, second.created, second.schedule.pk) == (True, False, schedule.pk)
    assert (schedule.name, schedule.cadence, schedule.recipient_list, schedule.is_active) == (
        "Weekly margin report",
        "weekly",
        ["pricing-ops@example.com"],
        True,
    )
    assert (schedule.tenant_id, schedule.customer_id) == (environment.tenant_id, None)
    assert schedule.next_run_at == datetime(2026, 1, 12, 8, tzinfo=UTC)
    assert first.line() == (
        "report schedule “Weekly margin report” (weekly, Mondays 08:00 UTC, to "
        "pricing-ops@example.com; Preview / Send now in the admin)"
    )
