"""The report as an email: subject, plain-text and HTML parts (CSS inlined), the chart as an
inline PNG referenced by Content-ID, and the full breakdown as a CSV attachment."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.mime.image import MIMEImage
from typing import Any
from zoneinfo import ZoneInfo

import css_inline
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import SafeMIMEMultipart
from django.template.loader import render_to_string

from analytics.reports.chart import margin_chart_png, window_label
from analytics.reports.content import (
    Kpi,
    RankedRow,
    ReportData,
    kpi_change_text,
    kpi_value_text,
    money_text,
    percent_text,
)

CHART_CID = "margin-chart@flexprice.reports"
CSV_MIMETYPE = "text/csv"


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    html: str
    chart_png: bytes | None
    chart_cid: str
    csv_content: str
    csv_filename: str


class ReportEmail(EmailMultiAlternatives):
    """text + HTML alternatives wrapped in multipart/related with the inline images the HTML
    references by Content-ID; attachments (the CSV) go around that in multipart/mixed:

        mixed ─ related ─ alternative ─ text/plain, text/html
              │         └ image/png (Content-ID)
              └ text/csv (attachment)
    """

    def __init__(self, *args: Any, inline_images: Sequence[tuple[str, bytes]] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.inline_images = list(inline_images)

    def _create_alternatives(self, msg: Any) -> Any:
        msg = super()._create_alternatives(msg)
        if not self.inline_images:
            return msg
        related = SafeMIMEMultipart(_subtype="related", encoding=self.encoding)
        related.attach(msg)
        for index, (content_id, png) in enumerate(self.inline_images, start=1):
            image = MIMEImage(png, "png")
            image.add_header("Content-ID", f"<{content_id}>")
            image.add_header("Content-Disposition", "inline", filename=f"chart-{index}.png")
            related.attach(image)
        return related


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    output = io.StringIO()
    csv.writer(output, lineterminator="\r\n").writerows(rows)
    return output.getvalue()


def report_subject(data: ReportData) -> str:
    margin = (
        f"margin {money_text(data.margin, data.currency)} ({percent_text(data.margin_percent)})"
    )
    usage = " · no usage" if data.is_empty else ""
    return f"{data.schedule_name} · {data.period_label}{usage} · {margin}"


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to line up in a monospaced mail reader; the first column left-aligned."""
    widths = [
        max(len(str(row[column])) for row in [headers, *rows]) for column in range(len(headers))
    ]
    lines = []
    for row in [headers, *rows]:
        cells = [
            str(cell).ljust(width) if column == 0 else str(cell).rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _kpi_rows(data: ReportData) -> list[dict[str, str]]:
    return [
        {
            "label": kpi.label,
            "value": kpi_value_text(kpi, data.currency),
            "previous": kpi_value_text(_previous(kpi), data.currency),
            "change": kpi_change_text(kpi, data.currency),
            "direction": _direction(kpi),
        }
        for kpi in data.kpis
    ]


def _previous(kpi: Kpi) -> Kpi:
    return Kpi(kpi.key, kpi.label, kpi.kind, kpi.previous, kpi.previous, kpi.change, None)


def _direction(kpi: Kpi) -> str:
    """ "good", "bad" or "flat": a rising cost is bad news, anything else rising is good."""
    if kpi.change == 0:
        return "flat"
    rising = kpi.change > 0
    return "good" if rising != (kpi.key == "cost") else "bad"


def _ranked_rows(rows: Sequence[RankedRow], currency: str) -> list[dict[str, str]]:
    return [
        {
            "name": row.name,
            "key": row.key,
            "revenue": money_text(row.revenue, currency),
            "cost": money_text(row.cost, currency),
            "margin": money_text(row.margin, currency),
            "margin_percent": percent_text(row.margin_percent),
        }
        for row in rows
    ]


RANKED_HEADERS = ["", "Revenue", "Cost", "Margin", "Margin %"]


def _ranked_text(rows: list[dict[str, str]]) -> str:
    return _text_table(
        RANKED_HEADERS,
        [
            [row["name"], row["revenue"], row["cost"], row["margin"], row["margin_percent"]]
            for row in rows
        ],
    )


def report_context(data: ReportData) -> dict[str, Any]:
    zone = ZoneInfo(data.time_zone)
    kpis = _kpi_rows(data)
    tops = [
        ("Top customers by cost", data.top_customers_by_cost),
        ("Top customers by margin", data.top_customers_by_margin),
        ("Top meters by cost", data.top_meters_by_cost),
        ("Top meters by margin", data.top_meters_by_margin),
    ]
    # Customers are told apart by their external IDs too; meters by name is enough.
    top_tables = [
        {
            "title": title,
            "rows": _ranked_rows(rows, data.currency),
            "show_keys": title.startswith("Top customers"),
        }
        for title, rows in tops
        if rows
    ]
    series_rows = [
        [
            window_label(point, data.window_size, zone),
            money_text(point.revenue, data.currency),
            money_text(point.cost, data.currency),
            money_text(point.margin, data.currency),
        ]
        for point in data.series
    ]
    window_name = "Hour" if data.window_size == "HOUR" else "Day"
    return {
        "data": data,
        "subject": report_subject(data),
        "kpis": kpis,
        "top_tables": top_tables,
        "top_texts": [
            {"title": table["title"], "text": _ranked_text(table["rows"])} for table in top_tables
        ],
        "kpi_text": _text_table(
            ["", "This period", "Previous period", "Change"],
            [[row["label"], row["value"], row["previous"], row["change"]] for row in kpis],
        ),
        "series_text": _text_table([window_name, "Revenue", "Cost", "Margin"], series_rows),
        "series_caption": (
            f"Revenue, cost and margin per {window_name.lower()} ({data.time_zone})"
        ),
        "chart_cid": CHART_CID,
        "has_chart": not data.is_empty,
        "csv_filename": csv_filename(data),
        "breakdown_rows": max(0, len(data.csv_rows) - 1),
    }


def csv_filename(data: ReportData) -> str:
    zone = ZoneInfo(data.time_zone)
    first = data.start.astimezone(zone).date()
    last = (data.end.astimezone(zone) - timedelta(days=1)).date()
    return f"margin-breakdown-{first.isoformat()}-to-{last.isoformat()}.csv"


def report_render(data: ReportData) -> RenderedReport:
    """Render the report once; the same rendering is sent, or shown as a preview."""
    context = report_context(data)
    html = render_to_string("analytics/reports/email.html", context)
    chart = None
    if context["has_chart"]:
        chart = margin_chart_png(
            data.series,
            window_size=data.window_size,
            time_zone=data.time_zone,
            currency=data.currency,
        )
    return RenderedReport(
        subject=context["subject"],
        text=render_to_string("analytics/reports/email.txt", context),
        # Mail clients drop <style> blocks; every rule goes into the elements' style attributes.
        html=css_inline.inline(html),
        chart_png=chart,
        chart_cid=CHART_CID,
        csv_content=csv_text(data.csv_rows),
        csv_filename=context["csv_filename"],
    )


def report_email(
    rendered: RenderedReport,
    *,
    to: Sequence[str],
    from_email: str | None,
    message_id: str,
    connection: Any = None,
) -> ReportEmail:
    """The message to send; `message_id` is the run's, the same on every attempt, so a mail
    client collapses the copies should an ambiguous failure ever deliver one twice."""
    email = ReportEmail(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_email,
        to=list(to),
        headers={"Message-ID": message_id},
        connection=connection,
        inline_images=[(rendered.chart_cid, rendered.chart_png)] if rendered.chart_png else [],
    )
    email.attach_alternative(rendered.html, "text/html")
    email.attach(rendered.csv_filename, rendered.csv_content, CSV_MIMETYPE)
    return email


def preview_html(rendered: RenderedReport) -> str:
    """The HTML part as a browser shows it on its own: the chart inlined as a data: URI."""
    if rendered.chart_png is None:
        return rendered.html
    data_uri = "data:image/png;base64," + base64.b64encode(rendered.chart_png).decode()
    return rendered.html.replace(f"cid:{rendered.chart_cid}", data_uri)
