"""Reads about the rollups themselves: the backlog of events not yet rolled up.

(The usage questions the rollups answer are planned by the metering engine,
analytics/metering/plan.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from flexprice_site.models import Tenant


@dataclass(frozen=True)
class BacklogSummary:
    events: int
    oldest_ingested_at: datetime | None


def backlog_summary(*, tenant: Tenant | None = None) -> BacklogSummary:
    """Events stored but not yet rolled up (of one tenant, or of all).

    The backlog holds a few seconds of ingestion, so counting it is cheap.
    """
    sql = (
        "SELECT count(*), min(e.ingested_at) FROM analytics_eventbacklog b "
        "JOIN analytics_event e ON e.id = b.event_id"
    )
    params: list[str] = []
    if tenant is not None:
        sql += " WHERE e.tenant_id = %s"
        params.append(tenant.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count, oldest = cursor.fetchone()
    return BacklogSummary(events=count, oldest_ingested_at=oldest)
