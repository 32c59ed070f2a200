"""Phase 4: the analytics endpoints over HTTP, end to end, on the loaded data set."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from typing import Any

from bench.context import Context, log, postgres_processes

# One client asks one question at a time, so one worker serves them all and every timed
# request meets a warm worker (with several, the warm-up might have warmed another one).
API_WORKERS = 1
# gunicorn kills a sync worker whose request runs longer than its timeout (30 s by default)
# and the client gets a 500; the bench lets slow requests finish so that the row shows how
# slow they are, and says so when that is past the default.
API_TIMEOUT_SECONDS = 600
GUNICORN_DEFAULT_TIMEOUT_SECONDS = 30


def post_json(port: int, api_key: str, path: str, body: bytes) -> tuple[int, bytes]:
    """POST `body` on a new connection (gunicorn's sync workers close each one); the status and
    the whole response body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"x-api-key": api_key, "content-type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def ask(port: int, api_key: str, query: Any, body: bytes) -> tuple[float, Any]:
    """One request: its seconds, and the AnswerCheck of its answer (made after the clock)."""
    from bench.api_queries import answer_check

    began = time.perf_counter()
    status, content = post_json(port, api_key, query.path, body)
    seconds = time.perf_counter() - began
    return seconds, answer_check(query, status, content)


def enough_runs(*, done: int, elapsed: float, budget: float, warm_up: float) -> bool:
    """Whether a row has been timed enough: once `budget` seconds are spent (its warm-up
    included), after at least 3 runs — or 1 when the warm-up alone took over a third of the
    budget: a request of a minute and a half is far from a target of 500 ms after one run,
    and four of them would make the bench a quarter of an hour long."""
    minimum = 1 if warm_up > budget / 3 else 3
    return done >= minimum and elapsed > budget


def time_checked(
    ask: Callable[[int], tuple[float, Any]], repeat: int, budget: float
) -> tuple[Any, list[str], list[str]]:
    """Warm up with `ask(0)`, then up to `repeat` timed runs `ask(0)`, `ask(1)`, … (see
    `enough_runs`), or none when the warm-up's answer is wrong. `ask(number)` returns its
    seconds and the AnswerCheck of its answer. Returns (Timing, good answers' notes, what was
    wrong with the others); every answer is checked, the warm-up's too."""
    from bench.query_phase import Timing

    began = time.perf_counter()
    warm_up, check = ask(0)
    checks = [check]
    timing = Timing()
    if not check.ok:
        # The row fails whatever the timings; on 10M events a failing request can be the
        # web server's timeout, and timing more of them would only make the bench longer.
        return timing, [], [check.note]
    for number in range(repeat):
        seconds, check = ask(number)
        timing.runs.append(seconds)
        checks.append(check)
        elapsed = time.perf_counter() - began
        if enough_runs(done=number + 1, elapsed=elapsed, budget=budget, warm_up=warm_up):
            break
    return (
        timing,
        [check.note for check in checks if check.ok],
        [check.note for check in checks if not check.ok],
    )


def time_endpoint(
    port: int, api_key: str, query: Any, bodies: list[bytes], repeat: int, budget: float
) -> tuple[Any, list[str], list[str]]:
    """`time_checked` of the endpoint, cycling through `bodies`."""
    return time_checked(
        lambda number: ask(port, api_key, query, bodies[number % len(bodies)]), repeat, budget
    )


def timed_summary(
    query: Any, timing: Any, answers: list[str], failures: list[str]
) -> dict[str, Any]:
    """A timed row's results (for the JSON file and the table), logged as they come."""
    measured = (
        f"p50 {timing.p50 * 1000:.1f} ms, p95 {timing.p95 * 1000:.1f} ms ({len(timing.runs)} timed)"
        if timing.runs
        else "not timed"
    )
    log(f"{query.key}: {measured}; {answers[0] if answers else 'no good answer'}")
    for failure in failures[:3]:
        log(f"  FAILED {failure}")
    return {
        "key": query.key,
        "title": query.title,
        "runs": timing.runs,
        "p50": timing.p50,
        "p95": timing.p95,
        "failures": failures[:10],
        "answer": answers[0] if answers else "",
    }


def timed_row(query: Any, summary: dict[str, Any], *, wrong: str, notes: list[str]) -> Any:
    """The table's row of a timed summary against `query.target_p50_ms`: failed with `wrong`
    when an answer was wrong, and saying when it has fewer than 3 timed runs."""
    from bench.report import Row, milliseconds

    failed = bool(summary["failures"])
    p50 = summary["p50"]
    runs = len(summary["runs"])
    notes = (
        ([f" ({wrong})"] if failed else [])
        + ([f" ({runs} timed run{'s' if runs > 1 else ''})"] if 0 < runs < 3 else [])
        + notes
    )
    passed = None if p50 is None else p50 * 1000 <= query.target_p50_ms
    return Row(
        what=query.title + "".join(notes),
        ours=milliseconds(p50) or "n/a",
        ours_p95=milliseconds(summary["p95"]),
        duckdb="—",
        target=query.target_text,
        passed=False if failed else passed,
    )


def selected_api_queries(only: str) -> list[Any]:
    from bench.api_queries import API_QUERY_SET

    keys = {key for key in only.split(",") if key}
    return [query for query in API_QUERY_SET if not keys or query.key in keys]


def api_phase(context: Context) -> None:
    import psutil

    from bench.api_queries import api_customers, request_body
    from bench.catalogue import api_key_for
    from bench.http_ingest import CpuWatch, MemoryWatch, WebServer

    arguments, spec = context.arguments, context.spec
    queries = selected_api_queries(arguments.only)
    if not queries:
        return
    api_key = api_key_for(context.dataset.environment)
    server = WebServer(
        database_url=context.database.url,
        workers=API_WORKERS,
        worker_class="sync",
        threads=1,
        log=context.var / "gunicorn-api.log",
        timeout=API_TIMEOUT_SECONDS,
    )
    results = []
    try:
        server.wait_ready()
        watch = MemoryWatch(server.process.pid)
        log(f"gunicorn on :{server.port} (1 sync worker) for the analytics endpoints")
        cpu = CpuWatch(
            {
                "web worker": lambda: psutil.Process(server.process.pid).children(),
                "PostgreSQL": postgres_processes,
                "client (this process)": lambda: [psutil.Process()],
            }
        )
        cpu.start()
        for query in queries:
            bodies = [
                json.dumps(request_body(query, spec, customer)).encode()
                for customer in api_customers(query, spec)
            ]
            timing, answers, failures = time_endpoint(
                server.port, api_key, query, bodies, arguments.repeat, arguments.budget
            )
            results.append(timed_summary(query, timing, answers, failures))
        cpu.stop()
        watch.stop()
        log(f"CPU while asking the analytics endpoints: {cpu.summary()}")
        context.results["api"] = results
        context.results["api_cpu"] = {
            "seconds": cpu.seconds,
            "wall": cpu.wall,
            "summary": cpu.summary(),
        }
        context.results["api_peak_worker_rss_bytes"] = watch.peak_worker_rss
    finally:
        server.stop()


def api_rows(context: Context) -> list[Any]:
    """The targets table's rows for the endpoints (no DuckDB counterpart: "—")."""
    from bench.api_queries import API_QUERY_SET
    from bench.report import Row

    targets = {query.key: query for query in API_QUERY_SET}
    rows = []
    for summary in context.results.get("api", []):
        p50 = summary["p50"]
        notes = (
            [f" (past gunicorn's default {GUNICORN_DEFAULT_TIMEOUT_SECONDS} s timeout)"]
            if p50 is not None and p50 > GUNICORN_DEFAULT_TIMEOUT_SECONDS
            else []
        )
        rows.append(
            timed_row(targets[summary["key"]], summary, wrong="NOT 200 / EMPTY", notes=notes)
        )
    rss = context.results.get("api_peak_worker_rss_bytes")
    if rss:
        rows.append(
            Row(
                what="web worker memory during the analytics requests (peak RSS)",
                ours=f"{rss / 2**20:.0f} MB",
                target="≤ 300 MB",
                passed=rss / 2**20 <= 300,
            )
        )
    return rows
