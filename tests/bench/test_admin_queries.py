"""The bench's event explorer rows: their pages, how a page is checked, their table rows (no
timing)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from analytics.models import Event
from bench.admin_phase import admin_rows, admin_users
from bench.admin_queries import (
    ADMIN_QUERY_SET,
    DASHBOARD_QUERY_SET,
    STAFF,
    SUPERUSER,
    AdminQuery,
    dashboard_check,
    expected_sql,
    listed_event_ids,
    page_check,
    selected_admin_queries,
    selected_dashboard_queries,
)
from bench.context import Context
from flexprice_site.models import Environment
from flexprice_site.services import environment_get_or_create

PAGE = (
    b'<tr><th class="field-timestamp"><a href="/admin/analytics/event/2/change/">Sept. 30</a>'
    b'</th><td class="field-event_name">api_request</td><td class="field-event_id">s42-2</td></tr>'
    b'<tr><th class="field-timestamp"><a href="/admin/analytics/event/1/change/">Sept. 29</a>'
    b'</th><td class="field-event_id">a&amp;b</td></tr>'
)


def test_the_four_rows_and_their_pages() -> None:
    assert [(query.key, query.user, query.path) for query in ADMIN_QUERY_SET] == [
        ("admin-events-default-superuser", SUPERUSER, "/admin/analytics/event/"),
        ("admin-events-default-staff", STAFF, "/admin/analytics/event/"),
        (
            "admin-events-customer-superuser",
            SUPERUSER,
            "/admin/analytics/event/?customer=customer-0000",
        ),
        ("admin-events-customer-staff", STAFF, "/admin/analytics/event/?customer=customer-0000"),
    ]
    assert {query.target_text for query in ADMIN_QUERY_SET} == {"p50 ≤ 200 ms"}
    assert [query.key for query in selected_admin_queries("admin-events-default-staff,x")] == [
        "admin-events-default-staff"
    ]
    assert selected_admin_queries("api-costs-tenant") == []


def test_a_page_is_right_only_with_the_expected_rows_in_order() -> None:
    assert listed_event_ids(PAGE.decode()) == ["s42-2", "a&b"]
    assert page_check(200, PAGE, ["s42-2", "a&b"]).ok is True
    assert page_check(200, PAGE, ["s42-2", "a&b"]).note == (
        f"200, 2 rows, newest s42-2, {len(PAGE)} bytes"
    )
    assert page_check(200, PAGE, ["a&b", "s42-2"]).note == (
        "2 rows listed, 2 expected; row 1 is s42-2, expected a&b"
    )
    assert page_check(200, PAGE, ["s42-2", "a&b", "s42-0"]).note == (
        "2 rows listed, 3 expected; row 3 is nothing, expected s42-0"
    )
    assert page_check(200, b"<html></html>", []).note == "200 with no rows"
    assert page_check(500, b"Server  Error", ["s42-2"]).note == "HTTP 500: Server Error"


def rows_for(*summaries: dict[str, object]) -> list[tuple[str, str, str, str, str]]:
    context = Context(arguments=argparse.Namespace(), spec=None, database=None, var=Path())
    context.results["admin"] = list(summaries)
    return [
        (row.what, row.ours, row.ours_p95, row.duckdb, row.result) for row in admin_rows(context)
    ]


def test_rows_pass_under_200_ms_and_fail_over_it_or_on_a_wrong_page() -> None:
    def summary(key: str, p50: float | None, failures: list[str], runs: int) -> dict[str, object]:
        return {
            "key": key,
            "runs": [p50] * runs,
            "p50": p50,
            "p95": None if p50 is None else p50 * 2,
            "failures": failures,
        }

    assert rows_for(
        summary("admin-events-default-staff", 0.0214, [], 20),
        summary("admin-events-default-superuser", 4.3, [], 2),
        summary("admin-events-customer-staff", 0.010, ["row 1 is x, expected y"], 20),
        summary("admin-events-customer-superuser", None, ["HTTP 500: boom"], 0),
    ) == [
        ("admin events explorer, default page, staff", "21.4 ms", "42.8 ms", "—", "PASS"),
        (
            "admin events explorer, default page, superuser (2 timed runs)",
            "4300 ms",
            "8600 ms",
            "—",
            "FAIL",
        ),
        (
            "admin events explorer, heaviest customer, staff (WRONG PAGE)",
            "10.0 ms",
            "20.0 ms",
            "—",
            "FAIL",
        ),
        (
            "admin events explorer, heaviest customer, superuser (WRONG PAGE)",
            "n/a",
            "",
            "—",
            "FAIL",
        ),
    ]


def add_events(environment: Environment, prefix: str, start: datetime, count: int) -> None:
    Event.objects.bulk_create(
        Event(
            tenant_id=environment.tenant_id,
            environment=environment,
            event_id=f"{prefix}-{number:03d}",
            event_name="api_request",
            external_customer_id=f"customer-{number % 3:04d}",
            # two events share each timestamp: the id decides between them
            timestamp=start + timedelta(minutes=number // 2),
        )
        for number in range(count)
    )


@pytest.mark.django_db
@pytest.mark.parametrize("query", ADMIN_QUERY_SET, ids=lambda query: query.key)
def test_the_explorer_lists_what_the_plain_sql_says(query: AdminQuery) -> None:
    # given the bench tenant's events and another tenant's, interleaved in time
    bench = environment_get_or_create(tenant_name="Bench", environment_name="dataset")
    other = environment_get_or_create(tenant_name="Other", environment_name="production")
    add_events(bench, "bench", datetime(2026, 9, 1, tzinfo=UTC), 200)
    add_events(other, "other", datetime(2026, 9, 1, 0, 0, 30, tzinfo=UTC), 200)
    client = Client()
    client.force_login(admin_users(bench.tenant)[query.user])

    # when the row's page is loaded, and its definition is asked in SQL
    response = client.get(query.path)
    statement, parameters = expected_sql(query, bench.tenant_id)
    with connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        expected = [row[0] for row in cursor.fetchall()]

    # then the explorer lists exactly those 50 events, the superuser's of both tenants
    assert len(expected) == 50
    assert {event_id.split("-")[0] for event_id in expected} == (
        {"bench", "other"} if query.user == SUPERUSER else {"bench"}
    )
    assert page_check(response.status_code, response.content, expected).ok is True


# --- the margin dashboard's row --------------------------------------------------------------


def dashboard_page(revenue: str, cost: str, days: int) -> bytes:
    labels = ", ".join(f'"2026-09-{day:02d}"' for day in range(1, days + 1))
    return (
        f'<div class="margin-kpi" id="kpi-revenue" data-value="{revenue}">'
        f'<div class="margin-kpi" id="kpi-cost" data-value="{cost}">'
        f'<script id="margin-chart-data" type="application/json">{{"labels": [{labels}]}}'
        "</script>"
    ).encode()


def test_the_dashboard_row_asks_for_a_month_per_day_of_the_environment() -> None:
    (query,) = DASHBOARD_QUERY_SET
    path = query.path("env_1", datetime(2026, 9, 1).date(), datetime(2026, 9, 30).date())

    assert (query.key, query.user, query.target_p50_ms) == ("admin-margin-dashboard", STAFF, 1000)
    assert path == (
        "/admin/analytics/margin/?environment=env_1&start=2026-09-01&end=2026-09-30&window=DAY"
    )
    assert selected_dashboard_queries("admin-margin-dashboard,api-costs-tenant") == [query]
    assert selected_dashboard_queries("api-costs-tenant") == []


def test_a_right_dashboard_has_revenue_cost_and_a_point_a_day() -> None:
    good = dashboard_check(200, dashboard_page("136603.56", "41882.63", 30), 30)

    assert good.ok
    assert good.note.startswith("200, revenue 136603.56, cost 41882.63, 30 days")
    assert dashboard_check(200, dashboard_page("0", "41882.63", 30), 30).note == "revenue is 0"
    assert dashboard_check(200, dashboard_page("1", "2", 29), 30).note == (
        "29 chart points for 30 days"
    )
    assert not dashboard_check(500, b"Server Error", 30).ok
