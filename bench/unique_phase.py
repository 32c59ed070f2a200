"""Phase: a distinct count over a field that is unique per event (a request ID), the case that
makes a meter's value dictionary as large as its events.

In an environment of its own (`unique-ids`), `--unique-events` events (one name, spread over
the data set's 30 days and customers) each carry a `request_id` of their own. A COUNT_UNIQUE
meter counts them. The meter's rollups are rebuilt in a process of its own (as a Celery worker
would), then the tenant-wide question of the query set (30 days, DAY windows) is asked in
another process; each reports its peak resident memory. The answer must be exact: every event
is one value, so each day's count is its number of events.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

from bench.context import Context, log, peak_rss_bytes

ENVIRONMENT = "unique-ids"
EVENT_NAME = "unique_request"
METER_NAME = "Bench: distinct request IDs"
FIELD = "request_id"
KEY = "unique-per-event"
TARGET_MB = 300


def _environment_and_meter(context: Context) -> tuple[Any, Any]:
    from costsheets.models import AggregationType, Meter
    from costsheets.services import meter_create
    from flexprice_site.services import environment_get_or_create

    environment = environment_get_or_create(tenant_name="Bench", environment_name=ENVIRONMENT)
    meter = Meter.objects.filter(environment=environment, name=METER_NAME).first()
    if meter is None:
        meter = meter_create(
            environment=environment,
            name=METER_NAME,
            event_name=EVENT_NAME,
            aggregation_type=AggregationType.COUNT_UNIQUE,
            aggregation_field=FIELD,
        )
    return environment, meter


def _copy_events(context: Context, environment: Any, count: int) -> None:
    """Events `0 … count-1`, in timestamp order over the data set's days, with the data set's
    customers in turn; event i carries request_id `req-<i>`. Loaded with COPY (no backlog)."""
    import numpy as np
    import psycopg

    from bench.database import conninfo
    from bench.dataset import EPOCH, customer_id

    spec = context.spec
    first_us = (spec.start - EPOCH) // timedelta(microseconds=1)
    offsets = np.random.default_rng([spec.seed, 99]).integers(0, spec.days * 86400 * 10**6, count)
    moments = (np.sort(offsets) + first_us).astype("datetime64[us]")
    stamps = [text + "Z" for text in np.datetime_as_string(moments, unit="us").tolist()]
    buffer = io.StringIO()
    for index in range(count):
        properties = json.dumps({FIELD: f"req-{index:09d}"})
        buffer.write(
            f"{environment.tenant_id}\t{environment.pk}\tu{index}\t{EVENT_NAME}\t"
            f"{customer_id(index % spec.customers)}\t\t{stamps[index]}\tbench\t{properties}\t"
            f"{stamps[index]}\n"
        )
    with psycopg.connect(conninfo(context.database.url)) as connection:
        connection.execute(
            "DELETE FROM analytics_event WHERE environment_id = %s", [environment.pk]
        )
        with connection.cursor().copy(
            "COPY analytics_event (tenant_id, environment_id, event_id, event_name, "
            "external_customer_id, customer_id, timestamp, source, properties, ingested_at) "
            "FROM STDIN"
        ) as copy:
            copy.write(buffer.getvalue())
        connection.execute("ANALYZE analytics_event")


def _in_a_process(context: Context, step: str, meter_id: str) -> dict[str, Any]:
    """Run `step` of this module in a process of its own; its answer (JSON) and peak RSS."""
    environment = dict(os.environ, DATABASE_URL=context.database.url)
    done = subprocess.run(
        [sys.executable, "-m", "bench.unique_phase", step, meter_id],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{step} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def unique_phase(context: Context) -> None:
    from django.db import connection

    arguments = context.arguments
    keys = {key for key in arguments.only.split(",") if key}
    if (keys and KEY not in keys) or not arguments.unique_events:
        return
    count = arguments.unique_events
    environment, meter = _environment_and_meter(context)
    began = time.perf_counter()
    _copy_events(context, environment, count)
    log(
        f"{KEY}: {count:,} events with a request ID each, copied in "
        f"{time.perf_counter() - began:.1f}s"
    )
    rebuild = _in_a_process(context, "rebuild", meter.pk)
    log(
        f"{KEY}: rollups rebuilt in {rebuild['seconds']:.1f}s, peak RSS "
        f"{rebuild['rss'] / 2**20:.0f} MB, dictionary {rebuild['values']:,} values"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('analytics_metervalue'), "
            "(SELECT count(*) FROM analytics_metervalue)"
        )
        dictionary_bytes, dictionary_rows = cursor.fetchone()
    query = _in_a_process(context, "query", meter.pk)
    log(
        f"{KEY}: tenant-wide 30 d DAY: p50 {query['p50'] * 1000:.0f} ms, peak RSS "
        f"{query['rss'] / 2**20:.0f} MB, {'exact' if query['exact'] else 'WRONG'}"
    )
    context.results["unique"] = {
        "events": count,
        "rebuild": rebuild,
        "query": query,
        "dictionary_bytes_all_meters": dictionary_bytes,
        "dictionary_rows_all_meters": dictionary_rows,
    }


def unique_rows(context: Context) -> list[Any]:
    from bench.report import Row, milliseconds

    found = context.results.get("unique")
    if not found:
        return []
    rebuild, query = found["rebuild"], found["query"]
    what = f"COUNT_UNIQUE of a per-event request ID ({found['events']:,} values)"
    return [
        Row(
            what=f"{what}: rollup rebuild, peak RSS",
            ours=f"{rebuild['rss'] / 2**20:.0f} MB",
            target=f"≤ {TARGET_MB} MB",
            passed=rebuild["rss"] / 2**20 <= TARGET_MB,
        ),
        Row(
            what=f"{what}: tenant-wide 30 d DAY" + ("" if query["exact"] else " (MISMATCH)"),
            ours=milliseconds(query["p50"]) or "n/a",
            target="exact",
            passed=query["exact"],
        ),
        Row(
            what=f"{what}: tenant-wide 30 d DAY, peak RSS",
            ours=f"{query['rss'] / 2**20:.0f} MB",
            target=f"≤ {TARGET_MB} MB",
            passed=query["rss"] / 2**20 <= TARGET_MB,
        ),
    ]


# --- the steps, each in a process of its own ----------------------------------------------


def _rebuild(meter_id: str) -> dict[str, Any]:
    from analytics.rollups.models import MeterRollupState
    from analytics.rollups.services import rollup_rebuild, rollup_state_sync
    from costsheets.models import Meter

    meter = Meter.objects.get(pk=meter_id)
    began = time.perf_counter()
    rollup_state_sync(meter=meter, force=True, enqueue=False)
    outcome = rollup_rebuild(meter_id=meter_id)
    seconds = time.perf_counter() - began
    state = MeterRollupState.objects.get(meter_id=meter_id)
    return {"seconds": seconds, "outcome": str(outcome), "values": state.values_assigned}


def _query(meter_id: str) -> dict[str, Any]:
    from datetime import UTC

    from analytics.metering import UsageQuery, meter_usage
    from analytics.models import Event
    from costsheets.models import Meter

    meter = Meter.objects.get(pk=meter_id)
    events = Event.objects.filter(environment_id=meter.environment_id)
    first = events.order_by("timestamp").values_list("timestamp", flat=True)[0]
    start = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=30)
    query = UsageQuery(
        environment_id=meter.environment_id,
        meters=(meter,),
        start=start,
        end=end,
        window_size="DAY",
    )
    runs = []
    answer: list[Any] = []
    for _ in range(5):
        began = time.perf_counter()
        answer = meter_usage(query)
        runs.append(time.perf_counter() - began)
    peak = peak_rss_bytes()  # the engine's, before the check below reads anything
    # Every event is a value of its own: a day's count is its number of events (counted here
    # by PostgreSQL, independently of the engine).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc('day', timestamp, 'UTC'), count(*) FROM analytics_event "
            "WHERE environment_id = %s AND timestamp >= %s AND timestamp < %s GROUP BY 1",
            [meter.environment_id, start, end],
        )
        per_day = {day.date(): count for day, count in cursor.fetchall()}
    (series,) = answer
    exact = (
        series.total == sum(per_day.values())
        and {point.timestamp.date(): int(point.value) for point in series.points} == per_day
    )
    return {"p50": sorted(runs)[len(runs) // 2], "exact": exact, "rss": peak}


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flexprice_site.settings")
    django.setup()
    step, meter_id = sys.argv[1], sys.argv[2]
    found = _rebuild(meter_id) if step == "rebuild" else _query(meter_id)
    found.setdefault("rss", peak_rss_bytes())
    print(json.dumps(found))
