"""A real beat and worker: beat sends the heartbeat through the broker and the worker logs it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.celery_processes import celery_beat_and_worker, redis_reachable

WAIT_SECONDS = 90  # generous: this waits for an event, it does not measure speed


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
    with celery_beat_and_worker(tmp_path, broker_url, HEARTBEAT_SECONDS="1") as (worker, log):
        deadline = time.monotonic() + WAIT_SECONDS
        while "heartbeat ok at" not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.5)
    assert "heartbeat ok at" in log.read_text()
