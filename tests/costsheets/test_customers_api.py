"""The customers API: create, read, update, soft delete, lists, and tenant isolation."""

from __future__ import annotations

import pytest
import time_machine
from pytest_django import DjangoAssertNumQueries

from costsheets.models import Customer
from flexprice_site.models import ApiKey, Status
from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error, ids_of
from tests.factories import CustomerFactory, SubscriptionFactory

CUSTOMERS = "/v1/customers"


class TestCreate:
    def test_create_answers_the_customer_in_flexprice_fields(self, api: KeyedClient) -> None:
        key_id = ApiKey.objects.get(environment=api.environment).pk
        with time_machine.travel("2026-03-01T10:00:00Z", tick=False):
            response = api.client.post(
                CUSTOMERS,
                {
                    "external_id": "acme-1",
                    "name": "Acme Corp",
                    "email": "billing@acme.test",
                    "timezone": "Europe/Paris",
                    "address_country": "fr",
                    "metadata": {"segment": "enterprise"},
                },
                format="json",
            )
        body = response.json()
        customer = Customer.objects.get()
        assert response.status_code == 201
        assert body == {
            "id": customer.pk,
            "tenant_id": api.environment.tenant_id,
            "environment_id": api.environment.pk,
            "status": "published",
            "metadata": {"segment": "enterprise"},
            "created_at": "2026-03-01T10:00:00Z",
            "updated_at": "2026-03-01T10:00:00Z",
            "created_by": f"api_key:{key_id}",
            "updated_by": f"api_key:{key_id}",
            "external_id": "acme-1",
            "name": "Acme Corp",
            "email": "billing@acme.test",
            "timezone": "Europe/Paris",
            "parent_customer_id": None,
            "address_line1": "",
            "address_line2": "",
            "address_city": "",
            "address_state": "",
            "address_postal_code": "",
            "address_country": "FR",
        }
        assert customer.pk.startswith("cust_")
        assert (customer.tenant_id, customer.environment_id) == (
            api.environment.tenant_id,
            api.environment.pk,
        )

    def test_a_parent_is_named_by_its_id(self, api: KeyedClient) -> None:
        parent = CustomerFactory(environment=api.environment)
        response = api.client.post(
            CUSTOMERS, {"external_id": "child", "parent_customer_id": parent.pk}, format="json"
        )
        assert response.status_code == 201
        assert response.json()["parent_customer_id"] == parent.pk
        assert Customer.objects.get(external_customer_id="child").parent_id == parent.pk

    def test_missing_external_id_is_a_400_naming_it(self, api: KeyedClient) -> None:
        response = api.client.post(CUSTOMERS, {"name": "Nameless"}, format="json")
        body = assert_error(response, status=400)
        assert body["details"] == {"external_id": ["This field is required."]}
        assert Customer.objects.count() == 0

    def test_bad_timezone_is_named_by_the_service(self, api: KeyedClient) -> None:
        response = api.client.post(
            CUSTOMERS, {"external_id": "a", "timezone": "Mars/Olympus"}, format="json"
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "timezone": "“Mars/Olympus” is not a time zone. Use an IANA name such as UTC or "
            "Europe/Paris."
        }
        assert Customer.objects.count() == 0

    def test_metadata_values_must_be_text(self, api: KeyedClient) -> None:
        response = api.client.post(
            CUSTOMERS, {"external_id": "a", "metadata": {"seats": 5}}, format="json"
        )
        body = assert_error(response, status=400)
        assert body["details"] == {"metadata": {"seats": ["Must be a string."]}}
        assert Customer.objects.count() == 0

    def test_a_taken_external_id_is_409(self, api: KeyedClient) -> None:
        CustomerFactory(environment=api.environment, external_customer_id="acme")
        response = api.client.post(CUSTOMERS, {"external_id": "acme"}, format="json")
        body = assert_error(response, status=409, code="already_exists")
        assert body["details"] == {
            "external_id": "A customer with external ID “acme” already exists."
        }
        assert Customer.objects.count() == 1

    def test_another_tenants_parent_is_refused_like_a_missing_one(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        foreign = CustomerFactory(environment=other_api.environment)
        response = api.client.post(
            CUSTOMERS, {"external_id": "child", "parent_customer_id": foreign.pk}, format="json"
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "parent_customer_id": [f"There is no customer {foreign.pk} in this environment."]
        }
        missing = api.client.post(
            CUSTOMERS, {"external_id": "child", "parent_customer_id": "cust_nope"}, format="json"
        )
        assert assert_error(missing, status=400)["details"] == {
            "parent_customer_id": ["There is no customer cust_nope in this environment."]
        }
        assert Customer.objects.filter(external_customer_id="child").count() == 0


class TestReadUpdateDelete:
    def test_get_by_id_and_by_external_id(self, api: KeyedClient) -> None:
        customer = CustomerFactory(environment=api.environment, external_customer_id="ext-9")
        by_id = api.client.get(f"{CUSTOMERS}/{customer.pk}")
        by_external = api.client.get(f"{CUSTOMERS}/external/ext-9")
        assert by_id.status_code == 200
        assert by_id.json()["external_id"] == "ext-9"
        assert by_external.json() == by_id.json()

    def test_another_tenants_customer_is_a_404_like_a_missing_one(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        foreign = CustomerFactory(environment=other_api.environment, external_customer_id="x")
        for path in (f"{CUSTOMERS}/{foreign.pk}", f"{CUSTOMERS}/external/x"):
            assert_error(api.client.get(path), status=404, code="not_found")
        missing = assert_error(
            api.client.get(f"{CUSTOMERS}/cust_nope"), status=404, code="not_found"
        )
        foreign_body = api.client.get(f"{CUSTOMERS}/{foreign.pk}").json()
        assert foreign_body["message"] == missing["message"].replace("cust_nope", foreign.pk)
        for method in (api.client.put, api.client.delete):
            assert_error(
                method(f"{CUSTOMERS}/{foreign.pk}", {}, format="json"), status=404, code="not_found"
            )
        foreign.refresh_from_db()
        assert foreign.status == Status.PUBLISHED

    def test_put_changes_only_the_given_fields(self, api: KeyedClient) -> None:
        customer = CustomerFactory(
            environment=api.environment, name="Old", email="old@example.com", timezone="UTC"
        )
        response = api.client.put(
            f"{CUSTOMERS}/{customer.pk}",
            {"name": "New", "metadata": {"tier": "gold"}},
            format="json",
        )
        body = response.json()
        assert response.status_code == 200
        assert (body["name"], body["email"], body["metadata"]) == (
            "New",
            "old@example.com",
            {"tier": "gold"},
        )
        customer.refresh_from_db()
        assert (customer.name, customer.email) == ("New", "old@example.com")
        assert customer.updated_by.startswith("api_key:key_")

    def test_put_with_the_sdks_query_form(self, api: KeyedClient) -> None:
        customer = CustomerFactory(environment=api.environment, external_customer_id="ext-1")
        response = api.client.put(
            f"{CUSTOMERS}?external_customer_id=ext-1", {"name": "Renamed"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["id"] == customer.pk
        by_id = api.client.put(
            f"{CUSTOMERS}?id={customer.pk}", {"email": "a@b.test"}, format="json"
        )
        assert by_id.json()["email"] == "a@b.test"
        customer.refresh_from_db()
        assert (customer.name, customer.email) == ("Renamed", "a@b.test")

    def test_put_without_naming_the_customer_is_400(self, api: KeyedClient) -> None:
        body = assert_error(api.client.put(CUSTOMERS, {"name": "x"}, format="json"), status=400)
        assert body["details"] == {"id": "Name the customer with ?id= or ?external_customer_id=."}

    def test_put_refuses_a_bad_email_and_keeps_the_row(self, api: KeyedClient) -> None:
        customer = CustomerFactory(environment=api.environment, email="ok@example.com")
        response = api.client.put(
            f"{CUSTOMERS}/{customer.pk}", {"email": "not-an-email"}, format="json"
        )
        body = assert_error(response, status=400)
        assert body["details"] == {"email": "“not-an-email” is not a valid email address."}
        customer.refresh_from_db()
        assert customer.email == "ok@example.com"

    def test_delete_is_soft_and_frees_the_external_id(self, api: KeyedClient) -> None:
        customer = CustomerFactory(environment=api.environment, external_customer_id="gone")
        response = api.client.delete(f"{CUSTOMERS}/{customer.pk}")
        assert response.status_code == 204
        assert response.content == b""
        customer.refresh_from_db()
        assert customer.status == Status.DELETED
        assert_error(api.client.get(f"{CUSTOMERS}/{customer.pk}"), status=404, code="not_found")
        assert ids_of(api.client.get(CUSTOMERS)) == []
        assert ids_of(api.client.get(CUSTOMERS, {"status": "deleted"})) == [customer.pk]
        again = api.client.post(CUSTOMERS, {"external_id": "gone"}, format="json")
        assert again.status_code == 201

    def test_a_customer_with_an_open_subscription_is_not_deleted(self, api: KeyedClient) -> None:
        subscription = SubscriptionFactory(environment=api.environment)
        response = api.client.delete(f"{CUSTOMERS}/{subscription.customer_id}")
        body = assert_error(response, status=400, code="invalid_operation")
        assert body["details"] == {"subscriptions": 1}
        assert Customer.objects.get(pk=subscription.customer_id).status == Status.PUBLISHED


class TestList:
    def test_lists_only_the_callers_customers_newest_first(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        first = CustomerFactory(environment=api.environment)
        second = CustomerFactory(environment=api.environment)
        CustomerFactory(environment=other_api.environment)
        body = api.client.get(CUSTOMERS).json()
        assert [item["id"] for item in body["items"]] == [second.pk, first.pk]
        assert body["pagination"] == {"limit": 50, "offset": 0, "total": 2}

    def test_filters(self, api: KeyedClient) -> None:
        acme = CustomerFactory(
            environment=api.environment, external_customer_id="acme", name="Acme Corp"
        )
        globex = CustomerFactory(
            environment=api.environment, external_customer_id="globex", name="Globex"
        )
        child = CustomerFactory(environment=api.environment, parent=acme, name="Acme Labs")
        get = api.client.get
        assert ids_of(get(CUSTOMERS, {"external_id": "globex"})) == [globex.pk]
        assert ids_of(get(CUSTOMERS, {"external_ids": "acme,globex"})) == [globex.pk, acme.pk]
        assert ids_of(get(CUSTOMERS, {"name": "acme"})) == [child.pk, acme.pk]
        assert ids_of(get(CUSTOMERS, {"customer_ids": f"{acme.pk},{child.pk}"})) == [
            child.pk,
            acme.pk,
        ]
        assert ids_of(get(CUSTOMERS, {"parent_customer_id": acme.pk})) == [child.pk]

    def test_created_time_range_is_half_open(self, api: KeyedClient) -> None:
        with time_machine.travel("2026-01-01T00:00:00Z", tick=False):
            early = CustomerFactory(environment=api.environment)
        with time_machine.travel("2026-02-01T00:00:00Z", tick=False):
            late = CustomerFactory(environment=api.environment)
        params = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-02-01T00:00:00Z"}
        assert ids_of(api.client.get(CUSTOMERS, params)) == [early.pk]
        assert ids_of(api.client.get(CUSTOMERS, {"start_time": "2026-01-15T00:00:00Z"})) == [
            late.pk
        ]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"status": "gone"}, "status"),
            ({"start_time": "2026-01-01T00:00:00"}, "start_time"),
            ({"end_time": "yesterday"}, "end_time"),
            ({"limit": 1001}, "limit"),
        ],
    )
    def test_bad_filters_are_400_naming_them(
        self, api: KeyedClient, params: dict[str, object], field: str
    ) -> None:
        body = assert_error(api.client.get(CUSTOMERS, params), status=400)
        assert list(body["details"]) == [field]

    @pytest.mark.parametrize("rows", [1, 20])
    def test_a_page_costs_the_same_queries_whatever_the_rows(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries, rows: int
    ) -> None:
        CustomerFactory.create_batch(rows, environment=api.environment)
        # key lookup, last-used update, count, page
        with django_assert_num_queries(4):
            response = api.client.get(CUSTOMERS)
        assert response.json()["pagination"]["total"] == rows
