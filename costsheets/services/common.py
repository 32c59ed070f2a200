"""Plumbing shared by the catalogue services: checks, stamps, uniqueness and soft delete."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, models, transaction

from costsheets.models import DECIMAL_DIGITS, DECIMAL_PLACES
from costsheets.validation import Errors, metadata_errors
from flexprice_site.errors import AlreadyExists, ValidationFailed
from flexprice_site.models import Environment, Status, TenantScopedModel

# Unique constraints of the catalogue → (field, message). Saving relies on the database to
# catch clashes, so two concurrent requests can't both create the same name.
UNIQUE_CONSTRAINTS: dict[str, tuple[str, str]] = {
    "customer_unique_external_id": (
        "external_customer_id",
        "A customer with external ID “{value}” already exists.",
    ),
    "costsheet_unique_name": ("name", "A costsheet named “{value}” already exists."),
    "costsheet_unique_published_lookup_key": (
        "lookup_key",
        "A published costsheet with lookup key “{value}” already exists.",
    ),
    "plan_unique_published_lookup_key": (
        "lookup_key",
        "A published plan with lookup key “{value}” already exists.",
    ),
    "feature_unique_published_lookup_key": (
        "lookup_key",
        "A published feature with lookup key “{value}” already exists.",
    ),
    "price_unique_published_lookup_key": (
        "lookup_key",
        "A published price with lookup key “{value}” already exists.",
    ),
}


def raise_if_errors(errors: Errors, *, prefix: str = "") -> None:
    """Raise ValidationFailed naming every offending field, led by the first message."""
    if errors:
        details = {f"{prefix}{field}": message for field, message in errors.items()}
        raise ValidationFailed(next(iter(errors.values())), details=details)


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


def save_checked(instance: models.Model, *, update_fields: Collection[str] | None = None) -> None:
    """Save, turning a clash with a catalogue unique constraint into AlreadyExists."""
    try:
        # A savepoint, so a clash leaves the caller's transaction usable.
        with transaction.atomic():
            instance.save(update_fields=update_fields)
    except IntegrityError as exc:
        known = UNIQUE_CONSTRAINTS.get(_constraint_name(exc))
        if known is None:
            raise
        field, template = known
        message = template.format(value=getattr(instance, field))
        raise AlreadyExists(message, details={field: message}) from exc


def place_in(instance: TenantScopedModel, *, environment: Environment, actor: str) -> None:
    """Give a new row its tenant, environment and author."""
    instance.tenant_id = environment.tenant_id
    instance.environment = environment
    instance.created_by = actor
    instance.updated_by = actor


# Decimal columns hold 30 digits, 12 of them after the point.
_LARGEST_DECIMAL = Decimal(10) ** (DECIMAL_DIGITS - DECIMAL_PLACES)


def as_decimal(value: object) -> tuple[Decimal | None, str]:
    """(the number, "") for a Decimal, int or numeric string that fits a Decimal column, else
    (None, why not). Floats are refused rather than converted: they carry binary noise."""
    number: Decimal | None = None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | str) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
    if number is None or not number.is_finite():
        if isinstance(value, float):
            return None, f"{value} is a float; give the number as a Decimal or a string."
        return None, f"“{value}” is not a number."
    if abs(number) >= _LARGEST_DECIMAL:
        digits = DECIMAL_DIGITS - DECIMAL_PLACES
        return None, f"{value} is too large: at most {digits} digits before the decimal point."
    return number, ""


def coerce_decimals(instance: models.Model, *, only: Collection[str] | None = None) -> None:
    """Turn the values of the Decimal columns (strings or ints from callers) into Decimals."""
    errors: Errors = {}
    for field in instance._meta.concrete_fields:
        if not isinstance(field, models.DecimalField) or (
            only is not None and field.name not in only
        ):
            continue
        value = getattr(instance, field.attname)
        if value is None:
            continue
        number, problem = as_decimal(value)
        if problem:
            errors[field.name] = problem
        else:
            setattr(instance, field.attname, number)
    raise_if_errors(errors)


def check_metadata(metadata: Any) -> dict[str, str]:
    metadata = {} if metadata is None else metadata
    raise_if_errors(metadata_errors(metadata))
    return dict(metadata)


def related_errors(
    row: TenantScopedModel | None, *, environment: Environment, field: str, label: str
) -> Errors:
    """A row another one points at must be live and in the same tenant + environment."""
    if row is None:
        return {}
    if (
        row.tenant_id != environment.tenant_id
        or row.environment_id != environment.pk
        or row.status == Status.DELETED
    ):
        return {field: f"There is no {label} {row.pk} in this environment."}
    return {}


def apply_changes(
    instance: TenantScopedModel,
    data: Mapping[str, Any],
    *,
    allowed: Collection[str],
    actor: str,
) -> list[str]:
    """Set the given fields (only those in `allowed`); returns the fields to save."""
    refused = sorted(set(data) - set(allowed))
    if refused:
        raise ValidationFailed(
            f"These fields cannot be changed: {', '.join(refused)}.",
            details=dict.fromkeys(refused, "This field cannot be changed."),
        )
    if "status" in data and data["status"] not in (Status.PUBLISHED, Status.ARCHIVED):
        # Deleting has its own service, which checks what still depends on the row.
        message = "Status can be changed to published or archived only."
        raise ValidationFailed(message, details={"status": message})
    for field, value in data.items():
        if field == "metadata":
            value = check_metadata(value)
        setattr(instance, field, value)
    coerce_decimals(instance, only=data.keys())
    instance.updated_by = actor
    return [*data, "updated_by", "updated_at"]


def soft_delete(instance: TenantScopedModel, *, actor: str) -> None:
    """Mark a row deleted; it stays for history, and frees its unique names."""
    instance.status = Status.DELETED
    instance.updated_by = actor
    instance.save(update_fields=["status", "updated_by", "updated_at"])
