"""The environment's rollup lock: every write to an environment's rollup rows and value
dictionaries holds it, so the backlog job, rebuilds and compaction never interleave."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection

# First key of the two-key advisory lock: "rollups", so that no other lock of the app collides.
_LOCK_NAMESPACE = 0x526F6C6C  # "Roll"


def lock_environment(environment_id: str) -> None:
    """Serialise rollup writes of one environment until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_NAMESPACE, environment_id]
        )


def day_start(moment: datetime) -> datetime:
    """The start of the UTC day of `moment`."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
