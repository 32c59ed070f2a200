"""Form fields for the admin that refuse, as form errors, what the database can't store: the
same bounds the API applies (flexprice_site.bounds), so no input reaches a failed query."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput, JSONString

from flexprice_site.bounds import text_error, timestamp_in_utc
from flexprice_site.parsers import JSONRefused, read_json


def _finite_float(text: str) -> float:
    # A number too large for a double (1e400) would be infinity, which JSONB can't hold.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


class StorableJSONField(forms.JSONField):
    """A JSON text box read as the API reads bodies (`read_json`): nested at most 64 levels,
    no NUL or unpaired surrogate in a key or string, no number too large for a double."""

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values:
            return super().to_python(value)
        if isinstance(value, list | dict | int | float | JSONString):
            return value
        try:
            converted = read_json(value, parse_float=_finite_float)
        except JSONRefused as refused:
            raise ValidationError(str(refused), code="unstorable") from None
        except ValueError:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Shown again as typed when it can't be read (Django's own json.loads here would hit
        # the recursion limit on deeply nested input).
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return read_json(data, parse_float=_finite_float)
        except (JSONRefused, ValueError):
            return InvalidJSONInput(data)


def validate_storable_date(value: date) -> None:
    """A form's date whose day starts (in UTC) within the bounds the API applies."""
    validate_storable_timestamp(datetime.combine(value, time(), UTC))


def validate_storable_timestamp(value: datetime) -> None:
    """A form's (aware) date and time within the bounds the API applies."""
    try:
        timestamp_in_utc(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="out_of_bounds") from None


class _RefusesNul:
    """A choice of rows whose submitted key holds a NUL is no choice: refused before the lookup
    that PostgreSQL would fail."""

    error_messages: dict[str, Any]

    def clean(self, value: Any) -> Any:
        if problem := _key_problem(value):
            raise ValidationError(problem, code="invalid_choice")
        return super().clean(value)  # type: ignore[misc]

    def bound_data(self, data: Any, initial: Any) -> Any:
        # The form shown again looks its choice up too (an autocomplete shows its label).
        return None if _key_problem(data) else super().bound_data(data, initial)  # type: ignore[misc]


def _key_problem(value: Any) -> str | None:
    for key in value if isinstance(value, list | tuple) else [value]:
        if isinstance(key, str) and (problem := text_error(key)):
            return problem
    return None


class StorableModelChoiceField(_RefusesNul, forms.ModelChoiceField):
    pass


class StorableModelMultipleChoiceField(_RefusesNul, forms.ModelMultipleChoiceField):
    pass
