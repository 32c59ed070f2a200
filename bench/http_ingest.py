"""Bulk ingestion over HTTP: gunicorn serving the app, concurrent clients, worker memory."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.dataset import (
    EVENT_NAMES,
    MODELS,
    REGIONS,
    DatasetSpec,
    chunks,
    customer_id,
    timestamps_text,
)

BATCH_SIZE = 1000
DUPLICATES_PER_BATCH = 50  # 5% of every batch re-sends events of the client's previous batch
BULK_PATH = "/v1/events/bulk"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MemoryWatch:
    """Samples the RSS of the web server's worker processes until stopped; keeps the peaks."""

    def __init__(self, master_pid: int, interval: float = 0.1) -> None:
        self.master = psutil.Process(master_pid)
        self.interval = interval
        self.peak_worker_rss = 0
        self.peak_total_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for worker in self.master.children():
                try:
                    rss = worker.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.peak_worker_rss = max(self.peak_worker_rss, rss)
            self.peak_total_rss = max(self.peak_total_rss, total)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class CpuWatch:
    """CPU seconds spent by groups of processes between `start()` and `stop()`.

    Groups: the web workers, the PostgreSQL server's processes (when it runs on this machine)
    and this process (the clients); "other processes" is the rest of the machine's busy time.
    """

    def __init__(self, groups: dict[str, Callable[[], list[psutil.Process]]]) -> None:
        self.groups = groups
        self._before: dict[str, dict[int, float]] = {}
        self.seconds: dict[str, float] = {}
        self.wall = 0.0

    @staticmethod
    def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
        # A process's children_* times hold the CPU of its children that exited and were
        # reaped: PostgreSQL's parallel workers and autovacuum workers live shorter than a
        # sampling interval, and the postmaster's counters are where their CPU shows.
        times = {}
        for process in processes:
            try:
                cpu = process.cpu_times()
            except psutil.Error:
                continue
            times[process.pid] = cpu.user + cpu.system + cpu.children_user + cpu.children_system
        return times

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    def start(self) -> None:
        self._before = {name: self._cpu(find()) for name, find in self.groups.items()}
        self._machine = self._machine_busy()
        self.wall = time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.wall
        for name, find in self.groups.items():
            after = self._cpu(find())
            before = self._before.get(name, {})
            self.seconds[name] = sum(value - before.get(pid, 0.0) for pid, value in after.items())
        # Whatever else ran on the machine meanwhile (other work sharing the cores).
        busy = self._machine_busy() - self._machine
        self.seconds["other processes"] = max(0.0, busy - sum(self.seconds.values()))

    def summary(self) -> str:
        cores = self.wall or 1.0
        return ", ".join(
            f"{name} {seconds / cores:.2f} cores" for name, seconds in self.seconds.items()
        )


class WebServer:
    """gunicorn running the project's WSGI app against the bench database, on a free port."""

    def __init__(
        self,
        *,
        database_url: str,
        workers: int,
        worker_class: str,
        threads: int,
        log: Path,
        timeout: int | None = None,
    ) -> None:
        self.port = free_port()
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        environment = dict(os.environ)
        environment.update(
            DATABASE_URL=database_url,
            # The per-key throttle would cap a load test at API_RATE_LIMIT; the bench measures
            # the server, so it is lifted for this server only.
            API_RATE_LIMIT="100000000/s",
            LOG_LEVEL="WARNING",
        )
        command = [
            sys.executable, "-m", "gunicorn", "flexprice_site.wsgi",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers),
            "--worker-class", worker_class,
            "--threads", str(threads),
            "--log-level", "warning",
        ]  # fmt: skip
        if timeout is not None:
            command += ["--timeout", str(timeout)]
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            command, env=environment, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with code {self.process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                connection.close()
                workers = psutil.Process(self.process.pid).children()
                if len(workers) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def ingest_events(spec: DatasetSpec, run_id: str, now: datetime) -> list[dict[str, Any]]:
    """`spec.events` fresh events as clients send them: the generator's shape, recent times."""
    day = DatasetSpec(
        events=spec.events,
        seed=spec.seed,
        customers=spec.customers,
        days=1,
        users=spec.users,
        start=(now - timedelta(days=1)).replace(microsecond=0),
    )
    events: list[dict[str, Any]] = []
    for chunk in chunks(day):
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
        ):
            events.append(
                {
                    "event_id": f"http-{run_id}-{index}",
                    "event_name": EVENT_NAMES[name],
                    "external_customer_id": customer_id(customer),
                    "timestamp": timestamp,
                    "source": "bench-http",
                    "properties": {
                        "model": MODELS[model],
                        "tokens": tokens,
                        "region": REGIONS[region],
                        "user_id": f"user-{user:05d}",
                    },
                }
            )
    return events


@dataclass
class ClientPlan:
    """One client's request bodies: a warm-up batch, then timed batches of 950 new + 50 resent."""

    warmup: bytes
    batches: list[bytes]
    fresh: int  # new events in the timed batches
    resent: int  # duplicates in the timed batches


def client_plans(events: list[dict[str, Any]], clients: int) -> list[ClientPlan]:
    fresh_per_batch = BATCH_SIZE - DUPLICATES_PER_BATCH
    share = len(events) // clients
    plans = []
    for number in range(clients):
        mine = events[number * share : (number + 1) * share]
        warmup, rest = mine[:BATCH_SIZE], mine[BATCH_SIZE:]
        previous = warmup
        batches, fresh, resent = [], 0, 0
        for start in range(0, len(rest), fresh_per_batch):
            new = rest[start : start + fresh_per_batch]
            batch = new + previous[:DUPLICATES_PER_BATCH]
            batches.append(json.dumps({"events": batch}).encode())
            fresh += len(new)
            resent += min(DUPLICATES_PER_BATCH, len(previous))
            previous = new
        plans.append(ClientPlan(json.dumps({"events": warmup}).encode(), batches, fresh, resent))
    return plans


@dataclass
class ClientResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    finished_at: float = 0.0


def _post(
    connection: http.client.HTTPConnection, body: bytes, api_key: str
) -> tuple[int, dict[str, Any]]:
    connection.request(
        "POST",
        BULK_PATH,
        body=body,
        headers={
            "x-api-key": api_key,
            "content-type": "application/json",
            "prefer": "return=minimal",
        },
    )
    response = connection.getresponse()
    data = response.read()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, {"raw": data[:200].decode(errors="replace")}


def _client(
    port: int,
    api_key: str,
    plan: ClientPlan,
    start: threading.Barrier,
    result: ClientResult,
    progress: Callable[[int], None],
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    status, body = _post(connection, plan.warmup, api_key)
    if status != 202:
        result.errors.append(f"warm-up: {status} {body}")
    start.wait()
    for request_body in plan.batches:
        began = time.perf_counter()
        status, body = _post(connection, request_body, api_key)
        result.latencies.append(time.perf_counter() - began)
        if status != 202:
            result.errors.append(f"{status} {body}")
            continue
        result.accepted += int(body["accepted"])
        result.duplicates += int(body["duplicates"])
        result.rejected += int(body["rejected"])
        progress(int(body["accepted"]))
    result.finished_at = time.perf_counter()
    connection.close()


@dataclass
class IngestResult:
    clients: int
    batches: int
    expected_fresh: int
    expected_duplicates: int
    accepted: int
    duplicates: int
    rejected: int
    seconds: float
    batch_p50_ms: float
    batch_p95_ms: float
    errors: list[str]

    @property
    def events_per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def deduplicated_correctly(self) -> bool:
        return (
            self.accepted == self.expected_fresh
            and self.duplicates == self.expected_duplicates
            and not self.rejected
            and not self.errors
        )


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_ingestion(
    *,
    port: int,
    api_key: str,
    plans: list[ClientPlan],
    on_progress: Callable[[int], None] = lambda accepted: None,
    on_start: Callable[[], None] = lambda: None,
    on_end: Callable[[], None] = lambda: None,
) -> IngestResult:
    """Every client posts its warm-up batch, then all start together; the clock runs until the
    last client's last response."""
    start = threading.Barrier(len(plans) + 1)
    results = [ClientResult() for _ in plans]
    lock = threading.Lock()
    accepted_so_far = [0]

    def progress(accepted: int) -> None:
        with lock:
            accepted_so_far[0] += accepted
            total = accepted_so_far[0]
        on_progress(total)

    threads = [
        threading.Thread(
            target=_client, args=(port, api_key, plan, start, result, progress), daemon=True
        )
        for plan, result in zip(plans, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    on_start()
    for thread in threads:
        thread.join()
    on_end()
    finished = max((result.finished_at for result in results), default=began)
    latencies = [latency for result in results for latency in result.latencies]
    return IngestResult(
        clients=len(plans),
        batches=sum(len(plan.batches) for plan in plans),
        expected_fresh=sum(plan.fresh for plan in plans),
        expected_duplicates=sum(plan.resent for plan in plans),
        accepted=sum(result.accepted for result in results),
        duplicates=sum(result.duplicates for result in results),
        rejected=sum(result.rejected for result in results),
        seconds=finished - began,
        batch_p50_ms=_percentile(latencies, 0.5) * 1000,
        batch_p95_ms=_percentile(latencies, 0.95) * 1000,
        errors=[error for result in results for error in result.errors][:5],
    )


def post_one(port: int, api_key: str, event: dict[str, Any]) -> float:
    """Post one event in a batch; return the perf_counter time its 202 arrived."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    status, body = _post(connection, json.dumps({"events": [event]}).encode(), api_key)
    answered = time.perf_counter()
    connection.close()
    if status != 202 or body.get("accepted") != "1":
        raise RuntimeError(f"probe event not accepted: {status} {body}")
    return answered


def probe_event(run_id: str, number: int, customer: str, event_name: str) -> dict[str, Any]:
    return {
        "event_id": f"probe-{run_id}-{number}",
        "event_name": event_name,
        "external_customer_id": customer,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": "bench-probe",
        "properties": {"model": "gpt-4o", "tokens": 1, "region": "us-east-1", "user_id": "probe"},
    }
