"""Sending events with the official `flexprice` Python SDK: its calls parse our answers, and what
they send is stored once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flexprice import Flexprice, models

from analytics.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def stored() -> list[tuple[str, str, str, str, datetime, dict[str, object]]]:
    return list(
        Event.objects.order_by("event_id").values_list(
            "event_id", "event_name", "external_customer_id", "source", "timestamp", "properties"
        )
    )


def test_ingest_event_parses_and_stores_the_event(sdk: Flexprice) -> None:
    answer = sdk.events.ingest_event(
        event_id="one",
        event_name="llm_call",
        external_customer_id="acme-1",
        source="sdk",
        timestamp="2026-01-05T10:00:00+01:00",
        properties={"model": "gpt-4o", "tokens": "120"},
    )
    again = sdk.events.ingest_event(
        event_id="one", event_name="llm_call", external_customer_id="acme-1"
    )

    assert answer == {
        "event_id": "one",
        "status": "accepted",
        "message": "Event accepted for processing.",
    }
    assert again["status"] == "duplicate"
    assert stored() == [
        ("one", "llm_call", "acme-1", "sdk", AT, {"model": "gpt-4o", "tokens": "120"})
    ]


def test_ingest_events_bulk_parses_and_stores_each_event_once(sdk: Flexprice) -> None:
    # Given a batch with a repeated event, one that an earlier batch sent, and one refused
    sdk.events.ingest_events_bulk(
        events=[{"event_id": "b-0", "event_name": "llm_call", "external_customer_id": "acme-1"}]
    )
    batch: list[models.IngestEventRequestTypedDict] = [
        {
            "event_id": f"b-{number}",
            "event_name": "llm_call",
            "external_customer_id": "acme-1",
            "source": "sdk",
            "timestamp": "2026-01-05T09:00:00Z",
            "properties": {"tokens": str(number)},
        }
        for number in range(3)
    ]
    batch.append(dict(batch[1]))
    batch.append({**batch[2], "event_id": "late", "timestamp": "2999-01-01T00:00:00Z"})

    # When the SDK sends it (before issue 14 it raised ResponseValidationError here)
    answer = sdk.events.ingest_events_bulk(events=batch)

    # Then it reads our counts, and each event is stored once: the first copy of b-0 won
    assert answer == {
        "message": "2 accepted, 2 duplicate (not counted again), 1 rejected. The first rejected "
        "is events.4: timestamp is more than 24 hours in the future. Send `Prefer: "
        "return=representation` for every event's result.",
        "accepted": "2",
        "duplicates": "2",
        "rejected": "1",
    }
    first = Event.objects.get(event_id="b-0")
    assert (first.source, first.properties) == ("", {})
    assert stored()[1:] == [
        ("b-1", "llm_call", "acme-1", "sdk", AT, {"tokens": "1"}),
        ("b-2", "llm_call", "acme-1", "sdk", AT, {"tokens": "2"}),
    ]
