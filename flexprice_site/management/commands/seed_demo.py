"""manage.py seed_demo: demo tenant, admin login and API key, and a demo catalogue."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.demo import demo_events_seed
from analytics.reports.demo import demo_reports_seed
from costsheets.demo import catalogue_seed
from flexprice_site.demo import demo_tenant_seed


class Command(BaseCommand):
    help = (
        "Create the demo tenant with an admin user, an API key and an AI-API company's "
        "catalogue, and print the login. Running it again resets the demo admin's password and "
        "makes a new key; the catalogue is only completed, never duplicated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        environment, credentials = demo_tenant_seed(base_url=options["base_url"])
        catalogue = catalogue_seed(environment=environment)
        events = demo_events_seed(environment=environment)
        reports = demo_reports_seed(environment=environment)
        self.stdout.write(
            f"Demo tenant '{credentials.tenant}' / environment '{credentials.environment}'\n"
            f"  admin:    {credentials.admin_url}\n"
            f"  login:    {credentials.username} / {credentials.password}\n"
            f"  API key:  {credentials.api_key}\n"
            "  catalogue:\n"
            + "".join(
                f"    {line}\n" for line in [*catalogue.lines(), events.line(), reports.line()]
            )
        )
