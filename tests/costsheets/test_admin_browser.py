"""The price admin in a real browser: Playwright drives Debian's Chromium against a live server."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from costsheets.models import BillingModel, Price, TierMode
from tests.browser import log_in, pricing_ops_user
from tests.factories import CostsheetFactory, MeterFactory, default_environment

pytestmark = pytest.mark.browser


def test_a_tiered_price_made_in_the_admin_is_priced_by_the_calculator(
    transactional_db: None, live_server: Any, page: Page, tmp_path: Path
) -> None:
    environment = default_environment()
    user = pricing_ops_user(environment)
    costsheet = CostsheetFactory(environment=environment, name="Provider costs")
    meter = MeterFactory(environment=environment, name="GPU seconds")

    # Log in, open the costsheet and follow its "Add a price" link.
    log_in(page, live_server.url, user)
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
