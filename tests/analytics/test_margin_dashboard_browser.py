"""The margin dashboard in a real browser, on the demo data: its KPIs are the API's numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Page

from analytics.demo import demo_events_seed
from costsheets.demo import catalogue_seed
from flexprice_site.demo import DEMO_ENVIRONMENT, DEMO_TENANT
from flexprice_site.services import api_key_create, environment_get_or_create
from tests.browser import log_in, pricing_ops_user

pytestmark = pytest.mark.browser

KPIS = {
    "revenue": "total_revenue",
    "cost": "total_cost",
    "margin": "margin",
    "margin_percent": "margin_percent",
    "roi": "roi",
}


def api_answer(base_url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/v1/costs/analytics-v2", json=body, headers={"x-api-key": key}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def kpis_on(page: Page) -> dict[str, str]:
    return {key: page.get_attribute(f"#kpi-{key}", "data-value") or "" for key in KPIS}


@pytest.fixture
def midday() -> Iterator[None]:
    """Today at noon UTC, the clock running: the demo's usage runs up to now, so just after
    midnight today would have no events yet and the month one point fewer."""
    noon = datetime.combine(datetime.now(UTC).date(), time(12), tzinfo=UTC)
    with time_machine.travel(noon, tick=True):
        yield


def test_the_dashboard_shows_the_apis_numbers_for_the_demo(
    midday: None, transactional_db: None, live_server: Any, page: Page, tmp_path: Path
) -> None:
    # Given the demo tenant with its catalogue and a month of usage, and a pricing-ops login
    environment = environment_get_or_create(
        tenant_name=DEMO_TENANT, environment_name=DEMO_ENVIRONMENT
    )
    catalogue_seed(environment=environment)
    demo_events_seed(environment=environment)
    key = api_key_create(environment=environment, name="browser").raw_key
    user = pricing_ops_user(environment, "pia")
    today = timezone.now().astimezone(UTC).date()
    first_day = today - timedelta(days=29)
    range_body = {
        "start_time": f"{first_day.isoformat()}T00:00:00Z",
        "end_time": f"{(today + timedelta(days=1)).isoformat()}T00:00:00Z",
        "time_zone": "UTC",
    }

    # When she logs in and opens the dashboard from the admin's home page
    log_in(page, live_server.url, user)
    page.click("#margin-dashboard-link")
    page.fill("#id_start", first_day.isoformat())
    page.fill("#id_end", today.isoformat())
    page.click("#margin-submit")
    page.wait_for_selector("#kpi-revenue")
    page.wait_for_function("window.marginChart && window.marginChart.data.labels.length > 0")

    # Then every KPI is the API's number for every customer over the same days
    everyone = api_answer(live_server.url, key, range_body)
    assert kpis_on(page) == {key: everyone[field] for key, field in KPIS.items()}
    assert everyone["total_cost"] != "0" and everyone["total_revenue"] != "0"
    chart_points = page.evaluate("window.marginChart.data.labels.length")
    assert chart_points == 30
    assert page.locator("#top-customers-margin tbody tr").count() == 10
    assert page.locator("#top-meters-cost tbody tr").count() == 6
    page.screenshot(path=str(tmp_path / "margin-dashboard.png"), full_page=True)

    # And for one customer with its children, picked in the customer picker
    page.select_option("#id_customer", "northwind")
    page.check("#id_include_children")
    page.click("#margin-submit")
    page.wait_for_selector("#margin-scope:has-text('northwind')")
    family = api_answer(
        live_server.url,
        key,
        {**range_body, "external_customer_id": "northwind", "include_children": True},
    )
    assert kpis_on(page) == {key: family[field] for key, field in KPIS.items()}
    page.screenshot(path=str(tmp_path / "margin-dashboard-northwind.png"), full_page=True)

    assert (tmp_path / "margin-dashboard.png").stat().st_size > 20_000
    assert datetime.fromisoformat(everyone["start_time"]).date() == first_day
