"""Meters (what to count in usage events) and the features customers see them as."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from costsheets.models.base import decimal_field
from flexprice_site.fields import PrefixedIdField
from flexprice_site.models import Status, TenantScopedModel


class AggregationType(models.TextChoices):
    COUNT = "COUNT", "Count of events"
    SUM = "SUM", "Sum"
    AVG = "AVG", "Average"
    COUNT_UNIQUE = "COUNT_UNIQUE", "Count of unique values"
    LATEST = "LATEST", "Latest value"
    SUM_WITH_MULTIPLIER = "SUM_WITH_MULTIPLIER", "Sum × multiplier"
    MAX = "MAX", "Maximum"
    WEIGHTED_SUM = "WEIGHTED_SUM", "Time-weighted sum"


class WindowSize(models.TextChoices):
    """Window sizes of analytics and bucket sizes of bucketed meters (SPEC §3)."""

    MINUTE = "MINUTE", "Minute"
    MINUTES_15 = "15MIN", "15 minutes"
    MINUTES_30 = "30MIN", "30 minutes"
    HOUR = "HOUR", "Hour"
    HOURS_3 = "3HOUR", "3 hours"
    HOURS_6 = "6HOUR", "6 hours"
    HOURS_12 = "12HOUR", "12 hours"
    DAY = "DAY", "Day"
    WEEK = "WEEK", "Week"
    MONTH = "MONTH", "Month"


class ResetUsage(models.TextChoices):
    BILLING_PERIOD = "BILLING_PERIOD", "Every billing period"
    NEVER = "NEVER", "Never"


class Meter(TenantScopedModel):
    """How events named `event_name` (and matching `filters`) become a usage quantity.

    The aggregation is stored as columns rather than one JSON object so that the admin can
    edit and validate each part and SQL can read them without JSON extraction.
    """

    id = PrefixedIdField(prefix="meter")
    name = models.CharField(max_length=255)
    event_name = models.CharField(max_length=255)
    aggregation_type = models.CharField(
        max_length=32, choices=AggregationType.choices, default=AggregationType.COUNT
    )
    aggregation_field = models.CharField(
        max_length=255, blank=True, help_text="The event property to aggregate."
    )
    aggregation_expression = models.TextField(
        blank=True,
        help_text="A CEL expression over event properties, e.g. input_tokens + output_tokens.",
    )
    aggregation_multiplier = decimal_field(null=True, blank=True)
    bucket_size = models.CharField(
        max_length=16,
        choices=WindowSize.choices,
        blank=True,
        help_text="Aggregate per bucket of this size, then add the buckets (MAX and SUM).",
    )
    aggregation_group_by = models.CharField(
        max_length=255,
        blank=True,
        help_text="Property to take the MAX per value of within each bucket.",
    )
    filters = models.JSONField(
        default=list,
        blank=True,
        help_text='Only count events whose properties match, e.g. [{"key": "model", '
        '"values": ["gpt-4o"]}].',
    )
    reset_usage = models.CharField(
        max_length=16, choices=ResetUsage.choices, default=ResetUsage.BILLING_PERIOD
    )
    # Each kept property multiplies the meter's rollup rows by its number of values, so the
    # list is short (MAX_ROLLUP_PROPERTIES) and meant for low-cardinality properties.
    rollup_properties = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        verbose_name="properties kept in rollups",
        help_text="Properties kept in the hourly rollups, so that analytics filtered or grouped "
        "by them skip raw events, e.g. “model, region”. At most 3, each with few values (each "
        "multiplies the rollup rows by its number of values). Changing the list rebuilds the "
        "meter's rollups in the background; until then its analytics read raw events.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["tenant", "environment", "created_at"], name="meter_scope_created"
            ),
            models.Index(fields=["tenant", "environment", "event_name"], name="meter_scope_event"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.event_name}, {self.aggregation_type})"

    @property
    def aggregation(self) -> dict[str, Any]:
        """The aggregation as Flexprice's API shows it (`{type, field, expression, …}`)."""
        return {
            "type": self.aggregation_type,
            "field": self.aggregation_field,
            "expression": self.aggregation_expression,
            "multiplier": self.aggregation_multiplier,
            "bucket_size": self.bucket_size,
            "group_by": self.aggregation_group_by,
        }

    @property
    def is_bucketed(self) -> bool:
        return bool(self.bucket_size)


class FeatureType(models.TextChoices):
    METERED = "metered", "Metered"
    BOOLEAN = "boolean", "Boolean"
    STATIC = "static", "Static"


class Feature(TenantScopedModel):
    id = PrefixedIdField(prefix="feat")
    name = models.CharField(max_length=255)
    lookup_key = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=16, choices=FeatureType.choices, default=FeatureType.METERED)
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, null=True, blank=True, related_name="features"
    )
    unit_singular = models.CharField(max_length=100, blank=True)
    unit_plural = models.CharField(max_length=100, blank=True)
    # The optional reporting unit (SPEC §2), e.g. usage in seconds shown in minutes.
    reporting_unit_singular = models.CharField(max_length=100, blank=True)
    reporting_unit_plural = models.CharField(max_length=100, blank=True)
    reporting_unit_conversion_rate = decimal_field(
        null=True,
        blank=True,
        help_text="reporting value = usage × conversion rate; must be above 0.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "environment", "lookup_key"],
                condition=Q(status=Status.PUBLISHED) & ~Q(lookup_key=""),
                name="feature_unique_published_lookup_key",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "environment", "created_at"], name="feat_scope_created"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def reporting_unit(self) -> dict[str, Any] | None:
        """`{unit_singular, unit_plural, conversion_rate}`, or None without a reporting unit."""
        if self.reporting_unit_conversion_rate is None:
            return None
        return {
            "unit_singular": self.reporting_unit_singular,
            "unit_plural": self.reporting_unit_plural,
            "conversion_rate": self.reporting_unit_conversion_rate,
        }
