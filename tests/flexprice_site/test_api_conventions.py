"""The API conventions of SPEC §1: key auth, tenant isolation, the error body, pagination."""

from __future__ import annotations

import pytest

from flexprice_site.models import ApiKey
from flexprice_site.services import api_key_create, api_key_revoke
from tests.conftest import KeyedClient

KEYS_URL = "/v1/secrets/api/keys"


def assert_error_body(response, *, status: int, code: str) -> dict:
    body = response.json()
    assert response.status_code == status
    assert set(body) == {"code", "message", "http_status_code", "details"}
    assert body["code"] == code
    assert body["http_status_code"] == status
    assert body["message"]
    assert "Traceback" not in response.content.decode()
    return body


class TestApiKeyAuthentication:
    def test_missing_key_is_401(self, api: KeyedClient) -> None:
        api.client.credentials()
        response = api.client.get(KEYS_URL)
        assert_error_body(response, status=401, code="permission_denied")

    def test_wrong_key_is_401(self, api: KeyedClient) -> None:
        api.client.credentials(HTTP_X_API_KEY="sk_not-a-real-key")
        response = api.client.get(KEYS_URL)
        assert_error_body(response, status=401, code="permission_denied")

    def test_revoked_key_is_401(self, api: KeyedClient) -> None:
        api_key_revoke(api_key=ApiKey.objects.get(environment=api.environment))
        response = api.client.get(KEYS_URL)
        assert_error_body(response, status=401, code="permission_denied")

    def test_valid_key_is_200_and_records_its_use(self, api: KeyedClient) -> None:
        response = api.client.get(KEYS_URL)
        assert response.status_code == 200
        api_key = ApiKey.objects.get(environment=api.environment)
        assert api_key.last_used_at is not None

    def test_the_secret_is_stored_hashed_with_a_visible_prefix(self, api: KeyedClient) -> None:
        api_key = ApiKey.objects.get(environment=api.environment)
        assert api.raw_key.startswith("sk_")
        assert api_key.prefix == api.raw_key[:10]
        assert api.raw_key not in api_key.key_hash
        assert len(api_key.key_hash) == 64


class TestTenantIsolation:
    def test_a_key_sees_only_its_own_tenant_and_environment(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        response = other_api.client.get(KEYS_URL)
        ids = [item["id"] for item in response.json()["items"]]
        assert ids == [ApiKey.objects.get(environment=other_api.environment).id]

    def test_another_environment_of_the_same_tenant_is_invisible(self, api: KeyedClient) -> None:
        sandbox = api.tenant.environments.create(name="sandbox")
        api_key_create(environment=sandbox, name="sandbox key")
        response = api.client.get(KEYS_URL)
        names = [item["name"] for item in response.json()["items"]]
        assert names == ["test"]


class TestPagination:
    def test_items_and_pagination_totals(self, api: KeyedClient) -> None:
        for number in range(4):
            api_key_create(environment=api.environment, name=f"key {number}")
        response = api.client.get(KEYS_URL, {"limit": 2, "offset": 1})
        body = response.json()
        assert response.status_code == 200
        assert body["pagination"] == {"limit": 2, "offset": 1, "total": 5}
        assert [item["name"] for item in body["items"]] == ["key 2", "key 1"]

    def test_default_limit_is_50(self, api: KeyedClient) -> None:
        body = api.client.get(KEYS_URL).json()
        assert body["pagination"] == {"limit": 50, "offset": 0, "total": 1}

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}]
    )
    def test_out_of_range_paging_is_400(self, api: KeyedClient, params: dict) -> None:
        response = api.client.get(KEYS_URL, params)
        body = assert_error_body(response, status=400, code="validation_error")
        assert set(body["details"]) <= {"limit", "offset"}
        assert body["details"]

    def test_list_costs_a_fixed_number_of_queries(
        self, api: KeyedClient, django_assert_num_queries
    ) -> None:
        for number in range(5):
            api_key_create(environment=api.environment, name=f"key {number}")
        # key lookup, last-used update, count, page
        with django_assert_num_queries(4):
            api.client.get(KEYS_URL)
