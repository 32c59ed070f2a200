"""Phase 1: load the data set into PostgreSQL and DuckDB (or reuse it), then its rollups."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bench.context import Context, log


def load_phase(context: Context) -> None:
    import psycopg

    from bench.database import conninfo
    from bench.duck import DuckBuilder, database_path
    from bench.load import PostgresLoader, dataset_forget, dataset_remember, loaded_dataset
    from bench.rollups import rollups_rebuild

    spec, arguments = context.spec, context.arguments
    duck_path = database_path(context.var, spec)
    with psycopg.connect(conninfo(context.database.url)) as connection:
        loaded = loaded_dataset(connection)
        connection.commit()
        need_postgres = arguments.reload or loaded is None or loaded[0] != spec.name
        need_duck = arguments.reload or not duck_path.exists()
        context.results["load"] = {
            "postgres_reused": not need_postgres,
            "duckdb_reused": not need_duck,
        }
        if not need_postgres:
            log(f"PostgreSQL already holds data set {spec.name}: not loading it again")
            # Meters whose rollups are pending (changed settings, a new version) are rebuilt.
            rollups = rollups_rebuild()
            log(f"rollups: {rollups.description} ({rollups.seconds:.1f}s)")
            context.results["load"]["rollups"] = rollups.description
        if need_postgres:
            # Not committed on its own: emptying and loading are one transaction.
            emptied = dataset_forget(connection)
            log(f"emptying {', '.join(emptied)} and loading, in one transaction")
        if not (need_postgres or need_duck):
            return
        sinks: list[Any] = []
        loader = None
        if need_postgres:
            environment = context.dataset.environment
            loader = PostgresLoader(
                connection=connection,
                spec=spec,
                tenant_id=environment.tenant_id,
                environment_id=environment.pk,
                customers=context.dataset.customers,
                ingested_at=datetime.now(UTC),
            )
            sinks.append(loader)
        duck = DuckBuilder(duck_path, spec) if need_duck else None
        if duck is not None:
            sinks.append(duck)
        from bench.dataset import chunks

        began = time.perf_counter()
        seconds = {"generate": 0.0, "postgres": 0.0, "indexes": 0.0, "duckdb": 0.0}
        done = 0
        try:
            generated = time.perf_counter()
            for chunk in chunks(spec):
                seconds["generate"] += time.perf_counter() - generated
                for sink in sinks:
                    step = time.perf_counter()
                    sink.add(chunk)
                    seconds["postgres" if sink is loader else "duckdb"] += (
                        time.perf_counter() - step
                    )
                done += len(chunk)
                if done % 1_000_000 < len(chunk) or done == spec.events:
                    rate = done / (time.perf_counter() - began)
                    log(f"  loaded {done:,} / {spec.events:,} events ({rate:,.0f}/s)")
                generated = time.perf_counter()
            if loader is not None:
                step = time.perf_counter()
                loader.finish()
                connection.commit()
                seconds["postgres"] += time.perf_counter() - step
                seconds["indexes"] = loader.index_seconds
            if duck is not None:
                step = time.perf_counter()
                duck.finish()
                seconds["duckdb"] += time.perf_counter() - step
        except BaseException:
            if loader is not None:
                loader.abandon()
            raise
        log(
            "generated in {generate:.1f}s, into PostgreSQL {postgres:.1f}s (COPY, then "
            "{indexes:.1f}s of index builds), into DuckDB {duckdb:.1f}s".format(**seconds)
        )
        context.results["load"].update({f"{key}_seconds": value for key, value in seconds.items()})
        if need_postgres:
            step = time.perf_counter()
            with psycopg.connect(conninfo(context.database.url), autocommit=True) as maintenance:
                maintenance.execute("VACUUM (ANALYZE) analytics_event")
            vacuum = time.perf_counter() - step
            log(f"VACUUM ANALYZE analytics_event: {vacuum:.1f}s")
            rollups = rollups_rebuild([meter.pk for meter in context.dataset.meters.values()])
            log(f"rollups: {rollups.description} ({rollups.seconds:.1f}s)")
            context.results["load"].update(
                vacuum_seconds=vacuum, rollups=rollups.description, rollups_seconds=rollups.seconds
            )
            dataset_remember(connection, spec, {"rollups": rollups.description})
            connection.commit()
