"""manage.py rollups_rebuild: rebuild meters' rollups now, without Celery."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from analytics.rollups.services import rollup_rebuild, rollup_state_sync, rollups_sweep
from costsheets.models import Meter


class Command(BaseCommand):
    help = (
        "Rebuild rollups in this process. Without --meter: every meter the periodic sweep "
        "finds due (new, changed, or left half-built). With --meter: that meter, from scratch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--meter", action="append", default=[], metavar="ID", help="A meter ID (repeatable)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        meter_ids: list[str] = options["meter"]
        if meter_ids:
            meters = {meter.pk: meter for meter in Meter.objects.filter(pk__in=meter_ids)}
            unknown = sorted(set(meter_ids) - set(meters))
            if unknown:
                raise CommandError(f"No meter with ID {', '.join(unknown)}.")
            for meter in meters.values():
                with transaction.atomic():
                    rollup_state_sync(meter=meter, force=True, enqueue=False)
        else:
            meter_ids = rollups_sweep()
        if not meter_ids:
            self.stdout.write("Every meter's rollups are up to date.")
        for meter_id in meter_ids:
            outcome = rollup_rebuild(meter_id=meter_id)
            self.stdout.write(f"{meter_id}: {outcome}")
