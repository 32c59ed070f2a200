"""The price calculator of the price page: what a quantity costs, line by line."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from costsheets.formatting import grouped, money_text
from costsheets.models import BillingModel, Price
from costsheets.pricing import (
    InvalidPriceTerms,
    PriceTerms,
    TierCharge,
    cost,
    cost_breakdown,
    currency_precision,
    round_money,
)
from costsheets.terms import price_terms_for

# Calculations of absurd quantities only make the page slow to render and hard to read.
LARGEST_QUANTITY = Decimal(10) ** 18


@dataclass(frozen=True)
class CalculatorLine:
    """One row of the breakdown table, ready to show."""

    label: str
    covers: str
    units: str
    unit_amount: str
    flat_amount: str
    amount: str


@dataclass(frozen=True)
class Calculation:
    """What the calculator shows: the quantity asked, and either an error or the result."""

    quantity: str
    error: str = ""
    unit_word: str = "units"
    lines: tuple[CalculatorLine, ...] = ()
    total: str = ""
    exact_total: str = ""
    currency: str = ""
    places: int = 2
    # True when the exact total has digits below the currency's precision.
    is_rounded: bool = False

    @property
    def has_result(self) -> bool:
        return bool(self.total)


def parse_quantity(text: str) -> tuple[Decimal | None, str]:
    """(the quantity, "") or (None, why it can't be used)."""
    try:
        quantity = Decimal(text.strip().replace(",", "").replace("_", ""))
    except InvalidOperation:
        return None, f"“{text}” is not a number. Enter a quantity such as 15 or 1250000."
    if not quantity.is_finite():
        return None, f"“{text}” is not a number. Enter a quantity such as 15 or 1250000."
    if quantity < 0:
        return None, "Enter a quantity of 0 or more."
    if quantity >= LARGEST_QUANTITY:
        return None, "Enter a quantity below 10¹⁸."
    return quantity, ""


def _covers(terms: PriceTerms, line: TierCharge) -> str:
    if terms.billing_model == BillingModel.FLAT_FEE:
        return "every unit"
    if terms.billing_model == BillingModel.PACKAGE:
        size = grouped(terms.divide_by or Decimal(0))
        return f"packages of {size} (partial packages rounded {terms.round_mode.value})"
    lower = grouped(line.from_quantity)
    if line.up_to is None:
        return f"above {lower}" if line.from_quantity else "every unit"
    return f"above {lower} up to {grouped(line.up_to)}"


def _line(terms: PriceTerms, line: TierCharge) -> CalculatorLine:
    if terms.billing_model == BillingModel.TIERED:
        label = f"Tier {line.tier_index + 1}"
    elif terms.billing_model == BillingModel.PACKAGE:
        label = "Packages"
    else:
        label = "Units"
    return CalculatorLine(
        label=label,
        covers=_covers(terms, line),
        units=grouped(line.units),
        unit_amount=grouped(line.unit_amount),
        flat_amount=grouped(line.flat_amount),
        amount=grouped(line.amount),
    )


def price_calculation(price: Price, quantity_text: str) -> Calculation:
    """The cost of `quantity_text` units of the saved `price`, rounded to its currency.

    Lines are exact (a per-token price gives fractions of a cent); only the total is rounded,
    once, as invoices and analytics round it.
    """
    quantity, problem = parse_quantity(quantity_text)
    if quantity is None:
        return Calculation(quantity=quantity_text, error=problem)
    terms = price_terms_for(price)
    try:
        lines = cost_breakdown(terms, quantity)
        exact = cost(terms, quantity)
        places = currency_precision(terms.currency)
    except (InvalidPriceTerms, ValueError) as exc:
        return Calculation(
            quantity=quantity_text,
            error=f"This price can't be calculated until it is fixed: {exc}",
        )
    return Calculation(
        quantity=grouped(quantity),
        unit_word="unit" if quantity == 1 else "units",
        lines=tuple(_line(terms, line) for line in lines),
        total=money_text(exact, terms.currency),
        exact_total=grouped(exact),
        currency=terms.currency.upper(),
        places=places,
        is_rounded=round_money(exact, terms.currency) != exact,
    )
