"""manage.py rollups_compact: the periodic compaction of closed days, run once without Celery."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics.rollups.compaction import rollups_compact


class Command(BaseCommand):
    help = (
        "Combine every closed UTC day of hourly rollups into day rows, and refresh day rows that "
        "late events made stale, in this process (what Celery beat runs every "
        "ROLLUP_COMPACT_SECONDS)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = rollups_compact()
        self.stdout.write(f"Compacted {done} meter-day(s).")
