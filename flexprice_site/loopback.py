"""The whole app on loopback against a fresh database of its own, with an API key: what the long
fuzz run (`manage.py fuzz`) and the soak run (`manage.py soak`) send their requests to."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql

from flexprice_site.embedded_db import database_url

READY_TIMEOUT_SECONDS = 90
STOP_GRACE_SECONDS = 20
# gunicorn's access log, one status a line (a fuzzed path may hold a line break; the server log
# says more about any answer that went wrong).
ACCESS_LOG_FORMAT = "%(s)s"


@dataclass(frozen=True)
class LoopbackApp:
    base_url: str
    api_key: str
    database: dict[str, Any]  # a DATABASES entry for the app's database
    access_log: Path
    error_log: Path

    def connect(self) -> psycopg.Connection[Any]:
        """A connection to the app's database, to check what it stored."""
        return psycopg.connect(**_conninfo(self.database), autocommit=True)


def _conninfo(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "dbname": config["NAME"],
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
    }


def fresh_database(name: str) -> dict[str, Any]:
    """Database `name` created empty (dropped first if a run left it) on the server this
    process uses; its DATABASES entry."""
    config = {**settings.DATABASES["default"], "NAME": name}
    with psycopg.connect(**_conninfo({**config, "NAME": "postgres"}), autocommit=True) as server:
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return config


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(base_url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[2]} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base_url} did not answer within {READY_TIMEOUT_SECONDS} s")


def stop_processes(processes: list[subprocess.Popen[bytes]], *, grace: float) -> None:
    """Ask each process to stop, and kill those still running after `grace` seconds."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def loopback_app(
    *, name: str, run_dir: Path, web_workers: int, threads: int = 1, celery: bool = False
) -> Iterator[LoopbackApp]:
    """gunicorn (and with `celery`, a worker and beat, as in production) serving a fresh
    database `flexprice_<name>` on a free loopback port, migrated and holding one API key of
    tenant `name`; stopped on exit. Logs and local state go to `run_dir`; the database stays
    for a look afterwards (the next run drops it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    database = fresh_database(f"flexprice_{name}")
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "VAR_DIR": str(run_dir / "var"),
        # The runs measure the server, not the per-key throttle.
        "API_RATE_LIMIT": "1000000/s",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], env=environment, check=True)
    api_key = subprocess.run(
        [*manage, "create_api_key", "--tenant", name, "--environment", "production"],
        env=environment, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = _free_port()
    access_log, error_log = run_dir / "access.log", run_dir / "server.log"
    commands = [
        [
            sys.executable, "-m", "gunicorn", "flexprice_site.wsgi",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(web_workers),
            "--worker-class", "gthread" if threads > 1 else "sync",
            "--threads", str(threads),
            "--access-logfile", str(access_log),
            "--access-logformat", ACCESS_LOG_FORMAT,
        ],
    ]  # fmt: skip
    if celery:
        celery_app = [sys.executable, "-m", "celery", "-A", "flexprice_site"]
        commands += [[*celery_app, "worker", "--concurrency", "1"], [*celery_app, "beat"]]
    access_log.unlink(missing_ok=True)
    with error_log.open("ab") as output:
        processes = [
            # From the checkout, where gunicorn reads gunicorn.conf.py.
            subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            for command in commands
        ]
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(base_url, processes)
        yield LoopbackApp(base_url, api_key, database, access_log, error_log)
    finally:
        stop_processes(processes, grace=STOP_GRACE_SECONDS)


def access_log_statuses(app: LoopbackApp) -> list[int]:
    """The status of every request the server answered, in order."""
    if not app.access_log.exists():
        return []
    return [int(line) for line in app.access_log.read_text().split()]
