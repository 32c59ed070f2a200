"""The costsheets API: Flexprice's `{"costsheet": …}` answers, the active costsheet, soft delete."""

from __future__ import annotations

from decimal import Decimal

import time_machine
from pytest_django import DjangoAssertNumQueries

from costsheets.models import Costsheet
from costsheets.pricing import Tier
from flexprice_site.models import Status
from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error
from tests.factories import CostsheetFactory, PriceFactory

COSTS = "/v1/costs"


class TestCreate:
    def test_create_wraps_the_costsheet(self, api: KeyedClient) -> None:
        with time_machine.travel("2026-04-01T08:30:00Z", tick=False):
            response = api.client.post(
                COSTS,
                {
                    "name": "Provider costs",
                    "lookup_key": "provider-2026",
                    "description": "What OpenAI charges us",
                    "metadata": {"region": "eu"},
                },
                format="json",
            )
        costsheet = Costsheet.objects.get()
        body = response.json()
        assert response.status_code == 201
        assert list(body) == ["costsheet"]
        assert body["costsheet"] == {
            "id": costsheet.pk,
            "tenant_id": api.environment.tenant_id,
            "environment_id": api.environment.pk,
            "status": "published",
            "metadata": {"region": "eu"},
            "created_at": "2026-04-01T08:30:00Z",
            "updated_at": "2026-04-01T08:30:00Z",
            "created_by": costsheet.created_by,
            "updated_by": costsheet.created_by,
            "name": "Provider costs",
            "lookup_key": "provider-2026",
            "description": "What OpenAI charges us",
            "prices": [],
        }
        assert costsheet.pk.startswith("cost_")

    def test_a_name_is_required(self, api: KeyedClient) -> None:
        body = assert_error(api.client.post(COSTS, {}, format="json"), status=400)
        assert body["details"] == {"name": ["This field is required."]}
        assert Costsheet.objects.count() == 0

    def test_a_new_costsheet_cannot_start_archived(self, api: KeyedClient) -> None:
        response = api.client.post(COSTS, {"name": "X", "status": "archived"}, format="json")
        body = assert_error(response, status=400)
        assert body["details"] == {"status": ["A new one is published; archive it with PUT."]}
        assert Costsheet.objects.count() == 0

    def test_names_are_unique_among_live_costsheets(self, api: KeyedClient) -> None:
        CostsheetFactory(environment=api.environment, name="Main")
        body = assert_error(
            api.client.post(COSTS, {"name": "Main"}, format="json"),
            status=409,
            code="already_exists",
        )
        assert body["details"] == {"name": "A costsheet named “Main” already exists."}
        assert Costsheet.objects.count() == 1


class TestReadUpdateDelete:
    def test_get_shows_the_published_prices_with_meters_and_tiers(self, api: KeyedClient) -> None:
        costsheet = CostsheetFactory(environment=api.environment)
        tiered = PriceFactory(
            environment=api.environment,
            owner=costsheet,
            billing_model="TIERED",
            tiers=[
                Tier(up_to=Decimal(100), unit_amount=Decimal("0.2")),
                Tier(None, Decimal("0.1")),
            ],
        )
        PriceFactory(environment=api.environment, owner=costsheet, status=Status.ARCHIVED)
        response = api.client.get(f"{COSTS}/{costsheet.pk}")
        prices = response.json()["costsheet"]["prices"]
        assert response.status_code == 200
        assert [price["id"] for price in prices] == [tiered.pk]
        assert prices[0]["meter"]["id"] == tiered.meter_id
        assert prices[0]["tiers"] == [
            {"up_to": "100", "unit_amount": "0.2", "flat_amount": "0"},
            {"up_to": None, "unit_amount": "0.1", "flat_amount": "0"},
        ]

    def test_put_renames_and_archives(self, api: KeyedClient) -> None:
        costsheet = CostsheetFactory(environment=api.environment, name="Old")
        response = api.client.put(
            f"{COSTS}/{costsheet.pk}", {"name": "New", "status": "archived"}, format="json"
        )
        body = response.json()["costsheet"]
        assert response.status_code == 200
        assert (body["name"], body["status"]) == ("New", "archived")
        costsheet.refresh_from_db()
        assert (costsheet.name, costsheet.status) == ("New", Status.ARCHIVED)

    def test_put_cannot_delete(self, api: KeyedClient) -> None:
        costsheet = CostsheetFactory(environment=api.environment)
        response = api.client.put(f"{COSTS}/{costsheet.pk}", {"status": "deleted"}, format="json")
        body = assert_error(response, status=400)
        assert body["details"] == {"status": "Status can be changed to published or archived only."}
        costsheet.refresh_from_db()
        assert costsheet.status == Status.PUBLISHED

    def test_delete_is_soft_and_frees_the_name(self, api: KeyedClient) -> None:
        costsheet = CostsheetFactory(environment=api.environment, name="Main")
        response = api.client.delete(f"{COSTS}/{costsheet.pk}")
        assert response.json() == {
            "id": costsheet.pk,
            "message": f"Costsheet {costsheet.pk} deleted.",
        }
        costsheet.refresh_from_db()
        assert costsheet.status == Status.DELETED
        assert_error(api.client.get(f"{COSTS}/{costsheet.pk}"), status=404, code="not_found")
        assert api.client.post(COSTS, {"name": "Main"}, format="json").status_code == 201

    def test_another_tenants_costsheet_is_a_404(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        foreign = CostsheetFactory(environment=other_api.environment)
        missing = api.client.get(f"{COSTS}/cost_missing").json()
        for response in (
            api.client.get(f"{COSTS}/{foreign.pk}"),
            api.client.put(f"{COSTS}/{foreign.pk}", {"name": "Mine"}, format="json"),
            api.client.delete(f"{COSTS}/{foreign.pk}"),
        ):
            body = assert_error(response, status=404, code="not_found")
            assert body["message"] == missing["message"].replace("cost_missing", foreign.pk)
        foreign.refresh_from_db()
        assert foreign.status == Status.PUBLISHED
        assert foreign.name != "Mine"


class TestActive:
    def test_the_active_costsheet_is_the_newest_published_one(self, api: KeyedClient) -> None:
        with time_machine.travel("2026-01-01T00:00:00Z", tick=False):
            older = CostsheetFactory(environment=api.environment)
        with time_machine.travel("2026-02-01T00:00:00Z", tick=False):
            newer = CostsheetFactory(environment=api.environment)
        with time_machine.travel("2026-03-01T00:00:00Z", tick=False):
            CostsheetFactory(environment=api.environment, status=Status.ARCHIVED)
        price = PriceFactory(environment=api.environment, owner=newer)
        PriceFactory(environment=api.environment, owner=older)
        body = api.client.get(f"{COSTS}/active").json()
        assert body["id"] == newer.pk
        assert [item["id"] for item in body["prices"]] == [price.pk]

    def test_without_a_published_costsheet_it_is_a_404(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        CostsheetFactory(environment=other_api.environment)
        CostsheetFactory(environment=api.environment, status=Status.ARCHIVED)
        body = assert_error(api.client.get(f"{COSTS}/active"), status=404, code="not_found")
        assert body["message"] == "There is no published costsheet in this environment."

    def test_get_costs_a_fixed_number_of_queries(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries
    ) -> None:
        costsheet = CostsheetFactory(environment=api.environment)
        for _ in range(5):
            PriceFactory(
                environment=api.environment,
                owner=costsheet,
                billing_model="TIERED",
                tiers=[Tier(up_to=None, unit_amount=Decimal(1))],
            )
        # key lookup, last-used update, costsheet, prices with meters, tiers
        with django_assert_num_queries(5):
            response = api.client.get(f"{COSTS}/active")
        assert len(response.json()["prices"]) == 5
