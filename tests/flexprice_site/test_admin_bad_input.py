"""The inputs the API refuses (tests/flexprice_site/test_bad_input.py) are form errors in the
admin, or its 400 page when they are in the URL, never a 500 (issue 14)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from costsheets.models import Customer, Price
from flexprice_site.bounds import NUL_MESSAGE, TIMESTAMP_RANGE_MESSAGE
from flexprice_site.models import Environment
from flexprice_site.parsers import DEPTH_MESSAGE
from tests.costsheets.test_admin_catalogue import page_errors, price_post, staff_client
from tests.factories import CostsheetFactory

ADMIN = "/admin/costsheets"


@pytest.fixture
def acme(environment: Environment) -> Client:
    return staff_client(environment, "alice")


def customer_post(environment: Environment, **changes: str) -> dict[str, Any]:
    return {
        "external_customer_id": "acme-1",
        "name": "Acme",
        "email": "",
        "timezone": "UTC",
        "environment": environment.pk,
        "metadata": "{}",
        **changes,
    }


def fixed_price_post(environment: Environment, **changes: str) -> dict[str, str]:
    """The admin's form for a $1 fixed price of a new costsheet, with `changes`."""
    costsheet = CostsheetFactory(environment=environment)
    return price_post(
        environment, costsheet, billing_model="FLAT_FEE", type="FIXED", amount="1", **changes
    )


class TestForms:
    def test_nul_in_json_is_a_form_error(self, environment: Environment, acme: Client) -> None:
        data = customer_post(environment, metadata='{"note": "a\\u0000b"}')

        response = acme.post(f"{ADMIN}/customer/add/", data)

        assert response.status_code == 200
        assert page_errors(response) == {"metadata": [f"note: {NUL_MESSAGE}"]}
        assert not Customer.objects.exists()

    def test_json_nested_2000_levels_is_a_form_error(
        self, environment: Environment, acme: Client
    ) -> None:
        data = customer_post(environment, metadata="[" * 2000 + "]" * 2000)

        response = acme.post(f"{ADMIN}/customer/add/", data)

        assert response.status_code == 200
        assert page_errors(response) == {"metadata": [f"{'0.' * 63}0: {DEPTH_MESSAGE}"]}
        assert not Customer.objects.exists()

    def test_nul_in_a_chosen_row_is_a_form_error(
        self, environment: Environment, acme: Client
    ) -> None:
        data = customer_post(environment, parent="cust_\x00")

        response = acme.post(f"{ADMIN}/customer/add/", data)

        assert response.status_code == 200
        assert page_errors(response) == {"parent": [NUL_MESSAGE]}
        assert not Customer.objects.exists()

    def test_a_date_past_the_range_is_a_form_error(
        self, environment: Environment, acme: Client
    ) -> None:
        data = fixed_price_post(environment, start_date_0="9999-12-31", start_date_1="00:00:00")

        response = acme.post(f"{ADMIN}/price/add/", data)

        assert response.status_code == 200
        assert page_errors(response) == {"start_date": [TIMESTAMP_RANGE_MESSAGE]}
        assert not Price.objects.exists()

    def test_an_integer_past_its_column_is_a_form_error(
        self, environment: Environment, acme: Client
    ) -> None:
        data = fixed_price_post(environment, trial_period_days=str(2**63))

        response = acme.post(f"{ADMIN}/price/add/", data)

        assert response.status_code == 200
        assert page_errors(response) == {
            "trial_period_days": ["Ensure this value is less than or equal to 2147483647."]
        }
        assert not Price.objects.exists()

    def test_a_dashboard_date_past_the_range_is_a_form_error(
        self, environment: Environment, acme: Client
    ) -> None:
        response = acme.get(
            "/admin/analytics/margin/", {"start": "9999-12-30", "end": "9999-12-31"}
        )

        assert response.status_code == 200
        assert dict(response.context["form"].errors) == {
            "start": [TIMESTAMP_RANGE_MESSAGE],
            "end": [TIMESTAMP_RANGE_MESSAGE],
        }


class TestUrls:
    def test_nul_in_a_row_id_is_400(self, acme: Client) -> None:
        response = acme.get(f"{ADMIN}/customer/cust_%00/change/")

        assert response.status_code == 400

    def test_nul_in_a_list_filter_is_400(self, acme: Client) -> None:
        response = acme.get("/admin/analytics/event/", {"event_name": "llm\x00call"})

        assert response.status_code == 400
