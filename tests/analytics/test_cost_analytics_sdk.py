"""The official `flexprice` SDK's cost analytics call parses our answer, against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flexprice import Flexprice, models
from pytest_django.live_server_helper import LiveServer

from tests.analytics.cost_world import World, build_world
from tests.conftest import sdk_client
from tests.factories import default_environment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(transactional_db: None) -> World:
    return build_world(default_environment())


@pytest.fixture
def sdk(live_server: LiveServer, world: World) -> Iterator[Flexprice]:
    """The SDK in the cost world's environment."""
    with sdk_client(live_server, world.environment) as client:
        yield client


def test_get_detailed_cost_analytics_parses_our_response(sdk: Flexprice, world: World) -> None:
    # When the SDK asks for acme-1's January, expanded, one item per page
    response = sdk.costs.get_detailed_cost_analytics(
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
        end_time=datetime(2026, 2, 1, tzinfo=UTC),
        external_customer_id="acme-1",
        feature_ids=[world.calls.pk, world.tokens.pk],
        include_children=False,
        expand=["meter", "price"],
        limit=1,
        offset=1,
    )

    # Then every documented field reads back into the SDK's models
    assert isinstance(response, models.GetDetailedCostAnalyticsResponse)
    assert (
        response.total_cost,
        response.total_revenue,
        response.margin,
        response.margin_percent,
        response.roi,
        response.roi_percent,
        response.currency,
    ) == ("5", "14.5", "9.5", "65.51724137931034", "1.9", "190", "usd")
    assert (response.start_time, response.end_time) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    (item,) = response.cost_analytics
    assert isinstance(item, models.CostAnalyticItem)
    assert (
        item.external_customer_id,
        item.customer_id,
        item.meter_id,
        item.meter_name,
        item.price_id,
        item.costsheet_id,
        item.currency,
        item.total_quantity,
        item.total_events,
        item.total_cost,
    ) == (
        "acme-1",
        world.customer.pk,
        world.tokens.meter_id,
        "Tokens",
        world.token_cost.pk,
        world.costsheet.pk,
        "usd",
        "200",
        3,
        "2.5",
    )
    assert [
        (point.timestamp, point.quantity, point.cost, point.event_count)
        for point in item.cost_by_period
    ] == [
        ("2026-01-01T00:00:00Z", "80", "0.8", 1),
        ("2026-01-02T00:00:00Z", "120", "2.1", 2),
    ]
    assert (item.meter.id, item.meter.event_name, item.meter.aggregation.field) == (
        world.tokens.meter_id,
        "llm_call",
        "tokens",
    )
    assert (item.price.id, item.price.tier_mode, len(item.price.tiers)) == (
        world.token_cost.pk,
        "SLAB",
        2,
    )


def test_property_filters_and_children_go_through_the_sdk(sdk: Flexprice, world: World) -> None:
    response = sdk.costs.get_detailed_cost_analytics(
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
        end_time=datetime(2026, 2, 1, tzinfo=UTC),
        external_customer_id="acme-1",
        include_children=True,
        property_filters={"model": ["a"]},
    )

    assert [(item.meter_name, item.total_quantity) for item in response.cost_analytics] == [
        ("Tokens", "150")
    ]
    assert (response.total_cost, response.total_revenue) == ("2.25", "6.5")
