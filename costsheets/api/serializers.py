"""Shared JSON shapes of the catalogue API, and those of customers, meters and features."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from costsheets.api.common import (
    EnumField,
    MetadataField,
    ScopedIdField,
    StrictStringField,
    WholeObjectSerializer,
    refuse_fields,
)
from costsheets.models import (
    AggregationType,
    Customer,
    FeatureType,
    Meter,
    ResetUsage,
    WindowSize,
)
from costsheets.validation import MAX_ROLLUP_PROPERTIES
from flexprice_site.models import Status
from flexprice_site.rendering import MoneyField, UtcDateTimeField

# --- shared ------------------------------------------------------------------------------------


class NullIfBlankChoiceField(EnumField):
    """An optional enum stored as "" when unset; shown as null, never as an empty string."""

    def __init__(self, choices: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        super().__init__(choices, **kwargs)

    def to_representation(self, value: Any) -> Any:
        return None if value in ("", None) else super().to_representation(value)


class ScopedRowSerializer(serializers.Serializer):
    """The fields every catalogue row carries (SPEC §2)."""

    id = serializers.CharField(read_only=True)
    tenant_id = serializers.CharField(read_only=True)
    environment_id = serializers.CharField(read_only=True)
    status = EnumField(Status, read_only=True)
    metadata = serializers.DictField(child=serializers.CharField(), read_only=True)
    created_at = UtcDateTimeField(read_only=True)
    updated_at = UtcDateTimeField(read_only=True)
    created_by = serializers.CharField(read_only=True)
    updated_by = serializers.CharField(read_only=True)


class MessageSerializer(serializers.Serializer):
    """Flexprice's answer to a delete: what happened, in words."""

    message = serializers.CharField()


class StatusUpdateField(EnumField):
    """`status` in an update. Same choices as responses show; setting `deleted` is refused by
    the services (deleting has its own endpoint, which checks what depends on the row)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(Status, **kwargs)


# --- customers ---------------------------------------------------------------------------------


class CustomerSerializer(ScopedRowSerializer):
    external_id = serializers.CharField(source="external_customer_id", read_only=True)
    name = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True)
    timezone = serializers.CharField(read_only=True)
    parent_customer_id = serializers.CharField(source="parent_id", read_only=True, allow_null=True)
    address_line1 = serializers.CharField(read_only=True)
    address_line2 = serializers.CharField(read_only=True)
    address_city = serializers.CharField(read_only=True)
    address_state = serializers.CharField(read_only=True)
    address_postal_code = serializers.CharField(read_only=True)
    address_country = serializers.CharField(read_only=True)


@extend_schema_serializer(component_name="Customer")
class CustomerWriteSerializer(serializers.Serializer):
    """Create (external_id required) or update (every field optional) a customer."""

    external_id = StrictStringField(max_length=255)
    name = StrictStringField(max_length=255, required=False, allow_blank=True)
    email = StrictStringField(max_length=255, required=False, allow_blank=True)
    timezone = StrictStringField(max_length=64, required=False)
    parent_customer_id = ScopedIdField(
        queryset=Customer.objects.all(), label_text="customer", required=False, allow_null=True
    )
    address_line1 = StrictStringField(max_length=255, required=False, allow_blank=True)
    address_line2 = StrictStringField(max_length=255, required=False, allow_blank=True)
    address_city = StrictStringField(max_length=100, required=False, allow_blank=True)
    address_state = StrictStringField(max_length=100, required=False, allow_blank=True)
    address_postal_code = StrictStringField(max_length=20, required=False, allow_blank=True)
    address_country = StrictStringField(max_length=2, required=False, allow_blank=True)
    metadata = MetadataField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The service's argument names."""
        renamed = {"external_id": "external_customer_id", "parent_customer_id": "parent"}
        return {renamed.get(key, key): value for key, value in attrs.items()}


# Service field names → the JSON names a client sent (for error details).
CUSTOMER_FIELD_NAMES = {"external_customer_id": "external_id", "parent": "parent_customer_id"}


# --- meters ------------------------------------------------------------------------------------


class AggregationSerializer(WholeObjectSerializer):
    """A meter's `aggregation`: how matching events become one quantity."""

    type = EnumField(AggregationType)
    field = StrictStringField(max_length=255, required=False, allow_blank=True)
    expression = StrictStringField(required=False, allow_blank=True)
    multiplier = MoneyField(required=False, allow_null=True)
    bucket_size = NullIfBlankChoiceField(WindowSize, required=False, allow_blank=True)
    group_by = StrictStringField(max_length=255, required=False, allow_blank=True)


class MeterFilterSerializer(WholeObjectSerializer):
    key = StrictStringField(max_length=255)
    values = serializers.ListField(child=StrictStringField(), min_length=1)


class MeterSerializer(ScopedRowSerializer):
    name = serializers.CharField(read_only=True)
    event_name = serializers.CharField(read_only=True)
    aggregation = AggregationSerializer(read_only=True)
    filters = MeterFilterSerializer(many=True, read_only=True)
    rollup_properties = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Extension: properties kept in the hourly rollups, so that usage analytics "
        "filtered or grouped by them skip raw events.",
    )
    reset_usage = EnumField(ResetUsage, read_only=True)


@extend_schema_serializer(component_name="Meter")
class MeterWriteSerializer(serializers.Serializer):
    """Create or update a meter; a given `aggregation` replaces the whole aggregation."""

    name = StrictStringField(max_length=255)
    event_name = StrictStringField(max_length=255)
    aggregation = AggregationSerializer()
    filters = MeterFilterSerializer(many=True, required=False)
    rollup_properties = serializers.ListField(
        child=StrictStringField(max_length=64),
        required=False,
        max_length=MAX_ROLLUP_PROPERTIES,
        help_text=f"Extension: properties kept in the hourly rollups (at most "
        f"{MAX_ROLLUP_PROPERTIES}, each with few "
        "values), so that usage analytics filtered or grouped by them skip raw events. "
        "Changing the list rebuilds the meter's rollups in the background.",
    )
    reset_usage = EnumField(ResetUsage, required=False)
    metadata = MetadataField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The service's argument names: the aggregation becomes its columns."""
        values = dict(attrs)
        aggregation = values.pop("aggregation", None)
        if aggregation is not None:
            values.update(
                aggregation_type=aggregation["type"],
                aggregation_field=aggregation.get("field", ""),
                aggregation_expression=aggregation.get("expression", ""),
                aggregation_multiplier=aggregation.get("multiplier"),
                bucket_size=aggregation.get("bucket_size") or "",
                aggregation_group_by=aggregation.get("group_by", ""),
            )
        if "filters" in values:
            values["filters"] = [dict(item) for item in values["filters"]]
        return values


METER_FIELD_NAMES = {
    "aggregation_type": "aggregation.type",
    "aggregation_field": "aggregation.field",
    "aggregation_expression": "aggregation.expression",
    "aggregation_multiplier": "aggregation.multiplier",
    "bucket_size": "aggregation.bucket_size",
    "aggregation_group_by": "aggregation.group_by",
}


# --- features ----------------------------------------------------------------------------------


class ReportingUnitSerializer(WholeObjectSerializer):
    """Usage shown in another unit: reporting value = usage times conversion_rate."""

    unit_singular = StrictStringField(max_length=100, required=False, allow_blank=True)
    unit_plural = StrictStringField(max_length=100, required=False, allow_blank=True)
    conversion_rate = MoneyField()


class FeatureSerializer(ScopedRowSerializer):
    name = serializers.CharField(read_only=True)
    lookup_key = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    type = EnumField(FeatureType, read_only=True)
    meter_id = serializers.CharField(read_only=True, allow_null=True)
    meter = MeterSerializer(read_only=True, allow_null=True)
    unit_singular = serializers.CharField(read_only=True)
    unit_plural = serializers.CharField(read_only=True)
    reporting_unit = ReportingUnitSerializer(read_only=True, allow_null=True)


# Requests are named after what they create in the OpenAPI schema (`Feature` / `FeatureRequest`).
@extend_schema_serializer(component_name="Feature")
class FeatureCreateSerializer(serializers.Serializer):
    """A feature, with an existing `meter_id` or a new `meter` created along with it."""

    name = StrictStringField(max_length=255)
    type = EnumField(FeatureType)
    lookup_key = StrictStringField(max_length=255, required=False, allow_blank=True)
    description = StrictStringField(required=False, allow_blank=True)
    meter_id = ScopedIdField(queryset=Meter.objects.all(), label_text="meter", required=False)
    meter = MeterWriteSerializer(required=False)
    unit_singular = StrictStringField(max_length=100, required=False, allow_blank=True)
    unit_plural = StrictStringField(max_length=100, required=False, allow_blank=True)
    reporting_unit = ReportingUnitSerializer(required=False, allow_null=True)
    metadata = MetadataField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        values = dict(attrs)
        if "meter_id" in values and "meter" in values:
            raise serializers.ValidationError(
                {"meter": ["Give meter_id (an existing meter) or meter (a new one), not both."]}
            )
        if "meter_id" in values:
            values["meter"] = values.pop("meter_id")
        elif "meter" in values:
            values["new_meter"] = values.pop("meter")
        values.update(_reporting_unit_columns(values.pop("reporting_unit", None), attrs))
        return values


_FIXED_FEATURE = "A feature's type and meter are fixed once it exists; create a new feature."


class FeatureUpdateSerializer(serializers.Serializer):
    """Change a feature's names, units and metadata."""

    name = StrictStringField(max_length=255, required=False)
    lookup_key = StrictStringField(max_length=255, required=False, allow_blank=True)
    description = StrictStringField(required=False, allow_blank=True)
    unit_singular = StrictStringField(max_length=100, required=False, allow_blank=True)
    unit_plural = StrictStringField(max_length=100, required=False, allow_blank=True)
    reporting_unit = ReportingUnitSerializer(required=False, allow_null=True)
    metadata = MetadataField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        refuse_fields(
            data,
            {
                "filters": "A feature's filters are its meter's: change them with "
                "PUT /v1/meters/{id}.",
                "type": _FIXED_FEATURE,
                "meter_id": _FIXED_FEATURE,
                "meter": _FIXED_FEATURE,
            },
        )
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        values = dict(attrs)
        values.update(_reporting_unit_columns(values.pop("reporting_unit", None), attrs))
        return values


def _reporting_unit_columns(unit: dict[str, Any] | None, attrs: dict[str, Any]) -> dict[str, Any]:
    """`reporting_unit` as the feature's columns; an explicit null removes it."""
    if "reporting_unit" not in attrs:
        return {}
    unit = unit or {}
    return {
        "reporting_unit_singular": unit.get("unit_singular", ""),
        "reporting_unit_plural": unit.get("unit_plural", ""),
        "reporting_unit_conversion_rate": unit.get("conversion_rate"),
    }


FEATURE_FIELD_NAMES = {
    "meter": "meter_id",
    "reporting_unit_singular": "reporting_unit.unit_singular",
    "reporting_unit_plural": "reporting_unit.unit_plural",
    "reporting_unit_conversion_rate": "reporting_unit.conversion_rate",
    **{f"meter.{name}": f"meter.{api}" for name, api in METER_FIELD_NAMES.items()},
}
