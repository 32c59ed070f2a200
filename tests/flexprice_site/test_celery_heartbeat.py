"""A real beat and worker: beat sends the heartbeat through the broker and the worker logs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from flexprice_site.embedded_db import database_url

BASE_DIR = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 90  # generous: this waits for an event, it does not measure speed


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


BROKERS = [pytest.param("", id="filesystem")]
BROKERS.append(
    pytest.param(
        "redis://127.0.0.1:6379/15",
        id="redis",
        marks=pytest.mark.skipif(not redis_reachable(), reason="no Redis on 127.0.0.1:6379"),
    )
)


@pytest.mark.parametrize("broker_url", BROKERS)
def test_beat_to_broker_to_worker(tmp_path: Path, broker_url: str) -> None:
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "CELERY_BROKER_URL": broker_url,
        "HEARTBEAT_SECONDS": "1",
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
            deadline = time.monotonic() + WAIT_SECONDS
            while "heartbeat ok at" not in log.read_text() and time.monotonic() < deadline:
                assert worker.poll() is None, log.read_text()
                time.sleep(0.5)
        finally:
            for process in (beat, worker):
                process.terminate()
                process.wait(timeout=30)
    assert "heartbeat ok at" in log.read_text()
