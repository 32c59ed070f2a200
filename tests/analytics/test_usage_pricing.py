"""Pricing usage series with a line item (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from analytics.metering import Bucket, UsagePoint, UsageSeries
from analytics.usage.pricing import (
    allocate,
    allocate_split,
    price_usage,
    priceable,
    round_split,
    sum_results,
)
from costsheets.pricing import Commitment, CommitmentResult, PriceTerms, Tier

D = Decimal
DAY_ONE = datetime(2026, 1, 5, tzinfo=UTC)
DAY_TWO = datetime(2026, 1, 6, tzinfo=UTC)
FLAT = PriceTerms(billing_model="FLAT_FEE", currency="usd", amount=D(1))
SLAB = PriceTerms(
    billing_model="TIERED",
    currency="usd",
    tier_mode="SLAB",
    tiers=(Tier(D(10), D("0.10")), Tier(D(20), D("0.05")), Tier(None, D("0.02"))),
)
VOLUME = PriceTerms(
    billing_model="TIERED",
    currency="usd",
    tier_mode="VOLUME",
    tiers=(Tier(D(10), D("0.10")), Tier(D(20), D("0.05")), Tier(None, D("0.02"))),
)


def hour(day: datetime, at: int) -> datetime:
    return day.replace(hour=at)


def bucketed_series(*buckets: tuple[datetime, str]) -> UsageSeries:
    """A bucketed series with one DAY point per day holding that day's buckets."""
    pieces = [Bucket(start=start, group_value=None, value=D(value)) for start, value in buckets]
    days = sorted({piece.start.replace(hour=0) for piece in pieces})
    points = tuple(
        UsagePoint(
            timestamp=day,
            value=sum(
                (piece.value for piece in pieces if piece.start.replace(hour=0) == day), D(0)
            ),
            event_count=1,
            buckets=tuple(piece for piece in pieces if piece.start.replace(hour=0) == day),
        )
        for day in days
    )
    return UsageSeries(
        meter_id="meter_1",
        group={},
        total=sum((piece.value for piece in pieces), D(0)),
        event_count=len(pieces),
        points=points,
        buckets=tuple(pieces),
    )


class TestPriceUsage:
    def test_spec_bucketed_tiers_apply_per_bucket(self) -> None:
        # SPEC §4: buckets [9, 15] under SLAB → 2.15, under VOLUME → 1.65
        series = bucketed_series((hour(DAY_ONE, 9), "9"), (hour(DAY_ONE, 10), "15"))

        assert price_usage(series, terms=SLAB, bucketed=True).total_cost == D("2.15")
        assert price_usage(series, terms=VOLUME, bucketed=True).total_cost == D("1.65")

    def test_an_ordinary_meter_prices_the_whole_total_and_each_point_alone(self) -> None:
        series = UsageSeries(
            meter_id="meter_1",
            group={},
            total=D(24),
            event_count=24,
            points=(
                UsagePoint(timestamp=DAY_ONE, value=D(9), event_count=9),
                UsagePoint(timestamp=DAY_TWO, value=D(15), event_count=15),
            ),
        )

        priced = price_usage(series, terms=SLAB, bucketed=False)

        # 10 x 0.10 + 10 x 0.05 + 4 x 0.02; points 9 x 0.10 and 10 x 0.10 + 5 x 0.05
        assert priced.total_cost == D("1.58")
        assert list(priced.point_costs) == [D("0.90"), D("1.25")]
        assert priced.commitment is None

    def test_the_spec_commitment_example(self) -> None:
        series = UsageSeries(meter_id="meter_1", group={}, total=D(15), event_count=15)
        commitment = Commitment(
            commitment_type="amount",
            amount=D(10),
            overage_factor=D("1.5"),
            true_up_enabled=True,
        )

        priced = price_usage(series, terms=FLAT, bucketed=False, commitment=commitment)

        assert priced.total_cost == D("17.5")
        assert priced.commitment == CommitmentResult(
            charge=D("17.50"),
            usage_charge=D("15.00"),
            commitment=D("10.00"),
            utilized=D("10.00"),
            overage=D("7.50"),
            true_up=D("0.00"),
        )

    def test_a_windowed_commitment_applies_per_bucket_window(self) -> None:
        series = bucketed_series(
            (hour(DAY_ONE, 9), "6"), (hour(DAY_ONE, 10), "12"), (hour(DAY_TWO, 9), "10")
        )
        commitment = Commitment(
            commitment_type="amount", amount=D(10), overage_factor=D(2), true_up_enabled=True
        )

        windowed = price_usage(
            series, terms=FLAT, bucketed=True, commitment=commitment, windowed=True
        )
        once = price_usage(series, terms=FLAT, bucketed=True, commitment=commitment)

        # 6 → 10 (true-up 4), 12 → 10 + 2 x 2, 10 → 10; once: 10 + 18 x 2
        assert windowed.total_cost == D(34)
        assert [
            (cost, split.true_up)
            for cost, split in zip(windowed.point_costs, windowed.point_commitments, strict=True)
        ] == [
            (D(24), D(4)),
            (D(10), D(0)),
        ]
        assert once.total_cost == D(46)
        assert list(once.point_splits()) == [None, None]

    def test_no_value_and_negative_totals_cost_nothing(self) -> None:
        assert priceable(None) == D(0)
        assert priceable(D(-3)) == D(0)
        series = UsageSeries(meter_id="meter_1", group={}, total=D(-3), event_count=1)
        assert price_usage(series, terms=FLAT, bucketed=False).total_cost == D(0)


class TestAllocation:
    @pytest.mark.parametrize(
        ("amount", "weights", "currency", "expected"),
        [
            (D("10"), [D(2), D(1)], "usd", [D("6.67"), D("3.33")]),
            (D("10"), [D(1), D(1), D(1)], "usd", [D("3.34"), D("3.33"), D("3.33")]),
            (D("0.01"), [D(1), D(1)], "usd", [D("0.01"), D("0.00")]),
            (D("100"), [D(1), D(2)], "jpy", [D(33), D(67)]),
            (D("5"), [D(0), D(0)], "usd", [D("2.50"), D("2.50")]),
            (D("0"), [D(3), D(1)], "usd", [D(0), D(0)]),
            (D("7"), [], "usd", []),
        ],
    )
    def test_shares_add_up_to_the_amount(
        self, amount: Decimal, weights: list[Decimal], currency: str, expected: list[Decimal]
    ) -> None:
        shares = allocate(amount, weights, currency)

        assert shares == expected
        assert sum(shares, D(0)) == (amount if weights else D(0))

    def test_a_split_keeps_charge_equal_to_its_parts(self) -> None:
        whole = CommitmentResult(
            charge=D("20"),
            usage_charge=D("15"),
            commitment=D("10"),
            utilized=D("10"),
            overage=D("10"),
            true_up=D("0"),
        )

        eu, us = allocate_split(whole, [D(22), D(8)], "usd")

        assert (eu.charge, eu.utilized, eu.overage, eu.true_up) == (
            D("14.67"),
            D("7.33"),
            D("7.34"),
            D("0"),
        )
        assert (us.charge, us.utilized, us.overage, us.true_up) == (
            D("5.33"),
            D("2.67"),
            D("2.66"),
            D("0"),
        )
        assert sum_results([eu, us]).charge == D(20)

    def test_round_split_keeps_both_overage_and_true_up_of_a_sum(self) -> None:
        summed = sum_results(
            [
                CommitmentResult(D(10), D(6), D(10), D(6), D(0), D(4)),
                CommitmentResult(D(14), D(12), D(10), D(10), D(4), D(0)),
            ]
        )

        rounded = round_split(summed, "usd")

        assert (rounded.charge, rounded.utilized, rounded.overage, rounded.true_up) == (
            D(24),
            D(16),
            D(4),
            D(4),
        )
