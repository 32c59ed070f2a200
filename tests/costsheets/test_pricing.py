"""Tests of the pure price math in costsheets.pricing (no database)."""

from __future__ import annotations

import dataclasses
from decimal import Context, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costsheets.pricing import (
    BillingModel,
    Commitment,
    CommitmentResult,
    CommitmentType,
    InvalidPriceTerms,
    MarginSummary,
    PriceTerms,
    RoundMode,
    Tier,
    TierCharge,
    TierMode,
    apply_commitment,
    bucketed_cost,
    commitment_errors,
    commitment_money,
    cost,
    cost_breakdown,
    cost_function,
    currency_precision,
    margin_summary,
    period_commitment,
    period_cost,
    price_terms_errors,
    ratio,
    round_commitment_result,
    round_money,
    rounded_cost_function,
    rounded_costs_function,
    windowed_commitment,
)

D = Decimal
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def plain(value: Decimal) -> str:
    """The wire form of SPEC §1: trailing zeros trimmed, never an exponent."""
    return format(value.normalize(), "f")


def tiered(mode: TierMode, *tiers: Tier, currency: str = "usd") -> PriceTerms:
    return PriceTerms(
        billing_model=BillingModel.TIERED, currency=currency, tier_mode=mode, tiers=tiers
    )


def flat_fee(amount: str, currency: str = "usd") -> PriceTerms:
    return PriceTerms(billing_model=BillingModel.FLAT_FEE, currency=currency, amount=D(amount))


def package(amount: str, divide_by: str, round_mode: RoundMode = RoundMode.up) -> PriceTerms:
    return PriceTerms(
        billing_model=BillingModel.PACKAGE,
        currency="usd",
        amount=D(amount),
        divide_by=D(divide_by),
        round_mode=round_mode,
    )


SPEC_TIERS = (Tier(D("10"), D("50")), Tier(D("20"), D("40")), Tier(None, D("30")))
SPEC_FLAT_TIERS = (
    Tier(D("5"), D("0"), D("1")),
    Tier(D("10"), D("1"), D("2")),
    Tier(None, D("2")),
)
SPEC_BUCKET_TIERS = (Tier(D("10"), D("0.10")), Tier(D("20"), D("0.05")), Tier(None, D("0.02")))


# --- SPEC §4 worked checks -----------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "expected"), [("5", "250"), ("15", "600"), ("25", "750")])
def test_spec_volume_worked_checks(quantity: str, expected: str) -> None:
    # given VOLUME tiers [≤10: 50, ≤20: 40, ∞: 30]
    terms = tiered(TierMode.VOLUME, *SPEC_TIERS)
    # when / then
    assert cost(terms, D(quantity)) == D(expected)


@pytest.mark.parametrize(("quantity", "expected"), [("5", "250"), ("15", "700"), ("25", "1050")])
def test_spec_slab_worked_checks(quantity: str, expected: str) -> None:
    # given SLAB tiers [≤10: 50, ≤20: 40, ∞: 30]
    terms = tiered(TierMode.SLAB, *SPEC_TIERS)
    # when / then
    assert cost(terms, D(quantity)) == D(expected)


@pytest.mark.parametrize(("quantity", "expected"), [("3", "1"), ("7", "5"), ("12", "12")])
def test_spec_slab_with_flat_amounts_worked_checks(quantity: str, expected: str) -> None:
    # given SLAB [≤5: 0/u + 1 flat, ≤10: 1/u + 2 flat, ∞: 2/u]
    terms = tiered(TierMode.SLAB, *SPEC_FLAT_TIERS)
    # when / then
    assert cost(terms, D(quantity)) == D(expected)


@pytest.mark.parametrize(("quantity", "expected"), [("0", "0"), ("99", "1"), ("101", "2")])
def test_spec_package_rounding_up_worked_checks(quantity: str, expected: str) -> None:
    # given $1 per package of 100, rounding up
    terms = package("1", "100", RoundMode.up)
    # when / then
    assert cost(terms, D(quantity)) == D(expected)


def test_spec_package_rounding_down_worked_check() -> None:
    # given $1 per package of 100, rounding down
    terms = package("1", "100", RoundMode.down)
    # when / then
    assert cost(terms, D("250")) == D("2")


@pytest.mark.parametrize(("mode", "expected"), [(TierMode.SLAB, "2.15"), (TierMode.VOLUME, "1.65")])
def test_spec_bucketed_worked_checks(mode: TierMode, expected: str) -> None:
    # given tiers [≤10: 0.10, ≤20: 0.05, ∞: 0.02] and two buckets of 9 and 15
    terms = tiered(mode, *SPEC_BUCKET_TIERS)
    # when
    total = bucketed_cost(terms, [D("9"), D("15")])
    # then the tiers restarted in each bucket
    assert total == D(expected)
    assert str(total) == expected


def test_spec_commitment_example() -> None:
    # given a COUNT meter priced at $1 and 15 events
    terms = flat_fee("1")
    commitment = Commitment(
        commitment_type=CommitmentType.amount,
        amount=D("10"),
        overage_factor=D("1.5"),
        true_up_enabled=True,
    )
    # when
    result = period_commitment(terms, [D("15")], commitment)
    # then
    assert result == CommitmentResult(
        charge=D("17.5"),
        usage_charge=D("15"),
        commitment=D("10"),
        utilized=D("10"),
        overage=D("7.5"),
        true_up=D("0"),
    )


# --- tiers: boundaries and edge cases ------------------------------------------------------------


@pytest.mark.parametrize("mode", [TierMode.VOLUME, TierMode.SLAB])
def test_up_to_is_inclusive(mode: TierMode) -> None:
    # given tiers [≤1000: 2/u, ∞: 1/u]
    terms = tiered(mode, Tier(D("1000"), D("2")), Tier(None, D("1")))
    # when q sits exactly on the boundary it stays in the first tier
    at_boundary = cost_breakdown(terms, D("1000"))
    # then
    assert [line.tier_index for line in at_boundary] == [0]
    assert cost(terms, D("1000")) == D("2000")


def test_volume_just_above_boundary_moves_every_unit_to_next_tier() -> None:
    # given tiers [≤1000: 2/u, ∞: 1/u]
    terms = tiered(TierMode.VOLUME, Tier(D("1000"), D("2")), Tier(None, D("1")))
    # when
    lines = cost_breakdown(terms, D("1000.5"))
    # then
    assert lines == (
        TierCharge(
            tier_index=1,
            from_quantity=D("1000"),
            up_to=None,
            units=D("1000.5"),
            unit_amount=D("1"),
            flat_amount=D("0"),
            amount=D("1000.5"),
        ),
    )


def test_slab_just_above_boundary_prices_the_half_unit_in_next_tier() -> None:
    # given tiers [≤1000: 2/u, ∞: 1/u]
    terms = tiered(TierMode.SLAB, Tier(D("1000"), D("2")), Tier(None, D("1")))
    # when
    lines = cost_breakdown(terms, D("1000.5"))
    # then
    assert [(line.tier_index, line.units, line.amount) for line in lines] == [
        (0, D("1000"), D("2000")),
        (1, D("0.5"), D("0.5")),
    ]
    assert cost(terms, D("1000.5")) == D("2000.5")


def test_slab_breakdown_of_spec_example_shows_each_tier_reached() -> None:
    # given SLAB [≤5: 0/u + 1 flat, ≤10: 1/u + 2 flat, ∞: 2/u]
    terms = tiered(TierMode.SLAB, *SPEC_FLAT_TIERS)
    # when
    lines = cost_breakdown(terms, D("7"))
    # then
    assert lines == (
        TierCharge(0, D("0"), D("5"), D("5"), D("0"), D("1"), D("1")),
        TierCharge(1, D("5"), D("10"), D("2"), D("1"), D("2"), D("4")),
    )


@pytest.mark.parametrize("mode", [TierMode.VOLUME, TierMode.SLAB])
def test_zero_quantity_costs_nothing_not_even_flat_amounts(mode: TierMode) -> None:
    # given a first tier with a flat amount
    terms = tiered(mode, Tier(D("10"), D("1"), D("5")), Tier(None, D("1"), D("7")))
    # when / then
    assert cost(terms, D("0")) == D("0")
    assert cost_breakdown(terms, D("0")) == ()
    assert period_cost(terms, D("0")) == D("0")


def test_volume_flat_amount_of_the_selected_tier_is_added_once() -> None:
    # given VOLUME [≤10: 1/u + 5 flat, ∞: 0.5/u + 7 flat]
    terms = tiered(TierMode.VOLUME, Tier(D("10"), D("1"), D("5")), Tier(None, D("0.5"), D("7")))
    # when / then
    assert cost(terms, D("4")) == D("9")
    assert cost(terms, D("12")) == D("13")


@pytest.mark.parametrize(("mode", "expected"), [(TierMode.SLAB, "40"), (TierMode.VOLUME, "50")])
def test_quantity_past_a_bounded_last_tier_is_priced_by_the_last_tier(
    mode: TierMode, expected: str
) -> None:
    # given tiers whose last tier still has an end: [≤10: 1/u, ≤20: 2/u]
    terms = tiered(mode, Tier(D("10"), D("1")), Tier(D("20"), D("2")))
    # when
    lines = cost_breakdown(terms, D("25"))
    # then the last tier takes everything above 10, and the breakdown says it is open-ended
    assert cost(terms, D("25")) == D(expected)
    assert lines[-1].tier_index == 1
    assert lines[-1].up_to is None


def test_single_open_tier_prices_every_unit() -> None:
    # given one open-ended tier at 0.001 per unit
    terms = tiered(TierMode.SLAB, Tier(None, D("0.001")))
    # when / then
    assert cost(terms, D("12345")) == D("12.345")
    assert period_cost(terms, D("12345")) == D("12.35")


def test_negative_quantity_is_rejected() -> None:
    with pytest.raises(ValueError, match="quantity cannot be negative"):
        cost(tiered(TierMode.SLAB, *SPEC_TIERS), D("-1"))


def test_float_quantity_is_rejected() -> None:
    with pytest.raises(TypeError, match="quantity must be a Decimal"):
        cost(flat_fee("1"), 1.5)  # type: ignore[arg-type]


def test_non_finite_quantity_is_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        cost(flat_fee("1"), D("Infinity"))


# --- flat fee and package ------------------------------------------------------------------------


def test_flat_fee_is_amount_times_quantity_unrounded() -> None:
    # given $0.25 per unit
    terms = flat_fee("0.25")
    # when
    lines = cost_breakdown(terms, D("7.5"))
    # then cost() keeps every digit, period_cost() rounds half up to cents
    assert lines == (TierCharge(0, D("0"), None, D("7.5"), D("0.25"), D("0"), D("1.875")),)
    assert cost(terms, D("7.5")) == D("1.875")
    assert period_cost(terms, D("7.5")) == D("1.88")


def test_package_breakdown_counts_packages() -> None:
    # given $3 per package of 100, rounding up
    terms = package("3", "100")
    # when
    lines = cost_breakdown(terms, D("250"))
    # then units are packages and unit_amount the package price
    assert lines == (TierCharge(0, D("0"), None, D("3"), D("3"), D("0"), D("9")),)


def test_package_with_fractional_size() -> None:
    # given $2 per package of 0.5, rounding up
    terms = package("2", "0.5")
    # when / then
    assert cost(terms, D("1.2")) == D("6")
    assert cost(terms, D("1.5")) == D("6")


def test_bucketed_cost_rounds_once_on_the_total() -> None:
    # given $0.001 per unit and two buckets of 4 units (0.004 each)
    terms = flat_fee("0.001")
    # when
    total = bucketed_cost(terms, [D("4"), D("4")])
    # then 0.008 rounds to 0.01; rounding each bucket first would have given 0.00
    assert total == D("0.01")


def test_bucketed_cost_of_no_buckets_is_zero_in_currency_precision() -> None:
    assert str(bucketed_cost(flat_fee("1", currency="kwd"), [])) == "0.000"


# --- currency precision and rounding -------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("usd", 2),
        ("eur", 2),
        ("jpy", 0),
        ("krw", 0),
        ("kwd", 3),
        ("bhd", 3),
        ("jod", 3),
        ("omr", 3),
        ("tnd", 3),
        ("clp", 0),
        ("vnd", 0),
        ("isk", 0),
        ("ugx", 0),
        ("JPY", 0),
        ("Kwd", 3),
        ("zzz", 2),
    ],
)
def test_currency_precision(currency: str, places: int) -> None:
    assert currency_precision(currency) == places


@pytest.mark.parametrize("currency", ["", "us", "dollar", "u$d", "1xx"])
def test_currency_precision_rejects_malformed_codes(currency: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        currency_precision(currency)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.675", "usd", "2.68"),
        ("2.674", "usd", "2.67"),
        ("-2.675", "usd", "-2.68"),
        ("0.005", "usd", "0.01"),
        ("-0.005", "usd", "-0.01"),
        ("2.5", "usd", "2.50"),
        ("2.5", "jpy", "3"),
        ("-2.5", "jpy", "-3"),
        ("1234.4999", "jpy", "1234"),
        ("1.2345", "kwd", "1.235"),
        ("-1.2345", "kwd", "-1.235"),
        ("1.2344", "KWD", "1.234"),
        ("-0.004", "usd", "0.00"),
        ("123456789012345678901234567890.125", "usd", "123456789012345678901234567890.13"),
    ],
)
def test_round_money_half_away_from_zero(amount: str, currency: str, expected: str) -> None:
    # when
    rounded = round_money(D(amount), currency)
    # then the string shows the exact digits, including the currency's decimal places
    assert str(rounded) == expected


def test_round_money_rejects_floats() -> None:
    with pytest.raises(TypeError):
        round_money(2.675, "usd")  # type: ignore[arg-type]


# --- ratio and margins ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        ("1", "3", "0.3333333333333333"),
        ("2", "3", "0.6666666666666667"),
        ("-2", "3", "-0.6666666666666667"),
        ("1", "4", "0.2500000000000000"),
        ("5E-17", "1", "1E-16"),
        ("-5E-17", "1", "-1E-16"),
        ("4.999999999999999999999999999999999999999999999999999999999E-17", "1", "0E-16"),
        ("7", "0", "0"),
        ("0", "0", "0"),
        ("1" + "0" * 40, "3", "3" * 40 + "." + "3" * 16),
    ],
)
def test_ratio_keeps_sixteen_places_half_away_from_zero(
    numerator: str, denominator: str, expected: str
) -> None:
    assert str(ratio(D(numerator), D(denominator))) == expected


def test_margin_summary_spec_example_with_revenue() -> None:
    # when
    summary = margin_summary(D("3"), D("1"))
    # then
    assert summary == MarginSummary(
        margin=D("2"),
        margin_percent=D("66.66666666666667"),
        roi=D("2"),
        roi_percent=D("200"),
    )
    assert [plain(value) for value in (summary.margin_percent, summary.roi_percent)] == [
        "66.66666666666667",
        "200",
    ]


def test_margin_summary_spec_example_without_revenue() -> None:
    # when
    summary = margin_summary(D("0"), D("5"))
    # then
    assert summary == MarginSummary(
        margin=D("-5"), margin_percent=D("0"), roi=D("-1"), roi_percent=D("-100")
    )
    assert [plain(value) for value in summary.__dict__.values()] == ["-5", "0", "-1", "-100"]


def test_margin_summary_without_cost_has_zero_roi() -> None:
    assert margin_summary(D("10"), D("0")) == MarginSummary(
        margin=D("10"), margin_percent=D("100"), roi=D("0"), roi_percent=D("0")
    )


def test_margin_summary_of_nothing_is_all_zero() -> None:
    assert margin_summary(D("0"), D("0")) == MarginSummary(D("0"), D("0"), D("0"), D("0"))


# --- validation ----------------------------------------------------------------------------------


def test_valid_terms_have_no_errors() -> None:
    assert price_terms_errors(tiered(TierMode.SLAB, *SPEC_FLAT_TIERS)) == {}
    assert price_terms_errors(package("1", "100")) == {}
    assert price_terms_errors(flat_fee("0")) == {}


def test_descending_tiers_are_explained() -> None:
    # given tier 2 ends below tier 1
    terms = tiered(TierMode.SLAB, Tier(D("20"), D("1")), Tier(D("10"), D("1")), Tier(None, D("1")))
    # when / then
    assert price_terms_errors(terms) == {
        "tiers[1].up_to": (
            "Tier 2 ends at 10, which is not above tier 1's end (20). "
            "Tiers must be in ascending order."
        )
    }


def test_equal_tier_ends_are_rejected_whatever_their_trailing_zeros() -> None:
    terms = tiered(
        TierMode.VOLUME, Tier(D("10.50"), D("1")), Tier(D("10.5"), D("1")), Tier(None, D("1"))
    )
    assert price_terms_errors(terms) == {
        "tiers[1].up_to": (
            "Tier 2 ends at 10.5, which is not above tier 1's end (10.5). "
            "Tiers must be in ascending order."
        )
    }


def test_open_ended_tier_must_be_last() -> None:
    terms = tiered(TierMode.SLAB, Tier(None, D("1")), Tier(D("10"), D("1")))
    assert price_terms_errors(terms) == {
        "tiers[0].up_to": (
            "Tier 1 has no upper limit, but only the last tier can be open-ended. "
            "Give it an end or move it to the bottom."
        )
    }


def test_tier_ending_at_zero_and_negative_amounts_are_explained() -> None:
    terms = tiered(TierMode.SLAB, Tier(D("0"), D("-1"), D("-0.50")), Tier(None, D("1")))
    assert price_terms_errors(terms) == {
        "tiers[0].up_to": "Tier 1 ends at 0; a tier must end above 0.",
        "tiers[0].unit_amount": "Tier 1's unit amount is -1; it cannot be negative.",
        "tiers[0].flat_amount": "Tier 1's flat amount is -0.5; it cannot be negative.",
    }


def test_tiered_price_needs_tiers_and_a_mode() -> None:
    terms = PriceTerms(billing_model=BillingModel.TIERED, currency="usd")
    assert price_terms_errors(terms) == {
        "tier_mode": (
            "Choose a tier mode for a tiered price: VOLUME (one tier prices every unit) "
            "or SLAB (each tier prices the units inside it)."
        ),
        "tiers": "A tiered price needs at least one tier.",
    }


@pytest.mark.parametrize(("divide_by", "shown"), [(None, "missing"), ("0", "0"), ("-5", "-5")])
def test_package_needs_a_positive_size(divide_by: str | None, shown: str) -> None:
    terms = PriceTerms(
        billing_model=BillingModel.PACKAGE,
        currency="usd",
        amount=D("1"),
        divide_by=None if divide_by is None else D(divide_by),
    )
    assert price_terms_errors(terms) == {
        "divide_by": f"A package price needs a package size (divide by) above 0; it is {shown}."
    }


def test_negative_amount_and_bad_currency_are_explained() -> None:
    terms = PriceTerms(billing_model=BillingModel.FLAT_FEE, currency="dollars", amount=D("-2.50"))
    assert price_terms_errors(terms) == {
        "currency": "“dollars” is not a currency code. Use a 3-letter ISO code such as usd.",
        "amount": "The amount is -2.5; it cannot be negative.",
    }


def test_pricing_invalid_terms_raises_with_the_messages() -> None:
    # given a package price without a size
    terms = PriceTerms(billing_model=BillingModel.PACKAGE, currency="usd", amount=D("1"))
    # when
    with pytest.raises(InvalidPriceTerms) as raised:
        cost(terms, D("1"))
    # then
    assert raised.value.errors == {
        "divide_by": "A package price needs a package size (divide by) above 0; it is missing."
    }


def test_terms_accept_wire_values_and_refuse_unknown_ones() -> None:
    # given the enum values as they arrive over the wire
    terms = PriceTerms(
        billing_model="TIERED",  # type: ignore[arg-type]
        currency="usd",
        tier_mode="SLAB",  # type: ignore[arg-type]
        tiers=[Tier(None, D("1"))],  # type: ignore[arg-type]
    )
    # then they become enum members
    assert (terms.billing_model, terms.tier_mode, terms.tiers) == (
        BillingModel.TIERED,
        TierMode.SLAB,
        (Tier(None, D("1")),),
    )
    with pytest.raises(ValueError, match="GRADUATED"):
        PriceTerms(billing_model="GRADUATED", currency="usd")  # type: ignore[arg-type]


def test_tier_refuses_float_amounts() -> None:
    with pytest.raises(TypeError, match="unit_amount"):
        Tier(None, 0.1)  # type: ignore[arg-type]


# --- commitments ---------------------------------------------------------------------------------


def amount_commitment(amount: str, factor: str = "1", true_up: bool = False) -> Commitment:
    return Commitment(
        commitment_type=CommitmentType.amount,
        amount=D(amount),
        overage_factor=D(factor),
        true_up_enabled=true_up,
    )


def test_under_commitment_with_true_up_charges_the_commitment() -> None:
    # given $10 committed, true-up on, and $6 of usage
    result = period_commitment(flat_fee("1"), [D("6")], amount_commitment("10", true_up=True))
    # then
    assert result == CommitmentResult(
        charge=D("10"),
        usage_charge=D("6"),
        commitment=D("10"),
        utilized=D("6"),
        overage=D("0"),
        true_up=D("4"),
    )


def test_under_commitment_without_true_up_charges_the_usage() -> None:
    result = period_commitment(flat_fee("1"), [D("6")], amount_commitment("10", "1.5"))
    assert result == CommitmentResult(
        charge=D("6"),
        usage_charge=D("6"),
        commitment=D("10"),
        utilized=D("6"),
        overage=D("0"),
        true_up=D("0"),
    )


def test_usage_exactly_at_commitment_has_no_overage_and_no_true_up() -> None:
    result = apply_commitment(D("10"), D("10"), overage_factor=D("2"), true_up_enabled=True)
    assert (result.charge, result.utilized, result.overage, result.true_up) == (
        D("10"),
        D("10"),
        D("0"),
        D("0"),
    )


def test_quantity_commitment_is_priced_with_the_price_itself() -> None:
    # given SLAB [≤10: 50, ≤20: 40, ∞: 30] and 15 units committed
    terms = tiered(TierMode.SLAB, *SPEC_TIERS)
    commitment = Commitment(
        commitment_type=CommitmentType.quantity,
        quantity=D("15"),
        overage_factor=D("1"),
        true_up_enabled=True,
    )
    # when / then 15 units cost 700
    assert commitment_money(terms, commitment) == D("700")
    assert period_commitment(terms, [D("25")], commitment) == CommitmentResult(
        charge=D("1050"),
        usage_charge=D("1050"),
        commitment=D("700"),
        utilized=D("700"),
        overage=D("350"),
        true_up=D("0"),
    )
    assert period_commitment(terms, [D("5")], commitment) == CommitmentResult(
        charge=D("700"),
        usage_charge=D("250"),
        commitment=D("700"),
        utilized=D("250"),
        overage=D("0"),
        true_up=D("450"),
    )


def test_non_windowed_commitment_on_buckets_sees_their_summed_cost() -> None:
    # given VOLUME bucket tiers (9 → 0.90, 15 → 0.75) and $2 committed with true-up
    terms = tiered(TierMode.VOLUME, *SPEC_BUCKET_TIERS)
    # when
    result = period_commitment(terms, [D("9"), D("15")], amount_commitment("2", true_up=True))
    # then
    assert (result.usage_charge, result.charge, result.true_up) == (D("1.65"), D("2"), D("0.35"))


def test_windowed_commitment_applies_to_each_window() -> None:
    # given $1 per unit, $10 committed per window, factor 1.5, true-up on
    terms = flat_fee("1")
    commitment = amount_commitment("10", "1.5", true_up=True)
    # when three windows use 4, 12 and 10 units
    windows, total = windowed_commitment(terms, [D("4"), D("12"), D("10")], commitment)
    # then each window is settled on its own
    assert windows == (
        CommitmentResult(D("10"), D("4"), D("10"), D("4"), D("0"), D("6")),
        CommitmentResult(D("13"), D("12"), D("10"), D("10"), D("3"), D("0")),
        CommitmentResult(D("10"), D("10"), D("10"), D("10"), D("0"), D("0")),
    )
    assert total == CommitmentResult(
        charge=D("33"),
        usage_charge=D("26"),
        commitment=D("30"),
        utilized=D("24"),
        overage=D("3"),
        true_up=D("6"),
    )
    # and differs from the same commitment applied once to the period (10 + 16 * 1.5)
    assert period_commitment(terms, [D("26")], commitment).charge == D("34")


def test_windowed_commitment_with_tiers_restarting_per_window() -> None:
    # given SLAB bucket tiers and a quantity commitment of 10 units (= $1) per window
    terms = tiered(TierMode.SLAB, *SPEC_BUCKET_TIERS)
    commitment = Commitment(
        commitment_type=CommitmentType.quantity, quantity=D("10"), true_up_enabled=True
    )
    # when
    windows, total = windowed_commitment(terms, [D("9"), D("15")], commitment)
    # then window 1 (0.90) is trued up to 1, window 2 (1.25) is over by 0.25
    assert [(w.charge, w.true_up, w.overage) for w in windows] == [
        (D("1"), D("0.1"), D("0")),
        (D("1.25"), D("0"), D("0.25")),
    ]
    assert total.charge == D("2.25")


def test_windowed_commitment_without_windows_charges_nothing() -> None:
    windows, total = windowed_commitment(flat_fee("1"), [], amount_commitment("10", true_up=True))
    assert windows == ()
    assert total == CommitmentResult(D("0"), D("0"), D("0"), D("0"), D("0"), D("0"))


def test_overage_factor_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="overage_factor must be at least 1"):
        apply_commitment(D("5"), D("1"), overage_factor=D("0.9"), true_up_enabled=False)


def test_commitment_errors_are_explained() -> None:
    assert commitment_errors(
        Commitment(commitment_type=CommitmentType.amount, overage_factor=D("0.5"))
    ) == {
        "amount": "An amount commitment needs the committed amount.",
        "overage_factor": (
            "The overage factor is 0.5; it must be at least 1 "
            "(1 charges usage above the commitment at the normal price)."
        ),
    }
    assert commitment_errors(
        Commitment(commitment_type=CommitmentType.quantity, quantity=D("-3"))
    ) == {"quantity": "The committed quantity is -3; it cannot be negative."}


def test_commitment_money_refuses_an_incomplete_commitment() -> None:
    with pytest.raises(ValueError, match="needs the committed quantity"):
        commitment_money(flat_fee("1"), Commitment(commitment_type=CommitmentType.quantity))


def test_rounded_commitment_keeps_the_identity_and_the_rounded_charge() -> None:
    # given usage 20.01 against 10.005 committed: utilized and overage both 10.005
    result = apply_commitment(D("20.01"), D("10.005"), overage_factor=D("1"), true_up_enabled=False)
    # when
    rounded = round_commitment_result(result, "usd")
    # then the charge is the rounded charge and the overage absorbs the half cent
    assert rounded == CommitmentResult(
        charge=D("20.01"),
        usage_charge=D("20.01"),
        commitment=D("10.01"),
        utilized=D("10.01"),
        overage=D("10.00"),
        true_up=D("0"),
    )


def test_rounded_true_up_takes_the_difference() -> None:
    # given usage 3.335 under a $10 commitment with true-up
    result = apply_commitment(D("3.335"), D("10"), overage_factor=D("1"), true_up_enabled=True)
    # when
    rounded = round_commitment_result(result, "usd")
    # then
    assert (rounded.charge, rounded.utilized, rounded.true_up, rounded.overage) == (
        D("10.00"),
        D("3.34"),
        D("6.66"),
        D("0"),
    )


# --- properties ----------------------------------------------------------------------------------


def scaled(integers: st.SearchStrategy[int], places: int) -> st.SearchStrategy[Decimal]:
    """Decimals with `places` decimal places, built exactly from integers."""
    return integers.map(lambda number: Decimal(number).scaleb(-places))


amounts = scaled(st.integers(min_value=0, max_value=100_000), 2)
quantities = scaled(st.integers(min_value=0, max_value=1_000_000), 3)


@st.composite
def tier_lists(draw: st.DrawFn, places: int = 1) -> tuple[Tier, ...]:
    """Ascending tiers, the last one open-ended, with ends in steps of 10^-places."""
    count = draw(st.integers(min_value=1, max_value=5))
    ends = sorted(
        draw(
            st.lists(
                st.integers(min_value=1, max_value=400),
                min_size=count - 1,
                max_size=count - 1,
                unique=True,
            )
        )
    )
    uppers: list[Decimal | None] = [Decimal(end).scaleb(-places) for end in ends]
    uppers.append(None)
    return tuple(Tier(upper, draw(amounts), draw(amounts)) for upper in uppers)


def slab_by_steps(tiers: tuple[Tier, ...], quantity: Decimal, step: Decimal) -> Decimal:
    """SLAB recomputed the slow way: walk the quantity one step at a time."""
    total = Decimal("0")
    position = step
    while position <= quantity:
        tier = next(t for t in tiers if t.up_to is None or position <= t.up_to)
        total += tier.unit_amount * step
        position += step
    lower = Decimal("0")
    for tier in tiers:
        if quantity > lower:
            total += tier.flat_amount
        if tier.up_to is None:
            break
        lower = tier.up_to
    return total


@PROPERTY_SETTINGS
@given(tiers=tier_lists(), first=quantities, second=quantities)
def test_slab_cost_never_decreases_as_quantity_grows(
    tiers: tuple[Tier, ...], first: Decimal, second: Decimal
) -> None:
    terms = tiered(TierMode.SLAB, *tiers)
    low, high = sorted([first, second])
    assert cost(terms, low) <= cost(terms, high)


@PROPERTY_SETTINGS
@given(tiers=tier_lists(places=1), tenths=st.integers(min_value=0, max_value=500))
def test_slab_equals_the_sum_of_its_tier_parts(tiers: tuple[Tier, ...], tenths: int) -> None:
    # given a quantity in tenths, so that walking it a tenth at a time is exact
    terms = tiered(TierMode.SLAB, *tiers)
    quantity = Decimal(tenths).scaleb(-1)
    # when
    lines = cost_breakdown(terms, quantity)
    # then
    total = cost(terms, quantity)
    assert sum((line.amount for line in lines), Decimal("0")) == total
    assert total == slab_by_steps(tiers, quantity, Decimal("0.1"))
    assert sum((line.units for line in lines), Decimal("0")) == quantity


@PROPERTY_SETTINGS
@given(tiers=tier_lists(places=2), quantity=quantities)
def test_volume_equals_the_selected_tiers_formula(
    tiers: tuple[Tier, ...], quantity: Decimal
) -> None:
    terms = tiered(TierMode.VOLUME, *tiers)
    # the tier q falls in is the one after every end strictly below q
    selected = tiers[sum(1 for t in tiers if t.up_to is not None and t.up_to < quantity)]
    expected = selected.unit_amount * quantity + selected.flat_amount if quantity else D("0")
    assert cost(terms, quantity) == expected
    assert sum((line.amount for line in cost_breakdown(terms, quantity)), D("0")) == expected


@PROPERTY_SETTINGS
@given(
    amount=scaled(st.integers(min_value=1, max_value=100_000), 2),
    divide_by=scaled(st.integers(min_value=1, max_value=10_000), 1),
    quantity=quantities,
    round_mode=st.sampled_from(RoundMode),
)
def test_package_is_a_whole_number_of_packages(
    amount: Decimal, divide_by: Decimal, quantity: Decimal, round_mode: RoundMode
) -> None:
    terms = package(str(amount), str(divide_by), round_mode)
    total = cost(terms, quantity)
    packages, leftover = divmod(total, amount)
    assert leftover == 0
    if round_mode is RoundMode.up:
        assert (packages - 1) * divide_by < quantity <= packages * divide_by
    else:
        assert packages * divide_by <= quantity < (packages + 1) * divide_by


@PROPERTY_SETTINGS
@given(tiers=tier_lists(), quantity=quantities, mode=st.sampled_from(TierMode))
def test_one_bucket_costs_the_same_as_the_period(
    tiers: tuple[Tier, ...], quantity: Decimal, mode: TierMode
) -> None:
    terms = tiered(mode, *tiers)
    assert bucketed_cost(terms, [quantity]) == period_cost(terms, quantity)


@PROPERTY_SETTINGS
@given(
    usage=amounts,
    committed=amounts,
    factor=scaled(st.integers(min_value=100, max_value=400), 2),
    true_up=st.booleans(),
)
def test_commitment_charge_is_the_sum_of_its_parts(
    usage: Decimal, committed: Decimal, factor: Decimal, true_up: bool
) -> None:
    result = apply_commitment(usage, committed, overage_factor=factor, true_up_enabled=true_up)
    assert result.charge == result.utilized + result.overage + result.true_up
    assert result.charge >= usage
    if true_up:
        assert result.charge >= committed
    rounded = round_commitment_result(result, "usd")
    assert rounded.charge == rounded.utilized + rounded.overage + rounded.true_up
    assert rounded.charge == round_money(result.charge, "usd")
    assert abs(rounded.overage - result.overage) <= D("0.01")
    assert abs(rounded.true_up - result.true_up) <= D("0.01")


@PROPERTY_SETTINGS
@given(
    tiers=tier_lists(),
    buckets=st.lists(quantities, max_size=6),
    committed=amounts,
    true_up=st.booleans(),
)
def test_windowed_total_is_the_sum_of_the_windows(
    tiers: tuple[Tier, ...], buckets: list[Decimal], committed: Decimal, true_up: bool
) -> None:
    terms = tiered(TierMode.SLAB, *tiers)
    commitment = Commitment(
        commitment_type=CommitmentType.amount,
        amount=committed,
        overage_factor=D("1.5"),
        true_up_enabled=true_up,
    )
    windows, total = windowed_commitment(terms, buckets, commitment)
    assert len(windows) == len(buckets)
    assert total.charge == sum((w.charge for w in windows), D("0"))
    assert total.charge == total.utilized + total.overage + total.true_up
    assert total.usage_charge == sum((cost(terms, q) for q in buckets), D("0"))


def half_away_from_zero(value: Fraction, places: int) -> Decimal:
    scaled_value = value * 10**places
    magnitude = int(abs(scaled_value) + Fraction(1, 2))
    sign = -1 if scaled_value < 0 else 1
    # scaleb rounds to the context precision, and these results can be longer than 28 digits
    with localcontext(Context(prec=100)):
        return Decimal(sign * magnitude).scaleb(-places)


@PROPERTY_SETTINGS
@given(
    numerator=scaled(st.integers(min_value=-(10**30), max_value=10**30), 4),
    denominator=scaled(st.integers(min_value=-(10**12), max_value=10**12), 3),
)
def test_ratio_matches_exact_fraction_arithmetic(numerator: Decimal, denominator: Decimal) -> None:
    expected = (
        D("0")
        if denominator == 0
        else half_away_from_zero(Fraction(numerator) / Fraction(denominator), 16)
    )
    assert ratio(numerator, denominator) == expected


@PROPERTY_SETTINGS
@given(
    amount=scaled(st.integers(min_value=-(10**12), max_value=10**12), 4),
    currency=st.sampled_from(["usd", "jpy", "kwd"]),
)
def test_round_money_is_symmetric_and_exact(amount: Decimal, currency: str) -> None:
    rounded = round_money(amount, currency)
    assert rounded == half_away_from_zero(Fraction(amount), currency_precision(currency))
    assert round_money(-amount, currency) == -rounded


@PROPERTY_SETTINGS
@given(
    amount=scaled(st.integers(min_value=0, max_value=100_000), 3),
    divide_by=scaled(st.integers(min_value=1, max_value=10_000), 1),
    round_mode=st.sampled_from(list(RoundMode)),
    tiers=tier_lists(places=2),
    mode=st.sampled_from(list(TierMode)),
    quantity=quantities,
)
def test_cost_function_prices_every_quantity_as_cost_does(
    amount: Decimal,
    divide_by: Decimal,
    round_mode: RoundMode,
    tiers: tuple[Tier, ...],
    mode: TierMode,
    quantity: Decimal,
) -> None:
    # given one price of each billing model
    for terms in (
        PriceTerms(billing_model=BillingModel.FLAT_FEE, currency="usd", amount=amount),
        PriceTerms(
            billing_model=BillingModel.PACKAGE,
            currency="usd",
            amount=amount,
            divide_by=divide_by,
            round_mode=round_mode,
        ),
        tiered(mode, *tiers),
    ):
        # then the many-quantities forms give cost()'s number, digits and all, and rounded
        priced = cost_function(terms)(quantity)
        assert priced == cost(terms, quantity)
        assert str(priced) == str(cost(terms, quantity))
        for currency in ("usd", "jpy", "kwd"):
            in_currency = dataclasses.replace(terms, currency=currency)
            rounded = rounded_cost_function(in_currency)(quantity)
            assert str(rounded) == str(round_money(cost(in_currency, quantity), currency))
            # and so does the form that prices a whole series at once
            many = rounded_costs_function(in_currency)([quantity, D("0"), quantity])
            expected = [rounded, one_zero(in_currency), rounded]
            assert [str(each) for each in many] == [str(each) for each in expected]


def one_zero(terms: PriceTerms) -> Decimal:
    return round_money(cost(terms, D("0")), terms.currency)


def test_a_series_at_once_refuses_a_negative_quantity() -> None:
    with pytest.raises(ValueError, match="negative"):
        rounded_costs_function(flat_fee("2"))([D("1"), D("-1")])


def test_cost_function_checks_the_terms_once_up_front() -> None:
    bad = PriceTerms(billing_model=BillingModel.PACKAGE, currency="usd", amount=D("1"))
    with pytest.raises(InvalidPriceTerms):
        cost_function(bad)
    with pytest.raises(ValueError, match="negative"):
        cost_function(flat_fee("2"))(D("-1"))
