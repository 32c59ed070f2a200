"""Demo usage events for the demo catalogue: a month of an AI API's traffic, reproducible."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from analytics.ingestion import MAX_BATCH_SIZE
from analytics.services import Outcome, events_ingest
from costsheets.demo import CUSTOMERS, MODELS
from flexprice_site.models import Environment

DEMO_DAYS = 30
SEED = 20260101
SOURCES = ("api", "playground", "batch")


@dataclass(frozen=True)
class DemoEvents:
    """What `demo_events_seed` did: events new to the database, and those already there."""

    accepted: int
    duplicates: int
    days: int

    def line(self) -> str:
        return f"{self.accepted + self.duplicates} usage events over the last {self.days} days" + (
            f" ({self.accepted} new)" if self.accepted else ""
        )


def demo_events_seed(
    *, environment: Environment, now: datetime | None = None, days: int = DEMO_DAYS
) -> DemoEvents:
    """Usage of every demo customer on each of the last `days` days (today included, up to
    `now`): model calls with input and output tokens, API requests by a few users, storage
    gauges and CEL-weighted completions.

    Each customer's day is drawn from a generator seeded with the customer and the date, and
    events carry IDs made of the same, so running the seed again (even days later) stores no
    event twice and only adds the days (and the hours of today) not seeded yet.
    """
    now = now or timezone.now()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    events = [
        payload
        for offset in range(days - 1, -1, -1)
        for spec in CUSTOMERS
        for payload in _day_of(spec.external_id, spec.plan, today - timedelta(days=offset))
        if datetime.fromisoformat(payload["timestamp"]) <= now
    ]
    accepted = duplicates = 0
    for start in range(0, len(events), MAX_BATCH_SIZE):
        report = events_ingest(
            environment=environment, payloads=events[start : start + MAX_BATCH_SIZE], now=now
        )
        accepted += report.count(Outcome.ACCEPTED)
        duplicates += report.count(Outcome.DUPLICATE)
    return DemoEvents(accepted=accepted, duplicates=duplicates, days=days)


def _day_of(external_id: str, plan: str, day: datetime) -> Iterator[dict[str, Any]]:
    """One customer's events of one UTC day, always the same for the same customer and day."""
    rng = random.Random(f"{SEED}:{external_id}:{day:%Y-%m-%d}")
    # Scale customers send about ten times the traffic of starter ones; weekends are quieter.
    size = (10 if plan == "scale" else 1) * (0.5 if day.weekday() >= 5 else 1.0)
    numbers = iter(range(1, 10_000))

    def event(name: str, **properties: Any) -> dict[str, Any]:
        moment = day + timedelta(seconds=rng.randrange(86_400))
        return {
            "event_id": f"demo-{external_id}-{day:%Y%m%d}-{next(numbers)}",
            "event_name": name,
            "external_customer_id": external_id,
            "timestamp": moment.isoformat(),
            "source": rng.choice(SOURCES),
            "properties": properties,
        }

    for _ in range(rng.randint(1, 2)):
        model = rng.choice(MODELS)
        input_tokens = int(rng.randint(40_000, 400_000) * size)
        yield event("input_tokens", model=model, tokens=input_tokens)
        yield event("output_tokens", model=model, tokens=input_tokens // rng.randint(3, 6))
    users = max(3, int(12 * size))
    for _ in range(rng.randint(2, 5)):
        yield event("api_request", user_id=f"user-{rng.randrange(users)}", path="/v1/chat")
    yield event("storage_usage", gb=rng.randint(5, 60) * (4 if plan == "scale" else 1))
    yield event(
        "completion",
        input_tokens=rng.randint(500, 4_000),
        output_tokens=rng.randint(100, 1_500),
    )
