"""Numbers and money as people read them, for every page, email and export that shows them."""

from __future__ import annotations

from decimal import Decimal

from costsheets.models.prices import CURRENCY_SYMBOLS
from costsheets.pricing import ZERO, currency_precision, round_money
from flexprice_site.rendering import format_decimal


def group_digits(text: str) -> str:
    """`-1234567.5` → `-1,234,567.5`: thousands separators in a plain number's text."""
    sign = "-" if text.startswith("-") else ""
    whole, dot, fraction = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{fraction}"


def grouped(value: Decimal) -> str:
    """A number as people read it: `120,000,000`, `0.0000025` (exact, no trailing zeros)."""
    return group_digits(format_decimal(value))


def money_text(amount: Decimal, currency: str) -> str:
    """An amount rounded to the currency's precision with its symbol: `$1,250.00`, `-$5.00`,
    `¥12`, `CHF 3.50`; without a currency, 2 places and no symbol. An amount that rounds to
    zero has no minus sign."""
    code = currency.strip().lower()
    if code:
        rounded = round_money(amount, code)
        places = currency_precision(code)
    else:
        rounded, places = round_money(amount, "usd"), 2
    text = group_digits(format(abs(rounded), f".{places}f"))
    sign = "-" if rounded < ZERO else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{text}"
    return f"{sign}{code.upper()} {text}" if code else f"{sign}{text}"
