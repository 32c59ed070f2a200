"""Phase 5: the admin's event explorer, logged in, pages rendered, on the loaded data set."""

from __future__ import annotations

import time
from typing import Any

from bench.context import Context, log

SUPERUSER_NAME = "bench-superuser"
STAFF_NAME = "bench-staff"


def admin_users(tenant: Any) -> dict[str, Any]:
    """A superuser (every tenant) and a staff user of the bench tenant in the "Pricing ops"
    group, as pricing ops have them; made once, kept as they are after that."""
    from bench.admin_queries import STAFF, SUPERUSER
    from flexprice_site.demo import pricing_ops_group
    from flexprice_site.models import User

    superuser, _ = User.objects.get_or_create(
        username=SUPERUSER_NAME, defaults={"is_staff": True, "is_superuser": True}
    )
    staff, made = User.objects.get_or_create(
        username=STAFF_NAME, defaults={"is_staff": True, "tenant": tenant}
    )
    if made:
        staff.groups.add(pricing_ops_group())
    return {SUPERUSER: superuser, STAFF: staff}


def expected_event_ids(database_url: str, query: Any, tenant_id: str) -> list[str]:
    """The page's rows by the plain SQL of `admin_queries.expected_sql`, on a connection of its
    own (not the app's code): what the explorer must list."""
    import psycopg

    from bench.admin_queries import expected_sql
    from bench.database import conninfo

    statement, parameters = expected_sql(query, tenant_id)
    with psycopg.connect(conninfo(database_url)) as connection:
        return [row[0] for row in connection.execute(statement, parameters).fetchall()]


def time_page(
    client: Any, query: Any, expected: list[str], repeat: int, budget: float
) -> tuple[Any, list[str], list[str]]:
    """`api_phase.time_checked` of the page: each load checked after its clock stops."""
    from bench.admin_queries import page_check
    from bench.api_phase import time_checked

    def load(_run: int) -> tuple[float, Any]:
        began = time.perf_counter()
        response = client.get(query.path)
        content = response.content  # rendered: the template ran inside the request
        seconds = time.perf_counter() - began
        return seconds, page_check(response.status_code, content, expected)

    return time_checked(load, repeat, budget)


def time_dashboard(client: Any, path: str, query: Any, repeat: int, budget: float) -> Any:
    """`api_phase.time_checked` of the dashboard page, each load checked after its clock."""
    from bench.admin_queries import dashboard_check
    from bench.api_phase import time_checked

    def load(_run: int) -> tuple[float, Any]:
        began = time.perf_counter()
        response = client.get(path)
        content = response.content
        seconds = time.perf_counter() - began
        return seconds, dashboard_check(response.status_code, content, query.days)

    return time_checked(load, repeat, budget)


def admin_phase(context: Context) -> None:
    from datetime import timedelta

    from django.test import Client

    from bench.admin_queries import selected_admin_queries, selected_dashboard_queries
    from bench.api_phase import timed_summary
    from flexprice_site.runtime import tune_garbage_collection

    arguments = context.arguments
    queries = selected_admin_queries(arguments.only)
    dashboards = selected_dashboard_queries(arguments.only)
    if not queries and not dashboards:
        return
    # The pages are served in this process: run it as gunicorn's workers run (wsgi.py).
    tune_garbage_collection()
    tenant = context.dataset.environment.tenant
    users = admin_users(tenant)
    clients = {}
    for kind, user in users.items():
        # In this process, through the whole request stack (sessions, authentication, the
        # admin, the templates); a 500 is reported as a status, not raised here.
        client = Client(SERVER_NAME="localhost", raise_request_exception=False)
        client.force_login(user)
        clients[kind] = client
    log(f"admin event explorer as {SUPERUSER_NAME} and {STAFF_NAME} (tenant {tenant.name})")
    results = []
    for query in queries:
        expected = expected_event_ids(context.database.url, query, tenant.pk)
        timing, answers, failures = time_page(
            clients[query.user], query, expected, arguments.repeat, arguments.budget
        )
        results.append({**timed_summary(query, timing, answers, failures), "path": query.path})
    context.results["admin"] = results
    spec = context.spec
    dashboard_results = []
    for dashboard in dashboards:
        last_day = (spec.end - timedelta(days=1)).date()
        path = dashboard.path(
            context.dataset.environment.pk, last_day - timedelta(days=dashboard.days - 1), last_day
        )
        timing, answers, failures = time_dashboard(
            clients[dashboard.user], path, dashboard, arguments.repeat, arguments.budget
        )
        dashboard_results.append(
            {**timed_summary(dashboard, timing, answers, failures), "path": path}
        )
    context.results["dashboard"] = dashboard_results


def admin_rows(context: Context) -> list[Any]:
    """The targets table's rows for the explorer (no DuckDB counterpart: "—")."""
    from bench.admin_queries import ADMIN_QUERY_SET, DASHBOARD_QUERY_SET
    from bench.api_phase import timed_row

    targets = {query.key: query for query in (*ADMIN_QUERY_SET, *DASHBOARD_QUERY_SET)}
    return [
        timed_row(targets[summary["key"]], summary, wrong="WRONG PAGE", notes=[])
        for summary in [*context.results.get("admin", []), *context.results.get("dashboard", [])]
    ]
