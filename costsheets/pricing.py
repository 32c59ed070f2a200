"""Pure price math: usage quantities to money, commitments and margins, all in Decimal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from functools import lru_cache

ZERO = Decimal("0")
ONE = Decimal("1")
HUNDRED = Decimal("100")

# SPEC §1: every division (percentages, ratios) keeps 16 decimal places.
RATIO_PLACES = 16

# Stored amounts and quantities have a few dozen digits at most, so 100 significant digits make
# every product and sum below exact; Decimal's default 28 digits would silently round big ones.
_EXACT_CONTEXT = Context(prec=100, rounding=ROUND_HALF_UP)

# ISO 4217 minor units for every currency whose precision is not the common 2.
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(("bif", "clp", "djf", "gnf", "isk", "jpy", "kmf", "krw", "pyg"), 0),
    **dict.fromkeys(("rwf", "ugx", "uyi", "vnd", "vuv", "xaf", "xof", "xpf"), 0),
    **dict.fromkeys(("bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"), 3),
    # Chile's and Uruguay's indexed accounting units are quoted to four places.
    **dict.fromkeys(("clf", "uyw"), 4),
}
_DEFAULT_MINOR_UNITS = 2


class BillingModel(StrEnum):
    FLAT_FEE = "FLAT_FEE"
    PACKAGE = "PACKAGE"
    TIERED = "TIERED"


class TierMode(StrEnum):
    VOLUME = "VOLUME"
    SLAB = "SLAB"


class RoundMode(StrEnum):
    up = "up"
    down = "down"


class CommitmentType(StrEnum):
    amount = "amount"
    quantity = "quantity"


class InvalidPriceTerms(ValueError):
    """Raised when price math is asked of terms that `price_terms_errors` rejects."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(" ".join(errors.values()))


def _to_decimal(value: object, name: str) -> Decimal:
    # Floats are refused outright: Decimal(0.1) carries binary noise into money.
    if isinstance(value, bool | float):
        raise TypeError(f"{name} must be a Decimal, int or numeric string, not {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | str):
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise ValueError(f"{name} is not a number: {value!r}") from None
    else:
        raise TypeError(f"{name} must be a Decimal, int or numeric string, not {value!r}")
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return number


def _to_optional_decimal(value: object, name: str) -> Decimal | None:
    return None if value is None else _to_decimal(value, name)


def _plain(value: Decimal) -> str:
    """Render a number for a human: no exponent, no trailing zeros ("20", "0.5")."""
    with localcontext(_EXACT_CONTEXT):
        text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


@dataclass(frozen=True)
class Tier:
    """One price tier; it covers quantities above the previous tier's `up_to`, up to and
    including its own `up_to` (None: no upper limit)."""

    up_to: Decimal | None
    unit_amount: Decimal
    flat_amount: Decimal = ZERO

    def __post_init__(self) -> None:
        object.__setattr__(self, "up_to", _to_optional_decimal(self.up_to, "up_to"))
        object.__setattr__(self, "unit_amount", _to_decimal(self.unit_amount, "unit_amount"))
        object.__setattr__(self, "flat_amount", _to_decimal(self.flat_amount, "flat_amount"))


@dataclass(frozen=True)
class PriceTerms:
    """The part of a price that decides what a quantity costs."""

    billing_model: BillingModel
    currency: str
    amount: Decimal = ZERO
    tier_mode: TierMode | None = None
    tiers: tuple[Tier, ...] = ()
    divide_by: Decimal | None = None
    round_mode: RoundMode = RoundMode.up

    def __post_init__(self) -> None:
        object.__setattr__(self, "billing_model", BillingModel(self.billing_model))
        object.__setattr__(self, "amount", _to_decimal(self.amount, "amount"))
        if self.tier_mode is not None:
            object.__setattr__(self, "tier_mode", TierMode(self.tier_mode))
        object.__setattr__(self, "tiers", tuple(self.tiers))
        object.__setattr__(self, "divide_by", _to_optional_decimal(self.divide_by, "divide_by"))
        object.__setattr__(self, "round_mode", RoundMode(self.round_mode))


@dataclass(frozen=True)
class TierCharge:
    """One line of a price calculation.

    `tier_index` is the 0-based position in `PriceTerms.tiers` (0 for flat-fee and package
    prices). `from_quantity` (exclusive) and `up_to` (inclusive, None = no limit) describe the
    range the tier covers. `units` is how many units were priced at `unit_amount`; for a package
    price it is the number of packages and `unit_amount` the price of one package.
    """

    tier_index: int
    from_quantity: Decimal
    up_to: Decimal | None
    units: Decimal
    unit_amount: Decimal
    flat_amount: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Commitment:
    commitment_type: CommitmentType
    amount: Decimal | None = None
    quantity: Decimal | None = None
    overage_factor: Decimal = ONE
    true_up_enabled: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "commitment_type", CommitmentType(self.commitment_type))
        object.__setattr__(self, "amount", _to_optional_decimal(self.amount, "amount"))
        object.__setattr__(self, "quantity", _to_optional_decimal(self.quantity, "quantity"))
        object.__setattr__(
            self, "overage_factor", _to_decimal(self.overage_factor, "overage_factor")
        )


@dataclass(frozen=True)
class CommitmentResult:
    """A charge split the way SPEC §4 reports it: charge = utilized + overage + true_up."""

    charge: Decimal
    usage_charge: Decimal
    commitment: Decimal
    utilized: Decimal
    overage: Decimal
    true_up: Decimal


@dataclass(frozen=True)
class MarginSummary:
    margin: Decimal
    margin_percent: Decimal
    roi: Decimal
    roi_percent: Decimal


# --- currency and division ------------------------------------------------------------------


@lru_cache(maxsize=256)
def currency_precision(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (ISO 4217)."""
    code = currency.strip().lower()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError(f"{currency!r} is not a 3-letter ISO 4217 currency code")
    # An unknown but well-formed code most likely has cents, like almost every currency.
    return _MINOR_UNITS.get(code, _DEFAULT_MINOR_UNITS)


# quantize() needs the context to hold every digit of its result; this one holds any amount
# below 10^90, which is all of them but the absurd (those get a context of their own).
_ROUNDING_CONTEXT = Context(prec=_EXACT_CONTEXT.prec, rounding=ROUND_HALF_UP)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's precision, halves away from zero."""
    amount = _to_decimal(amount, "amount")
    places = currency_precision(currency)
    context = _ROUNDING_CONTEXT
    if amount.adjusted() + places + 2 > context.prec:
        context = Context(prec=amount.adjusted() + places + 2, rounding=ROUND_HALF_UP)
    rounded = amount.quantize(_minor_unit(places), context=context)
    # -0.001 rounds to zero; a "-0" on an invoice line only confuses people.
    return rounded.copy_abs() if rounded.is_zero() else rounded


@lru_cache(maxsize=16)
def _minor_unit(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    """numerator / denominator to 16 decimal places, halves away from zero; x / 0 is 0."""
    numerator = _to_decimal(numerator, "numerator")
    denominator = _to_decimal(denominator, "denominator")
    if denominator.is_zero():
        return ZERO
    # Truncate first, with more digits than the 16-place result needs, then round half up:
    # a truncated quotient is on the same side of every half-way point as the true quotient,
    # so this never double-rounds (rounding both steps half up could turn 0.4999… into 0.5).
    integer_digits = max(numerator.adjusted() - denominator.adjusted() + 2, 1)
    precision = max(50, integer_digits + RATIO_PLACES + 10)
    with localcontext(Context(prec=precision, rounding=ROUND_DOWN)) as context:
        truncated = numerator / denominator
        context.rounding = ROUND_HALF_UP
        return truncated.quantize(Decimal(1).scaleb(-RATIO_PLACES))


# --- validation -------------------------------------------------------------------------------


def price_terms_errors(terms: PriceTerms) -> dict[str, str]:
    """Everything wrong with the terms, as field → message for the person who set them.

    Per-tier fields are keyed `tiers[<0-based index>].<field>`; messages count tiers from 1.
    Fields the billing model does not use are not checked.
    """
    errors: dict[str, str] = {}
    code = terms.currency.strip()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        errors["currency"] = (
            f"“{terms.currency}” is not a currency code. Use a 3-letter ISO code such as usd."
        )
    if terms.amount < ZERO:
        errors["amount"] = f"The amount is {_plain(terms.amount)}; it cannot be negative."

    if terms.billing_model is BillingModel.PACKAGE:
        if terms.divide_by is None or terms.divide_by <= ZERO:
            shown = "missing" if terms.divide_by is None else _plain(terms.divide_by)
            errors["divide_by"] = (
                f"A package price needs a package size (divide by) above 0; it is {shown}."
            )
    elif terms.billing_model is BillingModel.TIERED:
        if terms.tier_mode is None:
            errors["tier_mode"] = (
                "Choose a tier mode for a tiered price: VOLUME (one tier prices every unit) "
                "or SLAB (each tier prices the units inside it)."
            )
        if not terms.tiers:
            errors["tiers"] = "A tiered price needs at least one tier."
        errors.update(_tier_errors(terms.tiers))
    return errors


def _tier_errors(tiers: tuple[Tier, ...]) -> dict[str, str]:
    errors: dict[str, str] = {}
    last_index = len(tiers) - 1
    for index, tier in enumerate(tiers):
        number = index + 1
        key = f"tiers[{index}]"
        # An open-ended tier in the middle is reported once, on itself, not on its successor.
        previous_end = tiers[index - 1].up_to if index > 0 else None
        if tier.up_to is None:
            if index != last_index:
                errors[f"{key}.up_to"] = (
                    f"Tier {number} has no upper limit, but only the last tier can be "
                    "open-ended. Give it an end or move it to the bottom."
                )
        elif tier.up_to <= ZERO:
            errors[f"{key}.up_to"] = (
                f"Tier {number} ends at {_plain(tier.up_to)}; a tier must end above 0."
            )
        elif previous_end is not None and tier.up_to <= previous_end:
            errors[f"{key}.up_to"] = (
                f"Tier {number} ends at {_plain(tier.up_to)}, which is not above tier "
                f"{index}'s end ({_plain(previous_end)}). Tiers must be in ascending order."
            )
        if tier.unit_amount < ZERO:
            errors[f"{key}.unit_amount"] = (
                f"Tier {number}'s unit amount is {_plain(tier.unit_amount)}; it cannot be negative."
            )
        if tier.flat_amount < ZERO:
            errors[f"{key}.flat_amount"] = (
                f"Tier {number}'s flat amount is {_plain(tier.flat_amount)}; it cannot be negative."
            )
    return errors


@lru_cache(maxsize=1024)
def _require_valid(terms: PriceTerms) -> None:
    # Terms are immutable, so each one is checked once, not once per quantity priced (a
    # month of points is thousands of calls); invalid terms raise and are never cached.
    errors = price_terms_errors(terms)
    if errors:
        raise InvalidPriceTerms(errors)


def _require_quantity(quantity: Decimal) -> Decimal:
    quantity = _to_decimal(quantity, "quantity")
    if quantity < ZERO:
        raise ValueError(f"quantity cannot be negative, got {quantity}")
    return quantity


# --- cost ---------------------------------------------------------------------------------------


def cost(terms: PriceTerms, quantity: Decimal) -> Decimal:
    """What `quantity` units cost under `terms` (SPEC §4), not rounded."""
    with localcontext(_EXACT_CONTEXT):
        return sum((line.amount for line in cost_breakdown(terms, quantity)), ZERO)


def cost_function(terms: PriceTerms) -> Callable[[Decimal], Decimal]:
    """`cost(terms, ·)` for pricing many quantities with one price.

    The terms are checked once, here; flat-fee and package prices then skip building
    breakdown lines (same numbers: cost() sums exactly these products). Tiered prices go
    through cost() itself.
    """
    _require_valid(terms)
    context = _EXACT_CONTEXT
    amount = terms.amount

    if terms.billing_model is BillingModel.FLAT_FEE:

        def flat_fee(quantity: Decimal) -> Decimal:
            quantity = _require_quantity(quantity)
            if quantity.is_zero():
                return ZERO
            return context.add(ZERO, context.multiply(amount, quantity))

        return flat_fee

    if terms.billing_model is BillingModel.PACKAGE:
        divide_by = terms.divide_by
        assert divide_by is not None
        rounds_up = terms.round_mode is RoundMode.up

        def package(quantity: Decimal) -> Decimal:
            quantity = _require_quantity(quantity)
            if quantity.is_zero():
                return ZERO
            whole, remainder = context.divmod(quantity, divide_by)
            packages = context.add(whole, ONE) if rounds_up and not remainder.is_zero() else whole
            return context.add(ZERO, context.multiply(amount, packages))

        return package

    def tiered(quantity: Decimal) -> Decimal:
        return cost(terms, quantity)

    return tiered


def rounded_cost_function(terms: PriceTerms) -> Callable[[Decimal], Decimal]:
    """`round_money(cost(terms, ·), currency)` for pricing many quantities with one price (each
    point of a series is shown rounded): the same numbers, with the terms checked and the
    currency's precision looked up once."""
    price = cost_function(terms)
    currency = terms.currency
    places = currency_precision(currency)
    quantum = _minor_unit(places)
    context = _ROUNDING_CONTEXT
    limit = context.prec - places - 2

    def rounded(quantity: Decimal) -> Decimal:
        amount = price(quantity)
        if amount.adjusted() > limit:
            return round_money(amount, currency)
        result = amount.quantize(quantum, context=context)
        return result.copy_abs() if result.is_zero() else result

    return rounded


def rounded_costs_function(terms: PriceTerms) -> Callable[[Sequence[Decimal]], list[Decimal]]:
    """`[rounded_cost_function(terms)(q) for q in quantities]` in one loop per call: what a
    series' points cost (a month of 1,000 customers' days is 210k of them). The same numbers,
    digit for digit; flat fees and packages are priced inline (two or three Decimal operations
    a quantity), tiers through rounded_cost_function. Quantities must not be negative."""
    one = rounded_cost_function(terms)
    model = terms.billing_model
    if model is BillingModel.TIERED:
        return lambda quantities: [one(quantity) for quantity in quantities]
    places = currency_precision(terms.currency)
    quantum = _minor_unit(places)
    context = _EXACT_CONTEXT
    rounding = _ROUNDING_CONTEXT
    limit = rounding.prec - places - 2
    multiply, quantize = context.multiply, rounding.quantize
    amount = terms.amount
    zero = one(ZERO)
    divide_by = terms.divide_by
    rounds_up = terms.round_mode is RoundMode.up

    def many(quantities: Sequence[Decimal]) -> list[Decimal]:
        costs = []
        append = costs.append
        for quantity in quantities:
            if quantity <= ZERO:
                if quantity < ZERO:
                    raise ValueError(f"quantity cannot be negative, got {quantity}")
                append(zero)
                continue
            units = quantity
            if model is BillingModel.PACKAGE:
                units, remainder = context.divmod(quantity, divide_by)
                if rounds_up and not remainder.is_zero():
                    units = context.add(units, ONE)
            charge = context.add(ZERO, multiply(amount, units))
            if charge.adjusted() > limit:
                append(one(quantity))  # beyond the rounding context's digits
                continue
            result = quantize(charge, quantum)
            append(result.copy_abs() if result.is_zero() else result)
        return costs

    return many


def cost_breakdown(terms: PriceTerms, quantity: Decimal) -> tuple[TierCharge, ...]:
    """The lines that make up `cost(terms, quantity)`; a quantity of 0 has no lines."""
    _require_valid(terms)
    quantity = _require_quantity(quantity)
    # SPEC §4: q = 0 costs 0, so not even a flat amount is reached.
    if quantity.is_zero():
        return ()
    with localcontext(_EXACT_CONTEXT):
        if terms.billing_model is BillingModel.FLAT_FEE:
            return (_flat_fee_line(terms, quantity),)
        if terms.billing_model is BillingModel.PACKAGE:
            return (_package_line(terms, quantity),)
        if terms.tier_mode is TierMode.VOLUME:
            return (_volume_line(terms.tiers, quantity),)
        return tuple(_slab_lines(terms.tiers, quantity))


def _flat_fee_line(terms: PriceTerms, quantity: Decimal) -> TierCharge:
    return TierCharge(
        tier_index=0,
        from_quantity=ZERO,
        up_to=None,
        units=quantity,
        unit_amount=terms.amount,
        flat_amount=ZERO,
        amount=terms.amount * quantity,
    )


def _package_line(terms: PriceTerms, quantity: Decimal) -> TierCharge:
    divide_by = terms.divide_by
    assert divide_by is not None
    # Decimal // and % are exact (no rounding), unlike a division followed by ceil/floor.
    whole, remainder = divmod(quantity, divide_by)
    rounds_up = terms.round_mode is RoundMode.up and not remainder.is_zero()
    packages = whole + ONE if rounds_up else whole
    return TierCharge(
        tier_index=0,
        from_quantity=ZERO,
        up_to=None,
        units=packages,
        unit_amount=terms.amount,
        flat_amount=ZERO,
        amount=terms.amount * packages,
    )


def _tier_ranges(tiers: tuple[Tier, ...]) -> Iterator[tuple[int, Decimal, Decimal | None, Tier]]:
    """Each tier with the range it covers: (lower, upper], upper None for no limit."""
    lower = ZERO
    last_index = len(tiers) - 1
    for index, tier in enumerate(tiers):
        # A last tier with an end still takes everything above it: usage past the final
        # boundary is charged at the final rate rather than being free or an error.
        upper = None if index == last_index else tier.up_to
        yield index, lower, upper, tier
        if upper is not None:
            lower = upper


def _volume_line(tiers: tuple[Tier, ...], quantity: Decimal) -> TierCharge:
    for index, lower, upper, tier in _tier_ranges(tiers):
        if upper is None or quantity <= upper:
            return TierCharge(
                tier_index=index,
                from_quantity=lower,
                up_to=upper,
                units=quantity,
                unit_amount=tier.unit_amount,
                flat_amount=tier.flat_amount,
                amount=tier.unit_amount * quantity + tier.flat_amount,
            )
    raise AssertionError("the last tier has no upper limit, so some tier always matches")


def _slab_lines(tiers: tuple[Tier, ...], quantity: Decimal) -> Iterator[TierCharge]:
    for index, lower, upper, tier in _tier_ranges(tiers):
        if quantity <= lower:
            return
        units = (quantity if upper is None else min(quantity, upper)) - lower
        yield TierCharge(
            tier_index=index,
            from_quantity=lower,
            up_to=upper,
            units=units,
            unit_amount=tier.unit_amount,
            flat_amount=tier.flat_amount,
            amount=tier.unit_amount * units + tier.flat_amount,
        )


def period_cost(terms: PriceTerms, quantity: Decimal) -> Decimal:
    """Cost of a whole-period quantity, rounded to the currency's precision."""
    return round_money(cost(terms, quantity), terms.currency)


def bucketed_cost(terms: PriceTerms, bucket_quantities: Iterable[Decimal]) -> Decimal:
    """Cost of a bucketed meter: tiers restart in every bucket; rounded once, on the total."""
    with localcontext(_EXACT_CONTEXT):
        total = sum((cost(terms, quantity) for quantity in bucket_quantities), ZERO)
    return round_money(total, terms.currency)


# --- commitments --------------------------------------------------------------------------------


def commitment_errors(commitment: Commitment) -> dict[str, str]:
    """Everything wrong with a line item's commitment, as field → message."""
    errors: dict[str, str] = {}
    if commitment.commitment_type is CommitmentType.amount:
        if commitment.amount is None:
            errors["amount"] = "An amount commitment needs the committed amount."
        elif commitment.amount < ZERO:
            errors["amount"] = (
                f"The committed amount is {_plain(commitment.amount)}; it cannot be negative."
            )
    elif commitment.quantity is None:
        errors["quantity"] = "A quantity commitment needs the committed quantity."
    elif commitment.quantity < ZERO:
        errors["quantity"] = (
            f"The committed quantity is {_plain(commitment.quantity)}; it cannot be negative."
        )
    if commitment.overage_factor < ONE:
        errors["overage_factor"] = (
            f"The overage factor is {_plain(commitment.overage_factor)}; it must be at least 1 "
            "(1 charges usage above the commitment at the normal price)."
        )
    return errors


def commitment_money(terms: PriceTerms, commitment: Commitment) -> Decimal:
    """The committed money: the amount itself, or what the committed quantity costs."""
    errors = commitment_errors(commitment)
    if errors:
        raise ValueError(" ".join(errors.values()))
    if commitment.commitment_type is CommitmentType.amount:
        assert commitment.amount is not None
        return commitment.amount
    assert commitment.quantity is not None
    return cost(terms, commitment.quantity)


def apply_commitment(
    usage_charge: Decimal,
    committed: Decimal,
    *,
    overage_factor: Decimal,
    true_up_enabled: bool,
) -> CommitmentResult:
    """Apply a commitment to a usage charge (SPEC §4); nothing is rounded."""
    usage_charge = _to_decimal(usage_charge, "usage_charge")
    committed = _to_decimal(committed, "committed")
    overage_factor = _to_decimal(overage_factor, "overage_factor")
    if overage_factor < ONE:
        raise ValueError(f"overage_factor must be at least 1, got {overage_factor}")
    if usage_charge < ZERO or committed < ZERO:
        raise ValueError("usage_charge and committed cannot be negative")
    with localcontext(_EXACT_CONTEXT):
        if usage_charge >= committed:
            overage = (usage_charge - committed) * overage_factor
            return CommitmentResult(
                charge=committed + overage,
                usage_charge=usage_charge,
                commitment=committed,
                utilized=committed,
                overage=overage,
                true_up=ZERO,
            )
        true_up = committed - usage_charge if true_up_enabled else ZERO
        return CommitmentResult(
            charge=usage_charge + true_up,
            usage_charge=usage_charge,
            commitment=committed,
            utilized=usage_charge,
            overage=ZERO,
            true_up=true_up,
        )


def period_commitment(
    terms: PriceTerms, bucket_quantities: Iterable[Decimal], commitment: Commitment
) -> CommitmentResult:
    """A non-windowed commitment: applied once to the period's usage charge.

    Pass `[total]` for an ordinary meter, or the bucket values for a bucketed one (tiers still
    apply per bucket; the commitment sees their sum). Nothing is rounded.
    """
    committed = commitment_money(terms, commitment)
    with localcontext(_EXACT_CONTEXT):
        usage = sum((cost(terms, quantity) for quantity in bucket_quantities), ZERO)
    return apply_commitment(
        usage,
        committed,
        overage_factor=commitment.overage_factor,
        true_up_enabled=commitment.true_up_enabled,
    )


def windowed_commitment(
    terms: PriceTerms, bucket_quantities: Iterable[Decimal], commitment: Commitment
) -> tuple[tuple[CommitmentResult, ...], CommitmentResult]:
    """A windowed commitment: applied to every bucket window on its own.

    Returns each window's result, in input order, and their field-by-field sum. Only the
    windows passed in are charged: a window left out owes no true-up. Nothing is rounded.
    """
    committed = commitment_money(terms, commitment)
    windows = tuple(
        apply_commitment(
            cost(terms, quantity),
            committed,
            overage_factor=commitment.overage_factor,
            true_up_enabled=commitment.true_up_enabled,
        )
        for quantity in bucket_quantities
    )
    return windows, sum_results(windows)


def sum_results(results: Iterable[CommitmentResult]) -> CommitmentResult:
    """The field-by-field sum of commitment results, exact (all zero for none)."""
    results = tuple(results)
    with localcontext(_EXACT_CONTEXT):
        totals = {
            name: sum((getattr(result, name) for result in results), ZERO)
            for name in (part.name for part in fields(CommitmentResult))
        }
    return CommitmentResult(**totals)


def round_commitment_result(result: CommitmentResult, currency: str) -> CommitmentResult:
    """Round a result for reporting while keeping charge = utilized + overage + true_up.

    The charge and the utilized amount are rounded on their own; the overage (or the true-up,
    whichever applies) takes the difference, so it may sit one minor unit away from its own
    rounding — the total the customer pays is the one that must be right.
    """
    charge = round_money(result.charge, currency)
    utilized = round_money(result.utilized, currency)
    with localcontext(_EXACT_CONTEXT):
        remainder = charge - utilized
    in_true_up = result.true_up > ZERO
    return CommitmentResult(
        charge=charge,
        usage_charge=round_money(result.usage_charge, currency),
        commitment=round_money(result.commitment, currency),
        utilized=utilized,
        overage=ZERO if in_true_up else remainder,
        true_up=remainder if in_true_up else ZERO,
    )


# --- margins ------------------------------------------------------------------------------------


def margin_summary(revenue: Decimal, cost: Decimal) -> MarginSummary:
    """Margin, margin % and ROI of SPEC §6; a zero denominator gives 0."""
    revenue = _to_decimal(revenue, "revenue")
    cost = _to_decimal(cost, "cost")
    with localcontext(_EXACT_CONTEXT):
        margin = revenue - cost
        # SPEC §6 divides first (16 places) and then scales by 100, which is why 2/3 shows as
        # 66.66666666666667 (14 places) and not 66.6666666666666667.
        margin_ratio = ratio(margin, revenue)
        roi = ratio(margin, cost)
        return MarginSummary(
            margin=margin,
            margin_percent=margin_ratio * HUNDRED,
            roi=roi,
            roi_percent=roi * HUNDRED,
        )
