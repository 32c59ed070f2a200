"""Writes for meters and features (a feature can bring its meter along, as in Flexprice)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction

from costsheets.models import AggregationType, Feature, FeatureType, Meter, ResetUsage
from costsheets.services.common import (
    apply_changes,
    check_metadata,
    coerce_decimals,
    place_in,
    raise_if_errors,
    related_errors,
    save_checked,
    soft_delete,
)
from costsheets.validation import feature_errors, meter_errors
from flexprice_site.errors import InvalidOperation, ValidationFailed
from flexprice_site.models import Environment, Status

METER_UPDATABLE = frozenset(
    {
        "name",
        "event_name",
        "aggregation_type",
        "aggregation_field",
        "aggregation_expression",
        "aggregation_multiplier",
        "bucket_size",
        "aggregation_group_by",
        "filters",
        "rollup_properties",
        "reset_usage",
        "metadata",
    }
)
FEATURE_UPDATABLE = frozenset(
    {
        "name",
        "lookup_key",
        "description",
        "unit_singular",
        "unit_plural",
        "reporting_unit_singular",
        "reporting_unit_plural",
        "reporting_unit_conversion_rate",
        "metadata",
    }
)


def _rollups_follow(meter: Meter) -> None:
    """Keep the meter's usage rollups in step with its settings: analytics rebuilds them in the
    background when a setting that decides what counts changes (docs/metering.md, "Rollups")."""
    # Imported here: analytics builds on the catalogue and imports it at load time, so the
    # catalogue reaches into analytics only when a meter is saved (no import cycle).
    from analytics.rollups.services import rollup_state_sync

    rollup_state_sync(meter=meter)


@transaction.atomic
def meter_create(
    *,
    environment: Environment,
    name: str,
    event_name: str,
    aggregation_type: str = AggregationType.COUNT,
    aggregation_field: str = "",
    aggregation_expression: str = "",
    aggregation_multiplier: Decimal | None = None,
    bucket_size: str = "",
    aggregation_group_by: str = "",
    filters: Sequence[Mapping[str, Any]] | None = None,
    rollup_properties: Sequence[str] = (),
    reset_usage: str = ResetUsage.BILLING_PERIOD,
    metadata: Mapping[str, str] | None = None,
    actor: str = "",
) -> Meter:
    meter = Meter(
        name=name,
        event_name=event_name,
        aggregation_type=aggregation_type,
        aggregation_field=aggregation_field,
        aggregation_expression=aggregation_expression,
        aggregation_multiplier=aggregation_multiplier,
        bucket_size=bucket_size,
        aggregation_group_by=aggregation_group_by,
        filters=[] if filters is None else filters,
        rollup_properties=list(rollup_properties),
        reset_usage=reset_usage,
        metadata=check_metadata(metadata),
    )
    place_in(meter, environment=environment, actor=actor)
    coerce_decimals(meter)
    raise_if_errors(meter_errors(meter))
    save_checked(meter)
    _rollups_follow(meter)
    return meter


@transaction.atomic
def meter_update(*, meter: Meter, data: Mapping[str, Any], actor: str = "") -> Meter:
    update_fields = apply_changes(meter, data, allowed=METER_UPDATABLE, actor=actor)
    raise_if_errors(meter_errors(meter))
    save_checked(meter, update_fields=update_fields)
    _rollups_follow(meter)
    return meter


@transaction.atomic
def meter_delete(*, meter: Meter, actor: str = "") -> Meter:
    """Soft-delete a meter that no live feature or price uses any more."""
    users = [
        f"{count} {what}"
        for count, what in (
            (meter.features.exclude(status=Status.DELETED).count(), "feature(s)"),
            (meter.prices.exclude(status=Status.DELETED).count(), "price(s)"),
        )
        if count
    ]
    if users:
        raise InvalidOperation(
            f"Meter {meter.name} is used by {' and '.join(users)}; delete those first.",
            details={"meter": meter.pk},
        )
    soft_delete(meter, actor=actor)
    _rollups_follow(meter)
    return meter


@transaction.atomic
def feature_create(
    *,
    environment: Environment,
    name: str,
    type: str = FeatureType.METERED,
    lookup_key: str = "",
    description: str = "",
    meter: Meter | None = None,
    new_meter: Mapping[str, Any] | None = None,
    unit_singular: str = "",
    unit_plural: str = "",
    reporting_unit_singular: str = "",
    reporting_unit_plural: str = "",
    reporting_unit_conversion_rate: Decimal | None = None,
    metadata: Mapping[str, str] | None = None,
    actor: str = "",
) -> Feature:
    """Create a feature, with an existing `meter` or a `new_meter` (meter_create's arguments;
    its name defaults to the feature's). Problems with the new meter are named `meter.<field>`.
    """
    if meter is not None and new_meter is not None:
        message = "Give an existing meter or the settings of a new one, not both."
        raise ValidationFailed(message, details={"meter": message})
    feature = Feature(
        name=name,
        type=type,
        lookup_key=lookup_key,
        description=description,
        meter=meter,
        unit_singular=unit_singular,
        unit_plural=unit_plural,
        reporting_unit_singular=reporting_unit_singular,
        reporting_unit_plural=reporting_unit_plural,
        reporting_unit_conversion_rate=reporting_unit_conversion_rate,
        metadata=check_metadata(metadata),
    )
    place_in(feature, environment=environment, actor=actor)
    coerce_decimals(feature)
    errors = related_errors(meter, environment=environment, field="meter", label="meter")
    unknown = sorted(set(new_meter or {}) - METER_UPDATABLE)
    if unknown:
        errors = {f"meter.{key}": "This is not a meter setting." for key in unknown}
    if new_meter is not None:
        # Checked with a placeholder meter first, so a bad feature creates no meter.
        feature.meter_id = "pending"
    raise_if_errors(errors or feature_errors(feature))
    if new_meter is not None:
        try:
            feature.meter = meter_create(
                environment=environment,
                actor=actor,
                **{"name": name, **new_meter},
            )
        except ValidationFailed as exc:
            raise ValidationFailed(
                exc.message, details={f"meter.{key}": value for key, value in exc.details.items()}
            ) from exc
    save_checked(feature)
    return feature


def feature_update(*, feature: Feature, data: Mapping[str, Any], actor: str = "") -> Feature:
    """Change a feature's names, units and metadata; its type and meter stay as created."""
    update_fields = apply_changes(feature, data, allowed=FEATURE_UPDATABLE, actor=actor)
    raise_if_errors(feature_errors(feature))
    save_checked(feature, update_fields=update_fields)
    return feature


def feature_delete(*, feature: Feature, actor: str = "") -> Feature:
    soft_delete(feature, actor=actor)
    return feature
