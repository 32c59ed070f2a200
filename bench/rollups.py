"""Rollups, when the app has them: rebuilt after a load, kept up by their job during ingestion.

The bench finds out at run time what the app offers (the `rollups_rebuild` and
`rollups_update` commands, the backlog table) and says in its output what it used.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKLOG_TABLE = "analytics_eventbacklog"
PEAK_RSS = "peak RSS bytes "


def _commands() -> set[str]:
    from django.core.management import get_commands

    return set(get_commands())


def rollups_available() -> bool:
    return {"rollups_rebuild", "rollups_update"} <= _commands()


@dataclass(frozen=True)
class RollupBuild:
    used: bool
    description: str
    seconds: float = 0.0


def rollups_rebuild(meter_ids: Sequence[str] = ()) -> RollupBuild:
    """Rebuild these meters' rollups from their stored events, or (no IDs) every meter that is
    due. Events loaded with COPY skip the backlog: until rebuilt, rollups would not know them."""
    if not rollups_available():
        return RollupBuild(False, "none in this app: queries read raw events")
    from django.core.management import call_command

    began = time.perf_counter()
    output = io.StringIO()
    try:
        call_command("rollups_rebuild", meter=list(meter_ids), stdout=output)
    except Exception as error:
        # The bench still measures (the engine reads raw events for meters not ready), and
        # says loudly that the rollups could not be built.
        return RollupBuild(
            False,
            f"REBUILD FAILED ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
            "meters not ready are read from raw events",
            time.perf_counter() - began,
        )
    lines = output.getvalue().splitlines()
    outcomes = sorted({line.split(": ", 1)[-1] for line in lines if ": " in line})
    done = f"{len(lines)} meters: {', '.join(outcomes)}" if outcomes else "all up to date"
    description = f"`manage.py rollups_rebuild` ({done})"
    if "rollups_compact" in _commands():
        # Closed days of meters that were ready already (not rebuilt now) get their day rows.
        compacted = io.StringIO()
        call_command("rollups_compact", stdout=compacted)
        description += f", `manage.py rollups_compact` ({compacted.getvalue().strip()})"
    return RollupBuild(True, description, time.perf_counter() - began)


def backlog_forget(connection: Any, environment_id: Any) -> None:
    """Remove the backlog rows of an environment's events (before those events are deleted)."""
    exists = connection.execute("SELECT to_regclass(%s)", [BACKLOG_TABLE]).fetchone()[0]
    if exists:
        connection.execute(
            "DELETE FROM analytics_eventbacklog b USING analytics_event e "
            "WHERE e.id = b.event_id AND e.environment_id = %s",
            [environment_id],
        )


def backlog_size(connection: Any) -> int | None:
    exists = connection.execute("SELECT to_regclass(%s)", [BACKLOG_TABLE]).fetchone()[0]
    if not exists:
        return None
    return int(connection.execute("SELECT count(*) FROM analytics_eventbacklog").fetchone()[0])


class RollupJob:
    """The periodic rollup job (`rollups_update`, what Celery beat runs every ROLLUP_SECONDS),
    in a process of its own for as long as the bench ingests."""

    def __init__(self, *, database_url: str, interval: float, log: Path) -> None:
        environment = dict(os.environ, DATABASE_URL=database_url)
        self.log_path = log
        self.peak_rss_bytes: int | None = None
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.rollups", str(interval)],
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        # The job's last line is its peak resident memory.
        for line in reversed(self.log_path.read_text().splitlines()):
            if line.startswith(PEAK_RSS):
                self.peak_rss_bytes = int(line.removeprefix(PEAK_RSS))
                break


def _job_loop(interval: float) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flexprice_site.settings")
    django.setup()
    from analytics.rollups.services import rollups_update

    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        began = time.monotonic()
        try:
            moved = rollups_update()
        except Exception as error:
            print(f"{time.time():.1f} FAILED {type(error).__name__}: {error}", flush=True)
            from django.db import connection

            connection.close()
        else:
            print(f"{time.time():.1f} moved {moved}", flush=True)
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    from bench.context import peak_rss_bytes

    print(f"{PEAK_RSS}{peak_rss_bytes()}", flush=True)


if __name__ == "__main__":
    _job_loop(float(sys.argv[1]))
