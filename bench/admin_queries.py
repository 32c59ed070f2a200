"""The admin event explorer's rows: each as a page address and a user, and what makes it right."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from psycopg import sql

from bench.api_queries import AnswerCheck
from bench.dataset import customer_id

EXPLORER_PATH = "/admin/analytics/event/"
# The explorer's page size (EventAdmin.list_per_page): every row of the first page is checked.
PAGE_ROWS = 50
SUPERUSER = "superuser"
STAFF = "staff"
_EVENT_ID_CELL = re.compile(r'<td class="field-event_id">([^<]*)</td>')


@dataclass(frozen=True)
class AdminQuery:
    key: str
    title: str
    user: str  # SUPERUSER (sees every tenant) or STAFF (a user of the bench tenant)
    customer: str | None  # the explorer's customer filter; None: the default page
    target_p50_ms: float = 200

    @property
    def target_text(self) -> str:
        return f"p50 ≤ {self.target_p50_ms:g} ms"

    @property
    def path(self) -> str:
        if self.customer is None:
            return EXPLORER_PATH
        return f"{EXPLORER_PATH}?{urlencode({'customer': self.customer})}"


ADMIN_QUERY_SET: tuple[AdminQuery, ...] = (
    AdminQuery(
        key="admin-events-default-superuser",
        title="admin events explorer, default page, superuser",
        user=SUPERUSER,
        customer=None,
    ),
    AdminQuery(
        key="admin-events-default-staff",
        title="admin events explorer, default page, staff",
        user=STAFF,
        customer=None,
    ),
    AdminQuery(
        key="admin-events-customer-superuser",
        title="admin events explorer, heaviest customer, superuser",
        user=SUPERUSER,
        customer=customer_id(0),
    ),
    AdminQuery(
        key="admin-events-customer-staff",
        title="admin events explorer, heaviest customer, staff",
        user=STAFF,
        customer=customer_id(0),
    ),
)


def selected_admin_queries(only: str) -> list[AdminQuery]:
    keys = {key for key in only.split(",") if key}
    return [query for query in ADMIN_QUERY_SET if not keys or query.key in keys]


DASHBOARD_PATH = "/admin/analytics/margin/"
_KPI = re.compile(r'id="kpi-(\w+)" data-value="([^"]*)"')
_CHART = re.compile(r'<script id="margin-chart-data" type="application/json">(.*?)</script>', re.S)


@dataclass(frozen=True)
class DashboardQuery:
    """The margin dashboard (the page pricing ops open first): every customer, the data set's
    last `days` days per day, as a staff user of the bench tenant sees it."""

    key: str
    title: str
    days: int
    user: str = STAFF
    target_p50_ms: float = 1000

    @property
    def target_text(self) -> str:
        return f"p50 ≤ {self.target_p50_ms:g} ms"

    def path(self, environment_id: str, first_day: date, last_day: date) -> str:
        form = {
            "environment": environment_id,
            "start": first_day.isoformat(),
            "end": last_day.isoformat(),
            "window": "DAY",
        }
        return f"{DASHBOARD_PATH}?{urlencode(form)}"


DASHBOARD_QUERY_SET: tuple[DashboardQuery, ...] = (
    DashboardQuery(
        key="admin-margin-dashboard",
        title="margin dashboard, all customers, 30 d, DAY (admin, HTML rendered)",
        days=30,
    ),
)


def selected_dashboard_queries(only: str) -> list[DashboardQuery]:
    keys = {key for key in only.split(",") if key}
    return [query for query in DASHBOARD_QUERY_SET if not keys or query.key in keys]


def dashboard_check(status: int, content: bytes, days: int) -> AnswerCheck:
    """A right dashboard is a 200 with revenue and cost (every bench meter is priced on both
    sides, so 0 means something went unpriced) and one chart point per day."""
    text = content.decode(errors="replace")
    if status != 200:
        return AnswerCheck(False, f"HTTP {status}: {' '.join(text[:300].split())}")
    kpis = dict(_KPI.findall(text))
    chart = _CHART.search(text)
    labels = json.loads(html.unescape(chart.group(1)))["labels"] if chart else []
    problems = [
        f"{name} is {kpis.get(name, 'missing')}"
        for name in ("revenue", "cost")
        if kpis.get(name) in (None, "", "0")
    ]
    if len(labels) != days:
        problems.append(f"{len(labels)} chart points for {days} days")
    if problems:
        return AnswerCheck(False, "; ".join(problems))
    return AnswerCheck(
        True,
        f"200, revenue {kpis['revenue']}, cost {kpis['cost']}, {len(labels)} days, "
        f"{len(content):,} bytes",
    )


def expected_sql(query: AdminQuery, tenant_id: str) -> tuple[sql.Composed, list[Any]]:
    """The page's definition in plain SQL, independent of the admin's code: the newest events
    (ties by id) the user may see, of the customer if one is asked for."""
    conditions, parameters = [sql.SQL("TRUE")], []
    if query.user == STAFF:
        conditions.append(sql.SQL("tenant_id = %s"))
        parameters.append(tenant_id)
    if query.customer is not None:
        conditions.append(sql.SQL("external_customer_id = %s"))
        parameters.append(query.customer)
    statement = sql.SQL(
        'SELECT event_id FROM analytics_event WHERE {} ORDER BY "timestamp" DESC, id DESC LIMIT {}'
    ).format(sql.SQL(" AND ").join(conditions), sql.Literal(PAGE_ROWS))
    return statement, parameters


def listed_event_ids(page: str) -> list[str]:
    """The event IDs of the explorer's rows, top to bottom, as the HTML shows them."""
    return [html.unescape(cell) for cell in _EVENT_ID_CELL.findall(page)]


def page_check(status: int, content: bytes, expected: list[str]) -> AnswerCheck:
    """A right page is a 200 listing exactly the expected events, in their order."""
    if status != 200:
        text = " ".join(content[:300].decode(errors="replace").split())
        return AnswerCheck(False, f"HTTP {status}: {text}")
    listed = listed_event_ids(content.decode(errors="replace"))
    if listed != expected:
        first_difference = next(
            (
                number
                for number, (got, wanted) in enumerate(zip(listed, expected, strict=False))
                if got != wanted
            ),
            min(len(listed), len(expected)),
        )
        return AnswerCheck(
            False,
            f"{len(listed)} rows listed, {len(expected)} expected; row {first_difference + 1} "
            f"is {_nth(listed, first_difference)}, expected {_nth(expected, first_difference)}",
        )
    if not listed:
        return AnswerCheck(False, "200 with no rows")
    return AnswerCheck(True, f"200, {len(listed)} rows, newest {listed[0]}, {len(content):,} bytes")


def _nth(values: list[str], number: int) -> str:
    return values[number] if number < len(values) else "nothing"
