"""The bench's output: machine facts and the results table (Markdown, so it pastes anywhere)."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

import psutil


@dataclass
class Row:
    what: str
    ours: str  # measured value (or ours p50)
    ours_p95: str = ""
    duckdb: str = ""
    ratio: str = ""
    target: str = ""
    passed: bool | None = None  # None: not measured

    @property
    def result(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts(postgres: dict[str, str], duckdb_version: str) -> dict[str, str]:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "CPU": f"{os.cpu_count()} × {cpu_model()}",
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "PostgreSQL": postgres.get("version", "?"),
        "PostgreSQL settings": postgres.get("settings", "?"),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "DuckDB": duckdb_version,
        "OS": f"{platform.system()} {platform.release()}",
        "load average at start": load,
    }


def milliseconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    milli = seconds * 1000
    return f"{milli:.1f} ms" if milli < 100 else f"{milli:.0f} ms"


def table(rows: list[Row]) -> str:
    header = ["what", "ours (p50)", "ours p95", "DuckDB p50", "ratio", "target", "result"]
    cells = [
        [row.what, row.ours, row.ours_p95, row.duckdb, row.ratio, row.target, row.result]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(values) for values in cells)])


def facts_text(facts: dict[str, Any]) -> str:
    width = max(len(key) for key in facts)
    return "\n".join(f"  {key.ljust(width)}  {value}" for key, value in facts.items())


def rows_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [{**asdict(row), "result": row.result} for row in rows]
