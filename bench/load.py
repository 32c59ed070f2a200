"""Loading the data set into analytics_event with COPY, and knowing what is already loaded."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from bench.dataset import (
    EVENT_NAMES,
    MODELS,
    REGIONS,
    SOURCE,
    Chunk,
    DatasetSpec,
    customer_id,
    timestamps_text,
)

# Which data set the bench database holds; written after a complete load (and rollup build).
_MARKER_TABLE = """
CREATE TABLE IF NOT EXISTS bench_dataset (
    name text PRIMARY KEY, events bigint NOT NULL, loaded_at timestamptz NOT NULL,
    details jsonb NOT NULL DEFAULT '{}'
)
"""
_COPY = """
COPY analytics_event (
    tenant_id, environment_id, event_id, event_name, external_customer_id, customer_id,
    timestamp, source, properties, ingested_at
) FROM STDIN
"""


def loaded_dataset(connection: psycopg.Connection[Any]) -> tuple[str, dict[str, Any]] | None:
    connection.execute(_MARKER_TABLE)
    row = connection.execute("SELECT name, details FROM bench_dataset").fetchone()
    return None if row is None else (row[0], row[1])


def derived_tables(connection: psycopg.Connection[Any]) -> list[str]:
    """Tables kept from events (rollups, their backlog), emptied with the events on a reload."""
    rows = connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' AND table_name LIKE 'analytics\\_%' "
        "AND (table_name LIKE '%rollup%' OR table_name LIKE '%backlog%') ORDER BY table_name"
    ).fetchall()
    return [row[0] for row in rows]


def dataset_forget(connection: psycopg.Connection[Any]) -> list[str]:
    """Empty the events and everything derived from them; the catalogue stays."""
    connection.execute(_MARKER_TABLE)
    tables = ["analytics_event", *derived_tables(connection)]
    connection.execute(
        sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(t) for t in tables))
    )
    connection.execute("DELETE FROM bench_dataset")
    return tables


def dataset_remember(
    connection: psycopg.Connection[Any], spec: DatasetSpec, details: dict[str, Any]
) -> None:
    connection.execute(
        "INSERT INTO bench_dataset (name, events, loaded_at, details) "
        "VALUES (%s, %s, now(), %s::jsonb)",
        [spec.name, spec.events, json.dumps(details)],
    )


@dataclass(frozen=True)
class SecondaryIndex:
    name: str
    definition: str  # CREATE INDEX …, or the constraint's definition (UNIQUE …, FOREIGN KEY …)
    constraint: bool


def secondary_indexes(connection: psycopg.Connection[Any]) -> list[SecondaryIndex]:
    """analytics_event's indexes and constraints other than the primary key.

    Foreign keys are among them: Django makes them deferred, so every COPYed row would queue a
    check until commit (and ALTER TABLE refuses to run while checks are queued); added again
    afterwards, each is checked once for the whole table.
    """
    constraints = connection.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'analytics_event'::regclass AND contype IN ('u', 'x', 'f') "
        "ORDER BY contype DESC, conname"
    ).fetchall()
    indexes = connection.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = 'analytics_event'::regclass AND NOT x.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
    ).fetchall()
    return [SecondaryIndex(name, definition, True) for name, definition in constraints] + [
        SecondaryIndex(name, definition, False) for name, definition in indexes
    ]


def indexes_drop(connection: psycopg.Connection[Any], indexes: list[SecondaryIndex]) -> None:
    for index in indexes:
        if index.constraint:
            connection.execute(
                sql.SQL("ALTER TABLE analytics_event DROP CONSTRAINT {}").format(
                    sql.Identifier(index.name)
                )
            )
        else:
            connection.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index.name)))


def indexes_create(connection: psycopg.Connection[Any], indexes: list[SecondaryIndex]) -> None:
    # Definitions come from the catalogue just read (pg_get_indexdef / pg_get_constraintdef).
    connection.execute("SET LOCAL maintenance_work_mem = '1GB'")
    for index in indexes:
        if index.constraint:
            connection.execute(
                sql.SQL("ALTER TABLE analytics_event ADD CONSTRAINT {} {}").format(
                    sql.Identifier(index.name), sql.SQL(index.definition)
                )
            )
        else:
            connection.execute(sql.SQL(index.definition))


@dataclass
class PostgresLoader:
    """COPYs chunks into analytics_event within the caller's transaction.

    A bulk load is faster into a table without its secondary indexes, then building them once:
    they are dropped at the start and made again, with the same definitions, in `finish()`. DDL
    is transactional in PostgreSQL, so a load that fails or is interrupted leaves the table and
    its indexes exactly as they were.
    """

    connection: psycopg.Connection[Any]
    spec: DatasetSpec
    tenant_id: Any
    environment_id: Any
    customers: dict[str, str]  # external customer ID → customer ID
    ingested_at: datetime

    def __post_init__(self) -> None:
        self.indexes = secondary_indexes(self.connection)
        indexes_drop(self.connection, self.indexes)
        self.index_seconds = 0.0
        self._stack = contextlib.ExitStack()
        cursor = self._stack.enter_context(self.connection.cursor())
        self._copy = self._stack.enter_context(cursor.copy(_COPY))
        self._prefix = f"{self.tenant_id}\t{self.environment_id}\t"
        self._suffix = f"\t{self.ingested_at.isoformat()}\n"
        names = [customer_id(rank) for rank in range(self.spec.customers)]
        self._customer_names = names
        self._customer_ids = [self.customers.get(name, "") for name in names]

    def add(self, chunk: Chunk) -> None:
        prefix, suffix, seed = self._prefix, self._suffix, self.spec.seed
        names, ids = self._customer_names, self._customer_ids
        # Text format: none of these values holds a tab, newline or backslash.
        lines = [
            f"{prefix}s{seed}-{index:010d}\t{EVENT_NAMES[name]}\t{names[customer]}\t"
            f"{ids[customer]}\t{timestamp}\t{SOURCE}\t"
            f'{{"model": "{MODELS[model]}", "tokens": {tokens}, '
            f'"region": "{REGIONS[region]}", "user_id": "user-{user:05d}"}}{suffix}'
            for index, name, customer, timestamp, model, tokens, region, user in zip(
                range(chunk.offset, chunk.offset + len(chunk)),
                chunk.event_name.tolist(),
                chunk.customer.tolist(),
                timestamps_text(chunk),
                chunk.model.tolist(),
                chunk.tokens.tolist(),
                chunk.region.tolist(),
                chunk.user.tolist(),
                strict=True,
            )
        ]
        self._copy.write("".join(lines).encode())

    def finish(self) -> None:
        """End the COPY and build the indexes again (the caller commits)."""
        self._stack.close()
        began = time.perf_counter()
        indexes_create(self.connection, self.indexes)
        self.index_seconds = time.perf_counter() - began

    def abandon(self) -> None:
        # Closing the COPY with an exception in hand makes psycopg cancel it instead of ending it.
        error = RuntimeError("load abandoned")
        with contextlib.suppress(Exception):
            self._stack.__exit__(RuntimeError, error, None)
        self.connection.rollback()
