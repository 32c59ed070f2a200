"""Pure pricing of metered usage with a line item's price and commitment (SPEC §4), per point."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, localcontext
from functools import lru_cache
from itertools import repeat
from typing import Protocol

from costsheets.pricing import (
    ONE,
    ZERO,
    BillingModel,
    Commitment,
    CommitmentResult,
    PriceTerms,
    apply_commitment,
    commitment_money,
    cost_function,
    currency_precision,
    round_money,
    rounded_cost_function,
    rounded_costs_function,
    sum_results,
)

# Sums of unrounded charges stay exact (as in costsheets.pricing): 100 digits hold any of them.
EXACT_CONTEXT = Context(prec=100, rounding=ROUND_HALF_UP)


class BucketLike(Protocol):
    """One bucket of a bucketed meter: its start, the meter's group value, its value."""

    @property
    def start(self) -> datetime: ...

    @property
    def value(self) -> Decimal | None: ...


class PointLike(Protocol):
    @property
    def timestamp(self) -> datetime: ...

    @property
    def value(self) -> Decimal | None: ...

    @property
    def buckets(self) -> Sequence[BucketLike]: ...


class SeriesLike(Protocol):
    """What the metering engine's `UsageSeries` gives pricing: a total, points and buckets."""

    @property
    def total(self) -> Decimal | None: ...

    @property
    def points(self) -> Sequence[PointLike]: ...

    @property
    def buckets(self) -> Sequence[BucketLike]: ...


@dataclass(frozen=True)
class PricedUsage:
    """A series' money. `total_cost` is what is charged (commitment applied), rounded to the
    currency; `commitment` is the rounded split of it (charge = utilized + overage + true_up).
    `point_costs` are the series' points' costs (rounded), in the points' order; with a
    windowed commitment, `point_commitments` are their splits (empty otherwise)."""

    total_cost: Decimal
    usage_charge: Decimal
    commitment: CommitmentResult | None
    point_costs: tuple[Decimal, ...]
    point_commitments: tuple[CommitmentResult, ...] = ()

    def point_splits(self) -> Iterator[CommitmentResult | None]:
        """Each point's commitment split (None for all but windowed commitments)."""
        if self.point_commitments:
            return iter(self.point_commitments)
        return repeat(None, len(self.point_costs))


def priceable(quantity: Decimal | None) -> Decimal:
    """A usage number as a price sees it: no value is 0, and so is a negative total (a SUM of
    corrections), since a price charges for use and never pays out."""
    if quantity is None or quantity < ZERO:
        return ZERO
    return quantity


def price_usage(
    series: SeriesLike,
    *,
    terms: PriceTerms,
    bucketed: bool,
    commitment: Commitment | None = None,
    windowed: bool = False,
) -> PricedUsage:
    """Price a usage series (SPEC §4).

    Ordinary meters: the price applies to the whole-period total; each point is priced on its
    own. Bucketed meters: tiers apply per bucket (per bucket and group value), a point costs the
    sum of its buckets. A commitment applies once to the period's charge, or — `windowed`, on
    bucketed meters — to each bucket window on its own, every point carrying its windows' split.
    """
    currency = terms.currency
    if bucketed and commitment is not None and windowed:
        return _windowed(series, terms=terms, commitment=commitment)
    price = _memo_for(terms)
    if bucketed:
        usage_charge = _sum(price(bucket.value) for bucket in series.buckets)
        costs = tuple(
            round_money(_sum(price(bucket.value) for bucket in point.buckets), currency)
            for point in series.points
        )
    else:
        usage_charge = price(series.total)
        costs = price.rounded_points(series.points)
    if commitment is None:
        return PricedUsage(
            total_cost=(charged := round_money(usage_charge, currency)),
            usage_charge=charged,
            commitment=None,
            point_costs=costs,
        )
    result = apply_commitment(
        usage_charge,
        commitment_money(terms, commitment),
        overage_factor=commitment.overage_factor,
        true_up_enabled=commitment.true_up_enabled,
    )
    rounded = round_split(result, currency)
    return PricedUsage(
        total_cost=rounded.charge,
        usage_charge=rounded.usage_charge,
        commitment=rounded,
        point_costs=costs,
    )


# Quantities remembered per price terms, at most: a worker keeps a bounded number of them.
_KNOWN_PER_TERMS = 2048


class _Memo:
    """`cost(terms, quantity)` remembered per quantity. A month of hourly points repeats the
    same few quantities, and so do a tenant's customers priced with the same price, so one
    memo serves every series priced with equal terms (see `_memo_for`)."""

    def __init__(self, terms: PriceTerms) -> None:
        self.cost = cost_function(terms)
        self.round = rounded_cost_function(terms)
        self.round_many = rounded_costs_function(terms)
        # Flat fees and packages cost two Decimal operations: remembering them costs more.
        self.remembers = terms.billing_model is BillingModel.TIERED
        self.known: dict[Decimal, Decimal] = {}
        self.known_rounded: dict[Decimal, Decimal] = {}

    def __call__(self, quantity: Decimal | None) -> Decimal:
        if not self.remembers:
            return self.cost(priceable(quantity))
        return _remembered(self.known, priceable(quantity), self.cost)

    def rounded_points(self, points: Sequence[PointLike]) -> tuple[Decimal, ...]:
        """Each point's cost, rounded, as a point shows it (no value or a negative one: 0)."""
        quantities = [
            ZERO if (value := point.value) is None or value < ZERO else value for point in points
        ]
        if not self.remembers:
            return tuple(self.round_many(quantities))
        known, compute = self.known_rounded, self.round
        return tuple([_remembered(known, quantity, compute) for quantity in quantities])


def _remembered(
    known: dict[Decimal, Decimal], quantity: Decimal, compute: Callable[[Decimal], Decimal]
) -> Decimal:
    """`compute(quantity)`, remembered in `known`, which never holds more than the bound."""
    charge = known.get(quantity)
    if charge is None:
        if len(known) >= _KNOWN_PER_TERMS:
            known.clear()
        charge = known[quantity] = compute(quantity)
    return charge


def _memo_for(terms: PriceTerms) -> _Memo:
    """The memo of these terms: kept on the terms themselves (hashing them for a lookup cost
    several µs a series, 14,000 series a tenant-wide request), else one per equal terms."""
    memo = terms.__dict__.get("_memo")
    if memo is None:
        memo = _shared_memo(terms)
        # Terms are frozen; the memo is a cache beside their value, not part of it.
        object.__setattr__(terms, "_memo", memo)
    return memo


@lru_cache(maxsize=64)
def _shared_memo(terms: PriceTerms) -> _Memo:
    """The memo of these terms (terms are immutable values: equal terms, equal costs)."""
    return _Memo(terms)


def _windowed(series: SeriesLike, *, terms: PriceTerms, commitment: Commitment) -> PricedUsage:
    """A commitment applied to every bucket window on its own. A window's charge is the cost of
    its buckets (one per group value of the meter's group_by), tiers applied to each."""
    currency = terms.currency
    committed = commitment_money(terms, commitment)
    charges: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
    price = _memo_for(terms)
    with localcontext(EXACT_CONTEXT):
        for bucket in series.buckets:
            charges[bucket.start] += price(bucket.value)
    results = {
        start: apply_commitment(
            charge,
            committed,
            overage_factor=commitment.overage_factor,
            true_up_enabled=commitment.true_up_enabled,
        )
        for start, charge in charges.items()
    }
    splits = []
    for point in series.points:
        starts = {bucket.start for bucket in point.buckets}
        window_results = [results[start] for start in sorted(starts) if start in results]
        splits.append(round_split(sum_results(window_results), currency))
    total = round_split(sum_results(results.values()), currency)
    return PricedUsage(
        total_cost=total.charge,
        usage_charge=total.usage_charge,
        commitment=total,
        point_costs=tuple(split.charge for split in splits),
        point_commitments=tuple(splits),
    )


def round_split(result: CommitmentResult, currency: str) -> CommitmentResult:
    """Round a commitment split for reporting, keeping charge = utilized + overage + true_up.

    Unlike `costsheets.pricing.round_commitment_result` it holds for sums of windows too, where
    overage and true-up are both present: each part is rounded on its own and the rounding
    difference goes to the larger of overage and true-up (utilized when both are 0).
    """
    charge = round_money(result.charge, currency)
    parts = {
        name: round_money(getattr(result, name), currency)
        for name in ("utilized", "overage", "true_up")
    }
    with localcontext(EXACT_CONTEXT):
        difference = charge - sum(parts.values(), ZERO)
    if not difference.is_zero():
        absorbing = max(("overage", "true_up"), key=lambda name: abs(getattr(result, name)))
        if getattr(result, absorbing).is_zero():
            absorbing = "utilized"
        parts[absorbing] += difference
    return CommitmentResult(
        charge=charge,
        usage_charge=round_money(result.usage_charge, currency),
        commitment=round_money(result.commitment, currency),
        **parts,
    )


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    with localcontext(EXACT_CONTEXT):
        return sum(amounts, ZERO)


def allocate(amount: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split a rounded amount into shares proportional to `weights`, each rounded to the
    currency, adding up to the amount exactly (largest remainder; earlier shares win ties).
    Weights that are all 0 share equally."""
    if not weights:
        return []
    if sum(weights, ZERO) <= ZERO:
        weights = [ONE] * len(weights)
    quantum = ONE.scaleb(-currency_precision(currency))
    with localcontext(EXACT_CONTEXT):
        total_weight = sum(weights, ZERO)
        exact = [amount * weight / total_weight for weight in weights]
        shares = [share.quantize(quantum, rounding=ROUND_FLOOR) for share in exact]
        left = int((amount - sum(shares, ZERO)) / quantum)
        order = sorted(range(len(shares)), key=lambda index: (shares[index] - exact[index], index))
        for index in order[:left]:
            shares[index] += quantum
    return shares


def allocate_split(
    result: CommitmentResult, weights: Sequence[Decimal], currency: str
) -> list[CommitmentResult]:
    """Split a rounded commitment result into shares proportional to `weights`, every share
    keeping charge = utilized + overage + true_up and the shares adding up to the whole.

    The charge, the utilized amount and the true-up are split on their own; a share's overage
    takes the rest. Should that rest be negative for a share (rounding went opposite ways),
    every part is split on its own instead and the charge is their sum.
    """
    shares = {
        name: allocate(getattr(result, name), weights, currency)
        for name in ("charge", "utilized", "true_up", "usage_charge", "commitment")
    }
    with localcontext(EXACT_CONTEXT):
        shares["overage"] = [
            charge - utilized - true_up
            for charge, utilized, true_up in zip(
                shares["charge"], shares["utilized"], shares["true_up"], strict=True
            )
        ]
        if any(overage < ZERO for overage in shares["overage"]):
            shares["overage"] = allocate(result.overage, weights, currency)
            shares["charge"] = [
                utilized + overage + true_up
                for utilized, overage, true_up in zip(
                    shares["utilized"], shares["overage"], shares["true_up"], strict=True
                )
            ]
    return [
        CommitmentResult(**{name: values[index] for name, values in shares.items()})
        for index in range(len(weights))
    ]
