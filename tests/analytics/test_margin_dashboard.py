"""The margin dashboard in the admin: tenant-scoped, numbers from cost_analytics, CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from analytics.costs import cost_analytics
from flexprice_site.demo import pricing_ops_group
from flexprice_site.models import Environment, User
from tests.analytics.cost_world import (
    JAN_END,
    JAN_START,
    World,
    build_world,
    cost_price,
    customer,
    event,
    ingest,
)

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
DASHBOARD = "/admin/analytics/margin/"
CSV = "/admin/analytics/margin/csv/"
JANUARY = {"start": "2026-01-01", "end": "2026-01-31"}
D = Decimal


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(environment: Environment) -> World:
    return build_world(environment)


def staff(environment: Environment, username: str = "olga", *, ops: bool = True) -> Client:
    user = User.objects.create_user(
        username=username, password="pw", is_staff=True, tenant=environment.tenant
    )
    if ops:
        user.groups.add(pricing_ops_group())
    client = Client()
    client.force_login(user)
    return client


def kpi_values(html: str) -> dict[str, str]:
    values = {}
    for key in ("revenue", "cost", "margin", "margin_percent", "roi"):
        marker = f'id="kpi-{key}" data-value="'
        start = html.index(marker) + len(marker)
        values[key] = html[start : html.index('"', start)]
    return values


def chart_of(html: str) -> dict[str, Any]:
    marker = '<script id="margin-chart-data" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def test_the_dashboard_shows_one_customers_numbers(world: World) -> None:
    client = staff(world.environment)

    response = client.get(DASHBOARD, {**JANUARY, "customer": "acme-1"})

    assert response.status_code == 200
    html = response.content.decode()
    # revenue 14.5, cost 5 (tests/analytics/test_cost_analytics.py works them out)
    assert kpi_values(html) == {
        "revenue": "14.5",
        "cost": "5",
        "margin": "9.5",
        "margin_percent": "65.51724137931034",
        "roi": "1.9",
    }
    for shown in ("$14.50", "$5.00", "$9.50", "65.52%", "190.00%"):
        assert f'<div class="kpi-value">{shown}</div>' in html
    assert chart_of(html) == {
        "labels": ["2026-01-01", "2026-01-02"],
        "revenue": ["7", "6.8"],
        "cost": ["2.3", "3.1"],
        "margin": ["4.7", "3.7"],
        "currency": "usd",
    }
    assert "vendor/chart.js/chart.umd.min.js" in html
    assert "cdn" not in html.lower()


def test_every_customer_with_the_top_tables(world: World) -> None:
    beta = customer(world.environment, "beta", name="Beta Corp")
    ingest(world.environment, *(event("2026-01-04T00:00:00Z", customer="beta") for _ in range(20)))
    assert beta.pk
    client = staff(world.environment)

    response = client.get(DASHBOARD, JANUARY)

    html = response.content.decode()
    result = cost_analytics(environment=world.environment, start=JAN_START, end=JAN_END)
    # beta's 20 calls cost 10 and earn nothing (no subscription): margin -10
    assert (result.total_cost, result.total_revenue) == (D(15), D("14.5"))
    assert kpi_values(html)["cost"] == "15"
    assert kpi_values(html)["margin"] == "-0.5"
    by_margin = html[
        html.index('id="top-customers-margin"') : html.index('id="top-customers-cost"')
    ]
    assert by_margin.index("Acme One") < by_margin.index("Beta Corp")
    by_cost = html[html.index('id="top-customers-cost"') : html.index('id="top-meters-cost"')]
    assert by_cost.index("Beta Corp") < by_cost.index("Acme One")
    assert '<td class="number negative">-$10.00</td>' in by_cost
    meters = html[html.index('id="top-meters-cost"') :]
    assert meters.index("API calls") < meters.index("Tokens")  # 12.5 before 2.5
    assert "?customer=beta" in by_cost or "customer=beta" in by_cost


def test_the_csv_is_the_full_breakdown(world: World) -> None:
    client = staff(world.environment)

    response = client.get(CSV, {**JANUARY, "customer": "acme-1"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="margin-2026-01-01-2026-01-31.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        [
            "external_customer_id",
            "customer_name",
            "meter_id",
            "meter_name",
            "quantity",
            "events",
            "revenue",
            "cost",
            "margin",
            "margin_percent",
            "currency",
        ],
        [
            "acme-1",
            "Acme One",
            world.calls.meter_id,
            "API calls",
            "5",
            "5",
            "5",
            "2.5",
            "2.5",
            "50",
            "usd",
        ],
        [
            "acme-1",
            "Acme One",
            world.tokens.meter_id,
            "Tokens",
            "200",
            "3",
            "9.5",
            "2.5",
            "7",
            "73.68421052631579",
            "usd",
        ],
    ]


def test_staff_only_see_their_tenants_environments(
    world: World, other_environment: Environment
) -> None:
    outsider = staff(other_environment, "gus")

    mine = outsider.get(DASHBOARD, JANUARY)
    theirs = outsider.get(DASHBOARD, {**JANUARY, "environment": world.environment.pk})
    theirs_csv = outsider.get(CSV, {**JANUARY, "environment": world.environment.pk})

    assert kpi_values(mine.content.decode())["cost"] == "0"
    assert "acme-1" not in mine.content.decode()
    assert theirs.status_code == 200
    assert "Select a valid choice" in theirs.content.decode()
    assert 'id="kpi-cost"' not in theirs.content.decode()
    assert theirs_csv.status_code == 400


def test_superusers_pick_any_environment(world: World, other_environment: Environment) -> None:
    root = User.objects.create_superuser(username="root", password="pw")
    client = Client()
    client.force_login(root)

    response = client.get(DASHBOARD, {**JANUARY, "environment": world.environment.pk})

    html = response.content.decode()
    assert f'<option value="{other_environment.pk}">' in html
    assert kpi_values(html)["revenue"] == "14.5"


def test_staff_without_analytics_rights_are_refused(world: World) -> None:
    response = staff(world.environment, ops=False).get(DASHBOARD)

    assert response.status_code == 403


def test_anonymous_users_are_sent_to_log_in(world: World) -> None:
    response = Client().get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_bad_filters_are_shown_not_a_500(world: World) -> None:
    client = staff(world.environment)

    reversed_range = client.get(DASHBOARD, {"start": "2026-02-01", "end": "2026-01-01"})
    not_a_date = client.get(DASHBOARD, {"start": "soon"})
    cost_price(world.costsheet, world.calls, amount="1", currency="eur")
    mixed = client.get(DASHBOARD, JANUARY)
    chosen = client.get(DASHBOARD, {**JANUARY, "currency": "usd"})

    assert "The end date is before the start date." in reversed_range.content.decode()
    assert "Enter a valid date." in not_a_date.content.decode()
    assert 'id="margin-error"' in mixed.content.decode()
    assert "Choose" not in chosen.content.decode()
    assert kpi_values(chosen.content.decode())["cost"] == "5"


def test_the_default_range_is_the_last_30_days(world: World) -> None:
    ingest(world.environment, event("2026-03-15T00:00:00Z"))

    html = staff(world.environment).get(DASHBOARD).content.decode()

    assert 'value="2026-03-03"' in html and 'value="2026-04-01"' in html
    assert kpi_values(html)["cost"] == "0.5"


def test_the_admin_home_links_the_dashboard_first(world: World) -> None:
    html = staff(world.environment).get(reverse("admin:index")).content.decode()

    assert html.index('id="margin-dashboard-link"') < html.index("app-analytics")
    assert f'href="{DASHBOARD}"' in html


# Session, user, permissions, tenant, environments, the customer picker, then cost_analytics'
# catalogue reads and one engine statement per meter and side: 25 today, whatever the number of
# customers or items.
DASHBOARD_QUERY_BUDGET = 28


def test_query_budget(world: World, django_assert_max_num_queries: Any) -> None:
    client = staff(world.environment)
    for number in range(5):
        customer(world.environment, f"extra-{number}")
    client.get(DASHBOARD, JANUARY)

    with django_assert_max_num_queries(DASHBOARD_QUERY_BUDGET):
        response = client.get(DASHBOARD, JANUARY)

    assert response.status_code == 200


def test_many_customers_are_typed_rather_than_picked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("analytics.admin.dashboard.PICKER_SIZE", 0)
    client = staff(world.environment)

    typed = client.get(DASHBOARD, {**JANUARY, "customer": "acme-1"}).content.decode()
    unknown = client.get(DASHBOARD, {**JANUARY, "customer": "nobody"}).content.decode()

    assert '<input type="text" name="customer" value="acme-1"' in typed
    assert kpi_values(typed)["revenue"] == "14.5"
    assert "No customer with external ID nobody in this environment." in unknown
    assert 'id="kpi-revenue"' not in unknown
