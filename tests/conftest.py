"""Shared fixtures: tenants, environments, API keys and an API client that sends a key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from analytics.metering.parallel import close_connections
from flexprice_site.models import Environment
from flexprice_site.services import api_key_create, environment_get_or_create


@dataclass
class KeyedClient:
    """An API client that sends one tenant + environment's key on every request."""

    client: APIClient
    environment: Environment
    raw_key: str

    @property
    def tenant(self):
        return self.environment.tenant


def keyed_client(environment: Environment) -> KeyedClient:
    created = api_key_create(environment=environment, name="test")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=created.raw_key)
    return KeyedClient(client=client, environment=environment, raw_key=created.raw_key)


@pytest.fixture
def environment(db: None) -> Environment:
    return environment_get_or_create(tenant_name="Acme", environment_name="production")


@pytest.fixture
def other_environment(db: None) -> Environment:
    return environment_get_or_create(tenant_name="Globex", environment_name="production")


@pytest.fixture
def api(environment: Environment) -> KeyedClient:
    """The API as tenant Acme / production."""
    return keyed_client(environment)


@pytest.fixture
def other_api(other_environment: Environment) -> KeyedClient:
    """The API as a different tenant (Globex / production)."""
    return keyed_client(other_environment)


@pytest.fixture(autouse=True)
def _statement_connections_closed() -> Iterator[None]:
    """A test that ran metering statements on their threads (outside a transaction) leaves
    those threads' connections closed, so the test database can be dropped at the end."""
    yield
    close_connections()


@pytest.fixture(autouse=True)
def _rollup_rebuilds_stay_in_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Meter changes committed by a test must not leave rebuild messages in the real broker.

    Tests that check what is enqueued patch `delay` again with a recorder of their own.
    """
    monkeypatch.setattr("analytics.tasks.rollup_rebuild.delay", lambda *args, **kwargs: None)


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Chromium page (Playwright's sync API) for tests marked `browser`."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install chromium (make test does)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # alongside it are still synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()
            # Inside sync_playwright the test runs in a greenlet with its own context, and so
            # with its own database connection; close it, or the test database can't be dropped.
            connections.close_all()


@contextmanager
def sdk_client(live_server: Any, environment: Environment) -> Iterator[Any]:
    """The official `flexprice` Python SDK against a live server, with a key of `environment`."""
    from flexprice import Flexprice

    key = api_key_create(environment=environment, name="sdk").raw_key
    with Flexprice(server_url=f"{live_server.url}/v1", api_key_auth=key) as client:
        yield client


@pytest.fixture
def sdk(live_server: Any, transactional_db: None) -> Iterator[Any]:
    """The SDK as tenant Acme / production."""
    environment = environment_get_or_create(tenant_name="Acme", environment_name="production")
    with sdk_client(live_server, environment) as client:
        yield client
