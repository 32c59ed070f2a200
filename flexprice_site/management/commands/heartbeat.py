"""manage.py heartbeat: the periodic heartbeat task, run once without Celery."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from flexprice_site.tasks import heartbeat


class Command(BaseCommand):
    help = "Run the heartbeat task once, in this process."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(heartbeat())
