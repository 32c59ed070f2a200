"""Input the database can't store is a 400 naming the field, decided where the request is read,
never a 500 from a failed query (issue 14: one request per cause the fuzzer found)."""

from __future__ import annotations

from costsheets.models import Customer, Meter, Price
from flexprice_site.bounds import (
    NUL_MESSAGE,
    SURROGATE_MESSAGE,
    TIMESTAMP_RANGE_MESSAGE,
    UTC_OFFSET_MESSAGE,
)
from flexprice_site.models import Environment
from flexprice_site.parsers import DEPTH_MESSAGE
from tests.conftest import KeyedClient
from tests.factories import CostsheetFactory, MeterFactory


def error(field: str, message: str) -> dict[str, object]:
    """The SPEC §1 body of a 400 about one field."""
    return {
        "code": "validation_error",
        "message": f"{field}: {message}",
        "http_status_code": 400,
        "details": {field: [message]},
    }


def post_raw(api: KeyedClient, url: str, body: str) -> object:
    """A body exactly as written: `\\u0000` stays an escape, as a client would send it."""
    return api.client.generic("POST", url, body, content_type="application/json")


def fixed_price(environment: Environment, **fields: object) -> dict[str, object]:
    """A request for a $1 fixed price of a new costsheet, with `fields` on top."""
    costsheet = CostsheetFactory(environment=environment)
    return {
        "entity_type": "COSTSHEET",
        "entity_id": costsheet.pk,
        "currency": "usd",
        "type": "FIXED",
        "amount": "1",
        **fields,
    }


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


class TestIntegers:
    """`bigint out of range`: integers beyond what their column (or OFFSET) holds."""

    def test_an_offset_beyond_a_bigint_is_400(self, api: KeyedClient) -> None:
        response = api.client.get("/v1/customers", {"offset": 2**63})

        assert response.status_code == 400
        assert response.json() == error(
            "offset", "Ensure this value is less than or equal to 9223372036854775807."
        )

    def test_a_search_offset_beyond_a_bigint_is_400(self, api: KeyedClient) -> None:
        response = api.client.post(
            "/v1/costs/search", {"queryFilter": {"offset": 2**63}}, format="json"
        )

        assert response.status_code == 400
        message = "Ensure this value is less than or equal to 9223372036854775807."
        assert response.json() == {
            "code": "validation_error",
            "message": f"queryFilter.offset: {message}",
            "http_status_code": 400,
            "details": {"queryFilter": {"offset": [message]}},
        }

    def test_trial_days_beyond_an_integer_column_are_400(
        self, api: KeyedClient, environment: Environment
    ) -> None:
        body = fixed_price(environment, trial_period_days=2**31)

        response = api.client.post("/v1/prices", body, format="json")

        assert response.status_code == 400
        assert response.json() == error(
            "trial_period_days", "Ensure this value is less than or equal to 2147483647."
        )
        assert Price.objects.count() == 0

    def test_a_billing_period_count_beyond_what_dates_can_reach_is_400(
        self, api: KeyedClient, environment: Environment
    ) -> None:
        body = fixed_price(environment, billing_period_count=1001)

        response = api.client.post("/v1/prices", body, format="json")

        assert response.status_code == 400
        assert response.json() == error(
            "billing_period_count", "Ensure this value is less than or equal to 1000."
        )
        assert Price.objects.count() == 0


class TestText:
    """`PostgreSQL text fields cannot contain NUL (0x00) bytes` and JSONB's `unsupported Unicode
    escape sequence`: NUL (and unpaired surrogates, which are no text at all) anywhere."""

    def test_nul_in_a_query_parameter_is_400(self, api: KeyedClient) -> None:
        response = api.client.get("/v1/customers?name=acme%00")

        assert response.status_code == 400
        assert response.json() == error("name", NUL_MESSAGE)

    def test_nul_in_the_path_is_400(self, api: KeyedClient) -> None:
        response = api.client.get("/v1/customers/cust_%00")

        assert response.status_code == 400
        assert response.json() == error("path", NUL_MESSAGE)

    def test_nul_in_a_json_value_is_400_naming_where(self, api: KeyedClient) -> None:
        body = '{"external_id": "acme-1", "metadata": {"note": "a\\u0000b"}}'

        response = post_raw(api, "/v1/customers", body)

        assert response.status_code == 400
        assert response.json() == error("metadata.note", NUL_MESSAGE)
        assert Customer.objects.count() == 0

    def test_nul_in_a_json_key_is_400_naming_its_object(self, api: KeyedClient) -> None:
        body = '{"external_id": "acme-1", "metadata": {"no\\u0000te": "a"}}'

        response = post_raw(api, "/v1/customers", body)

        assert response.status_code == 400
        assert response.json() == error("metadata", f"A key: {NUL_MESSAGE}")
        assert Customer.objects.count() == 0

    def test_an_unpaired_surrogate_is_400(self, api: KeyedClient) -> None:
        body = '{"external_id": "acme-1", "name": "Acme \\ud800"}'

        response = post_raw(api, "/v1/customers", body)

        assert response.status_code == 400
        assert response.json() == error("name", SURROGATE_MESSAGE)
        assert Customer.objects.count() == 0

    def test_an_escaped_backslash_before_u0000_is_text_and_is_stored(
        self, api: KeyedClient
    ) -> None:
        body = '{"external_id": "acme-1", "metadata": {"path": "C:\\\\u0000"}}'

        response = post_raw(api, "/v1/customers", body)

        assert response.status_code == 201
        assert Customer.objects.get().metadata == {"path": "C:\\u0000"}


class TestTimestamps:
    """`time zone displacement out of range`, and years Python's dates (and the arithmetic done
    on them) can't hold."""

    def test_a_utc_offset_postgresql_cannot_store_in_a_list_filter_is_400(
        self, api: KeyedClient
    ) -> None:
        response = api.client.get("/v1/customers", {"start_time": "2026-01-05T09:00:00-18:47"})

        assert response.status_code == 400
        assert response.json() == error("start_time", UTC_OFFSET_MESSAGE)

    def test_a_utc_offset_postgresql_cannot_store_in_a_body_is_400(
        self, api: KeyedClient, environment: Environment
    ) -> None:
        body = fixed_price(environment, start_date="2026-01-05T09:00:00+16:00")

        response = api.client.post("/v1/prices", body, format="json")

        assert response.status_code == 400
        assert response.json() == error("start_date", UTC_OFFSET_MESSAGE)
        assert Price.objects.count() == 0

    def test_a_year_before_the_range_in_a_list_filter_is_400(self, api: KeyedClient) -> None:
        response = api.client.get("/v1/meters", {"end_time": "0343-04-16T10:19:53Z"})

        assert response.status_code == 400
        assert response.json() == error("end_time", TIMESTAMP_RANGE_MESSAGE)

    def test_a_time_that_is_before_year_1_in_utc_is_400(self, api: KeyedClient) -> None:
        body = {"start_time": "0001-01-01T00:00:00+01:00", "end_time": "2026-01-01T00:00:00Z"}

        response = api.client.post("/v1/events/analytics", body, format="json")

        assert response.status_code == 400
        assert response.json() == error("start_time", TIMESTAMP_RANGE_MESSAGE)

    def test_a_year_after_the_range_is_400(self, api: KeyedClient) -> None:
        body = {"start_time": "2026-01-01T00:00:00Z", "end_time": "9999-12-31T23:59:59Z"}

        response = api.client.post("/v1/costs/analytics-v2", body, format="json")

        assert response.status_code == 400
        assert response.json() == error("end_time", TIMESTAMP_RANGE_MESSAGE)


class TestNestedObjects:
    """`KeyError: 'type'`: a nested object in a partial update still needs its required keys."""

    def test_a_meter_aggregation_without_type_is_400_and_the_meter_unchanged(
        self, api: KeyedClient, environment: Environment
    ) -> None:
        meter = MeterFactory(environment=environment, aggregation_type="SUM", aggregation_field="n")

        response = api.client.put(
            f"/v1/meters/{meter.pk}", {"aggregation": {"field": "tokens"}}, format="json"
        )

        assert response.status_code == 400
        assert response.json() == {
            "code": "validation_error",
            "message": "aggregation.type: This field is required.",
            "http_status_code": 400,
            "details": {"aggregation": {"type": ["This field is required."]}},
        }
        meter = Meter.objects.get(pk=meter.pk)
        assert (meter.aggregation_type, meter.aggregation_field) == ("SUM", "n")


class TestNesting:
    """`RecursionError` decoding a body nested 2,000 levels deep."""

    def test_a_body_nested_2000_levels_is_400_naming_where(self, api: KeyedClient) -> None:
        body = '{"external_id": "acme-1", "metadata": ' + nested(2000) + "}"

        response = post_raw(api, "/v1/customers", body)

        assert response.status_code == 400
        field = "metadata" + ".0" * 63
        assert response.json() == error(field, DEPTH_MESSAGE)
        assert Customer.objects.count() == 0

    def test_a_body_nested_just_past_the_limit_is_400_too(self, api: KeyedClient) -> None:
        response = post_raw(api, "/v1/costs/search", '{"filters": ' + nested(64) + "}")

        assert response.status_code == 400
        assert response.json() == error("filters" + ".0" * 63, DEPTH_MESSAGE)

    def test_a_body_nested_64_levels_is_read(self, api: KeyedClient) -> None:
        response = post_raw(api, "/v1/costs/search", '{"filters": ' + nested(63) + "}")

        assert response.status_code == 400
        assert response.json()["details"] == {
            "filters": {
                "0": {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
            }
        }


def test_a_url_over_8_kib_is_414_in_the_error_body(api: KeyedClient) -> None:
    """The fuzzer's long run met gunicorn's own HTML 414, which no client can read."""
    response = api.client.get("/v1/meters", {"name": "a" * 8200})

    assert response.status_code == 414
    assert response.json() == {
        "code": "validation_error",
        "message": "The URL is 8215 bytes; the limit is 8192 bytes.",
        "http_status_code": 414,
        "details": {},
    }


def test_options_on_a_list_that_updates_by_query_answers(api: KeyedClient) -> None:
    """DRF's OPTIONS asked the view for an object it does not have: a 500."""
    response = api.client.options("/v1/customers")

    assert response.status_code == 200
    assert response.json() == {
        "name": "Customer List",
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json"],
    }
