"""Query bodies refuse keys they do not have: a misspelt filter must not widen the answer."""

from __future__ import annotations

import pytest

from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error

QUERY_ENDPOINTS = ("/v1/costs/search", "/v1/events/analytics", "/v1/costs/analytics-v2")


@pytest.mark.parametrize("path", QUERY_ENDPOINTS)
def test_an_unknown_key_is_a_400_naming_it(api: KeyedClient, path: str) -> None:
    # "customer_external_id" is a misspelling of external_customer_id: ignoring it would
    # answer for every customer.
    response = api.client.post(path, {"customer_external_id": "acme-1"}, format="json")

    body = assert_error(response, status=400)
    assert body["details"] == {"customer_external_id": ["Not a field of this request."]}


@pytest.mark.parametrize("path", QUERY_ENDPOINTS)
def test_an_empty_body_is_still_a_question(api: KeyedClient, path: str) -> None:
    response = api.client.post(path, {}, format="json")

    assert response.status_code == 200, response.json()


def test_search_points_paging_and_expand_keys_to_query_filter(api: KeyedClient) -> None:
    response = api.client.post(
        "/v1/costs/search", {"expand": "prices", "limit": 5, "name": "GPU"}, format="json"
    )

    body = assert_error(response, status=400)
    assert body["details"] == {
        "expand": ['Give expand inside queryFilter: {"queryFilter": {"expand": …}}.'],
        "limit": ['Give limit inside queryFilter: {"queryFilter": {"limit": …}}.'],
    }
