"""Phase 2: bulk ingestion over HTTP, event visibility, and web worker memory."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.context import Context, engine, log, postgres_processes


def ingest_reset(context: Context) -> None:
    """Forget what earlier runs posted over HTTP (rows of the ingest environment only)."""
    import psycopg

    from bench.database import conninfo
    from bench.rollups import backlog_forget, rollups_rebuild

    environment_id = context.ingest.environment.pk
    with psycopg.connect(conninfo(context.database.url)) as connection:
        backlog_forget(connection, environment_id)
        connection.execute(
            "DELETE FROM analytics_event WHERE environment_id = %s", [environment_id]
        )
        connection.commit()
    # Rebuilt from no events: the ingest meters' rollups are empty and ready, as in a live app.
    rollups_rebuild([meter.pk for meter in context.ingest.meters.values()])


PROBE_CUSTOMER = "bench-probe"
PROBE_METER = "requests"


def probe_count(meter_usage: Any, context: Context) -> int:
    from analytics.metering import UsageQuery

    now = datetime.now(UTC)
    series = meter_usage(
        UsageQuery(
            environment_id=context.ingest.environment.pk,
            meters=(context.ingest.meters[PROBE_METER],),
            start=now - timedelta(hours=1),
            end=now + timedelta(hours=1),
            external_customer_ids=(PROBE_CUSTOMER,),
            window_size=None,
            time_zone="UTC",
        )
    )
    return int(sum(one.total or 0 for one in series))


def visibility_seconds(
    meter_usage: Any, context: Context, port: int, api_key: str, run_id: str, number: int
) -> float:
    """Seconds from the 202 of one posted event until meter_usage counts it (∞ after 30 s)."""
    from bench.http_ingest import post_one, probe_event
    from bench.queries import METERS

    before = probe_count(meter_usage, context)
    event = probe_event(run_id, number, PROBE_CUSTOMER, METERS[PROBE_METER].event_name)
    answered = post_one(port, api_key, event)
    while time.perf_counter() - answered < 30:
        if probe_count(meter_usage, context) > before:
            return time.perf_counter() - answered
        time.sleep(0.005)
    return float("inf")


def http_phase(context: Context) -> None:
    import psutil
    from django.db import connection as django_connection

    from bench.catalogue import api_key_for
    from bench.dataset import DatasetSpec
    from bench.http_ingest import (
        CpuWatch,
        MemoryWatch,
        WebServer,
        client_plans,
        ingest_events,
        run_ingestion,
    )
    from bench.rollups import RollupJob, rollups_available

    arguments = context.arguments
    meter_usage, why_not = engine()
    ingest_reset(context)
    api_key = api_key_for(context.ingest.environment)
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    events = ingest_events(
        DatasetSpec(events=arguments.http_events, seed=context.spec.seed + 1),
        run_id,
        datetime.now(UTC),
    )
    plans = client_plans(events, arguments.clients)
    del events
    server = WebServer(
        database_url=context.database.url,
        workers=arguments.web_workers,
        worker_class=arguments.worker_class,
        threads=arguments.threads,
        log=context.var / "gunicorn.log",
    )
    rollup_job = None
    if rollups_available():
        from django.conf import settings

        rollup_job = RollupJob(
            database_url=context.database.url,
            interval=float(getattr(settings, "ROLLUP_SECONDS", 2.0)),
            log=context.var / "rollup-job.log",
        )
    visibility: list[float] = []
    try:
        server.wait_ready()
        watch = MemoryWatch(server.process.pid)
        log(
            f"gunicorn on :{server.port} ({arguments.web_workers} {arguments.worker_class} "
            f"workers × {arguments.threads} threads); {arguments.clients} clients posting "
            f"{sum(len(plan.batches) for plan in plans)} batches of 1,000 (5% re-sent)"
        )
        # Visibility is probed while ingestion runs (at 1/3 and 2/3 of it) and once after.
        marks = [arguments.http_events // 3, 2 * arguments.http_events // 3]
        due = threading.Event()
        probing_done = threading.Event()

        def on_progress(accepted: int) -> None:
            if marks and accepted >= marks[0]:
                marks.pop(0)
                due.set()

        def prober() -> None:
            try:
                for number in range(2):
                    due.wait()
                    due.clear()
                    if probing_done.is_set():
                        return
                    visibility.append(
                        visibility_seconds(
                            meter_usage, context, server.port, api_key, run_id, number
                        )
                    )
            finally:
                django_connection.close()

        probe_thread = None
        if meter_usage is not None:
            probe_thread = threading.Thread(target=prober, daemon=True)
            probe_thread.start()
        cpu = CpuWatch(
            {
                "web workers": lambda: psutil.Process(server.process.pid).children(),
                "PostgreSQL": postgres_processes,
                "clients (this process)": lambda: [psutil.Process()],
                **(
                    {"rollup job": lambda: [psutil.Process(rollup_job.process.pid)]}
                    if rollup_job is not None
                    else {}
                ),
            }
        )
        result = run_ingestion(
            port=server.port,
            api_key=api_key,
            plans=plans,
            on_progress=on_progress,
            on_start=cpu.start,
            on_end=cpu.stop,
        )
        if probe_thread is not None:
            probing_done.set()
            due.set()
            probe_thread.join()
            visibility.append(
                visibility_seconds(meter_usage, context, server.port, api_key, run_id, 9)
            )
        watch.stop()
        rollup_note = "no rollups"
        rollup_rss = None
        if rollup_job is not None:
            rollup_job.stop()
            rollup_rss = rollup_job.peak_rss_bytes
            rollup_note = rollup_catch_up(context)
        log(
            f"ingested {result.accepted:,} new + {result.duplicates:,} duplicate events in "
            f"{result.seconds:.1f}s: {result.events_per_second:,.0f} new events/s "
            f"(batch p50 {result.batch_p50_ms:.0f} ms, p95 {result.batch_p95_ms:.0f} ms)"
        )
        log(f"  CPU while ingesting: {cpu.summary()}")
        log(f"  rollups: {rollup_note}")
        for error in result.errors:
            log(f"  ERROR {error}")
        context.results["http"] = {
            **asdict(result),
            "events_per_second": result.events_per_second,
            "deduplicated_correctly": result.deduplicated_correctly,
            "visibility_seconds": visibility,
            "visibility_note": why_not,
            "peak_worker_rss_bytes": watch.peak_worker_rss,
            "peak_workers_total_rss_bytes": watch.peak_total_rss,
            "peak_rollup_job_rss_bytes": rollup_rss,
            "server": f"gunicorn {arguments.web_workers} × {arguments.worker_class}",
            "cpu": {"seconds": cpu.seconds, "wall": cpu.wall, "summary": cpu.summary()},
            "rollups": rollup_note,
        }
    finally:
        server.stop()
        if rollup_job is not None:
            rollup_job.stop()


def rollup_catch_up(context: Context) -> str:
    """How far the rollup job was behind when ingestion ended, and how long it took to catch up."""
    import psycopg

    from analytics.rollups.services import rollups_update
    from bench.database import conninfo
    from bench.rollups import backlog_size

    with psycopg.connect(conninfo(context.database.url), autocommit=True) as connection:
        behind = backlog_size(connection)
    began = time.perf_counter()
    try:
        moved = rollups_update()
    except Exception as error:
        return (
            f"THE ROLLUP JOB FAILED ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
            f"{behind or 0:,} events left in the backlog"
        )
    return (
        f"kept up by the rollups_update job during ingestion; {behind or 0:,} events were "
        f"still in the backlog at the end, moved in {time.perf_counter() - began:.1f}s "
        f"({moved:,})"
    )
