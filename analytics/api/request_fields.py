"""Request pieces both analytics endpoints share: property values, range limits and the checks
of property filters, time zones and currencies."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.metering.query import FILTER_KEY_PATTERN
from costsheets.models import WindowSize
from costsheets.validation import time_zone_error
from flexprice_site.rendering import format_decimal

DEFAULT_RANGE = timedelta(days=7)
MAX_LIST = 1000
# More windows than this is more points than any chart draws (a month of minutes is 43,200).
MAX_WINDOWS = 50_000
# Nominal lengths (MONTH the shortest), to bound the number of windows before any is computed.
WINDOW_LENGTHS = {
    WindowSize.MINUTE: timedelta(minutes=1),
    WindowSize.MINUTES_15: timedelta(minutes=15),
    WindowSize.MINUTES_30: timedelta(minutes=30),
    WindowSize.HOUR: timedelta(hours=1),
    WindowSize.HOURS_3: timedelta(hours=3),
    WindowSize.HOURS_6: timedelta(hours=6),
    WindowSize.HOURS_12: timedelta(hours=12),
    WindowSize.DAY: timedelta(days=1),
    WindowSize.WEEK: timedelta(days=7),
    WindowSize.MONTH: timedelta(days=28),
}


@extend_schema_field(OpenApiTypes.STR)
class PropertyValueField(serializers.Field):
    """A property value to match: text, or a JSON number or boolean, compared in its canonical
    string form (`100`, `1.5`, `true`) as meter filters compare them (SPEC §3)."""

    default_error_messages = {"invalid": "Give property values as strings (or numbers)."}

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool):
            return "true" if data else "false"
        if isinstance(data, int | Decimal):
            return format_decimal(Decimal(data))
        if isinstance(data, str):
            return data
        self.fail("invalid")
        raise AssertionError("unreachable")

    def to_representation(self, value: Any) -> str:
        return str(value)


class ScopeValidationMixin:
    """`validate_<field>` methods for the fields both analytics requests have."""

    def validate_property_filters(self, value: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
        for key in value:
            if FILTER_KEY_PATTERN.fullmatch(key) is None:
                raise serializers.ValidationError(
                    {key: [f"“{key}” is not a property name this API filters on."]}
                )
        return {key: tuple(dict.fromkeys(values)) for key, values in value.items()}

    def validate_time_zone(self, value: str | None) -> str | None:
        if not value:
            return None
        error = time_zone_error(value)
        if error:
            raise serializers.ValidationError(error)
        return value

    def validate_currency(self, value: str) -> str | None:
        code = value.strip().lower()
        if not code:
            return None
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            raise serializers.ValidationError("Give a 3-letter ISO currency code, e.g. usd.")
        return code


def check_range(start: datetime, end: datetime, window_size: str | None) -> None:
    """Refuse an empty or reversed range, and one with more windows than any chart draws."""
    if start >= end:
        raise serializers.ValidationError(
            {"start_time": ["start_time must be before end_time (the range is [start, end))."]}
        )
    if window_size is not None and (end - start) / WINDOW_LENGTHS[window_size] > MAX_WINDOWS:
        raise serializers.ValidationError(
            {
                "window_size": [
                    f"The range holds more than {MAX_WINDOWS} windows of {window_size}; use "
                    "a larger window_size or a shorter range."
                ]
            }
        )
