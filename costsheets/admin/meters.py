"""Admin for meters (what usage events count) and features (how customers see them)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from analytics.admin.rollups import meter_rollup_status
from analytics.usage.charts import meter_usage_chart
from costsheets.admin.base import (
    RECORD_FIELDSET,
    CatalogueAdmin,
    CatalogueForm,
    StatusFilter,
    actor_of,
    created_range,
    readonly_link,
)
from costsheets.models import Feature, Meter
from costsheets.services import (
    feature_create,
    feature_delete,
    feature_update,
    meter_create,
    meter_delete,
    meter_update,
)
from costsheets.services.meters import FEATURE_UPDATABLE, METER_UPDATABLE
from costsheets.validation import Errors, feature_errors, meter_errors
from flexprice_site.rendering import format_decimal


def filters_to_text(filters: object) -> str:
    """`[{"key": "model", "values": ["a", "b"]}]` → `model = a, b` (one filter a line)."""
    if not isinstance(filters, list):
        return ""
    lines = []
    for item in filters:
        if isinstance(item, dict):
            values = item.get("values") or []
            lines.append(f"{item.get('key', '')} = {', '.join(str(value) for value in values)}")
    return "\n".join(lines)


class MeterFiltersField(forms.CharField):
    """Meter filters typed as lines `property = value, value`; the rules check the result."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60, "placeholder": "model = gpt-4o, o3"})

    def prepare_value(self, value: Any) -> str:
        return value if isinstance(value, str) else filters_to_text(value)

    def to_python(self, value: Any) -> list[dict[str, Any]]:
        text = super().to_python(value)
        filters = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, equals, values = line.partition("=")
            if not equals:
                raise ValidationError(
                    f"Line {number} (“{line.strip()}”) needs an “=”: property = value, value."
                )
            filters.append(
                {
                    "key": key.strip(),
                    "values": [value.strip() for value in values.split(",") if value.strip()],
                }
            )
        return filters

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != (initial or [])
        except ValidationError:
            return True


class MeterForm(CatalogueForm):
    filters = MeterFiltersField(
        required=False,
        help_text="Only count events whose properties match: one filter a line, "
        "“property = value, value”. An event must match every line, and any value of a line.",
    )

    class Meta:
        model = Meter
        fields = "__all__"
        widgets = {"aggregation_expression": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def rule_errors(self) -> Errors:
        return meter_errors(self.instance)


def usage_chart_context(meter: Meter) -> dict[str, Any]:
    """The meter's usage chart for the template: the table's text and the chart's data."""
    chart = meter_usage_chart(meter=meter, now=timezone.now())
    return {
        "chart": chart,
        "total_usage": format_decimal(chart.total_usage),
        "customers": [
            {
                "external_customer_id": customer.external_customer_id,
                "usage": format_decimal(customer.usage),
                "event_count": customer.event_count,
                "revenue": format_decimal(customer.revenue),
                "currency": customer.currency.upper(),
            }
            for customer in chart.top_customers
        ],
        "data": {
            "labels": [day.date().isoformat() for day, _, _ in chart.days],
            "usage": [format_decimal(usage) for _, usage, _ in chart.days],
            "events": [events for _, _, events in chart.days],
            "customers": [customer.external_customer_id for customer in chart.top_customers],
            "customer_usage": [format_decimal(customer.usage) for customer in chart.top_customers],
        },
    }


@admin.register(Meter)
class MeterAdmin(CatalogueAdmin):
    form = MeterForm
    # The usage chart (last 30 days, top customers) above the form.
    change_form_template = "admin/costsheets/meter/change_form.html"
    updatable_fields = METER_UPDATABLE
    list_display = [
        "name",
        "event_name",
        "aggregation_summary",
        "filters_summary",
        "reset_usage",
        "status",
        "created_at",
    ]
    list_filter = [
        StatusFilter,
        "aggregation_type",
        "bucket_size",
        "reset_usage",
        ("environment", admin.RelatedOnlyFieldListFilter),
        created_range(),
    ]
    search_fields = ["name", "event_name", "aggregation_field", "id"]
    fieldsets = [
        (None, {"fields": ["name", "event_name"]}),
        (
            "Aggregation",
            {
                "description": "COUNT counts events. Every other type needs the event property "
                "to aggregate (field) or a CEL expression over properties (SUM, AVG, MAX and "
                "LATEST only), never both.",
                "fields": [
                    "aggregation_type",
                    "aggregation_field",
                    "aggregation_expression",
                    "aggregation_multiplier",
                    "bucket_size",
                    "aggregation_group_by",
                ],
            },
        ),
        (None, {"fields": ["filters", "reset_usage"]}),
        ("More", {"classes": ["collapse"], "fields": ["environment", "metadata", "status"]}),
        # Owned by analytics/rollups: whether usage of this meter is served from rollups yet.
        (
            "Usage rollups",
            {
                "description": "Usage analytics read this meter's hourly rollups instead of "
                "every event. A chart filtered or grouped by an event property can use them only "
                "when the property is kept in the rollups; otherwise it reads the raw events, "
                "which is slower for large customers.",
                "fields": ["rollup_properties", "rollup_status"],
            },
        ),
        RECORD_FIELDSET,
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "status", "rollup_status"]

    @admin.display(description="rollup status")
    def rollup_status(self, meter: Meter) -> str:
        return meter_rollup_status(meter)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Meter | None = None,
    ) -> HttpResponse:
        if change and obj is not None and request.method == "GET":
            context["usage_chart"] = usage_chart_context(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="aggregation", ordering="aggregation_type")
    def aggregation_summary(self, meter: Meter) -> str:
        of = meter.aggregation_expression or meter.aggregation_field
        text = f"{meter.aggregation_type} of {of}" if of else meter.aggregation_type
        if meter.aggregation_multiplier is not None:
            text += f" × {format_decimal(meter.aggregation_multiplier)}"
        if meter.bucket_size:
            text += f" per {meter.bucket_size}"
        if meter.aggregation_group_by:
            text += f" by {meter.aggregation_group_by}"
        return text

    @admin.display(description="filters")
    def filters_summary(self, meter: Meter) -> str:
        return filters_to_text(meter.filters).replace("\n", "; ") or "–"

    def create(self, request: HttpRequest, form: ModelForm) -> Meter:
        data = form.cleaned_data
        return meter_create(
            environment=data["environment"],
            name=data["name"],
            event_name=data["event_name"],
            aggregation_type=data["aggregation_type"],
            aggregation_field=data["aggregation_field"],
            aggregation_expression=data["aggregation_expression"],
            aggregation_multiplier=data["aggregation_multiplier"],
            bucket_size=data["bucket_size"],
            aggregation_group_by=data["aggregation_group_by"],
            filters=data["filters"],
            rollup_properties=data["rollup_properties"],
            reset_usage=data["reset_usage"],
            metadata=data["metadata"],
            actor=actor_of(request),
        )

    def update(
        self, request: HttpRequest, obj: Meter, changes: dict[str, Any], form: ModelForm
    ) -> None:
        meter_update(meter=obj, data=changes, actor=actor_of(request))

    def soft_delete(self, request: HttpRequest, obj: Meter) -> None:
        meter_delete(meter=obj, actor=actor_of(request))


class FeatureForm(CatalogueForm):
    class Meta:
        model = Feature
        fields = "__all__"

    def rule_errors(self) -> Errors:
        return feature_errors(self.instance)


@admin.register(Feature)
class FeatureAdmin(CatalogueAdmin):
    form = FeatureForm
    updatable_fields = FEATURE_UPDATABLE
    list_display = ["name", "lookup_key", "type", "meter_link", "units", "status", "created_at"]
    list_select_related = ["meter"]
    list_filter = [
        StatusFilter,
        "type",
        ("environment", admin.RelatedOnlyFieldListFilter),
        created_range(),
    ]
    search_fields = ["name", "lookup_key", "id", "meter__name", "meter__event_name"]
    fieldsets = [
        (None, {"fields": ["name", "lookup_key", "type", "meter", "description"]}),
        ("Units", {"fields": ["unit_singular", "unit_plural"]}),
        (
            "Reporting unit",
            {
                "classes": ["collapse"],
                "description": "Usage shown in another unit, e.g. tokens reported in thousands "
                "(conversion rate 0.001).",
                "fields": [
                    "reporting_unit_singular",
                    "reporting_unit_plural",
                    "reporting_unit_conversion_rate",
                ],
            },
        ),
        ("More", {"classes": ["collapse"], "fields": ["environment", "metadata", "status"]}),
        RECORD_FIELDSET,
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = [*super().get_readonly_fields(request, obj), "status"]
        if obj is not None:
            # A feature's type and meter are fixed once it exists (usage history hangs off them).
            readonly += ["type", "meter"]
        return readonly

    @admin.display(description="meter", ordering="meter__name")
    def meter_link(self, feature: Feature) -> str:
        return readonly_link(feature.meter, feature.meter.name if feature.meter else None)

    @admin.display(description="unit")
    def units(self, feature: Feature) -> str:
        return " / ".join(unit for unit in (feature.unit_singular, feature.unit_plural) if unit)

    def create(self, request: HttpRequest, form: ModelForm) -> Feature:
        data = form.cleaned_data
        return feature_create(
            environment=data["environment"],
            name=data["name"],
            type=data["type"],
            lookup_key=data["lookup_key"],
            description=data["description"],
            meter=data["meter"],
            unit_singular=data["unit_singular"],
            unit_plural=data["unit_plural"],
            reporting_unit_singular=data["reporting_unit_singular"],
            reporting_unit_plural=data["reporting_unit_plural"],
            reporting_unit_conversion_rate=data["reporting_unit_conversion_rate"],
            metadata=data["metadata"],
            actor=actor_of(request),
        )

    def update(
        self, request: HttpRequest, obj: Feature, changes: dict[str, Any], form: ModelForm
    ) -> None:
        feature_update(feature=obj, data=changes, actor=actor_of(request))

    def soft_delete(self, request: HttpRequest, obj: Feature) -> None:
        feature_delete(feature=obj, actor=actor_of(request))
