"""Column helpers and choices shared by the catalogue models."""

from __future__ import annotations

from typing import Any

from django.db import models

# Money and quantities: 18 integer digits and 12 decimals hold any amount, any unit price down
# to a millionth of a cent, and sums of billions of events, exactly.
DECIMAL_DIGITS = 30
DECIMAL_PLACES = 12


def decimal_field(**kwargs: Any) -> models.DecimalField:
    """A Decimal column for money or quantities (never a float)."""
    return models.DecimalField(max_digits=DECIMAL_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


class BillingPeriod(models.TextChoices):
    MONTHLY = "MONTHLY", "Monthly"
    ANNUAL = "ANNUAL", "Annual"
    WEEKLY = "WEEKLY", "Weekly"
    DAILY = "DAILY", "Daily"
    QUARTERLY = "QUARTERLY", "Quarterly"
    HALF_YEARLY = "HALF_YEARLY", "Half-yearly"
    ONETIME = "ONETIME", "One time"
