"""manage.py soak [--minutes N] [--clients N]: the app under a steady mixed load, then checks."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.models import Event
from analytics.soak import Client, Observed, latency_table, run_clients, set_up_catalogue
from flexprice_site.loopback import loopback_app


class Command(BaseCommand):
    help = (
        "Run the app as in production (gunicorn, a Celery worker and beat) on loopback with a "
        "fresh database; clients mix bulk ingestion with re-sends, usage and cost analytics and "
        "catalogue writes for a while. Then check that no answer was an error and that every "
        "distinct event sent is stored once, and print p50/p99 per endpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--minutes", type=float, default=5.0, help="how long (default 5)")
        parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
        parser.add_argument("--seed", type=int, help="the clients' choices (default: random)")

    def handle(self, *args: Any, **options: Any) -> None:
        seed = options["seed"] if options["seed"] is not None else secrets.randbelow(2**31)
        minutes, clients = options["minutes"], options["clients"]
        self.stdout.write(f"Soak: {clients} clients for {minutes:g} minutes, seed {seed}")
        run_dir = Path(settings.VAR_DIR) / "soak"
        with loopback_app(
            name="soak", run_dir=run_dir, web_workers=4, threads=2, celery=True
        ) as app:
            setup = Observed()
            client = Client(app.base_url, app.api_key, setup)
            catalogue = set_up_catalogue(client, now=datetime.now(UTC))
            client.close()
            if setup.failures:
                raise CommandError(f"Setting up the catalogue failed: {setup.failures[0]}")
            observed = run_clients(
                app.base_url,
                app.api_key,
                catalogue,
                clients=clients,
                seconds=minutes * 60,
                seed=seed,
            )
            with app.connect() as connection:
                stored, distinct_stored = connection.execute(
                    f"SELECT count(*), count(DISTINCT event_id) FROM {Event._meta.db_table}"  # noqa: S608 - our table
                ).fetchone()
        self.report(observed, stored=stored, distinct_stored=distinct_stored, log=app.error_log)

    def report(
        self, observed: list[Observed], *, stored: int, distinct_stored: int, log: Path
    ) -> None:
        for line in latency_table(observed):
            self.stdout.write(line)
        answers = [status for seen in observed for _, status, _ in seen.answers]
        server_errors = sum(1 for status in answers if status >= 500)
        sent = len(set().union(*(seen.event_ids for seen in observed)))
        accepted = sum(seen.accepted for seen in observed)
        duplicates = sum(seen.duplicates for seen in observed)
        failures = [failure for seen in observed for failure in seen.failures]
        self.stdout.write(
            f"\n{len(answers)} requests, {server_errors} answers >= 500, "
            f"{len(failures)} other failures; {sent} distinct events sent, {accepted} accepted "
            f"and {duplicates} answered as duplicates; {stored} events stored "
            f"({distinct_stored} distinct). Server log: {log}"
        )
        problems = [
            *(failures[:5]),
            *([f"{server_errors} answers >= 500"] if server_errors else []),
            *(
                [f"stored {stored} events ({distinct_stored} distinct), sent {sent} distinct"]
                if not stored == distinct_stored == sent
                else []
            ),
            *([f"{accepted} accepted, {sent} distinct sent"] if accepted != sent else []),
        ]
        if problems:
            raise CommandError("The soak run failed: " + "; ".join(problems))
        self.stdout.write("Soak passed: no errors, every distinct event stored once.")
