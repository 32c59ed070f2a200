"""POST /v1/costs/analytics-v2 and cost_analytics: cost, revenue and margin (SPEC §6).

Every expected number is worked out by hand from tests/analytics/cost_world.py's catalogue.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from analytics.costs import (
    PERIOD_TOTALS,
    CostAnalytics,
    CustomerMargin,
    MeterMargin,
    PeriodAmount,
    PeriodMargin,
    cost_analytics,
)
from costsheets.models import AggregationType, Costsheet, WindowSize
from costsheets.pricing import MarginSummary, Tier
from flexprice_site.models import Status
from flexprice_site.pagination import Page
from tests.analytics.cost_world import (
    JAN_END,
    JAN_START,
    JANUARY,
    World,
    build_world,
    cost_price,
    customer,
    event,
    ingest,
    metered,
    subscribe,
)
from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error
from tests.factories import CostsheetFactory

V2 = "/v1/costs/analytics-v2"
V1 = "/v1/costs/analytics"
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
D = Decimal
JAN_1 = "2026-01-01T00:00:00Z"
JAN_2 = "2026-01-02T00:00:00Z"
JAN_3 = "2026-01-03T00:00:00Z"


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(api: KeyedClient) -> World:
    return build_world(api.environment)


def analytics(api: KeyedClient, path: str = V2, **body: Any) -> dict[str, Any]:
    response = api.client.post(path, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def periods(item: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [
        (point["timestamp"], point["quantity"], point["cost"], point["event_count"])
        for point in item["cost_by_period"]
    ]


def totals(body: dict[str, Any]) -> dict[str, str]:
    keys = ("total_cost", "total_revenue", "margin", "margin_percent", "roi", "roi_percent")
    return {key: body[key] for key in keys}


# --- one customer, two meters: every number ----------------------------------------------------


def test_one_customer_two_meters_every_total_item_and_period(
    api: KeyedClient, world: World
) -> None:
    # When acme-1's January is asked for
    body = analytics(api, external_customer_id="acme-1", **JANUARY)

    # Then calls cost 5 * 0.5 = 2.5 (1.5 on Jan 1, 1 on Jan 2), and the 200 tokens cost
    # 100 * 0.01 + 100 * 0.005 + 1 flat = 2.5 (Jan 1: 80 * 0.01 = 0.8; Jan 2 on its own:
    # 100 * 0.01 + 20 * 0.005 + 1 = 2.1)
    calls, tokens = body["cost_analytics"]
    assert {key: calls[key] for key in calls if key != "cost_by_period"} == {
        "external_customer_id": "acme-1",
        "customer_id": world.customer.pk,
        "customer_name": "Acme One",
        "meter_id": world.calls.meter_id,
        "meter_name": "API calls",
        "price_id": world.call_cost.pk,
        "costsheet_id": world.costsheet.pk,
        "currency": "usd",
        "properties": {},
        "total_quantity": "5",
        "total_events": 5,
        "total_cost": "2.5",
        "window_size": "DAY",
    }
    assert periods(calls) == [
        ("2026-01-01T00:00:00Z", "3", "1.5", 3),
        ("2026-01-02T00:00:00Z", "2", "1", 2),
    ]
    assert (tokens["meter_id"], tokens["price_id"]) == (world.tokens.meter_id, world.token_cost.pk)
    assert (tokens["total_quantity"], tokens["total_events"], tokens["total_cost"]) == (
        "200",
        3,
        "2.5",
    )
    assert periods(tokens) == [
        ("2026-01-01T00:00:00Z", "80", "0.8", 1),
        ("2026-01-02T00:00:00Z", "120", "2.1", 2),
    ]
    # And revenue is 5 calls * 1 = 5 plus 200 tokens in the ≤1000 VOLUME tier, 200 * 0.04 = 8,
    # over the commitment of 5: 5 + 3 * 1.5 = 9.5; 14.5 in all. Margin 9.5 of 14.5, ROI 9.5 / 5.
    assert totals(body) == {
        "total_cost": "5",
        "total_revenue": "14.5",
        "margin": "9.5",
        "margin_percent": "65.51724137931034",
        "roi": "1.9",
        "roi_percent": "190",
    }
    assert (body["currency"], body["start_time"], body["end_time"]) == (
        "usd",
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
    )
    assert (body["costsheet_id"], body["window_size"]) == (world.costsheet.pk, "DAY")
    assert body["pagination"] == {"limit": 50, "offset": 0, "total": 2}


def test_revenue_is_exactly_what_usage_analytics_charges(api: KeyedClient, world: World) -> None:
    for scope in ({"external_customer_id": "acme-1"}, {}):
        usage = api.client.post("/v1/events/analytics", {**scope, **JANUARY}, format="json")
        assert usage.status_code == 200, usage.json()

        body = analytics(api, **scope, **JANUARY)

        assert body["total_revenue"] == usage.json()["total_cost"] == "14.5"


def test_analytics_v1_answers_the_same(api: KeyedClient, world: World) -> None:
    request = {"external_customer_id": "acme-1", "expand": ["price"], **JANUARY}
    assert analytics(api, V1, **request) == analytics(api, V2, **request)


def test_the_selector_gives_items_views_and_margin(world: World) -> None:
    result = cost_analytics(
        environment=world.environment, start=JAN_START, end=JAN_END, external_customer_id="acme-1"
    )

    assert isinstance(result, CostAnalytics)
    assert (result.currency, result.costsheet_id, result.is_empty) == (
        "usd",
        world.costsheet.pk,
        False,
    )
    assert (result.total_cost, result.total_revenue) == (D(5), D("14.5"))
    assert result.margin == MarginSummary(
        margin=D("9.5"),
        margin_percent=D("65.51724137931034"),
        roi=D("1.9"),
        roi_percent=D(190),
    )
    jan_1, jan_2 = JAN_START, JAN_START + timedelta(days=1)
    assert [(item.price_id, item.total_cost) for item in result.cost_items] == [
        (world.call_cost.pk, D("2.5")),
        (world.token_cost.pk, D("2.5")),
    ]
    calls_revenue, tokens_revenue = result.revenue_items
    assert (
        calls_revenue.line_item_id,
        calls_revenue.feature_id,
        calls_revenue.total_usage,
        calls_revenue.total_revenue,
        calls_revenue.total_events,
    ) == (world.call_line_item.pk, world.calls.pk, D(5), D(5), 5)
    assert tokens_revenue.periods == (
        PeriodAmount(timestamp=jan_1, quantity=D(80), amount=D(4), event_count=1),
        PeriodAmount(timestamp=jan_2, quantity=D(120), amount=D("4.8"), event_count=2),
    )
    assert (tokens_revenue.price_id, tokens_revenue.subscription_id) == (
        world.token_line_item.price_id,
        world.token_line_item.subscription_id,
    )
    assert tokens_revenue.total_revenue == D("9.5")
    # by period: Jan 1 earns 3 + 4 and costs 1.5 + 0.8; Jan 2 earns 2 + 4.8, costs 1 + 2.1
    assert result.by_period() == [
        PeriodMargin(timestamp=jan_1, revenue=D(7), cost=D("2.3"), margin=D("4.7")),
        PeriodMargin(timestamp=jan_2, revenue=D("6.8"), cost=D("3.1"), margin=D("3.7")),
    ]
    assert result.by_customer() == [
        CustomerMargin(
            external_customer_id="acme-1",
            customer_name="Acme One",
            revenue=D("14.5"),
            cost=D(5),
            margin=D("9.5"),
            margin_percent=D("65.51724137931034"),
            customer_id=world.customer.pk,
            roi=D("1.9"),
        )
    ]
    assert result.by_meter() == [
        MeterMargin(
            meter_id=world.calls.meter_id,
            meter_name="API calls",
            revenue=D(5),
            cost=D("2.5"),
            margin=D("2.5"),
            margin_percent=D(50),
            quantity=D(5),
        ),
        MeterMargin(
            meter_id=world.tokens.meter_id,
            meter_name="Tokens",
            revenue=D("9.5"),
            cost=D("2.5"),
            margin=D(7),
            margin_percent=D("73.68421052631579"),
            quantity=D(200),
        ),
    ]
    assert [
        (row.meter_name, row.quantity, row.events, row.revenue, row.cost, row.margin)
        for row in result.by_customer_meter()
    ] == [
        ("API calls", D(5), 5, D(5), D("2.5"), D("2.5")),
        ("Tokens", D(200), 3, D("9.5"), D("2.5"), D(7)),
    ]


def test_a_range_without_usage_is_empty(world: World) -> None:
    result = cost_analytics(
        environment=world.environment,
        start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2026, 3, 2, tzinfo=UTC),
        external_customer_id="acme-1",
    )

    # The token commitment's true-up still charges its 5 for a period without usage.
    assert (result.is_empty, result.cost_items, result.total_cost) == (True, (), D(0))
    assert result.total_revenue == D(5)
    assert result.by_period() == []


# --- SPEC §6 margin examples ---------------------------------------------------------------------


def _one_event_world(api: KeyedClient, *, cost: str, revenue: str | None) -> None:
    buyer = customer(api.environment, "solo")
    feature = metered(api.environment, "Jobs", "job", AggregationType.COUNT)
    cost_price(CostsheetFactory(environment=api.environment), feature, amount=cost)
    if revenue is not None:
        subscribe(buyer, feature, amount=revenue)
    ingest(api.environment, event("2026-01-05T00:00:00Z", customer="solo", name="job"))


def test_margin_revenue_3_cost_1(api: KeyedClient) -> None:
    _one_event_world(api, cost="1", revenue="3")

    body = analytics(api, external_customer_id="solo", **JANUARY)

    assert totals(body) == {
        "total_cost": "1",
        "total_revenue": "3",
        "margin": "2",
        "margin_percent": "66.66666666666667",
        "roi": "2",
        "roi_percent": "200",
    }


def test_margin_revenue_0_cost_5(api: KeyedClient) -> None:
    _one_event_world(api, cost="5", revenue=None)

    body = analytics(api, external_customer_id="solo", **JANUARY)

    assert totals(body) == {
        "total_cost": "5",
        "total_revenue": "0",
        "margin": "-5",
        "margin_percent": "0",
        "roi": "-1",
        "roi_percent": "-100",
    }


def test_nothing_at_all_is_all_zeros(api: KeyedClient) -> None:
    body = analytics(api, **JANUARY)

    assert totals(body) == dict.fromkeys(totals(body), "0")
    assert (body["cost_analytics"], body["currency"], body["costsheet_id"]) == ([], "", None)


# --- scope: every customer, children, features, properties --------------------------------------


def _second_customer(world: World) -> None:
    """beta: 1 call and 150 tokens in January, on the same prices."""
    beta = customer(world.environment, "beta", name="Beta")
    subscribe(beta, world.calls, amount="1")
    subscribe(beta, world.tokens, tiers=[Tier(up_to=None, unit_amount=D("0.1"))])
    ingest(
        world.environment,
        event("2026-01-02T08:00:00Z", customer="beta"),
        event("2026-01-03T08:00:00Z", customer="beta", name="llm_call", tokens=150),
    )


def test_every_customer_is_the_sum_of_the_customers(api: KeyedClient, world: World) -> None:
    _second_customer(world)

    everyone = analytics(api, **JANUARY)
    acme = analytics(api, external_customer_id="acme-1", **JANUARY)
    beta = analytics(api, external_customer_id="beta", **JANUARY)

    # Tiers apply per customer: beta's 150 tokens cost 100 * 0.01 + 50 * 0.005 + 1 = 2.25 on
    # their own (350 tokens together would cost 3.25), and its call 0.5.
    assert [item["total_cost"] for item in beta["cost_analytics"]] == ["0.5", "2.25"]
    assert everyone["cost_analytics"] == acme["cost_analytics"] + beta["cost_analytics"]
    assert everyone["total_cost"] == "7.75"
    assert D(everyone["total_cost"]) == D(acme["total_cost"]) + D(beta["total_cost"])
    # beta earns 1 call * 1 + 150 * 0.1 = 16
    assert (acme["total_revenue"], beta["total_revenue"], everyone["total_revenue"]) == (
        "14.5",
        "16",
        "30.5",
    )
    assert (everyone["margin"], everyone["roi"]) == ("22.75", "2.9354838709677419")


def test_every_customer_counts_usage_of_unknown_customer_ids(
    api: KeyedClient, world: World
) -> None:
    ingest(api.environment, event("2026-01-09T00:00:00Z", customer="ghost"))

    body = analytics(api, **JANUARY)

    ghost = body["cost_analytics"][-1]
    assert (ghost["external_customer_id"], ghost["customer_id"], ghost["customer_name"]) == (
        "ghost",
        None,
        "",
    )
    assert (ghost["total_cost"], body["total_cost"], body["total_revenue"]) == (
        "0.5",
        "5.5",
        "14.5",
    )


def test_include_children_folds_their_usage_into_the_parent(api: KeyedClient, world: World) -> None:
    customer(api.environment, "acme-kid", parent=world.customer)
    ingest(
        api.environment,
        event("2026-01-03T05:00:00Z", customer="acme-kid", name="llm_call", tokens=30),
    )

    alone = analytics(api, external_customer_id="acme-1", **JANUARY)
    family = analytics(api, external_customer_id="acme-1", include_children=True, **JANUARY)
    usage = api.client.post(
        "/v1/events/analytics",
        {"external_customer_id": "acme-1", "include_children": True, **JANUARY},
        format="json",
    ).json()

    assert alone["cost_analytics"][1]["total_cost"] == "2.5"
    # 230 tokens of the family, tiers on the whole: 1 + 130 * 0.005 + 1 = 2.65
    tokens = family["cost_analytics"][1]
    assert (tokens["external_customer_id"], tokens["total_quantity"], tokens["total_cost"]) == (
        "acme-1",
        "230",
        "2.65",
    )
    assert periods(tokens)[-1] == ("2026-01-03T00:00:00Z", "30", "0.3", 1)
    # Revenue: 230 * 0.04 = 9.2 over the commitment: 5 + 4.2 * 1.5 = 11.3, plus 5 for calls
    assert family["total_revenue"] == usage["total_cost"] == "16.3"
    assert family["total_cost"] == "5.15"


def test_feature_ids_narrow_cost_and_revenue(api: KeyedClient, world: World) -> None:
    body = analytics(api, external_customer_id="acme-1", feature_ids=[world.tokens.pk], **JANUARY)

    assert [item["meter_name"] for item in body["cost_analytics"]] == ["Tokens"]
    assert (body["total_cost"], body["total_revenue"]) == ("2.5", "9.5")


def test_property_filters_apply_to_both_sides(api: KeyedClient, world: World) -> None:
    body = analytics(
        api, external_customer_id="acme-1", property_filters={"model": ["a"]}, **JANUARY
    )

    # Only the 80 + 70 tokens of model a (calls carry no model): 1 + 50 * 0.005 + 1 = 2.25;
    # revenue 150 * 0.04 = 6 over the commitment: 5 + 1 * 1.5 = 6.5
    assert [(item["meter_name"], item["total_quantity"]) for item in body["cost_analytics"]] == [
        ("Tokens", "150")
    ]
    assert (body["total_cost"], body["total_revenue"]) == ("2.25", "6.5")


def test_window_size_week(api: KeyedClient, world: World) -> None:
    body = analytics(api, external_customer_id="acme-1", window_size="WEEK", **JANUARY)

    # Jan 1 and 2, 2026 are a Thursday and Friday of the week starting Monday, Dec 29.
    assert [periods(item) for item in body["cost_analytics"]] == [
        [("2025-12-29T00:00:00Z", "5", "2.5", 5)],
        [("2025-12-29T00:00:00Z", "200", "2.5", 3)],
    ]
    assert body["window_size"] == "WEEK"


def test_windows_align_in_the_time_zone_asked(api: KeyedClient, world: World) -> None:
    body = analytics(
        api,
        external_customer_id="acme-1",
        time_zone="Asia/Tokyo",
        feature_ids=[world.calls.pk],
        **JANUARY,
    )

    # 10:00 UTC is 19:00 in Tokyo, the same local day; Tokyo's Jan 1 starts Dec 31, 15:00 UTC.
    assert periods(body["cost_analytics"][0]) == [
        ("2025-12-31T15:00:00Z", "3", "1.5", 3),
        ("2026-01-01T15:00:00Z", "2", "1", 2),
    ]


# --- costsheets ----------------------------------------------------------------------------------


def test_no_published_costsheet_costs_nothing_and_still_earns(
    api: KeyedClient, world: World
) -> None:
    Costsheet.objects.filter(pk=world.costsheet.pk).update(status=Status.ARCHIVED)

    body = analytics(api, external_customer_id="acme-1", **JANUARY)

    assert (body["cost_analytics"], body["costsheet_id"], body["currency"]) == ([], None, "usd")
    assert totals(body) == {
        "total_cost": "0",
        "total_revenue": "14.5",
        "margin": "14.5",
        "margin_percent": "100",
        "roi": "0",
        "roi_percent": "0",
    }


def test_the_newest_published_costsheet_prices_unless_one_is_named(
    api: KeyedClient, world: World
) -> None:
    newer = CostsheetFactory(environment=api.environment, name="Renegotiated")
    Costsheet.objects.filter(pk=newer.pk).update(created_at=NOW + timedelta(seconds=1))
    cost_price(newer, world.calls, amount="2")

    active = analytics(api, external_customer_id="acme-1", **JANUARY)
    named = analytics(
        api, external_customer_id="acme-1", costsheet_id=world.costsheet.pk, **JANUARY
    )

    assert (active["costsheet_id"], active["total_cost"]) == (newer.pk, "10")
    assert [item["costsheet_id"] for item in active["cost_analytics"]] == [newer.pk]
    assert (named["costsheet_id"], named["total_cost"]) == (world.costsheet.pk, "5")


def test_a_price_prices_only_the_usage_of_its_own_dates(api: KeyedClient, world: World) -> None:
    world.call_cost.end_date = datetime(2026, 1, 2, tzinfo=UTC)
    world.call_cost.save(update_fields=["end_date"])
    world.token_cost.start_date = datetime(2026, 1, 2, 10, 30, tzinfo=UTC)
    world.token_cost.save(update_fields=["start_date"])

    body = analytics(api, external_customer_id="acme-1", **JANUARY)

    calls, tokens = body["cost_analytics"]
    assert (calls["total_quantity"], calls["total_cost"]) == ("3", "1.5")
    # Only the 70 tokens at 12:00 on Jan 2: 70 * 0.01
    assert (tokens["total_quantity"], tokens["total_cost"]) == ("70", "0.7")
    assert periods(tokens) == [("2026-01-02T00:00:00Z", "70", "0.7", 1)]


def test_bucketed_meters_apply_tiers_per_bucket(api: KeyedClient) -> None:
    solo = customer(api.environment, "solo")
    storage = metered(api.environment, "Storage", "storage", AggregationType.MAX, "gb")
    storage.meter.bucket_size = WindowSize.HOUR
    storage.meter.save(update_fields=["bucket_size"])
    tiers = [
        Tier(up_to=D(10), unit_amount=D("0.10")),
        Tier(up_to=D(20), unit_amount=D("0.05")),
        Tier(up_to=None, unit_amount=D("0.02")),
    ]
    cost_price(CostsheetFactory(environment=api.environment), storage, tiers=tiers)
    ingest(
        api.environment,
        *(
            event(at, customer="solo", name="storage", gb=gb)
            for at, gb in [
                ("2026-01-05T10:00:00Z", 5),
                ("2026-01-05T10:30:00Z", 9),
                ("2026-01-05T11:15:00Z", 15),
            ]
        ),
    )
    assert solo.pk

    body = analytics(api, external_customer_id="solo", **JANUARY)

    # SPEC §4: SLAB over the buckets [9, 15]: 0.9 + (1 + 0.25) = 2.15
    (item,) = body["cost_analytics"]
    assert (item["total_quantity"], item["total_cost"]) == ("24", "2.15")
    assert periods(item) == [("2026-01-05T00:00:00Z", "24", "2.15", 3)]


def test_mixed_currencies_need_a_currency(api: KeyedClient, world: World) -> None:
    cost_price(world.costsheet, world.calls, amount="0.4", currency="eur")

    response = api.client.post(V2, {"external_customer_id": "acme-1", **JANUARY}, format="json")
    chosen = analytics(api, external_customer_id="acme-1", currency="usd", **JANUARY)

    body = assert_error(response, status=400, code="invalid_operation")
    assert body["details"] == {"currency": ["Choose one of eur, usd."]}
    assert (chosen["currency"], chosen["total_cost"], chosen["total_revenue"]) == (
        "usd",
        "5",
        "14.5",
    )


# --- pagination and expand -----------------------------------------------------------------------


def test_limit_and_offset_page_the_items_and_totals_cover_all(
    api: KeyedClient, world: World
) -> None:
    first = analytics(api, external_customer_id="acme-1", limit=1, **JANUARY)
    second = analytics(api, external_customer_id="acme-1", limit=1, offset=1, **JANUARY)
    beyond = analytics(api, external_customer_id="acme-1", offset=5, **JANUARY)

    assert [item["price_id"] for item in first["cost_analytics"]] == [world.call_cost.pk]
    assert [item["price_id"] for item in second["cost_analytics"]] == [world.token_cost.pk]
    assert beyond["cost_analytics"] == []
    assert first["pagination"] == {"limit": 1, "offset": 0, "total": 2}
    assert second["pagination"] == {"limit": 1, "offset": 1, "total": 2}
    for body in (first, second, beyond):
        assert (body["total_cost"], body["total_revenue"]) == ("5", "14.5")


def test_every_customers_page_has_the_same_items_and_periods_as_the_whole(
    api: KeyedClient, world: World
) -> None:
    # Every customer's items carry periods only on the page asked for: the others are not
    # read with windows at all. The page's items are the same as in the whole answer.
    _second_customer(world)
    whole = analytics(api, **JANUARY)
    pages = [analytics(api, limit=1, offset=offset, **JANUARY) for offset in range(4)]

    assert len(whole["cost_analytics"]) == 4
    assert [page["cost_analytics"] for page in pages] == [
        [item] for item in whole["cost_analytics"]
    ]
    assert all(page["cost_analytics"][0]["cost_by_period"] for page in pages)
    for page in pages:
        assert (page["total_cost"], page["total_revenue"]) == ("7.75", "30.5")


def test_a_page_of_every_customer_leaves_the_periods_of_the_rest_out(world: World) -> None:
    _second_customer(world)
    result = cost_analytics(
        environment=world.environment, start=JAN_START, end=JAN_END, page=Page(limit=1, offset=1)
    )

    whole = cost_analytics(environment=world.environment, start=JAN_START, end=JAN_END)
    assert [bool(item.periods) for item in result.cost_items] == [False, True, False, False]
    # Revenue comes as its total only, the same as the whole answer's.
    assert result.revenue_items == ()
    assert (result.total_revenue, result.total_cost) == (whole.total_revenue, whole.total_cost)
    with pytest.raises(ValueError, match="only a page"):
        result.by_period()


@pytest.mark.parametrize("customer", [None, "acme-1"])
def test_period_totals_are_the_sums_of_every_items_periods(
    world: World, customer: str | None
) -> None:
    # Given two customers' usage, asked with every item's periods and with their sums only
    _second_customer(world)
    arguments = {"start": JAN_START, "end": JAN_END, "external_customer_id": customer}
    detailed = cost_analytics(environment=world.environment, **arguments)
    summed = cost_analytics(environment=world.environment, periods=PERIOD_TOTALS, **arguments)

    # Then the chart, the totals and the items agree; only the items' periods are left out
    assert summed.by_period() == detailed.by_period()
    assert len(summed.by_period()) == (3 if customer is None else 2)
    assert (summed.total_cost, summed.total_revenue) == (
        detailed.total_cost,
        detailed.total_revenue,
    )
    assert summed.by_customer() == detailed.by_customer()
    assert [dataclasses.replace(item, periods=()) for item in detailed.cost_items] == list(
        summed.cost_items
    )
    assert [dataclasses.replace(item, periods=()) for item in detailed.revenue_items] == list(
        summed.revenue_items
    )


def test_expand_embeds_meter_and_price(api: KeyedClient, world: World) -> None:
    plain = analytics(api, external_customer_id="acme-1", **JANUARY)
    expanded = analytics(api, external_customer_id="acme-1", expand=["meter", "price"], **JANUARY)

    assert "meter" not in plain["cost_analytics"][0]
    assert "price" not in plain["cost_analytics"][0]
    calls, tokens = expanded["cost_analytics"]
    assert (calls["meter"]["id"], calls["meter"]["event_name"]) == (
        world.calls.meter_id,
        "api_request",
    )
    assert calls["meter"]["aggregation"]["type"] == "COUNT"
    assert (calls["price"]["id"], calls["price"]["amount"], calls["price"]["entity_id"]) == (
        world.call_cost.pk,
        "0.5",
        world.costsheet.pk,
    )
    assert tokens["price"]["tier_mode"] == "SLAB"
    assert [(tier["up_to"], tier["unit_amount"]) for tier in tokens["price"]["tiers"]] == [
        ("100", "0.01"),
        (None, "0.005"),
    ]
    assert {key: value for key, value in calls.items() if key not in ("meter", "price")} == (
        plain["cost_analytics"][0]
    )


# The key, the catalogue reads (features, costsheet, prices + tiers, line items + tiers,
# customers, expanded meter and prices + tiers) and one engine statement per meter and side
# (cost, revenue, usage): 22 today. However many customers or items there are.
QUERY_BUDGET = 24


def test_query_budget(api: KeyedClient, world: World, django_assert_max_num_queries: Any) -> None:
    _second_customer(world)
    request = {"expand": ["meter", "price"], **JANUARY}
    api.client.post(V2, request, format="json")  # the API key's first use writes last_used_at

    with django_assert_max_num_queries(QUERY_BUDGET):
        response = api.client.post(V2, request, format="json")

    assert response.status_code == 200


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_time": JAN_1}, "end_time"),
        ({"end_time": JAN_2}, "start_time"),
        ({"start_time": JAN_2, "end_time": JAN_1}, "start_time"),
        ({"start_time": JAN_1, "end_time": JAN_1}, "start_time"),
        ({"start_time": "2026-01-01T00:00:00", "end_time": JAN_2}, "start_time"),
        ({"start_time": "yesterday", "end_time": JAN_2}, "start_time"),
        ({"window_size": "FORTNIGHT"}, "window_size"),
        (
            {"window_size": "MINUTE", "start_time": "2025-01-01T00:00:00Z", "end_time": JAN_1},
            "window_size",
        ),
        ({"expand": ["plan"]}, "expand"),
        ({"expand": "price"}, "expand"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "ten"}, "limit"),
        ({"feature_ids": "feat_1"}, "feature_ids"),
        ({"external_customer_id": 7}, "external_customer_id"),
        ({"include_children": True}, "include_children"),
        ({"include_children": "maybe", "external_customer_id": "acme-1"}, "include_children"),
        ({"property_filters": {"model": []}}, "property_filters"),
        ({"property_filters": {"bad key!": ["x"]}}, "property_filters"),
        ({"property_filters": ["model"]}, "property_filters"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"currency": "dollars"}, "currency"),
        ({"costsheet_id": ["cost_1"]}, "costsheet_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    api: KeyedClient, world: World, body: dict[str, Any], field: str
) -> None:
    response = api.client.post(V2, body, format="json")

    error = assert_error(response, status=400)
    assert field in error["details"]


def test_an_unknown_feature_is_a_400(api: KeyedClient, world: World) -> None:
    response = api.client.post(V2, {"feature_ids": ["feat_missing"], **JANUARY}, format="json")

    assert assert_error(response, status=400)["details"] == {
        "feature_ids": ["Unknown or not metered: feat_missing."]
    }


def test_malformed_json_is_a_400(api: KeyedClient) -> None:
    response = api.client.post(V2, "{not json", content_type="application/json")

    assert_error(response, status=400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_customer_id": "nobody"}, "external_customer_id"),
        ({"costsheet_id": "cost_missing"}, "id"),
    ],
)
def test_unknown_customer_or_costsheet_is_a_404(
    api: KeyedClient, world: World, body: dict[str, Any], field: str
) -> None:
    response = api.client.post(V2, {**body, **JANUARY}, format="json")

    assert field in assert_error(response, status=404, code="not_found")["details"]


def test_another_tenants_customer_and_costsheet_are_not_found(
    api: KeyedClient, other_api: KeyedClient, world: World
) -> None:
    for body in ({"external_customer_id": "acme-1"}, {"costsheet_id": world.costsheet.pk}):
        response = other_api.client.post(V2, {**body, **JANUARY}, format="json")
        assert_error(response, status=404, code="not_found")
    # and its tenant-wide view holds nothing of Acme's
    assert totals(analytics(other_api, **JANUARY)) == dict.fromkeys(
        totals(analytics(other_api, **JANUARY)), "0"
    )


def test_without_an_api_key_is_a_401(client: Any) -> None:
    response = client.post(V2, {}, content_type="application/json")

    assert_error(response, status=401, code="permission_denied")


def test_the_default_range_is_the_last_7_days(api: KeyedClient, world: World) -> None:
    ingest(api.environment, event("2026-03-30T00:00:00Z"), event("2026-03-20T00:00:00Z"))

    body = analytics(api, external_customer_id="acme-1")

    assert (body["start_time"], body["end_time"]) == (
        "2026-03-25T12:00:00Z",
        "2026-04-01T12:00:00Z",
    )
    assert [(item["meter_name"], item["total_quantity"]) for item in body["cost_analytics"]] == [
        ("API calls", "1")
    ]
