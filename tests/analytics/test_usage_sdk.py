"""Usage analytics through the official `flexprice` Python SDK: its call parses our answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flexprice import Flexprice, models

pytestmark = pytest.mark.django_db(transaction=True)


def test_get_usage_analytics_parses(sdk: Flexprice) -> None:
    # Given a customer on a $0.5 per-token plan price with a $10 commitment (overage x 2)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day_one, day_two = today - timedelta(days=3), today - timedelta(days=2)
    customer = sdk.customers.create_customer(external_id="acme-1", name="Acme Corp")
    feature = sdk.features.create_feature(
        name="Input tokens",
        type_="metered",
        unit_singular="token",
        unit_plural="tokens",
        reporting_unit={"unit_singular": "k", "unit_plural": "k", "conversion_rate": 0.001},
        meter={
            "name": "Input tokens",
            "event_name": "llm_call",
            "aggregation": {"type": "SUM", "field": "tokens"},
            "reset_usage": "BILLING_PERIOD",
        },
    )
    plan = sdk.plans.create_plan(name="Pro")
    price = sdk.prices.create_price(
        entity_type="PLAN",
        entity_id=plan.id,
        currency="usd",
        type_="USAGE",
        billing_model="FLAT_FEE",
        amount="0.5",
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
        start_date=day_one - timedelta(days=1),
        line_item_commitments={
            price.id: {
                "commitment_type": "amount",
                "commitment_amount": 10,
                "overage_factor": 2,
                "enable_true_up": True,
            }
        },
    )
    # And 12 + 8 tokens on day one (from two regions), 10 on day two, sent through the SDK
    for when, tokens, region in [
        (day_one + timedelta(hours=1), "12", "eu"),
        (day_one + timedelta(hours=2), "8", "us"),
        (day_two + timedelta(hours=1), "10", "eu"),
    ]:
        sdk.events.ingest_event(
            event_name="llm_call",
            external_customer_id="acme-1",
            source="sdk",
            timestamp=when.isoformat(),
            properties={"tokens": tokens, "region": region},
        )

    # When the SDK asks for the usage per day, and then per region with everything expanded
    daily = sdk.events.get_usage_analytics(
        external_customer_id="acme-1",
        start_time=day_one,
        end_time=today,
        window_size="DAY",
    )
    by_region = sdk.events.get_usage_analytics(
        external_customer_id="acme-1",
        start_time=day_one,
        end_time=today,
        group_by=["properties.region"],
        property_filters={"region": ["eu", "us"]},
        sources=["sdk"],
        expand=["price", "meter", "feature", "subscription_line_item", "plan"],
        include_children=False,
    )

    # Then both parse into the SDK's models, with our numbers: 30 tokens x $0.5 = 15,
    # 10 committed + 5 over at x 2
    assert isinstance(daily, models.GetUsageAnalyticsResponse)
    (item,) = daily.items
    assert isinstance(item, models.UsageAnalyticItem)
    assert (item.feature_id, item.name, item.meter_id) == (
        feature.id,
        "Input tokens",
        feature.meter_id,
    )
    assert (item.total_usage, item.total_usage_display, item.event_count) == ("30", "0.03", 3)
    assert (item.total_cost, item.currency, daily.total_cost, daily.currency) == (
        "20",
        "usd",
        "20",
        "usd",
    )
    assert (item.price_id, item.subscription_id, item.plan_id) == (
        price.id,
        subscription.id,
        plan.id,
    )
    assert item.sub_line_item_id == subscription.line_items[0].id
    assert (item.aggregation_type, item.window_size, item.sources) == ("SUM", "DAY", ["sdk"])
    assert (item.unit, item.unit_plural, item.reporting_unit.conversion_rate) == (
        "token",
        "tokens",
        0.001,
    )
    assert [(point.usage, point.cost, point.event_count) for point in item.points] == [
        ("20", "10", 2),
        ("10", "5", 1),
    ]
    assert item.points[0].timestamp == day_one.isoformat().replace("+00:00", "Z")
    commitment = item.commitment_info
    assert isinstance(commitment, models.CommitmentInfo)
    assert (commitment.type, commitment.amount, commitment.overage_factor) == ("amount", "10", "2")
    assert (
        commitment.computed_commitment_utilized_amount,
        commitment.computed_overage_amount,
        commitment.computed_true_up_amount,
    ) == ("10", "10", "0")

    # Each region gets its share of the 20 billed, by usage: 22/30 and 8/30
    eu, us = by_region.items
    assert (eu.properties, eu.total_usage, eu.total_cost) == ({"region": "eu"}, "22", "14.67")
    assert (us.properties, us.total_usage, us.total_cost) == ({"region": "us"}, "8", "5.33")
    assert (by_region.total_cost, eu.commitment_info.computed_overage_amount) == ("20", "7.34")
    assert (eu.price.id, eu.meter.id, eu.feature.id) == (price.id, feature.meter_id, feature.id)
    assert (eu.subscription_line_item.id, eu.plan.id) == (item.sub_line_item_id, plan.id)
    assert eu.points == []
