"""What the bench's phases share: the run's context, its log, and where things run."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BEGAN = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - BEGAN:7.1f}s] {message}", flush=True)


@dataclass
class Context:
    """One run: its options, data set, database, var/bench folder, environments, results."""

    arguments: argparse.Namespace
    spec: Any
    database: Any
    var: Path
    dataset: Any = None  # BenchEnvironment
    ingest: Any = None  # BenchEnvironment
    pricing: Any = None  # BenchPricing of the dataset environment
    results: dict[str, Any] = field(default_factory=dict)


def engine() -> tuple[Any, str]:
    """(meter_usage, "") when the metering engine is importable, else (None, why not)."""
    try:
        from analytics.metering import meter_usage
    except ImportError as error:
        return None, f"metering engine not available ({error})"
    return meter_usage, ""


def postgres_processes() -> list[Any]:
    """The processes of the PostgreSQL server, when it runs on this machine (else none)."""
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        process = psutil.Process(backend)
        if "postgres" not in process.name():
            return []
        postmaster = process.parent()
        return [postmaster, *postmaster.children()] if postmaster else []
    except psutil.Error:
        return []


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: a process the
    bench starts would inherit the bench's own peak (kept across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
