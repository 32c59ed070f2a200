"""Site plumbing: health check, OpenAPI and docs, IDs, commands, settings for production."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from flexprice_site.demo import saved_demo_credentials
from flexprice_site.ids import new_id
from flexprice_site.models import ApiKey, User
from flexprice_site.services import hash_api_key

BASE_DIR = Path(__file__).resolve().parents[2]


class TestHealthz:
    def test_database_and_broker_ok(self, db: None, client: Client) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}

    def test_unreachable_broker_is_503(
        self, db: None, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from kombu import Connection

        from flexprice_site.celery import app

        # Nothing listens on port 1: a broker that is down.
        monkeypatch.setattr(
            app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0")
        )
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "database": "ok",
            "broker": "unavailable",
        }


class TestOpenApi:
    def test_schema_is_served_without_a_key(self, db: None, client: Client) -> None:
        response = client.get("/v1/openapi.json")
        schema = response.json()
        assert response.status_code == 200
        assert schema["openapi"].startswith("3.")
        assert "/v1/secrets/api/keys" in schema["paths"]
        assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "x-api-key"

    @pytest.mark.parametrize(
        ("path", "method", "statuses"),
        [
            # A list: its query is checked, its key too, and it may be rate limited.
            ("/v1/customers", "get", ["200", "400", "401", "406", "413", "414", "429", "500"]),
            # A create with a body, and a unique external id.
            (
                "/v1/customers",
                "post",
                ["201", "400", "401", "406", "409", "413", "414", "415", "429", "500"],
            ),
            # An id in the path.
            (
                "/v1/customers/{id}",
                "delete",
                ["204", "400", "401", "404", "406", "413", "414", "429", "500"],
            ),
            # A customer named in the body may not exist.
            (
                "/v1/events/analytics",
                "post",
                ["200", "400", "401", "404", "406", "413", "414", "415", "429", "500"],
            ),
        ],
    )
    def test_every_status_an_operation_answers_is_declared_with_the_error_body(
        self, db: None, client: Client, path: str, method: str, statuses: list[str]
    ) -> None:
        schema = client.get("/v1/openapi.json").json()
        responses = schema["paths"][path][method]["responses"]

        assert list(responses) == statuses
        error_ref = {"$ref": "#/components/schemas/Error"}
        assert [
            responses[status]["content"]["application/json"]["schema"]
            for status in statuses
            if status >= "400"
        ] == [error_ref] * (len(statuses) - 1)
        assert responses["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
        assert schema["components"]["schemas"]["Error"]["required"] == [
            "code",
            "message",
            "http_status_code",
            "details",
        ]

    def test_docs_page_uses_local_static_files_only(self, db: None, client: Client) -> None:
        page = client.get("/docs/").content.decode()
        assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
        assert "cdn" not in page.lower()


class TestIds:
    def test_prefixed_and_sortable_in_creation_order(self) -> None:
        ids = [new_id("cost") for _ in range(2000)]
        assert all(identifier.startswith("cost_") and len(identifier) == 31 for identifier in ids)
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)


class TestCommands:
    def test_create_api_key_prints_a_working_key(self, db: None) -> None:
        out, err = io.StringIO(), io.StringIO()
        call_command(
            "create_api_key", tenant="Initech", environment="staging", stdout=out, stderr=err
        )
        raw_key = out.getvalue().strip()
        api_key = ApiKey.objects.get(key_hash=hash_api_key(raw_key))
        assert (api_key.tenant.name, api_key.environment.name) == ("Initech", "staging")
        assert Client().get("/v1/secrets/api/keys", HTTP_X_API_KEY=raw_key).status_code == 200

    def test_seed_demo_gives_a_login_and_a_key_that_work(
        self, db: None, settings, tmp_path
    ) -> None:
        settings.VAR_DIR = tmp_path
        call_command("seed_demo", stdout=io.StringIO())
        credentials = saved_demo_credentials()
        client = Client()
        assert client.login(username=credentials.username, password=credentials.password)
        assert client.get("/admin/").status_code == 200
        api = Client().get("/v1/secrets/api/keys", HTTP_X_API_KEY=credentials.api_key)
        assert api.status_code == 200
        assert User.objects.get(username="admin").tenant.name == "Demo AI Co"

    def test_heartbeat_command_runs_the_task(self, db: None) -> None:
        out = io.StringIO()
        call_command("heartbeat", stdout=out)
        assert out.getvalue().startswith("heartbeat ok at ")


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SECRET_KEY": "x" * 64 + "production-secret-that-is-long-and-random-9f8e7d6c",
        "DEBUG": "false",
        "HTTPS": "true",
        "ALLOWED_HOSTS": "pricing.example.com",
        "DATABASE_URL": os.environ.get("DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout
