"""Preview and send now in a real browser: Playwright drives Debian's Chromium against a live
server that mails through an SMTP server in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from analytics.reports.models import ReportRun, RunStatus
from tests.analytics import test_reports_smtp as reports_smtp
from tests.analytics.cost_world import build_world
from tests.analytics.test_reports_smtp import SmtpSink, weekly_schedule
from tests.browser import log_in, pricing_ops_user
from tests.factories import default_environment

pytestmark = pytest.mark.browser

# The SMTP server, as the SMTP tests have it.
smtp = reports_smtp.smtp


def test_preview_shows_the_email_with_its_chart_and_send_now_sends_it_once(
    transactional_db: None, live_server: Any, page: Page, smtp: SmtpSink, tmp_path: Path
) -> None:
    environment = default_environment()
    user = pricing_ops_user(environment)
    build_world(environment)
    schedule = weekly_schedule(environment)

    log_in(page, live_server.url, user)

    # "Preview" from the schedules' action menu, then the week of 1 January 2026.
    page.goto(f"{live_server.url}/admin/analytics/reportschedule/")
    page.check(f"input[name=_selected_action][value='{schedule.pk}']")
    page.select_option("select[name=action]", "preview")
    page.click("button[name=index]")
    page.wait_for_selector("#report-preview")
    page.fill("#period-start", "2026-01-01")
    page.click("input[value=Show]")
    page.wait_for_selector("#preview-subject")

    subject = "Weekly margin · 29 Dec 2025 – 4 Jan 2026 · margin $9.50 (65.5 %)"
    assert page.inner_text("#preview-subject") == subject
    assert page.inner_text("#preview-run-status") == "not sent yet"
    frame = page.frame_locator("#preview-html")
    chart = frame.locator("img[alt^='Revenue, cost and margin per day']")
    chart.wait_for()
    # The chart is a real PNG the browser decoded: 720 pixels wide, as drawn.
    assert chart.evaluate("image => image.complete && image.naturalWidth") == 720
    assert frame.locator("td.kpi-value").all_inner_texts() == [
        "$14.50",
        "$5.00",
        "$9.50",
        "65.5 %",
        "190.0 %",
    ]
    assert "Revenue" in page.inner_text("#preview-text")
    page.screenshot(path=str(tmp_path / "report-preview.png"), full_page=True)

    # Send now: the run page says it went, and the SMTP server has it.
    page.click("#send-now")
    page.wait_for_selector("ul.messagelist")
    assert page.inner_text("ul.messagelist") == (
        "“Weekly margin” for 29 Dec 2025 – 4 Jan 2026 was sent to ops@example.com, cfo@example.com."
    )
    (received,) = smtp.wait_for(1)
    assert received.message["Subject"].strip() == subject
    run = ReportRun.objects.get()
    assert (run.status, run.attempts) == (RunStatus.SENT, 1)
    assert page.url.endswith(f"/admin/analytics/reportrun/{run.pk}/change/")
    assert page.locator("#send-run-now").count() == 0  # nothing left to send

    # Back on the preview, sending again is refused with a reason, and nothing is sent.
    page.click("#preview-run")
    page.wait_for_selector("#preview-run-status")
    assert page.inner_text("#preview-run-status").startswith("Sent on ")
    page.click("#send-now")
    page.wait_for_selector("ul.messagelist")
    assert "was already sent on" in page.inner_text("ul.messagelist")
    assert len(smtp.wait_for(2, timeout=2)) == 1
    assert ReportRun.objects.get().attempts == 1
