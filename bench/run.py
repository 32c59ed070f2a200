"""`python -m bench`: make or reuse the data set, ingest over HTTP, time the query set vs DuckDB,
then the analytics endpoints over HTTP and the admin's event explorer."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bench.admin_phase import admin_phase, admin_rows
from bench.api_phase import api_phase, api_rows
from bench.context import BEGAN, Context, engine, log
from bench.ingest_phase import PROBE_CUSTOMER, http_phase
from bench.load_phase import load_phase
from bench.query_phase import query_phase
from bench.unique_phase import unique_phase, unique_rows


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load a reproducible data set, ingest over HTTP, and time the metering "
        "query set against DuckDB on the same data. Prints the targets table.",
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="data set size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--users", type=int, default=100_000, help="distinct user_id values")
    parser.add_argument("--reload", action="store_true", help="load again even if loaded")
    parser.add_argument(
        "--new-database",
        action="store_true",
        help="drop flexprice_bench and start from an empty database (implies --reload)",
    )
    parser.add_argument("--http-events", type=int, default=200_000, help="0 skips HTTP")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds at most per query and side"
    )
    parser.add_argument(
        "--unique-events",
        type=int,
        default=2_000_000,
        help="events of the per-event request ID row (bench/unique_phase.py); 0 skips it",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated keys of the rows to time "
        "(bench/queries.py, bench/api_queries.py, bench/admin_queries.py)",
    )
    return parser.parse_args(argv)


def postgres_facts(connection: Any, server: str) -> dict[str, str]:
    version = connection.execute("SHOW server_version").fetchone()[0]
    settings = {
        name: connection.execute(f"SHOW {name}").fetchone()[0]
        for name in ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit")
    }
    return {
        "version": f"{version} ({server})",
        "settings": ", ".join(f"{key}={value}" for key, value in settings.items()),
    }


def result_rows(context: Context) -> list[Any]:
    from bench.queries import QUERY_SET
    from bench.report import Row, milliseconds

    rows = []
    http = context.results.get("http")
    if http:
        rate = http["events_per_second"]
        note = "" if http["deduplicated_correctly"] else " (dedupe counts WRONG)"
        rows.append(
            Row(
                what=f"POST /v1/events/bulk over HTTP, {http['clients']} clients{note}",
                ours=f"{rate:,.0f} events/s",
                target="≥ 25,000 events/s",
                passed=rate >= 25_000 and http["deduplicated_correctly"],
            )
        )
        visibility = http["visibility_seconds"]
        worst = max(visibility) if visibility else None
        rows.append(
            Row(
                what="accepted event visible in meter_usage (worst of 3)",
                ours="n/a" if worst is None else f"{worst:.3f} s",
                target="≤ 2 s",
                passed=None if worst is None else worst <= 2,
            )
        )
    targets = {query.key: query for query in QUERY_SET}
    ratios = []
    for summary in context.results.get("queries", []):
        query = targets[summary["key"]]
        ours_p50, ours_p95, duck_p50 = summary["ours_p50"], summary["ours_p95"], summary["duck_p50"]
        passed = None
        ratio = ""
        if ours_p50 is not None:
            passed = not summary["differences"]
            if query.target_p50_ms is not None:
                passed = passed and ours_p50 * 1000 <= query.target_p50_ms
            if query.target_p95_ms is not None:
                passed = passed and ours_p95 * 1000 <= query.target_p95_ms
            ratios.append(ours_p50 / duck_p50)
            ratio = f"{ours_p50 / duck_p50:.2f}"
        rows.append(
            Row(
                what=query.title + (" (MISMATCH)" if summary["differences"] else ""),
                ours=milliseconds(ours_p50) or "n/a",
                ours_p95=milliseconds(ours_p95),
                duckdb=milliseconds(duck_p50),
                ratio=ratio,
                target=query.target_text,
                passed=passed,
            )
        )
    if context.results.get("queries"):
        rows.append(
            Row(
                what="every query of the set vs DuckDB (worst ratio)",
                ours=f"{max(ratios):.2f}" if ratios else "n/a",
                target="ratio ≤ 1.0",
                passed=(max(ratios) <= 1.0) if ratios else None,
            )
        )
    rows.extend(api_rows(context))
    rows.extend(admin_rows(context))
    rows.extend(unique_rows(context))
    if http:
        rss = http["peak_worker_rss_bytes"] / 2**20
        rows.append(
            Row(
                what="web worker memory during the bench (peak RSS of one worker)",
                ours=f"{rss:.0f} MB",
                target="≤ 300 MB",
                passed=rss <= 300,
            )
        )
        job_rss = http.get("peak_rollup_job_rss_bytes")
        if job_rss:
            rows.append(
                Row(
                    what="rollup job memory during ingestion (peak RSS, dictionary ids assigned)",
                    ours=f"{job_rss / 2**20:.0f} MB",
                    target="≤ 300 MB",
                    passed=job_rss / 2**20 <= 300,
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    from bench.database import bench_database, var_dir
    from bench.dataset import DatasetSpec, customer_weights

    spec = DatasetSpec(
        events=arguments.events,
        seed=arguments.seed,
        customers=arguments.customers,
        days=arguments.days,
        users=arguments.users,
    )
    var = var_dir() / "bench"
    var.mkdir(parents=True, exist_ok=True)
    database = bench_database(new=arguments.new_database)
    arguments.reload = arguments.reload or arguments.new_database
    log(f"database: {database.server} server, database flexprice_bench")

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    log("migrations applied")

    import psycopg

    from bench import duck
    from bench.billing import bench_pricing
    from bench.catalogue import DATASET_ENVIRONMENT, INGEST_ENVIRONMENT, bench_environment
    from bench.database import conninfo
    from bench.report import facts_text, machine_facts, rows_json, table

    with psycopg.connect(conninfo(database.url)) as connection:
        facts = machine_facts(postgres_facts(connection, database.server), duck.version())
    context = Context(arguments=arguments, spec=spec, database=database, var=var)
    context.dataset = bench_environment(DATASET_ENVIRONMENT, spec)
    context.ingest = bench_environment(INGEST_ENVIRONMENT, spec, extra_customers=(PROBE_CUSTOMER,))
    log("bench tenant, customers and meters ready")
    context.pricing = bench_pricing(
        environment=context.dataset.environment,
        meters=context.dataset.meters,
        customers=context.dataset.customers,
        spec=spec,
    )
    log(
        f"bench prices ready: {len(context.pricing.features)} features, plan and costsheet, "
        f"{context.pricing.subscriptions:,} subscriptions "
        f"({context.pricing.subscriptions_made:,} made now)"
    )

    load_phase(context)
    if arguments.http_events:
        http_phase(context)
    query_phase(context)
    api_phase(context)
    admin_phase(context)
    unique_phase(context)

    rows = result_rows(context)
    heaviest = customer_weights(spec)[0]
    wall = time.perf_counter() - BEGAN
    load = context.results.get("load", {})
    print()
    print(
        f"Data set {spec.name}: {spec.events:,} events, {spec.customers:,} customers "
        f"(heaviest {heaviest:.1%} of events), 5 event names, {spec.days} days from "
        f"{spec.start:%Y-%m-%d}, {spec.users:,} distinct user_id values"
    )
    print(
        "Loaded: "
        + ("reused" if load.get("postgres_reused") else "loaded now")
        + f"; rollups: {load.get('rollups', 'n/a')}"
    )
    _, why_not = engine()
    if why_not:
        print(f"Engine: {why_not} — our side of the query rows is not measured.")
    print("Machine:")
    print(facts_text(facts))
    noise = [
        f"{phase}: {cpu['seconds'].get('other processes', 0) / cpu['wall']:.2f} cores"
        for phase, cpu in (
            ("ingestion", context.results.get("http", {}).get("cpu")),
            ("queries", context.results.get("query_cpu")),
            ("endpoints", context.results.get("api_cpu")),
        )
        if cpu and cpu.get("wall")
    ]
    if noise:
        print(f"  other processes' CPU  {'; '.join(noise)} (work sharing the machine)")
    print()
    print(table(rows))
    print()
    print(f"Wall time: {wall:.0f} s")
    output = var / f"results-{spec.name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    output.write_text(
        json.dumps(
            {
                "spec": {**asdict(spec), "start": spec.start.isoformat(), "name": spec.name},
                "arguments": vars(arguments),
                "machine": facts,
                "results": context.results,
                "rows": rows_json(rows),
                "wall_seconds": wall,
            },
            indent=2,
            default=str,
        )
    )
    print(f"Results: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
