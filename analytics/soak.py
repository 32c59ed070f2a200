"""The soak run's workload: clients mixing bulk ingestion (with re-sends), usage and cost
analytics and catalogue writes against the API over HTTP, and what they saw."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

CUSTOMERS = 20
BATCH_SIZE = 200
RESENT_PER_BATCH = 20  # a tenth of each batch repeats events of the client's previous batch
RETRY_CHANCE = 0.1  # a client re-sends its whole previous batch, as one retrying a timeout would
EVENT_NAMES = ("api_request", "llm_call")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude")
# How often each kind of request is made, relative to the others.
WEIGHTS = {"ingest": 5, "usage": 2, "cost": 2, "catalogue": 3}


@dataclass
class Observed:
    """What one client saw: each answer's route, status and latency, and the events it sent."""

    answers: list[tuple[str, int, float]] = field(default_factory=list)
    event_ids: set[str] = field(default_factory=set)
    accepted: int = 0
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)


class Client:
    """One keep-alive connection to the API, recording every answer."""

    def __init__(self, base_url: str, api_key: str, observed: Observed) -> None:
        parts = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        self.headers = {"x-api-key": api_key, "content-type": "application/json"}
        self.observed = observed

    def call(self, method: str, path: str, body: Any = None, *, route: str = "") -> Any:
        """The answer's JSON (None for an empty one); `route` names the endpoint in the report
        (`PUT /v1/customers/{id}`), the path itself by default."""
        began = time.perf_counter()
        self.connection.request(
            method, path, None if body is None else json.dumps(body), self.headers
        )
        response = self.connection.getresponse()
        raw = response.read()
        route = route or f"{method} {path}"
        self.observed.answers.append((route, response.status, time.perf_counter() - began))
        if response.status >= 300:
            self.observed.failures.append(f"{route}: {response.status} {raw[:300]!r}")
            return None
        return json.loads(raw) if raw else None

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class Catalogue:
    """What the setup created: the customers' external ids and a costsheet to change."""

    customers: tuple[str, ...]
    costsheet_id: str
    customer_ids: tuple[str, ...]


def set_up_catalogue(client: Client, *, now: datetime) -> Catalogue:
    """Two metered features, a costsheet and a plan pricing both, and subscribed customers."""
    meters = []
    for name, aggregation in (
        ("api_request", {"type": "COUNT"}),
        ("llm_call", {"type": "SUM", "field": "tokens"}),
    ):
        feature = client.call(
            "POST",
            "/v1/features",
            {
                "name": name,
                "type": "metered",
                "meter": {"name": name, "event_name": name, "aggregation": aggregation},
            },
        )
        meters.append(feature["meter_id"])
    costsheet = client.call("POST", "/v1/costs", {"name": "Provider costs"})["costsheet"]
    plan = client.call("POST", "/v1/plans", {"name": "Usage"})
    owners = (("COSTSHEET", costsheet["id"], "0.001"), ("PLAN", plan["id"], "0.002"))
    for owner_type, owner_id, amount in owners:
        for meter_id in meters:
            client.call(
                "POST",
                "/v1/prices",
                {
                    "entity_type": owner_type,
                    "entity_id": owner_id,
                    "meter_id": meter_id,
                    "currency": "usd",
                    "type": "USAGE",
                    "billing_model": "FLAT_FEE",
                    "amount": amount,
                    "billing_period": "MONTHLY",
                },
            )
    external_ids, customer_ids = [], []
    for number in range(CUSTOMERS):
        external_id = f"soak-{number:02d}"
        customer = client.call("POST", "/v1/customers", {"external_id": external_id})
        client.call(
            "POST",
            "/v1/subscriptions",
            {
                "customer_id": customer["id"],
                "plan_id": plan["id"],
                "currency": "usd",
                "start_date": (now - timedelta(days=30)).isoformat(),
            },
        )
        external_ids.append(external_id)
        customer_ids.append(customer["id"])
    return Catalogue(tuple(external_ids), costsheet["id"], tuple(customer_ids))


class Worker:
    """One client's loop until the deadline: a random mix of the four kinds of request."""

    def __init__(
        self, number: int, client: Client, catalogue: Catalogue, *, now: datetime, seed: int
    ) -> None:
        self.number = number
        self.client = client
        self.catalogue = catalogue
        self.now = now
        self.random = random.Random(seed * 1000 + number)
        self.sent = 0
        self.previous: list[dict[str, Any]] = []
        self.writes = 0
        self.actions: dict[str, Callable[[], None]] = {
            "ingest": self.ingest,
            "usage": self.usage,
            "cost": self.cost,
            "catalogue": self.catalogue_write,
        }

    def run(self, deadline: float) -> None:
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        while time.monotonic() < deadline:
            self.actions[self.random.choices(kinds, weights)[0]]()

    def _event(self) -> dict[str, Any]:
        self.sent += 1
        seconds = self.random.uniform(0, 6 * 86400)
        return {
            "event_id": f"soak-{self.number}-{self.sent}",
            "event_name": self.random.choice(EVENT_NAMES),
            "external_customer_id": self.random.choice(self.catalogue.customers),
            "timestamp": (self.now - timedelta(seconds=seconds)).isoformat(),
            "source": "soak",
            "properties": {
                "tokens": self.random.randint(1, 4000),
                "model": self.random.choice(MODELS),
            },
        }

    def ingest(self) -> None:
        if self.previous and self.random.random() < RETRY_CHANCE:
            batch = self.previous
        else:
            resent = self.previous[:RESENT_PER_BATCH]
            batch = [self._event() for _ in range(BATCH_SIZE - len(resent))] + resent
        answer = self.client.call("POST", "/v1/events/bulk", {"events": batch})
        observed = self.client.observed
        observed.event_ids.update(event["event_id"] for event in batch)
        if answer is not None:
            observed.accepted += int(answer["accepted"])
            observed.duplicates += int(answer["duplicates"])
        self.previous = batch

    def _range(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "start_time": (self.now - timedelta(days=7)).isoformat(),
            "end_time": datetime.now(UTC).isoformat(),
            "window_size": self.random.choice(["HOUR", "DAY"]),
        }
        if self.random.random() < 0.7:
            body["external_customer_id"] = self.random.choice(self.catalogue.customers)
        return body

    def usage(self) -> None:
        self.client.call("POST", "/v1/events/analytics", self._range())

    def cost(self) -> None:
        self.client.call("POST", "/v1/costs/analytics-v2", self._range())

    def catalogue_write(self) -> None:
        self.writes += 1
        tag = f"{self.number}-{self.writes}"
        choice = self.writes % 3
        if choice == 0:
            self.client.call("POST", "/v1/customers", {"external_id": f"new-{tag}"})
        elif choice == 1:
            customer_id = self.random.choice(self.catalogue.customer_ids)
            self.client.call(
                "PUT",
                f"/v1/customers/{customer_id}",
                {"name": f"Customer {tag}"},
                route="PUT /v1/customers/{id}",
            )
        else:
            self.client.call(
                "PUT",
                f"/v1/costs/{self.catalogue.costsheet_id}",
                {"description": f"Revision {tag}"},
                route="PUT /v1/costs/{id}",
            )


def run_clients(
    base_url: str, api_key: str, catalogue: Catalogue, *, clients: int, seconds: float, seed: int
) -> list[Observed]:
    """`clients` workers in threads, each with its own connection, for `seconds`."""
    now = datetime.now(UTC)
    deadline = time.monotonic() + seconds
    observed = [Observed() for _ in range(clients)]
    workers = [
        Worker(number, Client(base_url, api_key, seen), catalogue, now=now, seed=seed)
        for number, seen in enumerate(observed)
    ]

    def run(worker: Worker) -> None:
        try:
            worker.run(deadline)
        except Exception as error:  # reported with the rest; a thread can't stop the run
            worker.client.observed.failures.append(f"client {worker.number}: {error!r}")
        finally:
            worker.client.close()

    threads = [threading.Thread(target=run, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return observed


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def latency_table(observed: list[Observed]) -> list[str]:
    """Per endpoint: requests, statuses, p50 and p99 in milliseconds."""
    by_route: dict[str, list[float]] = {}
    statuses: dict[str, Counter[int]] = {}
    for seen in observed:
        for route, status, seconds in seen.answers:
            by_route.setdefault(route, []).append(seconds * 1000)
            statuses.setdefault(route, Counter())[status] += 1
    width = max((len(route) for route in by_route), default=8)
    lines = [f"{'endpoint':<{width}}  {'requests':>8}  {'p50 ms':>8}  {'p99 ms':>8}  statuses"]
    for route in sorted(by_route):
        latencies = by_route[route]
        counts = ", ".join(f"{code}: {count}" for code, count in sorted(statuses[route].items()))
        lines.append(
            f"{route:<{width}}  {len(latencies):>8}  {percentile(latencies, 0.5):>8.1f}  "
            f"{percentile(latencies, 0.99):>8.1f}  {counts}"
        )
    return lines
