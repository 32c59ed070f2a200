"""The meter's usage chart in a real browser: Chart.js, served from static/vendor, draws it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.utils import quote
from playwright.sync_api import Page

from analytics.services import events_ingest
from costsheets.models import AggregationType
from tests.browser import log_in, pricing_ops_user
from tests.factories import MeterFactory, default_environment

pytestmark = pytest.mark.browser


def test_the_usage_chart_is_drawn(
    transactional_db: None, live_server: Any, page: Page, tmp_path: Path
) -> None:
    # Given a meter with usage on two of the last 30 days, by two customers
    environment = default_environment()
    user = pricing_ops_user(environment)
    meter = MeterFactory(
        environment=environment,
        name="Tokens",
        event_name="llm_call",
        aggregation_type=AggregationType.SUM,
        aggregation_field="tokens",
    )
    now = datetime.now(UTC)
    events_ingest(
        environment=environment,
        payloads=[
            {
                "event_name": "llm_call",
                "external_customer_id": customer,
                "timestamp": (now - timedelta(days=days)).isoformat(),
                "properties": {"tokens": tokens},
            }
            for customer, days, tokens in [("acme", 3, 40), ("acme", 1, 2), ("globex", 1, 7)]
        ],
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        # The browser's own favicon request is no page's business.
        lambda message: (
            message.type == "error"
            and not message.location["url"].endswith("/favicon.ico")
            and errors.append(f"{message.text} {message.location['url']}")
        ),
    )

    # When its page is opened
    log_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/admin/costsheets/meter/{quote(meter.pk)}/change/")
    page.wait_for_selector("#meter-usage-daily")

    # Then Chart.js has drawn both charts with the selector's numbers
    daily = page.evaluate(
        "() => Chart.getChart('meter-usage-daily').data.datasets[0].data.filter(v => v > 0)"
    )
    customers = page.evaluate(
        "() => { const chart = Chart.getChart('meter-usage-customers');"
        " return [chart.data.labels, chart.data.datasets[0].data]; }"
    )
    page.screenshot(path=str(tmp_path / "meter-usage.png"), full_page=True)
    assert sorted(daily) == [9, 40]
    assert customers == [["acme", "globex"], [42, 7]]
    assert errors == []
    assert (tmp_path / "meter-usage.png").stat().st_size > 10_000
