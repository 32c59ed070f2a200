"""POST /v1/costs/search (SPEC §6): every operator over every field, sorting, status, both key
spellings, pagination, expand, the scope of the key, and 400s for what is not understood."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from pytest_django import DjangoAssertNumQueries

from costsheets.models import Costsheet
from costsheets.pricing import Tier
from flexprice_site.models import Environment, Status
from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error
from tests.factories import CostsheetFactory, PriceFactory

SEARCH = "/v1/costs/search"


@dataclass(frozen=True)
class Catalogue:
    alpha: Costsheet
    beta: Costsheet
    gamma: Costsheet
    delta: Costsheet

    def name_of(self, costsheet_id: str) -> str:
        names = {
            self.alpha.pk: "alpha",
            self.beta.pk: "beta",
            self.gamma.pk: "gamma",
            self.delta.pk: "delta",
        }
        return names.get(costsheet_id, costsheet_id)


def _costsheet_at(moment: str, environment: Environment, **fields: Any) -> Costsheet:
    with time_machine.travel(moment, tick=False):
        return CostsheetFactory(environment=environment, **fields)


@pytest.fixture
def catalogue(environment: Environment, other_environment: Environment) -> Catalogue:
    """Alpha (Jan, published), Beta (Feb, published, updated in May), Gamma (Mar, archived),
    Delta (Apr, deleted), and a costsheet of another tenant that must never show."""
    alpha = _costsheet_at(
        "2026-01-01T00:00:00Z",
        environment,
        name="Alpha compute",
        lookup_key="alpha",
        description="GPU hours",
        metadata={"region": "eu", "team": "ml"},
    )
    beta = _costsheet_at(
        "2026-02-01T00:00:00Z",
        environment,
        name="Beta storage",
        lookup_key="beta",
        description="Object storage",
        metadata={"region": "us"},
    )
    gamma = _costsheet_at(
        "2026-03-01T00:00:00Z",
        environment,
        name="Gamma network",
        lookup_key="",
        description="Egress",
        status=Status.ARCHIVED,
    )
    delta = _costsheet_at(
        "2026-04-01T00:00:00Z",
        environment,
        name="Delta old",
        lookup_key="delta",
        description="Retired",
        metadata={"region": "eu"},
        status=Status.DELETED,
    )
    Costsheet.objects.filter(pk=beta.pk).update(updated_at=datetime(2026, 5, 1, tzinfo=UTC))
    _costsheet_at(
        "2026-01-15T00:00:00Z",
        other_environment,
        name="Alpha compute",
        lookup_key="alpha",
        description="GPU hours",
        metadata={"region": "eu"},
    )
    return Catalogue(alpha=alpha, beta=beta, gamma=gamma, delta=delta)


def search(api: KeyedClient, catalogue: Catalogue, body: Any) -> list[str]:
    """The names (alpha, beta, …) of the costsheets a search finds, in order."""
    response = api.client.post(SEARCH, body, format="json")
    assert response.status_code == 200, response.json()
    return [catalogue.name_of(item["id"]) for item in response.json()["items"]]


def condition(field: str, operator: str, value: Any) -> dict[str, Any]:
    """A `filters[]` entry with the value in the member its type uses."""
    if isinstance(value, list):
        return {
            "field": field,
            "operator": operator,
            "data_type": "array",
            "value": {"array": value},
        }
    if field in ("created_at", "updated_at"):
        return {"field": field, "operator": operator, "data_type": "date", "value": {"date": value}}
    return {"field": field, "operator": operator, "data_type": "string", "value": {"string": value}}


# Every operator that applies, over every searchable field. The catalogue, newest first:
# gamma (archived, no region), beta (region us), alpha (region eu); delta is deleted.
OPERATOR_CASES = [
    ("name", "eq", "Beta storage", ["beta"]),
    ("name", "contains", "STOR", ["beta"]),
    ("name", "not_contains", "alpha", ["gamma", "beta"]),
    ("name", "gt", "Beta storage", ["gamma"]),
    ("name", "gte", "Beta storage", ["gamma", "beta"]),
    ("name", "lt", "Beta storage", ["alpha"]),
    ("name", "lte", "Beta storage", ["beta", "alpha"]),
    ("name", "in", ["Alpha compute", "Gamma network"], ["gamma", "alpha"]),
    ("name", "not_in", ["Alpha compute", "Gamma network"], ["beta"]),
    ("lookup_key", "eq", "beta", ["beta"]),
    ("lookup_key", "contains", "ALP", ["alpha"]),
    ("lookup_key", "not_contains", "alp", ["gamma", "beta"]),
    ("lookup_key", "gt", "alpha", ["beta"]),
    ("lookup_key", "gte", "alpha", ["beta", "alpha"]),
    ("lookup_key", "lt", "beta", ["gamma", "alpha"]),
    ("lookup_key", "lte", "alpha", ["gamma", "alpha"]),
    ("lookup_key", "in", ["alpha", "beta"], ["beta", "alpha"]),
    ("lookup_key", "not_in", ["alpha"], ["gamma", "beta"]),
    ("description", "eq", "Egress", ["gamma"]),
    ("description", "contains", "stor", ["beta"]),
    ("description", "not_contains", "o", ["gamma"]),
    ("description", "gt", "GPU hours", ["beta"]),
    ("description", "gte", "GPU hours", ["beta", "alpha"]),
    ("description", "lt", "GPU hours", ["gamma"]),
    ("description", "lte", "GPU hours", ["gamma", "alpha"]),
    ("description", "in", ["Egress", "GPU hours"], ["gamma", "alpha"]),
    ("description", "not_in", ["Egress"], ["beta", "alpha"]),
    ("status", "eq", "archived", ["gamma"]),
    ("status", "contains", "pub", ["beta", "alpha"]),
    ("status", "not_contains", "pub", ["gamma"]),
    ("status", "gt", "archived", ["beta", "alpha"]),
    ("status", "gte", "published", ["beta", "alpha"]),
    ("status", "lt", "published", ["gamma"]),
    ("status", "lte", "archived", ["gamma"]),
    ("status", "in", ["archived"], ["gamma"]),
    ("status", "not_in", ["archived"], ["beta", "alpha"]),
    ("metadata.region", "eq", "eu", ["alpha"]),
    ("metadata.region", "contains", "U", ["beta", "alpha"]),
    ("metadata.region", "not_contains", "e", ["gamma", "beta"]),
    ("metadata.region", "gt", "eu", ["beta"]),
    ("metadata.region", "gte", "eu", ["beta", "alpha"]),
    ("metadata.region", "lt", "us", ["alpha"]),
    ("metadata.region", "lte", "us", ["beta", "alpha"]),
    ("metadata.region", "in", ["us"], ["beta"]),
    ("metadata.region", "not_in", ["us"], ["gamma", "alpha"]),
    ("created_at", "eq", "2026-02-01T00:00:00Z", ["beta"]),
    ("created_at", "gt", "2026-02-01T00:00:00Z", ["gamma"]),
    ("created_at", "gte", "2026-02-01T00:00:00Z", ["gamma", "beta"]),
    ("created_at", "lt", "2026-02-01T00:00:00Z", ["alpha"]),
    ("created_at", "lte", "2026-02-01T00:00:00Z", ["beta", "alpha"]),
    ("created_at", "before", "2026-02-01T00:00:00Z", ["alpha"]),
    ("created_at", "after", "2026-02-01T00:00:00+00:00", ["gamma"]),
    ("updated_at", "eq", "2026-05-01T00:00:00Z", ["beta"]),
    ("updated_at", "gt", "2026-03-01T00:00:00Z", ["beta"]),
    ("updated_at", "gte", "2026-03-01T00:00:00Z", ["gamma", "beta"]),
    ("updated_at", "lt", "2026-03-01T00:00:00Z", ["alpha"]),
    ("updated_at", "lte", "2026-03-01T00:00:00Z", ["gamma", "alpha"]),
    ("updated_at", "before", "2026-03-01T00:00:00Z", ["alpha"]),
    ("updated_at", "after", "2026-03-01T01:00:00+02:00", ["gamma", "beta"]),
]


class TestFilterOperators:
    @pytest.mark.parametrize(("field", "operator", "value", "expected"), OPERATOR_CASES)
    def test_operator_over_field(
        self,
        api: KeyedClient,
        catalogue: Catalogue,
        field: str,
        operator: str,
        value: Any,
        expected: list[str],
    ) -> None:
        body = {"filters": [condition(field, operator, value)]}
        assert search(api, catalogue, body) == expected

    def test_the_data_type_may_be_left_out(self, api: KeyedClient, catalogue: Catalogue) -> None:
        body = {
            "filters": [
                {"field": "name", "operator": "contains", "value": {"string": "a"}},
                {
                    "field": "created_at",
                    "operator": "after",
                    "value": {"date": "2026-01-15T00:00:00Z"},
                },
                {"field": "lookup_key", "operator": "not_in", "value": {"array": ["beta"]}},
            ]
        }
        assert search(api, catalogue, body) == ["gamma"]

    def test_conditions_all_apply(self, api: KeyedClient, catalogue: Catalogue) -> None:
        body = {
            "filters": [
                condition("metadata.region", "eq", "eu"),
                condition("metadata.team", "eq", "ml"),
                condition("created_at", "lt", "2026-12-31T00:00:00Z"),
            ]
        }
        assert search(api, catalogue, body) == ["alpha"]


class TestFilterErrors:
    @pytest.mark.parametrize("field", ["name", "lookup_key", "description", "status", "metadata.x"])
    @pytest.mark.parametrize("operator", ["before", "after"])
    def test_date_operators_on_text_fields(
        self, api: KeyedClient, catalogue: Catalogue, field: str, operator: str
    ) -> None:
        body = {"filters": [condition(field, operator, "2026-01-01T00:00:00Z")]}
        error = assert_error(api.client.post(SEARCH, body, format="json"), status=400)
        assert error["details"] == {
            "filters": {
                "0": {
                    "operator": [
                        f"“{operator}” does not apply to {field}, a text field. Use one of eq, "
                        "contains, not_contains, gt, gte, lt, lte, in, not_in."
                    ]
                }
            }
        }

    @pytest.mark.parametrize("field", ["created_at", "updated_at"])
    @pytest.mark.parametrize("operator", ["contains", "not_contains", "in", "not_in"])
    def test_text_operators_on_date_fields(
        self, api: KeyedClient, catalogue: Catalogue, field: str, operator: str
    ) -> None:
        body = {"filters": [{"field": field, "operator": operator, "value": {"string": "2026"}}]}
        error = assert_error(api.client.post(SEARCH, body, format="json"), status=400)
        assert error["details"] == {
            "filters": {
                "0": {
                    "operator": [
                        f"“{operator}” does not apply to {field}, a date field. Use one of eq, "
                        "gt, gte, lt, lte, before, after."
                    ]
                }
            }
        }
        assert error["message"].startswith("filters.0.operator: ")

    @pytest.mark.parametrize(
        ("entry", "details"),
        [
            (
                {"field": "price", "operator": "eq", "value": {"string": "x"}},
                {
                    "field": [
                        "Cannot filter on “price”. Use one of name, lookup_key, description, "
                        "status, created_at, updated_at or metadata.<key>."
                    ]
                },
            ),
            (
                {"field": "metadata.", "operator": "eq", "value": {"string": "x"}},
                {
                    "field": [
                        "Cannot filter on “metadata.”. Use one of name, lookup_key, description, "
                        "status, created_at, updated_at or metadata.<key>."
                    ]
                },
            ),
            (
                {"field": "name", "operator": "like", "value": {"string": "x"}},
                {
                    "operator": [
                        "“like” is not one of eq, contains, not_contains, gt, gte, lt, lte, in, "
                        "not_in, before, after."
                    ]
                },
            ),
            (
                {"field": "name", "operator": "eq", "data_type": "date", "value": {"string": "x"}},
                {"data_type": ["name eq compares string values, not date."]},
            ),
            (
                {
                    "field": "created_at",
                    "operator": "gt",
                    "data_type": "number",
                    "value": {"number": 5},
                },
                {"data_type": ["created_at gt compares date values, not number."]},
            ),
            (
                {
                    "field": "status",
                    "operator": "eq",
                    "data_type": "boolean",
                    "value": {"boolean": True},
                },
                {"data_type": ["status eq compares string values, not boolean."]},
            ),
            (
                {
                    "field": "name",
                    "operator": "in",
                    "data_type": "string",
                    "value": {"string": "x"},
                },
                {"data_type": ["name in compares array values, not string."]},
            ),
            (
                {"field": "name", "operator": "eq", "value": {"array": ["x"]}},
                {"value": ["Give value.string for name eq."]},
            ),
            (
                {"field": "created_at", "operator": "after", "value": {"date": "yesterday"}},
                {
                    "value": {
                        "date": [
                            "Datetime has wrong format. Use one of these formats instead: "
                            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                        ]
                    }
                },
            ),
            (
                {
                    "field": "created_at",
                    "operator": "after",
                    "value": {"date": "2026-01-01T00:00:00"},
                },
                {
                    "value": {
                        "date": [
                            "Timestamp must include a time zone offset (RFC 3339), e.g. "
                            "2026-01-05T09:00:00Z."
                        ]
                    }
                },
            ),
        ],
    )
    def test_what_cannot_be_understood_is_a_400_naming_it(
        self, api: KeyedClient, catalogue: Catalogue, entry: dict[str, Any], details: dict[str, Any]
    ) -> None:
        error = assert_error(
            api.client.post(SEARCH, {"filters": [entry]}, format="json"), status=400
        )
        assert error["details"] == {"filters": {"0": details}}


class TestSort:
    def test_default_is_newest_first(self, api: KeyedClient, catalogue: Catalogue) -> None:
        assert search(api, catalogue, {}) == ["gamma", "beta", "alpha"]

    def test_one_key(self, api: KeyedClient, catalogue: Catalogue) -> None:
        body = {"sort": [{"field": "name", "direction": "asc"}]}
        assert search(api, catalogue, body) == ["alpha", "beta", "gamma"]

    def test_keys_apply_in_order(self, api: KeyedClient, catalogue: Catalogue) -> None:
        by_status_then_name = [
            {"field": "status", "direction": "desc"},
            {"field": "name", "direction": "asc"},
        ]
        assert search(api, catalogue, {"sort": by_status_then_name}) == ["alpha", "beta", "gamma"]
        by_status_then_name[1]["direction"] = "desc"
        assert search(api, catalogue, {"sort": by_status_then_name}) == ["beta", "alpha", "gamma"]
        by_update = [{"field": "updated_at", "direction": "desc"}]
        assert search(api, catalogue, {"sort": by_update}) == ["beta", "gamma", "alpha"]

    def test_the_direction_defaults_to_desc(self, api: KeyedClient, catalogue: Catalogue) -> None:
        assert search(api, catalogue, {"sort": [{"field": "lookup_key"}]}) == [
            "beta",
            "alpha",
            "gamma",
        ]

    def test_query_filter_sort_and_order(self, api: KeyedClient, catalogue: Catalogue) -> None:
        by_name = {"queryFilter": {"sort": "name", "order": "asc"}}
        assert search(api, catalogue, by_name) == ["alpha", "beta", "gamma"]
        oldest_first = {"queryFilter": {"order": "asc"}}
        assert search(api, catalogue, oldest_first) == ["alpha", "beta", "gamma"]

    @pytest.mark.parametrize(
        ("body", "details"),
        [
            (
                {"sort": [{"field": "price", "direction": "asc"}]},
                {
                    "sort": {
                        "0": {
                            "field": [
                                "Cannot sort by “price”. Use one of name, lookup_key, "
                                "description, status, created_at, updated_at."
                            ]
                        }
                    }
                },
            ),
            (
                {"sort": [{"field": "name", "direction": "up"}]},
                {"sort": {"0": {"direction": ["“up” is not one of asc, desc."]}}},
            ),
            (
                {"queryFilter": {"sort": "metadata.region"}},
                {
                    "queryFilter": {
                        "sort": [
                            "Cannot sort by “metadata.region”. Use one of name, lookup_key, "
                            "description, status, created_at, updated_at."
                        ]
                    }
                },
            ),
        ],
    )
    def test_unknown_sort_is_400(
        self, api: KeyedClient, catalogue: Catalogue, body: dict[str, Any], details: dict[str, Any]
    ) -> None:
        error = assert_error(api.client.post(SEARCH, body, format="json"), status=400)
        assert error["details"] == details


class TestStatus:
    def test_default_is_everything_but_deleted(
        self, api: KeyedClient, catalogue: Catalogue
    ) -> None:
        assert search(api, catalogue, {}) == ["gamma", "beta", "alpha"]

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"status": "deleted"}, ["delta"]),
            ({"status": "archived"}, ["gamma"]),
            ({"queryFilter": {"status": "published"}}, ["beta", "alpha"]),
            ({"status": "published", "queryFilter": {"status": "published"}}, ["beta", "alpha"]),
        ],
    )
    def test_a_named_status(
        self, api: KeyedClient, catalogue: Catalogue, body: dict[str, Any], expected: list[str]
    ) -> None:
        assert search(api, catalogue, body) == expected

    def test_two_different_statuses_are_refused(
        self, api: KeyedClient, catalogue: Catalogue
    ) -> None:
        body = {"status": "published", "queryFilter": {"status": "archived"}}
        error = assert_error(api.client.post(SEARCH, body, format="json"), status=400)
        assert error["details"] == {
            "status": ["status and queryFilter.status name different statuses; give one."]
        }

    def test_an_unknown_status_is_refused(self, api: KeyedClient, catalogue: Catalogue) -> None:
        error = assert_error(api.client.post(SEARCH, {"status": "live"}, format="json"), status=400)
        assert error["details"] == {
            "status": ["“live” is not one of published, archived, deleted."]
        }


class TestKeySpellings:
    @pytest.mark.parametrize(
        ("camel", "snake", "value", "expected"),
        [
            ("costsheetIDs", "costsheet_ids", ["{alpha}", "{gamma}"], ["gamma", "alpha"]),
            ("lookupKey", "lookup_key", "beta", ["beta"]),
            (
                "timeRangeFilter",
                "time_range_filter",
                {"start_time": "2026-02-01T00:00:00Z", "end_time": "2026-03-01T00:00:00Z"},
                ["gamma", "beta"],
            ),
            ("queryFilter", "query_filter", {"limit": 1, "offset": 1}, ["beta"]),
        ],
    )
    def test_camel_and_snake_case_find_the_same(
        self,
        api: KeyedClient,
        catalogue: Catalogue,
        camel: str,
        snake: str,
        value: Any,
        expected: list[str],
    ) -> None:
        if isinstance(value, list):
            value = [
                {"{alpha}": catalogue.alpha.pk, "{gamma}": catalogue.gamma.pk}[item]
                for item in value
            ]
        assert search(api, catalogue, {camel: value}) == expected
        assert search(api, catalogue, {snake: value}) == expected

    def test_both_spellings_at_once_are_refused(
        self, api: KeyedClient, catalogue: Catalogue
    ) -> None:
        body = {"lookupKey": "alpha", "lookup_key": "beta"}
        error = assert_error(api.client.post(SEARCH, body, format="json"), status=400)
        assert error["details"] == {
            "lookupKey": ["Give lookupKey or lookup_key, not both."],
            "lookup_key": ["Give lookupKey or lookup_key, not both."],
        }

    def test_name_matches_part_of_the_name(self, api: KeyedClient, catalogue: Catalogue) -> None:
        assert search(api, catalogue, {"name": "ALPHA"}) == ["alpha"]

    def test_the_time_range_includes_both_ends(
        self, api: KeyedClient, catalogue: Catalogue
    ) -> None:
        exact = {"start_time": "2026-02-01T00:00:00Z", "end_time": "2026-02-01T00:00:00Z"}
        assert search(api, catalogue, {"timeRangeFilter": exact}) == ["beta"]
        open_ended = {"timeRangeFilter": {"end_time": "2026-02-01T00:00:00Z"}}
        assert search(api, catalogue, open_ended) == ["beta", "alpha"]

    @pytest.mark.parametrize(
        ("time_range", "details"),
        [
            (
                {"start_time": "2026-03-01T00:00:00Z", "end_time": "2026-02-01T00:00:00Z"},
                {"end_time": ["end_time is before start_time."]},
            ),
            (
                {"start_time": "2026-03-01 00:00"},
                {
                    "start_time": [
                        "Timestamp must include a time zone offset (RFC 3339), e.g. "
                        "2026-01-05T09:00:00Z."
                    ]
                },
            ),
        ],
    )
    def test_bad_time_ranges_are_refused(
        self, api: KeyedClient, catalogue: Catalogue, time_range: dict[str, str], details: Any
    ) -> None:
        body = {"timeRangeFilter": time_range}
        error = assert_error(api.client.post(SEARCH, body, format="json"), status=400)
        assert error["details"] == {"timeRangeFilter": details}


class TestPagination:
    def test_a_page_and_the_total(self, api: KeyedClient, catalogue: Catalogue) -> None:
        response = api.client.post(
            SEARCH, {"queryFilter": {"limit": 2, "offset": 1}}, format="json"
        )
        body = response.json()
        assert [catalogue.name_of(item["id"]) for item in body["items"]] == ["beta", "alpha"]
        assert body["pagination"] == {"limit": 2, "offset": 1, "total": 3}

    def test_defaults(self, api: KeyedClient, catalogue: Catalogue) -> None:
        body = api.client.post(SEARCH, {}, format="json").json()
        assert body["pagination"] == {"limit": 50, "offset": 0, "total": 3}

    def test_the_total_counts_what_the_filters_keep(
        self, api: KeyedClient, catalogue: Catalogue
    ) -> None:
        body = api.client.post(
            SEARCH,
            {"status": "published", "queryFilter": {"limit": 1}},
            format="json",
        ).json()
        assert body["pagination"] == {"limit": 1, "offset": 0, "total": 2}
        assert [item["id"] for item in body["items"]] == [catalogue.beta.pk]

    @pytest.mark.parametrize(
        ("query", "details"),
        [
            ({"limit": 0}, {"limit": ["Ensure this value is greater than or equal to 1."]}),
            ({"limit": 1001}, {"limit": ["Ensure this value is less than or equal to 1000."]}),
            ({"limit": "many"}, {"limit": ["A valid integer is required."]}),
            ({"limit": 2.5}, {"limit": ["A valid integer is required."]}),
            ({"offset": -1}, {"offset": ["Ensure this value is greater than or equal to 0."]}),
        ],
    )
    def test_bad_paging_is_400(
        self, api: KeyedClient, catalogue: Catalogue, query: dict[str, Any], details: Any
    ) -> None:
        response = api.client.post(SEARCH, {"queryFilter": query}, format="json")
        error = assert_error(response, status=400)
        assert error["details"] == {"queryFilter": details}


class TestExpand:
    @pytest.fixture
    def priced(self, catalogue: Catalogue) -> dict[str, Any]:
        tiered = PriceFactory(
            environment=catalogue.alpha.environment,
            owner=catalogue.alpha,
            billing_model="TIERED",
            tiers=[
                Tier(up_to=Decimal(1000), unit_amount=Decimal("0.002")),
                Tier(None, Decimal("0.001")),
            ],
        )
        fixed = PriceFactory(
            environment=catalogue.alpha.environment,
            owner=catalogue.alpha,
            type="FIXED",
            meter=None,
            amount=Decimal(25),
        )
        PriceFactory(
            environment=catalogue.alpha.environment, owner=catalogue.alpha, status=Status.ARCHIVED
        )
        return {"tiered": tiered, "fixed": fixed}

    def alpha_item(
        self, api: KeyedClient, catalogue: Catalogue, expand: str | None
    ) -> dict[str, Any]:
        query: dict[str, Any] = {} if expand is None else {"expand": expand}
        body = api.client.post(
            SEARCH, {"costsheetIDs": [catalogue.alpha.pk], "queryFilter": query}, format="json"
        ).json()
        (item,) = body["items"]
        return item

    def test_without_expand_there_are_no_prices(
        self, api: KeyedClient, catalogue: Catalogue, priced: dict[str, Any]
    ) -> None:
        assert sorted(self.alpha_item(api, catalogue, None)) == [
            "created_at",
            "created_by",
            "description",
            "environment_id",
            "id",
            "lookup_key",
            "metadata",
            "name",
            "status",
            "tenant_id",
            "updated_at",
            "updated_by",
        ]

    def test_prices_are_the_published_ones_without_meters(
        self, api: KeyedClient, catalogue: Catalogue, priced: dict[str, Any]
    ) -> None:
        prices = self.alpha_item(api, catalogue, "prices")["prices"]
        assert [price["id"] for price in prices] == [priced["tiered"].pk, priced["fixed"].pk]
        assert all("meter" not in price for price in prices)
        assert prices[0]["meter_id"] == priced["tiered"].meter_id
        assert prices[0]["tiers"] == [
            {"up_to": "1000", "unit_amount": "0.002", "flat_amount": "0"},
            {"up_to": None, "unit_amount": "0.001", "flat_amount": "0"},
        ]
        assert (prices[1]["amount"], prices[1]["display_amount"]) == ("25", "$25")

    def test_prices_and_meters(
        self, api: KeyedClient, catalogue: Catalogue, priced: dict[str, Any]
    ) -> None:
        prices = self.alpha_item(api, catalogue, "prices,meters")["prices"]
        meter = priced["tiered"].meter
        assert prices[0]["meter"]["id"] == meter.pk
        assert prices[0]["meter"]["aggregation"]["type"] == meter.aggregation_type
        assert prices[1]["meter"] is None

    def test_a_costsheet_without_prices_gets_an_empty_list(
        self, api: KeyedClient, catalogue: Catalogue
    ) -> None:
        body = api.client.post(SEARCH, {"queryFilter": {"expand": "prices"}}, format="json").json()
        assert [item["prices"] for item in body["items"]] == [[], [], []]

    def test_an_unknown_expand_is_refused(self, api: KeyedClient, catalogue: Catalogue) -> None:
        body = {"queryFilter": {"expand": "prices,plans"}}
        error = assert_error(api.client.post(SEARCH, body, format="json"), status=400)
        assert error["details"] == {
            "queryFilter": {"expand": ["Cannot expand “plans”. Use prices or prices,meters."]}
        }

    @pytest.mark.parametrize("costsheets", [1, 20])
    def test_expanding_costs_the_same_queries_whatever_the_rows(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries, costsheets: int
    ) -> None:
        for _ in range(costsheets):
            owner = CostsheetFactory(environment=api.environment)
            for _ in range(2):
                PriceFactory(
                    environment=api.environment,
                    owner=owner,
                    billing_model="TIERED",
                    tiers=[Tier(up_to=Decimal(10), unit_amount=Decimal(1)), Tier(None, Decimal(2))],
                )
        body = {"queryFilter": {"expand": "prices,meters", "limit": 1000}}
        # key lookup, last-used update, count, page, prices with meters, tiers
        with django_assert_num_queries(6):
            response = api.client.post(SEARCH, body, format="json")
        items = response.json()["items"]
        assert len(items) == costsheets
        assert {len(item["prices"]) for item in items} == {2}


class TestScope:
    def test_another_tenants_costsheets_never_show(
        self, api: KeyedClient, other_api: KeyedClient, catalogue: Catalogue
    ) -> None:
        foreign = Costsheet.objects.get(environment=other_api.environment)
        assert search(api, catalogue, {"costsheetIDs": [foreign.pk]}) == []
        assert search(api, catalogue, {"lookupKey": "alpha"}) == ["alpha"]
        foreign_view = other_api.client.post(SEARCH, {}, format="json").json()
        assert [item["id"] for item in foreign_view["items"]] == [foreign.pk]

    def test_the_keys_own_tenant_and_environment_may_be_named(
        self, api: KeyedClient, catalogue: Catalogue
    ) -> None:
        body = {
            "tenantID": api.environment.tenant_id,
            "environment_id": api.environment.pk,
            "name": "beta",
        }
        assert search(api, catalogue, body) == ["beta"]

    @pytest.mark.parametrize("key", ["tenantID", "tenant_id", "environmentID", "environment_id"])
    def test_naming_another_scope_is_refused(
        self, api: KeyedClient, other_api: KeyedClient, catalogue: Catalogue, key: str
    ) -> None:
        other = other_api.environment
        value = other.tenant_id if key.startswith("tenant") else other.pk
        error = assert_error(api.client.post(SEARCH, {key: value}, format="json"), status=400)
        what = "tenant" if key.startswith("tenant") else "environment"
        own = api.environment.tenant_id if what == "tenant" else api.environment.pk
        assert error["details"] == {
            key: [f"The API key belongs to {what} {own}; a search cannot name another {what}."]
        }

    def test_a_body_that_is_not_an_object_is_refused(
        self, api: KeyedClient, catalogue: Catalogue
    ) -> None:
        error = assert_error(api.client.post(SEARCH, [1, 2], format="json"), status=400)
        assert error["details"] == {
            "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
        }

    def test_without_a_key_it_is_401(self, api: KeyedClient, catalogue: Catalogue) -> None:
        api.client.credentials()
        assert_error(
            api.client.post(SEARCH, {}, format="json"), status=401, code="permission_denied"
        )
