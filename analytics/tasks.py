"""Celery tasks of analytics: thin adapters over the services, with primitive arguments."""

from __future__ import annotations

import logging

from celery import shared_task

from analytics.reports import tasks as reports_tasks  # noqa: F401 (the worker finds them)
from analytics.rollups import compaction
from analytics.rollups import services as rollups

logger = logging.getLogger(__name__)


@shared_task(name="analytics.tasks.rollups_update", ignore_result=True)
def rollups_update(environment_id: str | None = None) -> int:
    """Move ingested events from the backlog into the hourly rollups (beat, every ~2 s)."""
    return rollups.rollups_update(environment_id=environment_id)


@shared_task(
    name="analytics.tasks.rollup_rebuild",
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def rollup_rebuild(meter_id: str) -> str:
    """Rebuild one meter's rollups from its stored events; resumes where a failed run stopped."""
    outcome = rollups.rollup_rebuild(meter_id=meter_id)
    logger.info("rollup rebuild of meter %s: %s", meter_id, outcome)
    return str(outcome)


@shared_task(name="analytics.tasks.rollups_sweep", ignore_result=True)
def rollups_sweep() -> list[str]:
    """Start rebuilds for meters created or changed without one, and for abandoned ones."""
    due = rollups.rollups_sweep()
    for meter_id in due:
        rollup_rebuild.delay(meter_id)
    return due


@shared_task(name="analytics.tasks.rollups_compact", ignore_result=True)
def rollups_compact() -> int:
    """Combine closed days of hourly rollups into day rows; refresh day rows late events made
    stale (beat, every ROLLUP_COMPACT_SECONDS)."""
    return compaction.rollups_compact()
