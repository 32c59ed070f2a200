"""Money and numbers as every page, email and export shows them (costsheets.formatting)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costsheets.formatting import grouped, money_text

D = Decimal


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1234.565", "usd", "$1,234.57"),
        ("-5", "usd", "-$5.00"),
        ("-0.001", "usd", "$0.00"),  # rounds to zero: no minus sign
        ("1200.4", "jpy", "¥1,200"),
        ("3.5", "cad", "C$3.50"),  # the admin's and the email's symbol alike
        ("3.5", "CHF", "CHF 3.50"),  # no symbol: the code
        ("1.2345", "kwd", "KWD 1.235"),  # three minor places
        ("0", "", "0.00"),
    ],
)
def test_money_reads_the_same_everywhere(amount: str, currency: str, expected: str) -> None:
    assert money_text(D(amount), currency) == expected


def test_grouped_numbers_stay_exact() -> None:
    assert grouped(D("120000000")) == "120,000,000"
    assert grouped(D("0.0000025")) == "0.0000025"
    assert grouped(D("-1234.50")) == "-1,234.5"
