"""The yardstick: the same events in a DuckDB database file, queried with the equivalent SQL.

DuckDB gets the data in its own best shape: one table, properties as typed columns, in the
order the events happened (the order PostgreSQL holds them in too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

from bench.dataset import EVENT_NAMES, MODELS, REGIONS, Chunk, DatasetSpec

_CREATE = """
CREATE TABLE events (
    seq BIGINT, event_id VARCHAR, event_name VARCHAR, customer VARCHAR, ts TIMESTAMP,
    model VARCHAR, tokens BIGINT, region VARCHAR, user_id VARCHAR
)
"""


def _list_literal(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


# Codes become the very strings PostgreSQL stores (see bench.dataset); the lists are constants.
_INSERT = f"""
INSERT INTO events
SELECT seq, 's' || $seed || '-' || lpad(seq::VARCHAR, 10, '0'),
       {_list_literal(EVENT_NAMES)}[event_name + 1],
       'customer-' || lpad(customer::VARCHAR, 4, '0'),
       ts,
       {_list_literal(MODELS)}[model + 1],
       tokens,
       {_list_literal(REGIONS)}[region + 1],
       'user-' || lpad("user"::VARCHAR, 5, '0')
FROM chunk_arrays
"""  # noqa: S608 (constants of bench.dataset, no input)


def database_path(directory: Path, spec: DatasetSpec) -> Path:
    return directory / f"{spec.name}.duckdb"


class DuckBuilder:
    """Writes a data set into a new DuckDB file, chunk by chunk; the file appears when complete."""

    def __init__(self, path: Path, spec: DatasetSpec) -> None:
        self.path = path
        self.spec = spec
        self.partial = path.with_suffix(".duckdb.partial")
        self.partial.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(self.partial))
        self.connection.execute(_CREATE)

    def add(self, chunk: Chunk) -> None:
        import numpy as np

        chunk_arrays = {  # noqa: F841 (read by DuckDB's replacement scan in _INSERT)
            "seq": np.arange(chunk.offset, chunk.offset + len(chunk), dtype=np.int64),
            "event_name": chunk.event_name,
            "customer": chunk.customer,
            "ts": chunk.timestamp_us.astype("datetime64[us]"),
            "model": chunk.model,
            "tokens": chunk.tokens,
            "region": chunk.region,
            "user": chunk.user,
        }
        self.connection.execute(_INSERT, {"seed": str(self.spec.seed)})

    def finish(self) -> None:
        self.connection.execute("CHECKPOINT")
        self.connection.close()
        os.replace(self.partial, self.path)


class DuckEvents:
    """A read-only handle on a built data set."""

    def __init__(self, path: Path) -> None:
        self.connection = duckdb.connect(str(path), read_only=True)

    def run(self, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, parameters).fetchall()

    def count(self) -> int:
        row = self.connection.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.connection.close()


def version() -> str:
    return duckdb.__version__
