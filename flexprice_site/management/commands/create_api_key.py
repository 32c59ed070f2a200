"""manage.py create_api_key --tenant NAME --environment NAME [--name NAME]: prints a new key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from flexprice_site.services import api_key_create, environment_get_or_create


class Command(BaseCommand):
    help = (
        "Create an API key for a tenant + environment (both created if missing) and print it. "
        "The key is shown only this once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant name")
        parser.add_argument("--environment", required=True, help="environment name")
        parser.add_argument("--name", default="cli", help="a label for the key")

    def handle(self, *args: Any, **options: Any) -> None:
        environment = environment_get_or_create(
            tenant_name=options["tenant"], environment_name=options["environment"]
        )
        created = api_key_create(
            environment=environment, name=options["name"], created_by="cli:create_api_key"
        )
        self.stderr.write(
            f"API key {created.api_key.id} for {environment} (store it now, it is not kept):"
        )
        self.stdout.write(created.raw_key)
