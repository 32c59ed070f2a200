"""Run a request's per-meter statements side by side, each on a database connection of its own.

A usage question over several meters is one statement per meter, and PostgreSQL runs one
statement on one core. On a server with cores to spare, `METERING_PARALLEL_STATEMENTS`
threads (default 2; 1 turns this off) each run one meter's statement at a time, so a request
whose time is one or two heavy meters (distinct counts) takes about as long as the heaviest of
them instead of their sum.

The threads live as long as the process and keep their connections as any Django connection
(`CONN_MAX_AGE`, health checks). Inside a transaction everything runs on the caller's own
connection, in order: other connections can't see what the transaction has not committed.
Each statement reads its own snapshot either way, as statements in autocommit always did.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, connections

Item = TypeVar("Item")
Result = TypeVar("Result")

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()


def each_in_parallel(work: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """`[work(item) for item in items]`, in order, on the statement threads when it can help:
    more than one item, more than one thread configured, and no transaction open here."""
    workers = settings.METERING_PARALLEL_STATEMENTS
    if workers < 2 or len(items) < 2 or connection.in_atomic_block:
        return [work(item) for item in items]
    pool = _statement_pool(workers)
    # Each task runs in a copy of this context, so a request's metering.shared_answers()
    # (a context variable) holds for its statements too.
    futures = [
        pool.submit(contextvars.copy_context().run, _on_worker_connection, work, item)
        for item in items
    ]
    return [future.result() for future in futures]


def _on_worker_connection(work: Callable[[Item], Result], item: Item) -> Result:
    # As Django does between requests: drop the thread's connection if it is too old or broken.
    close_old_connections()
    return work(item)


def _statement_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metering")
            _pool_workers = workers
        return _pool


def close_connections() -> None:
    """Close every statement thread's database connection (tests do, before the test database
    is dropped; a process that exits needs nothing). Threads stay; they reconnect when used."""
    with _pool_lock:
        pool = _pool
        if pool is None:
            return
        workers = _pool_workers
        # One task per thread: each waits until all are running, so every thread takes one.
        barrier = threading.Barrier(workers, timeout=10)

        def close() -> None:
            barrier.wait()
            connections.close_all()

        futures = [pool.submit(close) for _ in range(workers)]
        for future in futures:
            future.result()


def _forget_pool() -> None:
    # A forked child (a prefork worker) has the parent's pool object but none of its threads.
    global _pool, _pool_workers, _pool_lock
    _pool, _pool_workers = None, 0
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)
