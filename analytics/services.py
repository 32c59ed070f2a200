"""Writes for usage events: idempotent ingestion of one event or a batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from analytics.ingestion import NewEvent, Rejection, event_from_payload
from costsheets.models import Customer
from flexprice_site.models import Environment, Status


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class EventResult:
    index: int
    event_id: str | None
    outcome: Outcome
    field: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class IngestReport:
    results: tuple[EventResult, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)


# One statement for the whole batch: the unique index decides which events are new, so two
# identical batches racing each other still store every event once. RETURNING names the rows
# this statement inserted; every other event of the batch was already there. The same statement
# puts each new event in the rollup backlog, so no event is ever stored without being either in
# the backlog or in the rollups (docs/metering.md, "Rollups"). It also resolves each event's
# customer (at most one live customer has an external ID: a partial unique index says so), which
# saves a query and an IN list of up to 1,000 quoted IDs.
#
# The columns travel as binary arrays (`%(name)b`, bound server-side): Django's cursors bind
# client-side, which quotes and escapes every element of every array in Python, and that was
# half of a bulk request's CPU time.
_INSERT_EVENTS = f"""
WITH inserted AS (
    INSERT INTO analytics_event (
        tenant_id, environment_id, event_id, event_name, external_customer_id, customer_id,
        timestamp, source, properties, ingested_at
    )
    SELECT %(tenant_id)s, %(environment_id)s, e.event_id, e.event_name, e.external_customer_id,
           coalesce(c.id, ''), e.ts, e.source, e.properties::jsonb, %(ingested_at)s
    FROM unnest(
        %(event_ids)b::text[], %(event_names)b::text[], %(external_customer_ids)b::text[],
        %(timestamps)b::timestamptz[], %(sources)b::text[], %(properties)b::text[]
    ) AS e(event_id, event_name, external_customer_id, ts, source, properties)
    LEFT JOIN {Customer._meta.db_table} AS c
        ON c.tenant_id = %(tenant_id)s
       AND c.environment_id = %(environment_id)s
       AND c.external_customer_id = e.external_customer_id
       AND c.status <> %(deleted)s
    ON CONFLICT (environment_id, event_id) DO NOTHING
    RETURNING id, event_id
),
backlog AS (
    INSERT INTO analytics_eventbacklog (event_id, environment_id)
    SELECT id, %(environment_id)s FROM inserted
)
SELECT event_id FROM inserted
"""  # noqa: S608 - a table name of ours; every value is a parameter


def _server_binding_cursor() -> CursorWrapper:
    """A cursor of Django's connection (same transaction, logged and counted like any other)
    that binds parameters server-side, so that `%(name)b` sends them in binary. Made the way
    `connection.cursor()` makes its own, with psycopg's server-binding class instead."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def _insert(environment: Environment, events: Sequence[NewEvent], now: datetime) -> set[str]:
    if not events:
        return set()
    params: dict[str, Any] = {
        "tenant_id": environment.tenant_id,
        "environment_id": environment.pk,
        "deleted": Status.DELETED.value,
        "ingested_at": now,
        "event_ids": [event.event_id for event in events],
        "event_names": [event.event_name for event in events],
        "external_customer_ids": [event.external_customer_id for event in events],
        "timestamps": [event.timestamp for event in events],
        "sources": [event.source for event in events],
        "properties": [event.properties_json for event in events],
    }
    with _server_binding_cursor() as cursor:
        cursor.execute(_INSERT_EVENTS, params)
        return {row[0] for row in cursor.fetchall()}


def events_ingest(
    *, environment: Environment, payloads: Sequence[Any], now: datetime | None = None
) -> IngestReport:
    """Store the valid events of a batch once each; report every event's outcome in order.

    Bad events don't stop good ones. An event ID seen earlier in the same batch, or already
    stored, is a duplicate and changes nothing.
    """
    now = now or timezone.now()
    parsed: list[tuple[int, NewEvent | Rejection]] = [
        (index, event_from_payload(payload, now=now)) for index, payload in enumerate(payloads)
    ]
    first_in_batch: dict[str, int] = {}
    to_insert: list[NewEvent] = []
    for index, item in parsed:
        if isinstance(item, NewEvent) and item.event_id not in first_in_batch:
            first_in_batch[item.event_id] = index
            to_insert.append(item)
    inserted = _insert(environment, to_insert, now)

    results = []
    for index, item in parsed:
        if isinstance(item, Rejection):
            results.append(
                EventResult(index, None, Outcome.REJECTED, field=item.field, reason=item.reason)
            )
        elif first_in_batch[item.event_id] == index and item.event_id in inserted:
            results.append(EventResult(index, item.event_id, Outcome.ACCEPTED))
        else:
            results.append(EventResult(index, item.event_id, Outcome.DUPLICATE))
    return IngestReport(results=tuple(results))
