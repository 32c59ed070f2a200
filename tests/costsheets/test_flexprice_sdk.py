"""End to end with the official `flexprice` Python SDK: every call it makes must parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flexprice import Flexprice, models

from costsheets.models import Customer, Feature, Plan, Price

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sdk_drives_the_catalogue(sdk: Flexprice) -> None:
    # Given a customer, a feature with its own meter, and a costsheet with a tiered price
    customer = sdk.customers.create_customer(
        external_id="acme-1",
        name="Acme Corp",
        email="billing@acme.test",
        metadata={"segment": "enterprise"},
    )
    feature = sdk.features.create_feature(
        name="Input tokens",
        type_="metered",
        unit_singular="token",
        unit_plural="tokens",
        reporting_unit={
            "unit_singular": "thousand tokens",
            "unit_plural": "thousand tokens",
            "conversion_rate": 0.001,
        },
        meter={
            "name": "Input tokens",
            "event_name": "llm_call",
            "aggregation": {"type": "SUM", "field": "input_tokens"},
            "filters": [{"key": "model", "values": ["gpt-4o"]}],
            "reset_usage": "BILLING_PERIOD",
        },
    )
    costsheet = sdk.costs.create_costsheet(
        name="Provider costs", lookup_key="provider", metadata={"region": "eu"}
    ).costsheet
    cost_price = sdk.prices.create_price(
        entity_type="COSTSHEET",
        entity_id=costsheet.id,
        currency="usd",
        type_="USAGE",
        billing_model="TIERED",
        tier_mode="SLAB",
        billing_period="MONTHLY",
        invoice_cadence="ARREAR",
        price_unit_type="FIAT",
        meter_id=feature.meter_id,
        tiers=[
            {"up_to": 1000, "unit_amount": "0.002"},
            {"unit_amount": "0.001", "flat_amount": "1"},
        ],
    )

    # And a plan with a usage price that a customer subscribes to, with a commitment
    plan = sdk.plans.create_plan(name="Pro", lookup_key="pro", description="For teams")
    plan_price = sdk.prices.create_price(
        entity_type="PLAN",
        entity_id=plan.id,
        currency="usd",
        type_="USAGE",
        billing_model="PACKAGE",
        amount="2",
        transform_quantity={"divide_by": 1000, "round": "up"},
        billing_period="MONTHLY",
        invoice_cadence="ARREAR",
        price_unit_type="FIAT",
        meter_id=feature.meter_id,
    )
    subscription = sdk.subscriptions.create_subscription(
        customer_id=customer.id,
        plan_id=plan.id,
        currency="usd",
        billing_period="MONTHLY",
        line_item_commitments={
            plan_price.id: {
                "commitment_type": "amount",
                "commitment_amount": 10,
                "overage_factor": 1.5,
                "enable_true_up": True,
            }
        },
    )

    # Then what was created reads back through the SDK's models
    assert isinstance(customer, models.CustomerResponse)
    assert (customer.external_id, customer.status) == ("acme-1", "published")
    assert sdk.customers.get_customer(id=customer.id).email == "billing@acme.test"
    assert sdk.customers.get_customer_by_external_id(external_id="acme-1").id == customer.id
    renamed = sdk.customers.update_customer(id=customer.id, name="Acme Inc")
    assert renamed.name == "Acme Inc"

    assert isinstance(feature, models.FeatureResponse)
    assert feature.meter is not None
    assert (feature.meter.event_name, feature.meter.aggregation.field) == (
        "llm_call",
        "input_tokens",
    )
    assert feature.meter.filters[0].values == ["gpt-4o"]
    assert feature.reporting_unit.conversion_rate == 0.001
    updated_feature = sdk.features.update_feature(id=feature.id, description="Prompt tokens")
    assert (updated_feature.id, updated_feature.description) == (feature.id, "Prompt tokens")

    assert isinstance(cost_price, models.PriceResponse)
    assert [(tier.up_to, tier.unit_amount, tier.flat_amount) for tier in cost_price.tiers] == [
        (1000, "0.002", "0"),
        (None, "0.001", "1"),
    ]
    fetched_price = sdk.prices.get_price(id=cost_price.id)
    assert (fetched_price.tier_mode, fetched_price.meter.id) == ("SLAB", feature.meter_id)

    fetched = sdk.costs.get_costsheet(id=costsheet.id).costsheet
    assert [price.id for price in fetched.prices] == [cost_price.id]
    assert sdk.costs.get_active_costsheet().id == costsheet.id
    assert sdk.costs.update_costsheet(
        id=costsheet.id, description="2026"
    ).costsheet.description == ("2026")

    assert isinstance(plan, models.PlanResponse)
    fetched_plan = sdk.plans.get_plan(id=plan.id)
    assert [price.id for price in fetched_plan.prices] == [plan_price.id]
    assert plan_price.transform_quantity.divide_by == 1000
    assert plan_price.display_amount == "$2"

    assert isinstance(subscription, models.SubscriptionResponse)
    assert (subscription.customer_id, subscription.subscription_status) == (customer.id, "active")
    (line_item,) = subscription.line_items
    assert (line_item.price_id, line_item.commitment_amount) == (plan_price.id, "10")
    assert line_item.commitment_overage_factor == "1.5"
    assert line_item.commitment_true_up_enabled is True
    assert sdk.subscriptions.get_subscription(id=subscription.id).plan_id == plan.id
    changed = sdk.subscriptions.update_subscription_line_item(
        id=line_item.id, commitment_amount=12.5
    )
    assert changed.commitment_amount == "12.5"

    # And the costsheet search answers in the SDK's list model, both filters and expand applied
    found = sdk.costs.query_costsheet(
        lookup_key="provider",
        filters=[
            {
                "field": "metadata.region",
                "operator": "eq",
                "data_type": "string",
                "value": {"string": "eu"},
            }
        ],
        sort=[{"field": "name", "direction": "asc"}],
        status="published",
        query_filter={"limit": 10, "offset": 0, "expand": "prices,meters"},
    )
    assert isinstance(found, models.ListCostsheetResponse)
    assert (found.pagination.total, found.pagination.limit) == (1, 10)
    (item,) = found.items
    assert item.id == costsheet.id
    assert [price.meter.id for price in item.prices] == [feature.meter_id]

    cancelled = sdk.subscriptions.cancel_subscription(
        id=subscription.id, cancellation_type="immediate", reason="end of trial"
    )
    assert (cancelled.subscription_id, cancelled.status) == (subscription.id, "cancelled")

    deleted = sdk.costs.delete_costsheet(id=costsheet.id)
    assert deleted.id == costsheet.id


def test_the_sdk_changes_and_deletes_catalogue_rows(sdk: Flexprice) -> None:
    # Given a customer, a boolean feature, and a plan with a fixed price
    customer = sdk.customers.create_customer(external_id="acme-1", name="Acme Corp")
    feature = sdk.features.create_feature(name="SSO", type_="boolean")
    plan = sdk.plans.create_plan(name="Pro", lookup_key="pro")
    price = sdk.prices.create_price(
        entity_type="PLAN",
        entity_id=plan.id,
        currency="usd",
        type_="FIXED",
        billing_model="FLAT_FEE",
        amount="49",
        billing_period="MONTHLY",
        invoice_cadence="ADVANCE",
        price_unit_type="FIAT",
    )

    # When the SDK changes the plan and the price, then deletes all four
    changed_plan = sdk.plans.update_plan(id=plan.id, description="For teams")
    changed_price = sdk.prices.update_price(id=price.id, description="Seats")
    price_deleted = sdk.prices.delete_price(id=price.id)
    plan_deleted = sdk.plans.delete_plan(id=plan.id)
    feature_deleted = sdk.features.delete_feature(id=feature.id)
    customer_deleted = sdk.customers.delete_customer(id=customer.id)

    # Then every answer parses, and the rows are changed, then soft-deleted
    assert (changed_plan.id, changed_plan.description) == (plan.id, "For teams")
    assert (changed_price.id, changed_price.description) == (price.id, "Seats")
    assert price_deleted.message == f"Price {price.id} deleted."
    assert plan_deleted.message == f"Plan {plan.id} deleted."
    assert feature_deleted.message == f"Feature {feature.id} deleted."
    assert customer_deleted is None
    assert Plan.objects.values_list("description", "status").get(pk=plan.id) == (
        "For teams",
        "deleted",
    )
    assert Price.objects.values_list("description", "status").get(pk=price.id) == (
        "Seats",
        "deleted",
    )
    assert Feature.objects.get(pk=feature.id).status == "deleted"
    assert Customer.objects.get(pk=customer.id).status == "deleted"


SUPPORTED_SDK_METHODS = {
    "sdk.customers.create_customer",
    "sdk.customers.get_customer",
    "sdk.customers.get_customer_by_external_id",
    "sdk.customers.update_customer",
    "sdk.customers.delete_customer",
    "sdk.features.create_feature",
    "sdk.features.update_feature",
    "sdk.features.delete_feature",
    "sdk.prices.create_price",
    "sdk.prices.get_price",
    "sdk.prices.update_price",
    "sdk.prices.delete_price",
    "sdk.costs.create_costsheet",
    "sdk.costs.get_costsheet",
    "sdk.costs.get_active_costsheet",
    "sdk.costs.update_costsheet",
    "sdk.costs.delete_costsheet",
    "sdk.costs.query_costsheet",
    "sdk.costs.get_detailed_cost_analytics",
    "sdk.plans.create_plan",
    "sdk.plans.get_plan",
    "sdk.plans.update_plan",
    "sdk.plans.delete_plan",
    "sdk.subscriptions.create_subscription",
    "sdk.subscriptions.get_subscription",
    "sdk.subscriptions.update_subscription_line_item",
    "sdk.subscriptions.cancel_subscription",
    "sdk.events.ingest_event",
    "sdk.events.ingest_events_bulk",
    "sdk.events.get_usage_analytics",
}
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=False)
def test_every_sdk_method_the_docs_support_is_driven_by_a_test() -> None:
    """docs/api-catalogue.md says which SDK methods work; each of them, and no other, is called
    by the SDK tests above and in tests/analytics (which check what it stored or read)."""
    docs = (ROOT / "docs" / "api-catalogue.md").read_text()
    section = docs.split("## The official SDK", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(sdk\.\w+\.\w+)`", section))
    called = {
        call
        for path in (ROOT / "tests").rglob("test_*.py")
        for call in re.findall(r"\b(sdk\.\w+\.\w+)\(", path.read_text())
    }
    with Flexprice(server_url="http://127.0.0.1/v1", api_key_auth="unused") as client:
        missing = [
            name
            for name in sorted(SUPPORTED_SDK_METHODS)
            if not callable(getattr(getattr(client, name.split(".")[1]), name.split(".")[2], None))
        ]

    assert documented == SUPPORTED_SDK_METHODS
    assert called == SUPPORTED_SDK_METHODS
    assert missing == []
