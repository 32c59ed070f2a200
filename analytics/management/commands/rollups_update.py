"""manage.py rollups_update: the periodic rollup job, run once without Celery."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.rollups.services import rollups_update


class Command(BaseCommand):
    help = (
        "Move events waiting in the rollup backlog into the hourly rollups, in this process "
        "(what Celery beat runs every ROLLUP_SECONDS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--environment", help="Only this environment's events (its ID).")

    def handle(self, *args: Any, **options: Any) -> None:
        moved = rollups_update(environment_id=options["environment"])
        self.stdout.write(f"Moved {moved} event(s) from the backlog into the rollups.")
