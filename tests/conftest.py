"""Shared fixtures: tenants, environments, API keys and an API client that sends a key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

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
