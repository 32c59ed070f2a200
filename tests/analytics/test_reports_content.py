"""What a margin report says and how it is rendered, from hand-made cost analytics (no DB)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from analytics.costs import CostAnalytics, CostItem, PeriodAmount, RevenueItem
from analytics.reports.content import (
    ReportData,
    change_percent,
    money_text,
    percent_text,
    report_data_build,
)
from analytics.reports.rendering import (
    CHART_CID,
    preview_html,
    report_email,
    report_render,
    report_subject,
)
from costsheets.pricing import margin_summary

D = Decimal
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
WEEK = [MONDAY + timedelta(days=offset) for offset in range(7)]


def cost(customer: str, meter: str, amount: str, day: int = 0) -> CostItem:
    return CostItem(
        external_customer_id=customer,
        customer_id=f"cust_{customer}",
        customer_name=customer.title(),
        meter_id=f"meter_{meter}",
        meter_name=meter.title(),
        price_id=f"price_{meter}",
        costsheet_id="cost_1",
        total_quantity=D(10),
        total_events=10,
        total_cost=D(amount),
        periods=(PeriodAmount(WEEK[day], D(10), D(amount), 10),),
        currency="usd",
    )


def revenue(customer: str, meter: str, amount: str, day: int = 0) -> RevenueItem:
    return RevenueItem(
        external_customer_id=customer,
        customer_id=f"cust_{customer}",
        customer_name=customer.title(),
        meter_id=f"meter_{meter}",
        meter_name=meter.title(),
        feature_id=f"feat_{meter}",
        price_id=None,
        line_item_id=None,
        subscription_id=None,
        total_usage=D(10),
        total_revenue=D(amount),
        periods=(PeriodAmount(WEEK[day], D(10), D(amount), 10),),
        total_events=10,
    )


def analytics(
    start: datetime, costs: tuple[CostItem, ...], revenues: tuple[RevenueItem, ...]
) -> CostAnalytics:
    total_cost = sum((item.total_cost for item in costs), D(0))
    total_revenue = sum((item.total_revenue for item in revenues), D(0))
    return CostAnalytics(
        start=start,
        end=start + timedelta(days=7),
        currency="usd",
        costsheet_id="cost_1",
        total_cost=total_cost,
        total_revenue=total_revenue,
        margin=margin_summary(total_revenue, total_cost),
        cost_items=costs,
        revenue_items=revenues,
        window_size="DAY",
        time_zone="UTC",
    )


def week_report(current: CostAnalytics, previous: CostAnalytics) -> ReportData:
    return report_data_build(
        current=current,
        previous=previous,
        schedule_name="Weekly margin",
        scope_label="All customers",
        period_label="5 Jan – 11 Jan 2026",
        previous_period_label="29 Dec 2025 – 4 Jan 2026",
        window_starts=WEEK,
        top=2,
    )


THIS_WEEK = analytics(
    MONDAY,
    (
        cost("acme", "tokens", "40", day=0),
        cost("bolt", "tokens", "5", day=1),
        cost("bolt", "calls", "10", day=1),
        cost("cora", "calls", "1", day=2),
    ),
    (
        revenue("acme", "tokens", "50", day=0),
        revenue("bolt", "tokens", "30", day=1),
        revenue("bolt", "calls", "20", day=1),
        revenue("cora", "calls", "2", day=2),
    ),
)
LAST_WEEK = analytics(
    MONDAY - timedelta(days=7),
    (cost("acme", "tokens", "20"),),
    (revenue("acme", "tokens", "80"),),
)
EMPTY_WEEK = analytics(MONDAY, (), ())


def test_kpis_compare_with_the_previous_period() -> None:
    report = week_report(THIS_WEEK, LAST_WEEK)

    # Revenue 102 against 80, cost 56 against 20, margin 46 against 60.
    assert [(kpi.key, kpi.value, kpi.previous, kpi.change) for kpi in report.kpis] == [
        ("revenue", D(102), D(80), D(22)),
        ("cost", D(56), D(20), D(36)),
        ("margin", D(46), D(60), D(-14)),
        ("margin_percent", D("45.09803921568627"), D(75), D("-29.90196078431373")),
        ("roi", D("82.14285714285714"), D(300), D("-217.85714285714286")),
    ]
    assert [kpi.change_percent for kpi in report.kpis] == [
        D("27.5"),
        D(180),
        D("-23.33333333333333"),
        None,
        None,
    ]
    assert (report.total_revenue, report.total_cost, report.margin) == (D(102), D(56), D(46))


def test_top_customers_and_meters_by_cost_and_by_margin() -> None:
    report = week_report(THIS_WEEK, LAST_WEEK)

    def names(rows: tuple) -> list[tuple[str, Decimal, Decimal]]:
        return [(row.name, row.cost, row.margin) for row in rows]

    assert names(report.top_customers_by_cost) == [
        ("Acme", D(40), D(10)),
        ("Bolt", D(15), D(35)),
    ]
    assert names(report.top_customers_by_margin) == [
        ("Bolt", D(15), D(35)),
        ("Acme", D(40), D(10)),
    ]
    assert names(report.top_meters_by_cost) == [("Tokens", D(45), D(35)), ("Calls", D(11), D(11))]
    assert names(report.top_meters_by_margin) == [
        ("Tokens", D(45), D(35)),
        ("Calls", D(11), D(11)),
    ]
    assert (report.customer_count, report.meter_count) == (3, 2)


def test_the_series_has_every_day_of_the_week_and_the_csv_every_customer_meter() -> None:
    report = week_report(THIS_WEEK, LAST_WEEK)

    assert [(point.revenue, point.cost) for point in report.series] == [
        (D(50), D(40)),
        (D(50), D(15)),
        (D(2), D(1)),
        (D(0), D(0)),
        (D(0), D(0)),
        (D(0), D(0)),
        (D(0), D(0)),
    ]
    assert [row[0] for row in report.csv_rows] == [
        "external_customer_id",
        "acme",
        "bolt",
        "bolt",
        "cora",
    ]


def test_numbers_read_as_money_and_percentages() -> None:
    assert money_text(D("1234.565"), "usd") == "$1,234.57"
    assert money_text(D("-5"), "usd") == "-$5.00"
    assert money_text(D("1200.4"), "jpy") == "¥1,200"
    assert money_text(D("3.5"), "chf") == "CHF 3.50"
    assert money_text(D("0"), "") == "0.00"
    assert percent_text(D("66.66666666666667")) == "66.7 %"
    assert percent_text(D("-0.04")) == "0.0 %"
    assert change_percent(D(5), D(0)) is None
    assert change_percent(D(-30), D(-20)) == D(-50)


def test_the_subject_names_the_period_and_the_margin() -> None:
    assert report_subject(week_report(THIS_WEEK, LAST_WEEK)) == (
        "Weekly margin · 5 Jan – 11 Jan 2026 · margin $46.00 (45.1 %)"
    )
    assert report_subject(week_report(EMPTY_WEEK, LAST_WEEK)) == (
        "Weekly margin · 5 Jan – 11 Jan 2026 · no usage · margin $0.00 (0.0 %)"
    )


def test_the_email_has_text_html_an_inline_chart_and_the_csv() -> None:
    rendered = report_render(week_report(THIS_WEEK, LAST_WEEK))
    message = report_email(
        rendered, to=["ops@example.com"], from_email="reports@example.com", message_id="<m@x>"
    ).message()
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)

    tree = [(part.get_content_type(), part.get_content_disposition()) for part in parsed.walk()]
    assert tree == [
        ("multipart/mixed", None),
        ("multipart/related", None),
        ("multipart/alternative", None),
        ("text/plain", None),
        ("text/html", None),
        ("image/png", "inline"),
        ("text/csv", "attachment"),
    ]
    parts = list(parsed.walk())
    text, html, chart, attachment = parts[3], parts[4], parts[5], parts[6]
    assert parsed["Message-ID"] == "<m@x>"
    assert chart["Content-ID"] == f"<{CHART_CID}>"
    assert chart.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f'src="cid:{CHART_CID}"' in html.get_content()
    # css-inline moved the stylesheet into style attributes.
    assert "<style" not in html.get_content()
    assert 'style="' in html.get_content()
    assert (
        "          This period  Previous period              Change\n"
        "Revenue       $102.00           $80.00   +$22.00 (+27.5 %)\n"
        "Cost           $56.00           $20.00  +$36.00 (+180.0 %)\n"
        "Margin         $46.00           $60.00   -$14.00 (-23.3 %)\n"
        "Margin %       45.1 %           75.0 %           -29.9 pts\n"
        "ROI            82.1 %          300.0 %          -217.9 pts\n"
    ) in text.get_content()
    assert "Tue 6    $50.00  $15.00  $35.00\n" in text.get_content()
    assert attachment.get_filename() == "margin-breakdown-2026-01-05-to-2026-01-11.csv"
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert [(row["external_customer_id"], row["meter_name"], row["margin"]) for row in rows] == [
        ("acme", "Tokens", "10"),
        ("bolt", "Calls", "10"),
        ("bolt", "Tokens", "25"),
        ("cora", "Calls", "1"),
    ]


def test_an_empty_period_says_so_and_has_no_chart() -> None:
    rendered = report_render(week_report(EMPTY_WEEK, LAST_WEEK))

    assert rendered.chart_png is None
    assert "No usage in this period" in rendered.html
    assert "No usage in this period" in rendered.text
    assert "cid:" not in rendered.html
    assert rendered.csv_content.splitlines() == [
        "external_customer_id,customer_name,meter_id,meter_name,quantity,events,revenue,cost,"
        "margin,margin_percent,currency"
    ]


def test_the_preview_inlines_the_chart_as_a_data_uri() -> None:
    rendered = report_render(week_report(THIS_WEEK, LAST_WEEK))

    html = preview_html(rendered)

    assert "cid:" not in html
    assert html.count('src="data:image/png;base64,iVBORw0KGgo') == 1
