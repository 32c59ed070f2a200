"""POST /v1/events/analytics: usage per feature and window, priced with line items (SPEC §5)."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from pytest_django import DjangoAssertNumQueries

from costsheets.models import (
    AggregationType,
    BillingModel,
    Customer,
    Feature,
    Meter,
    SubscriptionLineItem,
    TierMode,
    WindowSize,
)
from costsheets.pricing import Tier
from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error
from tests.factories import (
    CustomerFactory,
    FeatureFactory,
    SubscriptionLineItemFactory,
)

ANALYTICS = "/v1/events/analytics"
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
JAN = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-02-01T00:00:00Z"}
_event_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


# --- fixtures ------------------------------------------------------------------------------------


def event(
    at: str,
    customer: str = "acme-1",
    name: str = "api_request",
    source: str = "api",
    **properties: Any,
) -> dict[str, Any]:
    return {
        "event_id": f"evt-{next(_event_numbers)}",
        "event_name": name,
        "external_customer_id": customer,
        "timestamp": at,
        "source": source,
        "properties": properties,
    }


def ingest(api: KeyedClient, *events: dict[str, Any]) -> None:
    """Send events through the API, as a client would."""
    response = api.client.post("/v1/events/bulk", {"events": list(events)}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["accepted"] == str(len(events))


def customer(api: KeyedClient, external_id: str = "acme-1", **fields: Any) -> Customer:
    return CustomerFactory(
        environment=api.environment, external_customer_id=external_id, name=external_id, **fields
    )


def feature(
    api: KeyedClient,
    name: str = "API calls",
    aggregation: str = AggregationType.COUNT,
    field: str = "",
    event_name: str = "api_request",
    **meter: Any,
) -> Feature:
    return FeatureFactory(
        environment=api.environment,
        name=name,
        meter__name=name,
        meter__event_name=event_name,
        meter__aggregation_type=aggregation,
        meter__aggregation_field=field,
        **{f"meter__{key}": value for key, value in meter.items()},
    )


def subscribe(
    who: Customer,
    meter: Meter,
    *,
    amount: str = "1",
    start: str = "2025-12-01T00:00:00Z",
    end: str | None = None,
    currency: str = "usd",
    tiers: list[Tier] | None = None,
    tier_mode: str = TierMode.VOLUME,
    anchor: str | None = None,
    **line_item: Any,
) -> SubscriptionLineItem:
    """A subscription of `who` whose plan charges `amount` per unit of `meter` (or `tiers`)."""
    starts = datetime.fromisoformat(start)
    return SubscriptionLineItemFactory(
        environment=who.environment,
        subscription__customer=who,
        subscription__currency=currency,
        subscription__start_date=starts,
        subscription__billing_anchor=datetime.fromisoformat(anchor) if anchor else starts,
        price__meter=meter,
        price__currency=currency,
        price__amount=Decimal(amount),
        price__billing_model=BillingModel.TIERED if tiers else BillingModel.FLAT_FEE,
        price__tier_mode=tier_mode,
        price__tiers=tiers,
        start_date=starts,
        end_date=datetime.fromisoformat(end) if end else None,
        **line_item,
    )


def analytics(api: KeyedClient, **body: Any) -> dict[str, Any]:
    response = api.client.post(ANALYTICS, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def points(item: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(point["timestamp"], point["usage"], point["event_count"]) for point in item["points"]]


def costs(item: dict[str, Any]) -> list[str]:
    return [point["cost"] for point in item["points"]]


# --- aggregations --------------------------------------------------------------------------------


class TestAggregations:
    def test_count_per_day(self, api: KeyedClient) -> None:
        # Given a COUNT meter and 2, 3 and 1 events on three days
        calls = feature(api)
        ingest(
            api,
            *[event("2026-01-05T09:00:00Z") for _ in range(2)],
            *[event("2026-01-06T23:59:59Z") for _ in range(3)],
            event("2026-01-08T00:00:00Z"),
        )

        # When usage is asked per day
        body = analytics(api, window_size="DAY", **JAN)

        # Then one item with the total and a point per day that had events
        (item,) = body["items"]
        assert (item["feature_id"], item["name"], item["meter_id"]) == (
            calls.pk,
            "API calls",
            calls.meter_id,
        )
        assert (item["total_usage"], item["event_count"], item["aggregation_type"]) == (
            "6",
            6,
            "COUNT",
        )
        assert points(item) == [
            ("2026-01-05T00:00:00Z", "2", 2),
            ("2026-01-06T00:00:00Z", "3", 3),
            ("2026-01-08T00:00:00Z", "1", 1),
        ]
        assert (item["event_name"], item["unit"], item["unit_plural"]) == (
            "api_request",
            "request",
            "requests",
        )
        assert (item["window_size"], item["sources"], item["source"]) == ("DAY", ["api"], None)
        # No customer, no subscription: usage without a price
        assert (item["total_cost"], item["price_id"], body["total_cost"]) == ("0", None, "0")
        assert body["currency"] == ""

    def test_max_per_day(self, api: KeyedClient) -> None:
        feature(api, "Peak load", AggregationType.MAX, "load")
        ingest(
            api,
            event("2026-01-05T01:00:00Z", load=10),
            event("2026-01-05T02:00:00Z", load=50),
            event("2026-01-06T01:00:00Z", load=20),
        )

        (item,) = analytics(api, window_size="DAY", **JAN)["items"]

        assert item["total_usage"] == "50"
        assert points(item) == [
            ("2026-01-05T00:00:00Z", "50", 2),
            ("2026-01-06T00:00:00Z", "20", 1),
        ]

    def test_avg(self, api: KeyedClient) -> None:
        feature(api, "Latency", AggregationType.AVG, "ms")
        ingest(
            api,
            *[
                event(f"2026-01-0{day}T01:00:00Z", ms=ms)
                for day, ms in [(5, 10), (5, 20), (6, 30), (7, 40)]
            ],
        )

        (item,) = analytics(api, **JAN)["items"]

        assert (item["total_usage"], item["event_count"], item["points"]) == ("25", 4, [])

    def test_latest_grouped_by_region(self, api: KeyedClient) -> None:
        feature(api, "Seats", AggregationType.LATEST, "seats")
        ingest(
            api,
            event("2026-01-05T00:00:00Z", seats=10, region="us-east"),
            event("2026-01-10T00:00:00Z", seats=99, region="us-east"),
            event("2026-01-08T00:00:00Z", seats=7, region="us-west"),
            event("2026-01-12T00:00:00Z", seats=3, region="us-west"),
        )

        items = analytics(api, group_by=["properties.region"], **JAN)["items"]

        assert [(item["properties"], item["total_usage"]) for item in items] == [
            ({"region": "us-east"}, "99"),
            ({"region": "us-west"}, "3"),
        ]

    def test_count_unique_grouped_by_region(self, api: KeyedClient) -> None:
        feature(api, "Active users", AggregationType.COUNT_UNIQUE, "user")
        ingest(
            api,
            event("2026-01-05T00:00:00Z", user="u1", region="eu"),
            event("2026-01-06T00:00:00Z", user="u2", region="eu"),
            event("2026-01-07T00:00:00Z", user="u1", region="eu"),
            event("2026-01-07T00:00:00Z", user="u3", region="us"),
        )

        items = analytics(api, group_by=["properties.region"], **JAN)["items"]

        assert [
            (item["properties"], item["total_usage"], item["event_count"]) for item in items
        ] == [
            ({"region": "eu"}, "2", 3),
            ({"region": "us"}, "1", 1),
        ]

    def test_an_hourly_bucketed_sum_per_day(self, api: KeyedClient) -> None:
        # Given a SUM meter in hourly buckets, priced with volume tiers applied per bucket
        acme = customer(api)
        storage = feature(api, "Storage", AggregationType.SUM, "gb", bucket_size=WindowSize.HOUR)
        tiers = [Tier(up_to=Decimal(15), unit_amount=Decimal("1")), Tier(None, Decimal("0.5"))]
        subscribe(acme, storage.meter, tiers=tiers)
        ingest(
            api,
            event("2026-01-05T09:10:00Z", gb=10),
            event("2026-01-05T10:20:00Z", gb=20),
            event("2026-01-05T14:30:00Z", gb=30),
            event("2026-01-06T09:00:00Z", gb=5),
        )

        (item,) = analytics(api, external_customer_id="acme-1", window_size="DAY", **JAN)["items"]

        # Then the points add the buckets; each bucket is priced on its own tiers:
        # 10 → 10, 20 → 10 (volume: all at 0.5), 30 → 15, 5 → 5
        assert item["total_usage"] == "65"
        assert points(item) == [
            ("2026-01-05T00:00:00Z", "60", 3),
            ("2026-01-06T00:00:00Z", "5", 1),
        ]
        assert costs(item) == ["35", "5"]
        assert item["total_cost"] == "40"

    def test_sum_with_multiplier_with_and_without_windows_and_groups(
        self, api: KeyedClient
    ) -> None:
        feature(
            api,
            "Transfer",
            AggregationType.SUM_WITH_MULTIPLIER,
            "gb",
            aggregation_multiplier=Decimal("2.5"),
        )
        ingest(
            api,
            event("2026-01-05T10:00:00Z", gb=4, region="a"),
            event("2026-01-06T10:00:00Z", gb=6, region="b"),
            event("2026-01-06T11:00:00Z", gb="1.2", region="b"),
        )

        (total,) = analytics(api, **JAN)["items"]
        (daily,) = analytics(api, window_size="DAY", **JAN)["items"]
        grouped = analytics(api, group_by=["properties.region"], window_size="DAY", **JAN)["items"]

        # (4 + 6 + 1.2) x 2.5
        assert total["total_usage"] == "28"
        assert daily["total_usage"] == "28"
        assert points(daily) == [
            ("2026-01-05T00:00:00Z", "10", 1),
            ("2026-01-06T00:00:00Z", "18", 2),
        ]
        assert [(item["properties"], item["total_usage"], points(item)) for item in grouped] == [
            ({"region": "a"}, "10", [("2026-01-05T00:00:00Z", "10", 1)]),
            ({"region": "b"}, "18", [("2026-01-06T00:00:00Z", "18", 2)]),
        ]

    def test_weighted_sum_with_and_without_windows_and_groups(self, api: KeyedClient) -> None:
        # Σ q x (e - t) / (e - s): a gauge's value weighted by the share of the window after it
        feature(api, "Provisioned GB", AggregationType.WEIGHTED_SUM, "gb")
        ingest(
            api,
            event("2026-01-05T12:00:00Z", gb=10, region="a"),
            event("2026-01-06T12:00:00Z", gb=20, region="b"),
        )
        two_days = {"start_time": "2026-01-05T00:00:00Z", "end_time": "2026-01-07T00:00:00Z"}

        (total,) = analytics(api, **two_days)["items"]
        (daily,) = analytics(api, window_size="DAY", **two_days)["items"]
        grouped = analytics(api, group_by=["properties.region"], **two_days)["items"]

        # 10 x 36h/48h + 20 x 12h/48h
        assert total["total_usage"] == "12.5"
        # per day: 10 x 12h/24h, 20 x 12h/24h
        assert points(daily) == [
            ("2026-01-05T00:00:00Z", "5", 1),
            ("2026-01-06T00:00:00Z", "10", 1),
        ]
        assert daily["total_usage"] == "12.5"
        assert [(item["properties"], item["total_usage"]) for item in grouped] == [
            ({"region": "a"}, "7.5"),
            ({"region": "b"}, "5"),
        ]


# --- pricing -------------------------------------------------------------------------------------


class TestPricing:
    def test_an_amount_commitment_with_overage_and_true_up(self, api: KeyedClient) -> None:
        # Given a $1 COUNT price with a $10 commitment, overage x 1.5 and true-up, and 15 events
        acme = customer(api)
        calls = feature(api)
        line_item = subscribe(
            acme,
            calls.meter,
            commitment_type="amount",
            commitment_amount=Decimal(10),
            commitment_overage_factor=Decimal("1.5"),
            commitment_true_up_enabled=True,
        )
        ingest(api, *[event("2026-01-05T10:00:00Z") for _ in range(15)])

        body = analytics(api, external_customer_id="acme-1", **JAN)

        # Then 10 + (15 - 10) x 1.5
        (item,) = body["items"]
        assert (item["total_usage"], item["total_cost"]) == ("15", "17.5")
        assert item["commitment_info"] == {
            "type": "amount",
            "amount": "10",
            "quantity": None,
            "overage_factor": "1.5",
            "true_up_enabled": True,
            "is_windowed": False,
            "duration": None,
            "computed_commitment_utilized_amount": "10",
            "computed_overage_amount": "7.5",
            "computed_true_up_amount": "0",
        }
        assert (item["price_id"], item["sub_line_item_id"], item["subscription_id"]) == (
            line_item.price_id,
            line_item.pk,
            line_item.subscription_id,
        )
        assert item["plan_id"] == line_item.subscription.plan_id
        assert (body["total_cost"], body["currency"], item["currency"]) == ("17.5", "usd", "usd")

    def test_a_true_up_is_charged_when_usage_falls_short(self, api: KeyedClient) -> None:
        acme = customer(api)
        calls = feature(api)
        subscribe(
            acme,
            calls.meter,
            commitment_type="amount",
            commitment_amount=Decimal(10),
            commitment_true_up_enabled=True,
        )
        ingest(api, *[event("2026-01-05T10:00:00Z") for _ in range(4)])

        (item,) = analytics(api, external_customer_id="acme-1", **JAN)["items"]

        assert item["total_cost"] == "10"
        info = item["commitment_info"]
        assert (
            info["computed_commitment_utilized_amount"],
            info["computed_overage_amount"],
            info["computed_true_up_amount"],
        ) == ("4", "0", "6")

    def test_a_true_up_is_charged_without_any_usage(self, api: KeyedClient) -> None:
        acme = customer(api)
        calls = feature(api)
        line_item = subscribe(
            acme,
            calls.meter,
            commitment_type="amount",
            commitment_amount=Decimal(10),
            commitment_true_up_enabled=True,
        )

        body = analytics(api, external_customer_id="acme-1", window_size="DAY", **JAN)

        (item,) = body["items"]
        assert (item["sub_line_item_id"], item["total_usage"], item["event_count"]) == (
            line_item.pk,
            "0",
            0,
        )
        assert (item["total_cost"], item["points"], body["total_cost"]) == ("10", [], "10")
        assert item["commitment_info"]["computed_true_up_amount"] == "10"

    def test_a_quantity_commitment_is_the_cost_of_that_quantity(self, api: KeyedClient) -> None:
        acme = customer(api)
        calls = feature(api)
        subscribe(
            acme,
            calls.meter,
            amount="2",
            commitment_type="quantity",
            commitment_quantity=Decimal(5),
            commitment_overage_factor=Decimal(2),
        )
        ingest(api, *[event("2026-01-05T10:00:00Z") for _ in range(8)])

        (item,) = analytics(api, external_customer_id="acme-1", **JAN)["items"]

        # committed 5 x $2 = 10; usage 16; 10 + 6 x 2
        assert item["total_cost"] == "22"
        assert item["commitment_info"]["quantity"] == "5"

    def test_a_windowed_commitment_applies_per_bucket(self, api: KeyedClient) -> None:
        # Given hourly MAX buckets at $1 per unit, with a windowed $10 commitment (true-up on)
        acme = customer(api)
        load = feature(api, "Load", AggregationType.MAX, "load", bucket_size=WindowSize.HOUR)
        subscribe(
            acme,
            load.meter,
            commitment_type="amount",
            commitment_amount=Decimal(10),
            commitment_overage_factor=Decimal(2),
            commitment_true_up_enabled=True,
            commitment_windowed=True,
        )
        ingest(
            api,
            event("2026-01-05T09:00:00Z", load=4),
            event("2026-01-05T09:30:00Z", load=6),
            event("2026-01-05T10:00:00Z", load=12),
            event("2026-01-06T09:00:00Z", load=10),
        )

        body = analytics(api, external_customer_id="acme-1", window_size="DAY", **JAN)

        # Then each hour is held to the commitment on its own:
        # 09h: max 6 → 10 (true-up 4); 10h: 12 → 10 + 2 x 2 = 14; Jan 6 09h: 10 → 10
        (item,) = body["items"]
        assert item["total_usage"] == "28"
        assert item["total_cost"] == "34"
        info = item["commitment_info"]
        assert (info["is_windowed"], info["computed_commitment_utilized_amount"]) == (True, "26")
        assert (info["computed_overage_amount"], info["computed_true_up_amount"]) == ("4", "4")
        assert [
            (
                point["usage"],
                point["cost"],
                point["computed_commitment_utilized_amount"],
                point["computed_overage_amount"],
                point["computed_true_up_amount"],
            )
            for point in item["points"]
        ] == [("18", "24", "16", "4", "4"), ("10", "10", "10", "0", "0")]

    def test_points_are_priced_on_their_own(self, api: KeyedClient) -> None:
        # Volume tiers [≤ 10: $1, above: $0.5] on a COUNT meter: 12 events on day 1, 3 on day 2
        acme = customer(api)
        calls = feature(api)
        tiers = [Tier(up_to=Decimal(10), unit_amount=Decimal(1)), Tier(None, Decimal("0.5"))]
        subscribe(acme, calls.meter, tiers=tiers)
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z") for _ in range(12)],
            *[event("2026-01-06T10:00:00Z") for _ in range(3)],
        )

        (item,) = analytics(api, external_customer_id="acme-1", window_size="DAY", **JAN)["items"]

        # The total is priced as a whole (15 x 0.5); each day on its own (12 x 0.5, 3 x 1)
        assert (item["total_usage"], item["total_cost"]) == ("15", "7.5")
        assert costs(item) == ["6", "3"]

    def test_groups_share_what_the_line_item_bills(self, api: KeyedClient) -> None:
        # Given volume tiers [<= 10: $1, above: $0.5] and a $10 commitment with true-up and
        # overage x 2; 6 calls from eu and 3 from us
        acme = customer(api)
        calls = feature(api)
        tiers = [Tier(up_to=Decimal(10), unit_amount=Decimal(1)), Tier(None, Decimal("0.5"))]
        subscribe(
            acme,
            calls.meter,
            tiers=tiers,
            commitment_type="amount",
            commitment_amount=Decimal(10),
            commitment_overage_factor=Decimal(2),
            commitment_true_up_enabled=True,
        )
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z", region="eu") for _ in range(6)],
            *[event("2026-01-06T10:00:00Z", region="us") for _ in range(3)],
        )

        whole = analytics(api, external_customer_id="acme-1", **JAN)
        grouped = analytics(
            api,
            external_customer_id="acme-1",
            group_by=["properties.region"],
            window_size="DAY",
            **JAN,
        )

        # Then the line item bills 9 calls once: $9 used, trued up to $10
        assert (whole["total_cost"], grouped["total_cost"]) == ("10", "10")
        # And each region gets its share by usage, 6/9 and 3/9, split the same way
        eu, us = grouped["items"]
        assert (eu["total_usage"], eu["total_cost"], us["total_usage"], us["total_cost"]) == (
            "6",
            "6.67",
            "3",
            "3.33",
        )
        assert [
            (
                item["commitment_info"]["computed_commitment_utilized_amount"],
                item["commitment_info"]["computed_overage_amount"],
                item["commitment_info"]["computed_true_up_amount"],
            )
            for item in (eu, us)
        ] == [("6", "0", "0.67"), ("3", "0", "0.33")]
        # While each point is priced on its own
        assert (costs(eu), costs(us)) == (["6"], ["3"])

    def test_a_line_item_counts_only_usage_from_its_start(self, api: KeyedClient) -> None:
        # Given a line item that starts on Jan 10, and usage before and after
        acme = customer(api)
        calls = feature(api)
        line_item = subscribe(acme, calls.meter, amount="2", start="2026-01-10T00:00:00Z")
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z") for _ in range(2)],
            *[event("2026-01-11T10:00:00Z") for _ in range(3)],
        )

        body = analytics(api, external_customer_id="acme-1", window_size="DAY", **JAN)

        # Then the line item prices the 3 events of its dates; the 2 before are shown unpriced
        unpriced, priced = body["items"]
        assert (priced["sub_line_item_id"], priced["total_usage"], priced["total_cost"]) == (
            line_item.pk,
            "3",
            "6",
        )
        assert points(priced) == [("2026-01-11T00:00:00Z", "3", 3)]
        assert (unpriced["sub_line_item_id"], unpriced["total_usage"], unpriced["total_cost"]) == (
            None,
            "2",
            "0",
        )
        assert points(unpriced) == [("2026-01-05T00:00:00Z", "2", 2)]
        assert body["total_cost"] == "6"

    def test_a_price_change_mid_range_prices_each_part_with_its_line_item(
        self, api: KeyedClient
    ) -> None:
        acme = customer(api)
        calls = feature(api)
        old = subscribe(acme, calls.meter, amount="1", end="2026-01-10T00:00:00Z")
        new = subscribe(acme, calls.meter, amount="3", start="2026-01-10T00:00:00Z")
        ingest(
            api,
            *[event("2026-01-09T23:59:59Z") for _ in range(4)],
            *[event("2026-01-10T00:00:00Z") for _ in range(2)],
        )

        body = analytics(api, external_customer_id="acme-1", **JAN)

        assert [
            (item["sub_line_item_id"], item["total_usage"], item["total_cost"])
            for item in body["items"]
        ] == [(old.pk, "4", "4"), (new.pk, "2", "6")]
        assert body["total_cost"] == "10"

    def test_a_feature_without_a_line_item_shows_usage_at_no_cost(self, api: KeyedClient) -> None:
        acme = customer(api)
        calls = feature(api, "API calls")
        feature(api, "Exports", event_name="export")
        subscribe(acme, calls.meter, amount="0.5")
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z") for _ in range(4)],
            event("2026-01-05T10:00:00Z", name="export"),
        )

        body = analytics(api, external_customer_id="acme-1", **JAN)

        assert [
            (item["name"], item["total_usage"], item["total_cost"], item["price_id"] is None)
            for item in body["items"]
        ] == [("API calls", "4", "2", False), ("Exports", "1", "0", True)]
        assert (body["total_cost"], body["currency"]) == ("2", "usd")

    def test_tenant_wide_usage_is_priced_per_customer_and_summed(self, api: KeyedClient) -> None:
        # Given volume tiers [≤ 10: $1, above: $0.5]; A uses 8, B 12, C (no subscription) 5
        calls = feature(api)
        tiers = [Tier(up_to=Decimal(10), unit_amount=Decimal(1)), Tier(None, Decimal("0.5"))]
        line_a = subscribe(customer(api, "a"), calls.meter, tiers=tiers)
        subscribe(customer(api, "b"), calls.meter, tiers=tiers, price=line_a.price)
        customer(api, "c")
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z", customer="a") for _ in range(8)],
            *[event("2026-01-06T10:00:00Z", customer="b") for _ in range(12)],
            *[event("2026-01-06T10:00:00Z", customer="c") for _ in range(5)],
        )

        body = analytics(api, window_size="DAY", **JAN)

        # Then the usage is everyone's, and the cost each customer's tiers summed: 8 + 6
        (item,) = body["items"]
        assert (item["total_usage"], item["event_count"], item["total_cost"]) == ("25", 25, "14")
        assert points(item) == [
            ("2026-01-05T00:00:00Z", "8", 8),
            ("2026-01-06T00:00:00Z", "17", 17),
        ]
        assert costs(item) == ["8", "6"]
        # One price behind it all, but two subscriptions
        assert (item["price_id"], item["subscription_id"], item["sub_line_item_id"]) == (
            line_a.price_id,
            None,
            None,
        )
        assert (body["total_cost"], body["currency"]) == ("14", "usd")

    def test_several_customers_grouped_by_customer(self, api: KeyedClient) -> None:
        calls = feature(api)
        subscribe(customer(api, "a"), calls.meter, amount="1")
        subscribe(customer(api, "b"), calls.meter, amount="2")
        customer(api, "c")
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z", customer="a") for _ in range(3)],
            *[event("2026-01-06T10:00:00Z", customer="b") for _ in range(2)],
            event("2026-01-06T10:00:00Z", customer="c"),
        )

        body = analytics(
            api, external_customer_ids=["a", "b"], group_by=["external_customer_id"], **JAN
        )

        assert [
            (item["external_customer_id"], item["total_usage"], item["total_cost"])
            for item in body["items"]
        ] == [("a", "3", "3"), ("b", "2", "4")]
        assert body["total_cost"] == "7"

    def test_currencies_must_not_mix(self, api: KeyedClient) -> None:
        calls = feature(api)
        subscribe(customer(api, "a"), calls.meter, amount="1", currency="usd")
        subscribe(customer(api, "b"), calls.meter, amount="2", currency="eur")
        ingest(
            api,
            event("2026-01-05T10:00:00Z", customer="a"),
            event("2026-01-05T10:00:00Z", customer="b"),
        )

        refused = api.client.post(ANALYTICS, JAN, format="json")
        body = analytics(api, currency="eur", **JAN)

        error = assert_error(refused, status=400, code="invalid_operation")
        assert "currency" in error["details"]
        (item,) = body["items"]
        assert (item["total_usage"], item["total_cost"], body["currency"]) == ("2", "2", "eur")

    def test_total_usage_display_uses_the_reporting_unit(self, api: KeyedClient) -> None:
        tokens = feature(api, "Tokens", AggregationType.SUM, "tokens")
        Feature.objects.filter(pk=tokens.pk).update(
            reporting_unit_singular="k tokens",
            reporting_unit_plural="k tokens",
            reporting_unit_conversion_rate=Decimal("0.001"),
        )
        ingest(api, event("2026-01-05T10:00:00Z", tokens=12345))

        (item,) = analytics(api, **JAN)["items"]

        assert (item["total_usage"], item["total_usage_display"]) == ("12345", "12.35")
        assert item["reporting_unit"] == {
            "unit_singular": "k tokens",
            "unit_plural": "k tokens",
            "conversion_rate": "0.001",
        }


# --- windows in time zones -----------------------------------------------------------------------


class TestWindows:
    def test_days_of_a_new_york_customer_across_the_dst_change(self, api: KeyedClient) -> None:
        # Given a New York customer; clocks go forward on Sunday 8 March 2026 at 2:00
        customer(api, timezone="America/New_York")
        feature(api)
        ingest(
            api,
            event("2026-03-08T04:30:00Z"),  # Sat 7 March, 23:30 EST
            event("2026-03-08T16:00:00Z"),  # Sun 8 March, 12:00 EDT
            event("2026-03-09T04:30:00Z"),  # Mon 9 March, 00:30 EDT
        )
        march = {"start_time": "2026-03-01T00:00:00Z", "end_time": "2026-03-15T00:00:00Z"}

        (local,) = analytics(api, external_customer_id="acme-1", window_size="DAY", **march)[
            "items"
        ]
        (utc,) = analytics(
            api, external_customer_id="acme-1", window_size="DAY", time_zone="UTC", **march
        )["items"]

        # Then its days start at local midnight: 05:00Z before the change, 04:00Z after it
        assert points(local) == [
            ("2026-03-07T05:00:00Z", "1", 1),
            ("2026-03-08T05:00:00Z", "1", 1),
            ("2026-03-09T04:00:00Z", "1", 1),
        ]
        # And the request's time_zone wins over the customer's
        assert points(utc) == [
            ("2026-03-08T00:00:00Z", "2", 2),
            ("2026-03-09T00:00:00Z", "1", 1),
        ]

    def test_weeks_start_on_monday(self, api: KeyedClient) -> None:
        feature(api)
        ingest(
            api,
            event("2026-01-04T12:00:00Z"),  # Sunday
            event("2026-01-05T00:00:00Z"),  # Monday
            event("2026-01-11T23:59:59Z"),  # Sunday
            event("2026-01-12T00:00:00Z"),  # Monday
        )

        (item,) = analytics(api, window_size="WEEK", **JAN)["items"]

        assert points(item) == [
            ("2025-12-29T00:00:00Z", "1", 1),
            ("2026-01-05T00:00:00Z", "2", 2),
            ("2026-01-12T00:00:00Z", "1", 1),
        ]

    def test_months_from_a_billing_anchor_on_the_31st(self, api: KeyedClient) -> None:
        # Given a subscription anchored on 31 January: its months start on the 31st, or on the
        # last day of shorter months
        acme = customer(api)
        calls = feature(api)
        subscribe(acme, calls.meter, anchor="2026-01-31T00:00:00Z")
        ingest(
            api,
            event("2026-02-15T00:00:00Z"),
            event("2026-02-28T10:00:00Z"),
            event("2026-03-30T00:00:00Z"),
            event("2026-03-31T01:00:00Z"),
        )
        body = {"start_time": "2026-01-15T00:00:00Z", "end_time": "2026-04-01T00:00:00Z"}

        (item,) = analytics(api, external_customer_id="acme-1", window_size="MONTH", **body)[
            "items"
        ]

        assert points(item) == [
            ("2026-01-31T00:00:00Z", "1", 1),
            ("2026-02-28T00:00:00Z", "2", 2),
            ("2026-03-31T00:00:00Z", "1", 1),
        ]
        assert costs(item) == ["1", "2", "1"]

    def test_tenant_wide_months_are_calendar_months(self, api: KeyedClient) -> None:
        feature(api)
        ingest(api, event("2026-01-31T10:00:00Z"), event("2026-02-01T10:00:00Z"))
        body = {"start_time": "2026-01-15T00:00:00Z", "end_time": "2026-03-01T00:00:00Z"}

        (item,) = analytics(api, window_size="MONTH", **body)["items"]

        assert points(item) == [
            ("2026-01-01T00:00:00Z", "1", 1),
            ("2026-02-01T00:00:00Z", "1", 1),
        ]

    @pytest.mark.parametrize(
        ("window_size", "expected"),
        [
            ("MINUTE", ["2026-01-05T09:07:00Z", "2026-01-05T09:52:00Z", "2026-01-05T15:10:00Z"]),
            ("15MIN", ["2026-01-05T09:00:00Z", "2026-01-05T09:45:00Z", "2026-01-05T15:00:00Z"]),
            ("30MIN", ["2026-01-05T09:00:00Z", "2026-01-05T09:30:00Z", "2026-01-05T15:00:00Z"]),
            ("HOUR", ["2026-01-05T09:00:00Z", "2026-01-05T15:00:00Z"]),
            ("3HOUR", ["2026-01-05T09:00:00Z", "2026-01-05T15:00:00Z"]),
            ("6HOUR", ["2026-01-05T06:00:00Z", "2026-01-05T12:00:00Z"]),
            ("12HOUR", ["2026-01-05T00:00:00Z", "2026-01-05T12:00:00Z"]),
            ("DAY", ["2026-01-05T00:00:00Z"]),
            ("WEEK", ["2026-01-05T00:00:00Z"]),
            ("MONTH", ["2026-01-01T00:00:00Z"]),
        ],
    )
    def test_every_window_size(
        self, api: KeyedClient, window_size: str, expected: list[str]
    ) -> None:
        feature(api)
        ingest(
            api,
            event("2026-01-05T09:07:00Z"),
            event("2026-01-05T09:52:00Z"),
            event("2026-01-05T15:10:00Z"),
        )

        (item,) = analytics(api, window_size=window_size, **JAN)["items"]

        assert [point["timestamp"] for point in item["points"]] == expected
        assert sum(point["event_count"] for point in item["points"]) == 3
        assert item["window_size"] == window_size


# --- scope and filters ---------------------------------------------------------------------------


class TestScope:
    def test_include_children_folds_their_usage_into_the_parent(self, api: KeyedClient) -> None:
        # Given a parent on $2 per call, its child and grandchild (with a plan of its own)
        parent = customer(api, "parent")
        child = customer(api, "child", parent=parent)
        grandchild = customer(api, "grandchild", parent=child)
        calls = feature(api)
        subscribe(parent, calls.meter, amount="2")
        subscribe(grandchild, calls.meter, amount="100")
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z", customer="parent") for _ in range(2)],
            *[event("2026-01-05T10:00:00Z", customer="child") for _ in range(3)],
            event("2026-01-05T10:00:00Z", customer="grandchild"),
        )

        (alone,) = analytics(api, external_customer_id="parent", **JAN)["items"]
        (family,) = analytics(api, external_customer_id="parent", include_children=True, **JAN)[
            "items"
        ]

        assert (alone["total_usage"], alone["total_cost"]) == ("2", "4")
        # The parent pays for the family's usage at its own price
        assert (family["total_usage"], family["total_cost"]) == ("6", "12")

    def test_several_families_are_each_priced_with_their_parent(self, api: KeyedClient) -> None:
        calls = feature(api)
        for family, amount in (("a", "1"), ("b", "3")):
            parent = customer(api, family)
            customer(api, f"{family}-child", parent=parent)
            subscribe(parent, calls.meter, amount=amount)
        ingest(
            api,
            event("2026-01-05T10:00:00Z", customer="a"),
            *[event("2026-01-05T10:00:00Z", customer="a-child") for _ in range(2)],
            event("2026-01-06T10:00:00Z", customer="b-child"),
        )

        body = analytics(
            api,
            external_customer_ids=["a", "b"],
            include_children=True,
            group_by=["external_customer_id"],
            **JAN,
        )

        # The children's usage is shown as theirs, and priced at their parent's price
        assert [
            (item["external_customer_id"], item["total_usage"], item["total_cost"])
            for item in body["items"]
        ] == [("a", "1", "1"), ("a-child", "2", "2"), ("b-child", "1", "3")]
        assert body["total_cost"] == "6"

    def test_a_child_named_next_to_its_parent_is_not_counted_twice(self, api: KeyedClient) -> None:
        parent = customer(api, "parent")
        customer(api, "child", parent=parent)
        calls = feature(api)
        subscribe(parent, calls.meter, amount="2")
        ingest(
            api,
            event("2026-01-05T10:00:00Z", customer="parent"),
            event("2026-01-05T10:00:00Z", customer="child"),
        )

        (item,) = analytics(
            api, external_customer_ids=["child", "parent"], include_children=True, **JAN
        )["items"]

        assert (item["total_usage"], item["total_cost"]) == ("2", "4")

    def test_property_filters_match_numbers_by_their_canonical_form(self, api: KeyedClient) -> None:
        feature(api, "Big prompts", AggregationType.SUM, "tokens")
        ingest(
            api,
            event("2026-01-05T10:00:00Z", tokens=100, model="gpt-4o"),
            event("2026-01-05T10:00:00Z", tokens="100", model="o3"),
            event("2026-01-05T10:00:00Z", tokens=250, model="gpt-4o"),
            event("2026-01-05T10:00:00Z", tokens=100.0, model="gpt-4o"),
        )

        (as_text,) = analytics(api, property_filters={"tokens": ["100"]}, **JAN)["items"]
        (as_number,) = analytics(api, property_filters={"tokens": [100]}, **JAN)["items"]
        (both,) = analytics(
            api, property_filters={"tokens": ["100", "250"], "model": ["gpt-4o"]}, **JAN
        )["items"]

        assert (as_text["total_usage"], as_text["event_count"]) == ("300", 3)
        assert (as_number["total_usage"], as_number["event_count"]) == ("300", 3)
        assert (both["total_usage"], both["event_count"]) == ("450", 3)

    def test_sources_filter_and_are_listed(self, api: KeyedClient) -> None:
        feature(api)
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z", source="api") for _ in range(2)],
            event("2026-01-05T10:00:00Z", source="web"),
            event("2026-01-05T10:00:00Z", source="batch"),
        )

        (everything,) = analytics(api, **JAN)["items"]
        (filtered,) = analytics(api, sources=["web", "batch"], **JAN)["items"]
        by_source = analytics(api, group_by=["source"], **JAN)["items"]

        assert (everything["total_usage"], everything["sources"]) == ("4", ["api", "batch", "web"])
        assert (filtered["total_usage"], filtered["sources"]) == ("2", ["batch", "web"])
        assert [(item["source"], item["sources"], item["total_usage"]) for item in by_source] == [
            ("api", ["api"], "2"),
            ("batch", ["batch"], "1"),
            ("web", ["web"], "1"),
        ]

    def test_feature_ids_select_features(self, api: KeyedClient) -> None:
        calls = feature(api, "API calls")
        feature(api, "Exports", event_name="export")
        ingest(api, event("2026-01-05T10:00:00Z"), event("2026-01-05T10:00:00Z", name="export"))

        everything = analytics(api, **JAN)["items"]
        selected = analytics(api, feature_ids=[calls.pk], **JAN)["items"]

        assert [item["name"] for item in everything] == ["API calls", "Exports"]
        assert [item["name"] for item in selected] == ["API calls"]

    def test_group_by_feature_id_changes_nothing(self, api: KeyedClient) -> None:
        feature(api)
        ingest(api, event("2026-01-05T10:00:00Z"))

        plain = analytics(api, **JAN)
        grouped = analytics(api, group_by=["feature_id"], **JAN)

        assert grouped == plain

    def test_another_tenants_usage_never_shows(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        feature(api)
        FeatureFactory(environment=other_api.environment, meter__event_name="api_request")
        ingest(other_api, event("2026-01-05T10:00:00Z"))

        body = analytics(api, **JAN)

        assert body == {"items": [], "total_cost": "0", "currency": ""}

    def test_the_default_range_is_the_last_7_days(self, api: KeyedClient) -> None:
        feature(api)
        ingest(
            api,
            event("2026-03-25T11:59:59Z"),  # 7 days and 1 second before now
            event("2026-03-25T12:00:00Z"),
            event("2026-04-01T11:59:59Z"),
        )

        (item,) = analytics(api)["items"]

        assert item["total_usage"] == "2"

    def test_an_unknown_customer_is_not_found(self, api: KeyedClient) -> None:
        feature(api)

        response = api.client.post(ANALYTICS, {"external_customer_id": "nobody"}, format="json")

        error = assert_error(response, status=404, code="not_found")
        assert error["details"] == {"external_customer_id": ["nobody"]}


# --- bad requests --------------------------------------------------------------------------------


class TestBadRequests:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"window_size": "FORTNIGHT"}, "window_size"),
            ({"window_size": 5}, "window_size"),
            ({"group_by": ["customer_id"]}, "group_by"),
            ({"group_by": ["properties.bad name"]}, "group_by"),
            ({"group_by": ["properties."]}, "group_by"),
            ({"group_by": "source"}, "group_by"),
            ({"expand": ["invoice"]}, "expand"),
            ({"expand": "price"}, "expand"),
            (
                {"start_time": "2026-01-10T00:00:00Z", "end_time": "2026-01-05T00:00:00Z"},
                "start_time",
            ),
            (
                {"start_time": "2026-01-10T00:00:00Z", "end_time": "2026-01-10T00:00:00Z"},
                "start_time",
            ),
            ({"start_time": "2026-01-10T00:00:00"}, "start_time"),
            ({"end_time": "yesterday"}, "end_time"),
            ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
            ({"time_zone": "../../etc/passwd"}, "time_zone"),
            ({"time_zone": 3}, "time_zone"),
            ({"property_filters": {"model": "gpt-4o"}}, "property_filters"),
            ({"property_filters": {"model": []}}, "property_filters"),
            ({"property_filters": {"bad key!": ["x"]}}, "property_filters"),
            ({"property_filters": {"model": [{"a": 1}]}}, "property_filters"),
            ({"sources": "api"}, "sources"),
            ({"external_customer_ids": "acme-1"}, "external_customer_ids"),
            ({"external_customer_id": 42}, "external_customer_id"),
            ({"include_children": "maybe"}, "include_children"),
            ({"include_children": True}, "include_children"),
            ({"feature_ids": ["feat_unknown"]}, "feature_ids"),
            ({"currency": "dollars"}, "currency"),
            ({"breakdown_bucket": True}, "breakdown_bucket"),
            (
                {
                    "window_size": "MINUTE",
                    "start_time": "2025-01-01T00:00:00Z",
                    "end_time": "2026-01-01T00:00:00Z",
                },
                "window_size",
            ),
        ],
    )
    def test_a_bad_field_is_a_400_naming_it(
        self, api: KeyedClient, body: dict[str, Any], field: str
    ) -> None:
        feature(api)

        response = api.client.post(ANALYTICS, body, format="json")

        error = assert_error(response, status=400)
        assert field in error["details"], error

    def test_a_body_that_is_not_an_object_is_a_400(self, api: KeyedClient) -> None:
        response = api.client.post(ANALYTICS, ["window_size"], format="json")

        assert_error(response, status=400)

    def test_malformed_json_is_a_400(self, api: KeyedClient) -> None:
        response = api.client.post(ANALYTICS, "{not json", content_type="application/json")

        assert_error(response, status=400)

    def test_a_csv_request_gets_its_error_as_json(self, api: KeyedClient) -> None:
        response = api.client.post(
            ANALYTICS, {"window_size": "FORTNIGHT"}, format="json", HTTP_ACCEPT="text/csv"
        )

        assert response["Content-Type"] == "application/json"
        assert_error(response, status=400)

    def test_without_a_key_it_is_a_401(self, api: KeyedClient) -> None:
        api.client.credentials()

        response = api.client.post(ANALYTICS, {}, format="json")

        assert_error(response, status=401, code="permission_denied")


# --- expand, CSV, schema, queries ----------------------------------------------------------------


def priced_fixture(api: KeyedClient) -> SubscriptionLineItem:
    """acme-1 on a $0.5 line item of API calls, with 3 calls on Jan 5 and 1 on Jan 6."""
    acme = customer(api)
    calls = feature(api)
    line_item = subscribe(acme, calls.meter, amount="0.5")
    ingest(
        api,
        *[event("2026-01-05T10:00:00Z", region="eu") for _ in range(3)],
        event("2026-01-06T10:00:00Z", region="us"),
    )
    return line_item


class TestOutput:
    def test_expand_embeds_the_objects(self, api: KeyedClient) -> None:
        line_item = priced_fixture(api)

        (item,) = analytics(
            api,
            external_customer_id="acme-1",
            expand=["price", "meter", "feature", "subscription_line_item", "plan", "addon"],
            **JAN,
        )["items"]

        assert (item["price"]["id"], item["price"]["amount"]) == (line_item.price_id, "0.5")
        assert "meter" not in item["price"]
        assert (item["meter"]["id"], item["meter"]["aggregation"]["type"]) == (
            line_item.meter_id,
            "COUNT",
        )
        assert (item["feature"]["name"], item["feature"]["meter_id"]) == (
            "API calls",
            line_item.meter_id,
        )
        assert (
            item["subscription_line_item"]["id"],
            item["subscription_line_item"]["customer_id"],
        ) == (
            line_item.pk,
            line_item.subscription.customer_id,
        )
        assert item["plan"]["id"] == line_item.subscription.plan_id

    def test_without_expand_there_are_no_objects(self, api: KeyedClient) -> None:
        priced_fixture(api)

        (item,) = analytics(api, external_customer_id="acme-1", **JAN)["items"]

        assert {"price", "meter", "feature", "subscription_line_item", "plan"} & set(item) == set()

    @pytest.mark.parametrize("how", [{"HTTP_ACCEPT": "text/csv"}, {"QUERY_STRING": "format=csv"}])
    def test_points_as_csv(self, api: KeyedClient, how: dict[str, str]) -> None:
        line_item = priced_fixture(api)
        body = {
            "external_customer_id": "acme-1",
            "window_size": "DAY",
            "group_by": ["properties.region"],
            **JAN,
        }

        response = api.client.post(ANALYTICS, body, format="json", **how)

        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="usage-analytics.csv"'
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        lead = [line_item.meter.features.get().pk, "API calls", line_item.meter_id]
        ids = [line_item.price_id, line_item.pk]
        assert rows == [
            [
                "feature_id",
                "name",
                "meter_id",
                "properties.region",
                "price_id",
                "sub_line_item_id",
                "timestamp",
                "usage",
                "cost",
                "event_count",
                "currency",
            ],
            [*lead, "eu", *ids, "2026-01-05T00:00:00Z", "3", "1.5", "3", "usd"],
            [*lead, "us", *ids, "2026-01-06T00:00:00Z", "1", "0.5", "1", "usd"],
        ]

    def test_csv_without_windows_has_a_row_per_item(self, api: KeyedClient) -> None:
        priced_fixture(api)

        response = api.client.post(
            ANALYTICS,
            {"external_customer_id": "acme-1", **JAN},
            format="json",
            HTTP_ACCEPT="text/csv",
        )

        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert [row[-5:] for row in rows[1:]] == [["2026-01-01T00:00:00Z", "4", "2", "4", "usd"]]

    def test_csv_cells_are_never_formulas(self, api: KeyedClient) -> None:
        feature(api, "=HYPERLINK(1)")
        ingest(api, event("2026-01-05T10:00:00Z", region="@evil"))

        response = api.client.post(
            ANALYTICS,
            {"group_by": ["properties.region"], **JAN},
            format="json",
            HTTP_ACCEPT="text/csv",
        )

        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert (rows[1][1], rows[1][3]) == ("'=HYPERLINK(1)", "'@evil")

    def test_the_response_matches_its_openapi_schema(self, api: KeyedClient) -> None:
        priced_fixture(api)
        schema = api.client.get("/v1/openapi.json").json()["components"]["schemas"]

        body = analytics(
            api,
            external_customer_id="acme-1",
            window_size="DAY",
            expand=["price", "meter", "feature", "subscription_line_item", "plan"],
            **JAN,
        )

        (item,) = body["items"]
        assert set(body) == set(schema["GetUsageAnalyticsResponse"]["properties"])
        item_schema = schema["UsageAnalyticItem"]
        assert set(item) == set(item_schema["properties"])
        assert set(item_schema["required"]) <= set(item)
        assert set(item["points"][0]) <= set(schema["UsageAnalyticPoint"]["properties"])
        assert set(schema["UsageAnalyticPoint"]["required"]) <= set(item["points"][0])
        request_fields = set(schema["GetUsageAnalyticsRequest"]["properties"])
        seed_request_fields = {
            "end_time",
            "expand",
            "external_customer_id",
            "feature_ids",
            "group_by",
            "include_children",
            "property_filters",
            "sources",
            "start_time",
            "window_size",
        }
        assert seed_request_fields <= request_fields

    @pytest.mark.parametrize("customers", [1, 6])
    def test_tenant_wide_queries_do_not_grow_with_customers(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries, customers: int
    ) -> None:
        calls = feature(api)
        feature(api, "Exports", event_name="export")
        first = subscribe(customer(api, "c0"), calls.meter)
        for number in range(1, customers):
            subscribe(customer(api, f"c{number}"), calls.meter, price=first.price)
        ingest(
            api,
            *[event("2026-01-05T10:00:00Z", customer=f"c{number}") for number in range(customers)],
        )
        body = {"window_size": "DAY", "expand": ["price", "plan"], **JAN}

        # key, features, line items, their prices, tiers, subscriptions, customers, plans,
        # priced usage (1 meter), everyone's usage with its sources (2 meters)
        with django_assert_num_queries(11):
            response = api.client.post(ANALYTICS, body, format="json")

        (item,) = response.json()["items"]
        assert (item["total_usage"], item["total_cost"]) == (str(customers), str(customers))

    def test_one_customers_queries(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries
    ) -> None:
        priced_fixture(api)
        feature(api, "Exports", event_name="export")
        body = {
            "external_customer_id": "acme-1",
            "window_size": "DAY",
            "expand": ["price", "meter", "feature", "subscription_line_item", "plan"],
            **JAN,
        }

        # key, features, customer, line items, their prices, tiers, subscriptions, plans, priced
        # usage with its sources, the usage of the meter without a line item
        with django_assert_num_queries(10):
            response = api.client.post(ANALYTICS, body, format="json")

        assert [item["total_usage"] for item in response.json()["items"]] == ["4"]
