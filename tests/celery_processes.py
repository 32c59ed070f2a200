"""A real Celery worker and beat for end-to-end tests, on the test database and a given broker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from flexprice_site.embedded_db import database_url

BASE_DIR = Path(__file__).resolve().parents[1]


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def celery_beat_and_worker(
    tmp_path: Path, broker_url: str, **settings_env: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A solo worker (logging to the returned file) and a beat, with `var/` in `tmp_path` and
    `settings_env` as extra environment variables; both are stopped on exit."""
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "CELERY_BROKER_URL": broker_url,
        **settings_env,
    }
    log = tmp_path / "worker.log"
    celery = [sys.executable, "-m", "celery", "-A", "flexprice_site"]
    with log.open("w") as output:
        worker = subprocess.Popen(
            [*celery, "worker", "--pool", "solo", "--loglevel", "INFO"],
            cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        beat = subprocess.Popen(
            [*celery, "beat", "--loglevel", "INFO"],
            cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield worker, log
        finally:
            for process in (beat, worker):
                process.terminate()
                process.wait(timeout=30)
