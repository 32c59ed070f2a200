"""The endpoint rows of the bench's targets table, from measured summaries (no timing here)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.api_phase import api_rows, enough_runs, selected_api_queries
from bench.context import Context


def summary(
    key: str, p50: float, failures: tuple[str, ...] = (), runs: int = 20
) -> dict[str, object]:
    return {
        "key": key,
        "runs": [p50] * runs,
        "p50": p50,
        "p95": p50 * 2,
        "failures": list(failures),
    }


def rows_for(*summaries: dict[str, object], rss: int = 0) -> list[tuple[str, str, str, str, str]]:
    context = Context(arguments=argparse.Namespace(), spec=None, database=None, var=Path())
    context.results["api"] = list(summaries)
    context.results["api_peak_worker_rss_bytes"] = rss
    return [(row.what, row.ours, row.ours_p95, row.duckdb, row.result) for row in api_rows(context)]


def test_a_row_passes_under_its_target_and_has_no_duckdb_side() -> None:
    assert rows_for(summary("api-costs-heaviest", 0.0995)) == [
        (
            "POST /v1/costs/analytics-v2, heaviest customer, 30 d, DAY",
            "99.5 ms",
            "199 ms",
            "—",
            "PASS",
        )
    ]


def test_a_row_fails_over_its_target_or_on_a_bad_answer() -> None:
    rows = rows_for(
        summary("api-usage-heaviest-hour", 0.061),
        summary("api-costs-sampled", 0.010, failures=("HTTP 500: boom",)),
        summary("api-costs-tenant", 31.0, runs=1),
        rss=301 * 2**20,
    )

    assert [(what, result) for what, _, _, _, result in rows] == [
        ("POST /v1/events/analytics, heaviest customer, all features, 30 d, HOUR", "FAIL"),
        ("POST /v1/costs/analytics-v2, sampled customers, 30 d, DAY (NOT 200 / EMPTY)", "FAIL"),
        (
            "POST /v1/costs/analytics-v2, tenant-wide, 30 d, DAY "
            "(1 timed run) (past gunicorn's default 30 s timeout)",
            "FAIL",
        ),
        ("web worker memory during the analytics requests (peak RSS)", "FAIL"),
    ]


def test_a_row_whose_warm_up_failed_is_not_timed_and_fails() -> None:
    failed = {"key": "api-costs-tenant", "runs": [], "p50": None, "p95": None, "failures": ["x"]}

    assert rows_for(failed) == [
        (
            "POST /v1/costs/analytics-v2, tenant-wide, 30 d, DAY (NOT 200 / EMPTY)",
            "n/a",
            "",
            "—",
            "FAIL",
        )
    ]


def test_only_picks_the_endpoint_rows_it_names() -> None:
    assert [query.key for query in selected_api_queries("")] == [
        "api-usage-heaviest-hour",
        "api-usage-tenant-day",
        "api-costs-tenant",
        "api-costs-heaviest",
        "api-costs-sampled",
    ]
    assert [query.key for query in selected_api_queries("api-costs-tenant,tenant-day")] == [
        "api-costs-tenant"
    ]
    assert selected_api_queries("customer-hour-sum-heaviest") == []


def test_a_row_is_timed_until_its_budget_is_spent_and_at_least_three_times() -> None:
    # fast requests: the budget (warm-up included) decides, after three runs at least
    assert enough_runs(done=5, elapsed=59.0, budget=60.0, warm_up=0.2) is False
    assert enough_runs(done=5, elapsed=61.0, budget=60.0, warm_up=0.2) is True
    assert enough_runs(done=2, elapsed=61.0, budget=60.0, warm_up=15.0) is False
    assert enough_runs(done=3, elapsed=61.0, budget=60.0, warm_up=15.0) is True
    # a warm-up of over a third of the budget: one timed run is enough once it is spent
    assert enough_runs(done=1, elapsed=180.0, budget=60.0, warm_up=90.0) is True
    assert enough_runs(done=1, elapsed=50.0, budget=60.0, warm_up=25.0) is False
