"""The prices API: tiers, package terms, exact decimals, validation, soft delete, isolation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pytest_django import DjangoAssertNumQueries

from costsheets.models import Price, PriceTier
from costsheets.pricing import Tier
from flexprice_site.models import Status
from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error, ids_of
from tests.factories import CostsheetFactory, MeterFactory, PlanFactory, PriceFactory

PRICES = "/v1/prices"


def tiered_price_body(costsheet_id: str, meter_id: str) -> dict[str, object]:
    return {
        "entity_type": "COSTSHEET",
        "entity_id": costsheet_id,
        "currency": "USD",
        "type": "USAGE",
        "billing_model": "TIERED",
        "tier_mode": "SLAB",
        "meter_id": meter_id,
        "billing_period": "MONTHLY",
        "invoice_cadence": "ARREAR",
        "price_unit_type": "FIAT",
        "tiers": [
            {"up_to": 10, "unit_amount": "50"},
            {"up_to": "20", "unit_amount": "40.50", "flat_amount": "5"},
            {"up_to": None, "unit_amount": 30},
        ],
        "lookup_key": "tokens-slab",
        "metadata": {"provider": "openai"},
    }


class TestCreate:
    def test_a_tiered_price_round_trips(self, api: KeyedClient) -> None:
        costsheet = CostsheetFactory(environment=api.environment)
        meter = MeterFactory(environment=api.environment)
        response = api.client.post(PRICES, tiered_price_body(costsheet.pk, meter.pk), format="json")
        body = response.json()
        price = Price.objects.get()
        assert response.status_code == 201
        assert body["id"] == price.pk
        assert (body["currency"], body["amount"], body["display_amount"]) == ("usd", "0", "$0")
        assert (body["billing_model"], body["tier_mode"], body["type"]) == (
            "TIERED",
            "SLAB",
            "USAGE",
        )
        assert body["tiers"] == [
            {"up_to": "10", "unit_amount": "50", "flat_amount": "0"},
            {"up_to": "20", "unit_amount": "40.5", "flat_amount": "5"},
            {"up_to": None, "unit_amount": "30", "flat_amount": "0"},
        ]
        assert body["transform_quantity"] is None
        assert (body["entity_type"], body["entity_id"]) == ("COSTSHEET", costsheet.pk)
        assert (body["meter_id"], body["meter"]["id"]) == (meter.pk, meter.pk)
        assert body["metadata"] == {"provider": "openai"}
        stored = list(PriceTier.objects.filter(price=price).values_list("up_to", "unit_amount"))
        assert stored == [
            (Decimal("10"), Decimal("50")),
            (Decimal("20"), Decimal("40.5")),
            (None, Decimal("30")),
        ]

    def test_a_package_price_shows_transform_quantity(self, api: KeyedClient) -> None:
        plan = PlanFactory(environment=api.environment)
        meter = MeterFactory(environment=api.environment)
        response = api.client.post(
            PRICES,
            {
                "entity_type": "PLAN",
                "entity_id": plan.pk,
                "currency": "eur",
                "type": "USAGE",
                "billing_model": "PACKAGE",
                "amount": 0.1,
                "transform_quantity": {"divide_by": 1000, "round": "down"},
                "meter_id": meter.pk,
            },
            format="json",
        )
        body = response.json()
        assert response.status_code == 201
        assert (body["amount"], body["display_amount"]) == ("0.1", "€0.1")
        assert body["transform_quantity"] == {"divide_by": "1000", "round": "down"}
        assert body["tiers"] == []
        assert body["tier_mode"] is None
        assert Price.objects.get().amount == Decimal("0.1")

    def test_tiers_out_of_order_are_named(self, api: KeyedClient) -> None:
        costsheet = CostsheetFactory(environment=api.environment)
        meter = MeterFactory(environment=api.environment)
        body = tiered_price_body(costsheet.pk, meter.pk)
        body["tiers"] = [{"up_to": 20, "unit_amount": "1"}, {"up_to": 10, "unit_amount": "1"}]
        error = assert_error(api.client.post(PRICES, body, format="json"), status=400)
        assert error["details"] == {
            "tiers[1].up_to": "Tier 2 ends at 10, which is not above tier 1's end (20). Tiers "
            "must be in ascending order."
        }
        assert Price.objects.count() == 0

    @pytest.mark.parametrize(
        ("change", "details"),
        [
            (
                {"meter_id": None},
                {"meter_id": "A usage price needs a meter (the usage it prices)."},
            ),
            (
                {"billing_model": "PACKAGE", "tiers": []},
                {
                    "transform_quantity.divide_by": "A package price needs a package size "
                    "(divide by) above 0; it is missing."
                },
            ),
            ({"amount": "ten"}, {"amount": ["A valid number is required."]}),
            (
                {"currency": "dollars"},
                {
                    "currency": "“dollars” is not a currency code. Use a 3-letter ISO code such "
                    "as usd."
                },
            ),
            (
                {"billing_model": "FREE"},
                {"billing_model": ["“FREE” is not one of FLAT_FEE, PACKAGE, TIERED."]},
            ),
            (
                {"price_unit_config": {"price_unit": "credits"}},
                {
                    "price_unit_config": [
                        "Give a custom unit as price_unit_type CUSTOM with "
                        "price_unit and conversion_rate."
                    ]
                },
            ),
        ],
    )
    def test_bad_input_is_400_naming_the_field(
        self, api: KeyedClient, change: dict[str, object], details: dict[str, object]
    ) -> None:
        costsheet = CostsheetFactory(environment=api.environment)
        meter = MeterFactory(environment=api.environment)
        body = {**tiered_price_body(costsheet.pk, meter.pk), **change}
        error = assert_error(api.client.post(PRICES, body, format="json"), status=400)
        assert error["details"] == details
        assert Price.objects.count() == 0

    def test_another_tenants_owner_and_meter_are_refused(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        foreign_costsheet = CostsheetFactory(environment=other_api.environment)
        foreign_meter = MeterFactory(environment=other_api.environment)
        own_meter = MeterFactory(environment=api.environment)
        owner = api.client.post(
            PRICES, tiered_price_body(foreign_costsheet.pk, own_meter.pk), format="json"
        )
        assert assert_error(owner, status=400)["details"] == {
            "entity_id": f"There is no costsheet {foreign_costsheet.pk} in this environment."
        }
        own_costsheet = CostsheetFactory(environment=api.environment)
        meter = api.client.post(
            PRICES, tiered_price_body(own_costsheet.pk, foreign_meter.pk), format="json"
        )
        assert assert_error(meter, status=400)["details"] == {
            "meter_id": [f"There is no meter {foreign_meter.pk} in this environment."]
        }
        assert Price.objects.count() == 0


class TestReadUpdateDelete:
    def test_put_replaces_tiers_and_keeps_the_rest(self, api: KeyedClient) -> None:
        price = PriceFactory(
            environment=api.environment,
            billing_model="TIERED",
            tiers=[Tier(up_to=Decimal(10), unit_amount=Decimal(1)), Tier(None, Decimal("0.5"))],
            lookup_key="keep-me",
        )
        response = api.client.put(
            f"{PRICES}/{price.pk}",
            {"tiers": [{"up_to": None, "unit_amount": "0.25"}], "display_name": "Flat-ish"},
            format="json",
        )
        body = response.json()
        assert response.status_code == 200
        assert body["tiers"] == [{"up_to": None, "unit_amount": "0.25", "flat_amount": "0"}]
        assert (body["display_name"], body["lookup_key"]) == ("Flat-ish", "keep-me")
        assert PriceTier.objects.filter(price=price).count() == 1

    def test_put_cannot_move_a_price_to_another_owner(self, api: KeyedClient) -> None:
        price = PriceFactory(environment=api.environment)
        other = CostsheetFactory(environment=api.environment)
        response = api.client.put(f"{PRICES}/{price.pk}", {"entity_id": other.pk}, format="json")
        body = assert_error(response, status=400)
        assert body["details"] == {
            "entity_id": ["A price stays with its owner; create a new price instead."]
        }
        price.refresh_from_db()
        assert price.entity_id != other.pk

    def test_put_archives_but_cannot_delete(self, api: KeyedClient) -> None:
        price = PriceFactory(environment=api.environment)
        archived = api.client.put(f"{PRICES}/{price.pk}", {"status": "archived"}, format="json")
        assert archived.json()["status"] == "archived"
        deleted = api.client.put(f"{PRICES}/{price.pk}", {"status": "deleted"}, format="json")
        assert assert_error(deleted, status=400)["details"] == {
            "status": "Status can be changed to published or archived only."
        }
        price.refresh_from_db()
        assert price.status == Status.ARCHIVED

    def test_delete_is_soft(self, api: KeyedClient) -> None:
        price = PriceFactory(environment=api.environment)
        response = api.client.delete(f"{PRICES}/{price.pk}")
        assert response.json() == {"message": f"Price {price.pk} deleted."}
        price.refresh_from_db()
        assert price.status == Status.DELETED
        assert_error(api.client.get(f"{PRICES}/{price.pk}"), status=404, code="not_found")

    def test_delete_with_an_end_date_ends_the_price(self, api: KeyedClient) -> None:
        price = PriceFactory(environment=api.environment)
        response = api.client.delete(
            f"{PRICES}/{price.pk}", {"end_date": "2026-06-30T00:00:00Z"}, format="json"
        )
        assert response.json() == {"message": f"Price {price.pk} ends at 2026-06-30T00:00:00Z."}
        price.refresh_from_db()
        assert price.status == Status.PUBLISHED
        assert price.end_date.isoformat() == "2026-06-30T00:00:00+00:00"

    def test_another_tenants_price_is_a_404(self, api: KeyedClient, other_api: KeyedClient) -> None:
        foreign = PriceFactory(environment=other_api.environment)
        for response in (
            api.client.get(f"{PRICES}/{foreign.pk}"),
            api.client.put(f"{PRICES}/{foreign.pk}", {"amount": "9"}, format="json"),
            api.client.delete(f"{PRICES}/{foreign.pk}"),
        ):
            assert_error(response, status=404, code="not_found")
        foreign.refresh_from_db()
        assert (foreign.amount, foreign.status) == (Decimal(1), Status.PUBLISHED)


class TestList:
    def test_filters_by_owner_and_type(self, api: KeyedClient, other_api: KeyedClient) -> None:
        costsheet = CostsheetFactory(environment=api.environment)
        usage = PriceFactory(environment=api.environment, owner=costsheet)
        fixed = PriceFactory(environment=api.environment, owner=costsheet, type="FIXED", meter=None)
        on_plan = PriceFactory(
            environment=api.environment, owner=PlanFactory(environment=api.environment)
        )
        PriceFactory(environment=other_api.environment)
        get = api.client.get
        assert ids_of(get(PRICES)) == [on_plan.pk, fixed.pk, usage.pk]
        assert ids_of(get(PRICES, {"entity_id": costsheet.pk})) == [fixed.pk, usage.pk]
        assert ids_of(get(PRICES, {"entity_type": "PLAN"})) == [on_plan.pk]
        assert ids_of(get(PRICES, {"type": "FIXED"})) == [fixed.pk]
        assert ids_of(get(PRICES, {"meter_id": usage.meter_id})) == [usage.pk]

    @pytest.mark.parametrize("rows", [1, 20])
    def test_list_query_budget(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries, rows: int
    ) -> None:
        for _ in range(rows):
            PriceFactory(
                environment=api.environment,
                billing_model="TIERED",
                tiers=[Tier(up_to=Decimal(5), unit_amount=Decimal(2)), Tier(None, Decimal(1))],
            )
        # key lookup, last-used update, count, page with meters joined, tiers
        with django_assert_num_queries(5):
            response = api.client.get(PRICES)
        assert response.json()["pagination"]["total"] == rows
        assert len(response.json()["items"][0]["tiers"]) == 2
