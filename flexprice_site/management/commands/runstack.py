"""manage.py runstack: migrate, seed if empty, then run web, Celery worker and beat until Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from flexprice_site.demo import saved_demo_credentials
from flexprice_site.embedded_db import database_url
from flexprice_site.loopback import stop_processes
from flexprice_site.models import Tenant

STOP_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = (
        "Run the whole app in the foreground: gunicorn (web), a Celery worker and Celery beat. "
        "Ctrl-C stops all of them (and the embedded database, when this started it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        base_url = f"http://{options['host']}:{options['port']}"
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        if not Tenant.objects.exists():
            call_command("seed_demo", base_url=base_url, stdout=io.StringIO())
        self._print_banner(base_url)

        child_env = dict(os.environ)
        # Children join the database this process opened rather than each starting their own.
        child_env["DATABASE_URL"] = database_url(settings.DATABASES["default"])
        python = sys.executable
        commands = {
            "web": [
                python, "-m", "gunicorn", "flexprice_site.wsgi",
                "--bind", f"{options['host']}:{options['port']}",
                "--workers", str(options["web_workers"]),
                "--access-logfile", "-",
            ],
            "worker": [
                python, "-m", "celery", "-A", "flexprice_site", "worker",
                "--loglevel", "INFO", "--concurrency", "2",
            ],
            "beat": [python, "-m", "celery", "-A", "flexprice_site", "beat", "--loglevel", "INFO"],
        }  # fmt: skip
        children = {
            name: subprocess.Popen(command, env=child_env) for name, command in commands.items()
        }
        stopping = False

        def request_stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with code {child.returncode}; stopping.")
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.5)
        stop_processes(list(children.values()), grace=STOP_GRACE_SECONDS)
        self.stdout.write("Stopped web, worker and beat.")
        if exit_code:
            sys.exit(exit_code)

    def _print_banner(self, base_url: str) -> None:
        credentials = saved_demo_credentials()
        lines = [
            "",
            "=" * 72,
            f"  Admin:     {base_url}/admin/",
            f"  API docs:  {base_url}/docs/   (schema: {base_url}/v1/openapi.json)",
            f"  Health:    {base_url}/healthz",
        ]
        if credentials is not None:
            lines += [
                f"  Login:     {credentials.username} / {credentials.password}",
                f"  API key:   {credentials.api_key}",
                f"  Try:       curl -H 'x-api-key: {credentials.api_key}' "
                f"{base_url}/v1/secrets/api/keys",
            ]
        else:
            lines.append("  Login:     run `manage.py seed_demo` for a demo login and API key")
        lines += ["  Stop:      Ctrl-C", "=" * 72, ""]
        self.stdout.write("\n".join(lines))
