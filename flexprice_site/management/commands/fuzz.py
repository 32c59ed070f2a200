"""manage.py fuzz [--minutes N] [--seed N]: fuzz the API from its OpenAPI schema for a while."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from flexprice_site.loopback import access_log_statuses, loopback_app

# What schemathesis' summary says, for the closing lines.
SUMMARY_PATTERNS = {
    "generated": re.compile(r"(\d+) generated"),
    "server_errors": re.compile(r"ST101 Server error: (\d+)"),
    "undocumented_statuses": re.compile(r"ST103 Undocumented status code: (\d+)"),
    "schema_violations": re.compile(r"ST108 Response violates schema: (\d+)"),
}


class Command(BaseCommand):
    help = (
        "Fuzz every API operation (schemathesis: examples, boundary cases, generated data and "
        "stateful workflows) against gunicorn on loopback with a fresh database, with the "
        "checks of schemathesis.toml. Prints the seed first, so a failure can be replayed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
        parser.add_argument("--seed", type=int, help="replay a run (default: a new random seed)")
        parser.add_argument("--workers", type=int, default=2, help="concurrent requests")

    def handle(self, *args: Any, **options: Any) -> None:
        seed = options["seed"] if options["seed"] is not None else secrets.randbelow(2**31)
        minutes = options["minutes"]
        self.stdout.write(
            f"Fuzzing for {minutes:g} minutes with seed {seed} "
            f"(replay: make fuzz SEED={seed} MINUTES={minutes:g})"
        )
        run_dir = Path(settings.VAR_DIR) / "fuzz"
        with loopback_app(name="fuzz", run_dir=run_dir, web_workers=2) as app:
            command = [
                str(Path(sys.executable).parent / "st"), "run", f"{app.base_url}/v1/openapi.json",
                "--header", f"x-api-key: {app.api_key}",
                "--seed", str(seed),
                "--max-time", str(round(minutes * 60)),
                "--workers", str(options["workers"]),
                "--continue-on-failure",
            ]  # fmt: skip
            # Run from the checkout, where schemathesis finds schemathesis.toml (the checks).
            with subprocess.Popen(
                command, cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True
            ) as fuzzer:
                output = []
                for line in fuzzer.stdout or ():
                    self.stdout.write(line, ending="")
                    output.append(line)
            statuses = access_log_statuses(app)
        summary = {
            name: int(match.group(1)) if (match := pattern.search("".join(output))) else 0
            for name, pattern in SUMMARY_PATTERNS.items()
        }
        by_class = Counter(f"{status // 100}xx" for status in statuses)
        server_errors = sum(1 for status in statuses if status >= 500)
        self.stdout.write(
            f"\nseed {seed}: {summary['generated']} test cases, {len(statuses)} requests "
            f"({', '.join(f'{count} {name}' for name, count in sorted(by_class.items()))}); "
            f"{server_errors} answers >= 500, {summary['undocumented_statuses']} undocumented "
            f"statuses, {summary['schema_violations']} schema violations. Server log: "
            f"{app.error_log}"
        )
        if fuzzer.returncode or server_errors:
            raise CommandError(f"The fuzzer found failures; replay with make fuzz SEED={seed}.")
