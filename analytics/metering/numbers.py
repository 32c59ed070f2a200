"""Exact numbers as the engine reports them: plain decimals, epoch seconds, weighted sums."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any

from costsheets.pricing import ratio

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sums of a few thousand bucket values stay exact well within 100 significant digits.
EXACT = Context(prec=100, rounding=ROUND_HALF_UP)


def epoch_seconds(moment: datetime) -> Decimal:
    """Seconds since 1970 with microseconds, exactly as PostgreSQL's extract(epoch …)."""
    delta = moment - EPOCH
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def plain(value: Decimal) -> Decimal:
    """The same number without trailing zeros and without an exponent: 1.50 → 1.5, 1E+2 → 100."""
    sign, digits, exponent = value.as_tuple()
    # Most numbers are plain already (the statement trims them): return those as they are.
    if exponent == 0 and not (sign and digits == (0,)):
        return value
    if isinstance(exponent, int) and exponent < 0 and digits[-1] != 0:
        return value
    size = max(len(digits), value.adjusted() + 1) + 2
    with localcontext(Context(prec=max(size, 28))):
        normalized = value.normalize()
        if normalized.as_tuple().exponent > 0:  # type: ignore[operator]
            normalized = normalized.quantize(Decimal(1))
    return normalized.copy_abs() if normalized.is_zero() else normalized


def weighted_sum(measures: Sequence[Any], start: datetime, end: datetime) -> Decimal:
    """WEIGHTED_SUM over [start, end) from (value count, Σ q, Σ q times the epoch seconds of t)."""
    value_sum, value_time_sum = measures[1], measures[2]
    end_seconds, start_seconds = epoch_seconds(end), epoch_seconds(start)
    with localcontext(EXACT):
        weighted = end_seconds * value_sum - value_time_sum
        return plain(ratio(weighted, end_seconds - start_seconds))
