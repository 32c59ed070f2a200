"""Report schedules and runs in the admin: tenant scoping, forms, preview, send now, budgets."""

from __future__ import annotations

from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
import time_machine
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.test import Client

from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from analytics.reports.services import report_schedules_tick
from flexprice_site.demo import pricing_ops_group
from flexprice_site.models import Environment, User
from tests.analytics.cost_world import build_world, customer
from tests.analytics.test_reports_smtp import TICK_AT, weekly_schedule

SCHEDULES = "/admin/analytics/reportschedule"
RUNS = "/admin/analytics/reportrun"


def staff(environment: Environment, username: str = "olga") -> Client:
    user = User.objects.create_user(
        username=username, password="pw-123456!", is_staff=True, tenant=environment.tenant
    )
    user.groups.add(pricing_ops_group())
    client = Client()
    client.force_login(user)
    return client


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def at_tick_time() -> Any:
    with time_machine.travel(TICK_AT, tick=True):
        yield


def test_staff_see_only_their_tenants_schedules_and_runs(
    environment: Environment, other_environment: Environment
) -> None:
    ours = weekly_schedule(environment, name="Ours")
    theirs = weekly_schedule(other_environment, name="Theirs")
    report_schedules_tick(now=TICK_AT, enqueue=False)
    client = staff(environment)

    schedules = client.get(f"{SCHEDULES}/")
    runs = client.get(f"{RUNS}/")

    assert [row.name for row in schedules.context["cl"].result_list] == ["Ours"]
    assert [row.schedule.name for row in runs.context["cl"].result_list] == ["Ours"]
    their_run = ReportRun.objects.get(schedule=theirs)
    assert client.get(f"{SCHEDULES}/{theirs.pk}/preview/").status_code == 404
    assert client.post(f"{SCHEDULES}/{theirs.pk}/send-now/").status_code == 404
    assert client.get(f"{RUNS}/{their_run.pk}/change/").status_code == 302  # to the index
    assert client.post(f"{RUNS}/{their_run.pk}/send-now/").status_code == 404
    assert ReportRun.objects.get(schedule=theirs).status == RunStatus.PENDING
    assert client.get(f"{SCHEDULES}/{ours.pk}/preview/").status_code == 200


def test_a_schedule_made_in_the_admin_is_planned_and_validated(
    environment: Environment, other_environment: Environment
) -> None:
    acme = customer(environment, "acme-1", name="Acme One")
    stranger = customer(other_environment, "globex-1")
    client = staff(environment)
    form = {
        "name": "Acme weekly",
        "environment": environment.pk,
        "recipients": "ops@example.com\ncfo@example.com",
        "is_active": "on",
        "cadence": "weekly",
        "time_zone": "Europe/Paris",
        "send_hour": "7",
        "customer": acme.pk,
        "include_children": "on",
        "currency": "USD",
    }

    wrong = client.post(
        f"{SCHEDULES}/add/",
        {
            **form,
            "recipients": "ops@example.com, not-an-address",
            "time_zone": "Mars/Olympus",
            "send_hour": "24",
            "customer": stranger.pk,
        },
    )
    with time_machine.travel(datetime(2026, 1, 7, 12, tzinfo=UTC), tick=False):
        saved = client.post(f"{SCHEDULES}/add/", form)

    errors = wrong.context["adminform"].form.errors
    assert {field: list(messages) for field, messages in errors.items()} == {
        "recipients": ["Not an email address: not-an-address."],
        "time_zone": [
            "“Mars/Olympus” is not a time zone. Use an IANA name such as UTC or Europe/Paris."
        ],
        "send_hour": ["Ensure this value is less than or equal to 23."],
        "customer": ["Select a valid choice. That choice is not one of the available choices."],
        "include_children": ["Children are folded into a customer: choose one."],
    }
    assert saved.status_code == 302
    schedule = ReportSchedule.objects.get()
    assert (schedule.tenant_id, schedule.currency, schedule.recipient_list) == (
        environment.tenant_id,
        "usd",
        ["ops@example.com", "cfo@example.com"],
    )
    # Next Monday 07:00 in Paris (06:00 UTC) sends the week of 5 Jan.
    assert schedule.next_run_at == datetime(2026, 1, 12, 6, tzinfo=UTC)


def test_children_need_a_customer(environment: Environment) -> None:
    client = staff(environment)

    response = client.post(
        f"{SCHEDULES}/add/",
        {
            "name": "Kids",
            "environment": environment.pk,
            "recipients": "ops@example.com",
            "cadence": "daily",
            "time_zone": "UTC",
            "send_hour": "8",
            "include_children": "on",
        },
    )

    errors = response.context["adminform"].form.errors
    assert {field: list(messages) for field, messages in errors.items()} == {
        "include_children": ["Children are folded into a customer: choose one."]
    }
    assert ReportSchedule.objects.count() == 0


def test_the_preview_renders_the_email_with_its_chart_and_sends_nothing(
    environment: Environment, mailoutbox: list[Any]
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)
    client = staff(environment)

    page = client.get(f"{SCHEDULES}/{schedule.pk}/preview/?period_start=2026-01-01")
    csv_file = client.get(f"{SCHEDULES}/{schedule.pk}/preview/csv/?period_start=2026-01-01")

    assert page.status_code == 200
    html = page.content.decode()
    assert page.context["period_label"] == "29 Dec 2025 – 4 Jan 2026"
    assert page.context["rendered"].subject == (
        "Weekly margin · 29 Dec 2025 – 4 Jan 2026 · margin $9.50 (65.5 %)"
    )
    frame = unescape(html.split('srcdoc="', 1)[1].split('"></iframe>', 1)[0])
    assert frame.count('src="data:image/png;base64,iVBORw0KGgo') == 1
    assert "cid:" not in frame
    assert "Revenue" in page.context["rendered"].text
    assert csv_file["Content-Disposition"] == (
        'attachment; filename="margin-breakdown-2025-12-29-to-2026-01-04.csv"'
    )
    assert csv_file.content.decode().splitlines()[1].startswith("acme-1,Acme One,")
    assert (ReportRun.objects.count(), len(mailoutbox)) == (0, 0)


def test_send_now_sends_the_last_closed_period_once_and_says_so(
    environment: Environment, mailoutbox: list[Any], at_tick_time: None
) -> None:
    build_world(environment)
    schedule = weekly_schedule(environment)
    client = staff(environment)

    first = client.post(f"{SCHEDULES}/{schedule.pk}/send-now/", follow=True)
    second = client.post(f"{SCHEDULES}/{schedule.pk}/send-now/", follow=True)

    run = ReportRun.objects.get()
    assert first.redirect_chain == [(f"{RUNS}/{quote(run.pk)}/change/", 302)]
    assert messages_of(first) == [
        "“Weekly margin” for 29 Dec 2025 – 4 Jan 2026 was sent to ops@example.com, cfo@example.com."
    ]
    assert messages_of(second)[0].startswith(
        "“Weekly margin” for 29 Dec 2025 – 4 Jan 2026 was already sent on 2026-01-05 "
    )
    assert (run.status, run.attempts, len(mailoutbox)) == (RunStatus.SENT, 1, 1)
    assert mailoutbox[0].subject == (
        "Weekly margin · 29 Dec 2025 – 4 Jan 2026 · margin $9.50 (65.5 %)"
    )
    assert client.get(f"{SCHEDULES}/{schedule.pk}/send-now/").status_code == 405


def test_the_send_now_action_retries_a_failed_run_with_new_attempts(
    environment: Environment, mailoutbox: list[Any], at_tick_time: None
) -> None:
    build_world(environment)
    weekly_schedule(environment)
    (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids
    ReportRun.objects.filter(pk=run_id).update(
        status=RunStatus.FAILED, attempts=6, attempt_limit=6, last_error="Delivery failed: x"
    )
    client = staff(environment)

    response = client.post(
        f"{RUNS}/", {"action": "send_now", "_selected_action": [run_id]}, follow=True
    )

    run = ReportRun.objects.get(pk=run_id)
    assert (run.status, run.attempts, run.attempt_limit) == (RunStatus.SENT, 7, 12)
    assert run.last_error == "Delivery failed: x"  # the history stays
    assert messages_of(response) == [
        "“Weekly margin” for 29 Dec 2025 – 4 Jan 2026 was sent to ops@example.com, cfo@example.com."
    ]
    assert len(mailoutbox) == 1


def test_the_run_page_shows_the_error_and_offers_preview_and_send(
    environment: Environment, at_tick_time: None
) -> None:
    weekly_schedule(environment)
    (run_id,) = report_schedules_tick(now=TICK_AT, enqueue=False).created_run_ids
    ReportRun.objects.filter(pk=run_id).update(
        status=RunStatus.PENDING,
        attempts=2,
        last_error="Delivery failed: ConnectionRefusedError: [Errno 111] Connection refused",
    )
    client = staff(environment)

    page = client.get(f"{RUNS}/{run_id}/change/").content.decode()
    listing = client.get(f"{RUNS}/?status=retrying").context["cl"].result_list

    assert "Delivery failed: ConnectionRefusedError: [Errno 111] Connection refused" in page
    assert f'href="{SCHEDULES}/' in page and "?period_start=2025-12-29" in page
    assert 'id="send-run-now"' in page
    assert [run.pk for run in listing] == [run_id]


@pytest.mark.parametrize(("url", "budget"), [(f"{SCHEDULES}/", 10), (f"{RUNS}/", 10)])
def test_changelists_stay_within_a_query_budget(
    environment: Environment, django_assert_max_num_queries: Any, url: str, budget: int
) -> None:
    for number in range(12):
        weekly_schedule(environment, name=f"Schedule {number}")
    report_schedules_tick(now=TICK_AT, enqueue=False)
    client = staff(environment)
    client.get(url)  # warm the session and permission caches

    with django_assert_max_num_queries(budget):
        response = client.get(url)

    assert len(response.context["cl"].result_list) == 12
