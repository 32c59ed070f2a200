"""Phase 3: the query set, timed warm against DuckDB on the same data, answers compared."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.context import Context, engine, log, postgres_processes


@dataclass
class Timing:
    runs: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    @property
    def p95(self) -> float | None:
        if not self.runs:
            return None
        ordered = sorted(self.runs)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed_runs(
    sides: dict[str, Callable[[Any], object]], arguments: list[Any], repeat: int, budget: float
) -> dict[str, Timing]:
    """`repeat` warm runs of each side, cycling through `arguments`; stops early (after 3)
    once the sides together have used `budget` seconds per side.

    The sides take turns run by run, so both meet the same machine: whatever else runs on it
    slows both alike instead of only the one that was being timed then.
    """
    timings = {name: Timing() for name in sides}
    deadline = time.perf_counter() + budget * len(sides)
    for number in range(repeat):
        for name, run in sides.items():
            began = time.perf_counter()
            run(arguments[number % len(arguments)])
            timings[name].runs.append(time.perf_counter() - began)
        if number >= 2 and time.perf_counter() > deadline:
            break
    return timings


def query_phase(context: Context) -> None:
    import psutil

    from bench.duck import DuckEvents, database_path
    from bench.http_ingest import CpuWatch
    from bench.queries import (
        QUERY_SET,
        answer_differences,
        customers_for,
        duck_answer,
        duck_parameters,
        duck_sql,
        engine_answer,
        usage_query,
    )

    arguments, spec = context.arguments, context.spec
    meter_usage, why_not = engine()
    duck = DuckEvents(database_path(context.var, spec))
    only = {key for key in arguments.only.split(",") if key}
    from costsheets.models import Meter

    # Fresh rows: nothing cached on them from before the rollups were rebuilt.
    meters = {key: Meter.objects.get(pk=meter.pk) for key, meter in context.dataset.meters.items()}
    meter_keys = {meter.pk: key for key, meter in meters.items()}
    environment_id = context.dataset.environment.pk
    results = []
    cpu = CpuWatch(
        {"PostgreSQL": postgres_processes, "bench (engine + DuckDB)": lambda: [psutil.Process()]}
    )
    cpu.start()
    for query in QUERY_SET:
        if only and query.key not in only:
            continue
        customers = customers_for(query, spec)
        with_customer = customers[0] is not None
        sql = duck_sql(query, with_customer=with_customer)

        def run_duck(customer: str | None, query: Any = query, sql: str = sql) -> Any:
            return duck.run(sql, duck_parameters(query, spec, customer))

        def run_ours(customer: str | None, query: Any = query) -> Any:
            return meter_usage(
                usage_query(
                    query, spec, environment_id=environment_id, meters=meters, customer=customer
                )
            )

        # The first pass over the customers warms up and is what the answers are checked on.
        differences: list[str] = []
        duck_answers = {customer: duck_answer(query, run_duck(customer)) for customer in customers}
        sides = {"duck": run_duck}
        if meter_usage is not None:
            for customer in customers:
                ours = engine_answer(run_ours(customer), meter_keys)
                for difference in answer_differences(ours, duck_answers[customer]):
                    differences.append(f"{customer or 'tenant'} {difference}")
            sides["ours"] = run_ours
        timings = timed_runs(sides, customers, arguments.repeat, arguments.budget)
        duck_timing, ours_timing = timings["duck"], timings.get("ours", Timing())
        summary = {
            "key": query.key,
            "title": query.title,
            "ours_runs": ours_timing.runs,
            "duck_runs": duck_timing.runs,
            "ours_p50": ours_timing.p50,
            "ours_p95": ours_timing.p95,
            "duck_p50": duck_timing.p50,
            "duck_p95": duck_timing.p95,
            "differences": differences[:10],
            "engine_note": why_not,
        }
        results.append(summary)
        ours_text = "n/a" if ours_timing.p50 is None else f"{ours_timing.p50 * 1000:.1f} ms"
        log(
            f"{query.key}: ours p50 {ours_text}, DuckDB p50 {duck_timing.p50 * 1000:.1f} ms "
            f"({len(duck_timing.runs)} runs)"
        )
        if differences:
            print("!" * 72)
            print(f"!! MISMATCH in {query.key}: our answer differs from DuckDB's:")
            for difference in differences[:10]:
                print(f"!!   {difference}")
            print("!" * 72, flush=True)
    duck.close()
    cpu.stop()
    log(f"CPU while querying: {cpu.summary()}")
    context.results["queries"] = results
    context.results["query_cpu"] = {
        "seconds": cpu.seconds,
        "wall": cpu.wall,
        "summary": cpu.summary(),
    }
