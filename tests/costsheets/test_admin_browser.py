"""The price admin in a real browser: Playwright drives Debian's Chromium against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import Page, sync_playwright

from costsheets.models import BillingModel, Price, TierMode
from flexprice_site.demo import pricing_ops_group
from flexprice_site.models import User
from tests.factories import CostsheetFactory, MeterFactory, default_environment

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium, headless, with nothing that would reach out of this machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "pw-browser-123!"


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install chromium")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # alongside it are still synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()
            # Inside sync_playwright the test runs in a greenlet with its own context, and so
            # with its own database connection; close it, or the test database can't be dropped.
            connections.close_all()


def test_a_tiered_price_made_in_the_admin_is_priced_by_the_calculator(
    transactional_db: None, live_server: Any, page: Page, tmp_path: Path
) -> None:
    environment = default_environment()
    user = User.objects.create_user(
        username="olga", password=PASSWORD, is_staff=True, tenant=environment.tenant
    )
    user.groups.add(pricing_ops_group())
    costsheet = CostsheetFactory(environment=environment, name="Provider costs")
    meter = MeterFactory(environment=environment, name="GPU seconds")

    # Log in, open the costsheet and follow its "Add a price" link.
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/costsheets/costsheet/")
    page.click("text=Provider costs")
    page.click("a.addlink:has-text('Add a price')")

    # A SLAB price with three tiers: ≤ 10 at 50, ≤ 20 at 40, the rest at 30.
    page.fill("#id_display_name", "GPU time")
    page.select_option("#id_meter", meter.pk)
    page.select_option("#id_billing_model", BillingModel.TIERED)
    page.select_option("#id_tier_mode", TierMode.SLAB)
    for row, (up_to, unit_amount) in enumerate([("10", "50"), ("20", "40"), ("", "30")]):
        if row >= 1 and not page.locator(f"#id_tiers-{row}-unit_amount").count():
            page.click("text=Add another Tier")
        page.fill(f"#id_tiers-{row}-up_to", up_to)
        page.fill(f"#id_tiers-{row}-unit_amount", unit_amount)
    page.click("input[name=_continue]")
    page.wait_for_selector("#calculator-quantity")

    price = Price.objects.get(display_name="GPU time")
    assert (price.entity_id, price.billing_model, price.tier_mode) == (
        costsheet.pk,
        BillingModel.TIERED,
        TierMode.SLAB,
    )
    assert [(tier.up_to, tier.unit_amount) for tier in price.tiers.order_by("position")] == [
        (Decimal(10), Decimal(50)),
        (Decimal(20), Decimal(40)),
        (None, Decimal(30)),
    ]

    # The calculator: 15 units cost 10 at 50 plus 5 at 40.
    page.fill("#calculator-quantity", "15")
    page.click("#calculator-submit")
    page.wait_for_selector("#calculator-total")
    total = page.inner_text("#calculator-total")
    amounts = page.locator("#calculator-breakdown td.line-amount").all_inner_texts()
    page.screenshot(path=str(tmp_path / "price-calculator.png"), full_page=True)

    assert total == "$700.00"
    assert amounts == ["500", "200"]
    assert (tmp_path / "price-calculator.png").stat().st_size > 10_000
