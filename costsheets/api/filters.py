"""django-filter FilterSets of the catalogue lists and of the costsheet search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.utils.dateparse import parse_datetime

from costsheets.models import (
    AggregationType,
    BillingModel,
    Costsheet,
    Customer,
    Feature,
    FeatureType,
    Meter,
    Plan,
    Price,
    PriceEntityType,
    PriceType,
    Subscription,
    SubscriptionStatus,
)
from flexprice_site.bounds import timestamp_in_utc
from flexprice_site.models import Status

# --- list filters ------------------------------------------------------------------------------


class AwareDateTimeField(forms.Field):
    """An RFC 3339 timestamp with its offset; a naive one is refused, not guessed (SPEC §1)."""

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        try:
            parsed = parse_datetime(value.strip()) if isinstance(value, str) else None
        except ValueError:  # well formed, but no such date (2026-02-30)
            parsed = None
        if parsed is None:
            raise forms.ValidationError(
                "Enter an RFC 3339 timestamp, e.g. 2026-01-05T09:00:00Z.", code="invalid"
            )
        if parsed.tzinfo is None:
            raise forms.ValidationError(
                "Timestamp must include a time zone offset (RFC 3339), e.g. 2026-01-05T09:00:00Z.",
                code="naive",
            )
        try:
            return timestamp_in_utc(parsed)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="out_of_bounds") from None


class AwareDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = AwareDateTimeField


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """Comma-separated values: `?customer_ids=cust_1,cust_2`."""


class CatalogueFilterSet(django_filters.FilterSet):
    """Filters every catalogue list has: status (default: all but deleted) and a creation range.

    The range is half-open, `[start_time, end_time)`, as every range of the API (SPEC §1).
    """

    status = django_filters.ChoiceFilter(
        choices=Status.choices, help_text="Only rows with this status; default: all but deleted."
    )
    start_time = AwareDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after this time."
    )
    end_time = AwareDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before this time."
    )

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.exclude(status=Status.DELETED)
        return queryset


class CustomerFilterSet(CatalogueFilterSet):
    customer_ids = CharInFilter(field_name="id", help_text="Comma-separated customer ids.")
    external_id = django_filters.CharFilter(field_name="external_customer_id")
    external_ids = CharInFilter(
        field_name="external_customer_id", help_text="Comma-separated external ids."
    )
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name.")
    email = django_filters.CharFilter(lookup_expr="iexact")
    parent_customer_id = django_filters.CharFilter(field_name="parent_id")

    class Meta:
        model = Customer
        fields: list[str] = []


class MeterFilterSet(CatalogueFilterSet):
    meter_ids = CharInFilter(field_name="id", help_text="Comma-separated meter ids.")
    event_name = django_filters.CharFilter()
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name.")
    aggregation_type = django_filters.ChoiceFilter(choices=AggregationType.choices)

    class Meta:
        model = Meter
        fields: list[str] = []


class FeatureFilterSet(CatalogueFilterSet):
    feature_ids = CharInFilter(field_name="id", help_text="Comma-separated feature ids.")
    lookup_key = django_filters.CharFilter()
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name.")
    type = django_filters.ChoiceFilter(choices=FeatureType.choices)
    meter_id = django_filters.CharFilter()

    class Meta:
        model = Feature
        fields: list[str] = []


class PriceFilterSet(CatalogueFilterSet):
    price_ids = CharInFilter(field_name="id", help_text="Comma-separated price ids.")
    entity_type = django_filters.ChoiceFilter(choices=PriceEntityType.choices)
    entity_id = django_filters.CharFilter(help_text="The plan, costsheet, … the prices belong to.")
    meter_id = django_filters.CharFilter()
    lookup_key = django_filters.CharFilter()
    type = django_filters.ChoiceFilter(choices=PriceType.choices)
    billing_model = django_filters.ChoiceFilter(choices=BillingModel.choices)
    currency = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Price
        fields: list[str] = []


class PlanFilterSet(CatalogueFilterSet):
    plan_ids = CharInFilter(field_name="id", help_text="Comma-separated plan ids.")
    lookup_key = django_filters.CharFilter()
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name.")

    class Meta:
        model = Plan
        fields: list[str] = []


class SubscriptionFilterSet(CatalogueFilterSet):
    subscription_ids = CharInFilter(field_name="id", help_text="Comma-separated ids.")
    customer_id = django_filters.CharFilter()
    external_customer_id = django_filters.CharFilter(field_name="customer__external_customer_id")
    plan_id = django_filters.CharFilter()
    subscription_status = django_filters.ChoiceFilter(choices=SubscriptionStatus.choices)
    currency = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Subscription
        fields: list[str] = []


# --- costsheet search --------------------------------------------------------------------------

TEXT_FIELDS = ("name", "lookup_key", "description", "status")
DATE_FIELDS = ("created_at", "updated_at")
METADATA_PREFIX = "metadata."
SORT_FIELDS = (*TEXT_FIELDS, *DATE_FIELDS)

OPERATORS = (
    "eq",
    "contains",
    "not_contains",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "before",
    "after",
)
# Which operators apply to which kind of field. Text compares as text (`gt` is alphabetical).
TEXT_OPERATORS = ("eq", "contains", "not_contains", "gt", "gte", "lt", "lte", "in", "not_in")
DATE_OPERATORS = ("eq", "gt", "gte", "lt", "lte", "before", "after")
ARRAY_OPERATORS = ("in", "not_in")
DATA_TYPES = ("string", "number", "boolean", "date", "array")

_LOOKUPS = {
    "eq": "exact",
    "contains": "icontains",
    "gt": "gt",
    "gte": "gte",
    "lt": "lt",
    "lte": "lte",
    "in": "in",
    "before": "lt",
    "after": "gt",
}
_NEGATED = {"not_contains": "icontains", "not_in": "in"}


def field_kind(field: str) -> str | None:
    """`text` or `date` for a searchable costsheet field, None for anything else."""
    if field in TEXT_FIELDS:
        return "text"
    if field in DATE_FIELDS:
        return "date"
    if field.startswith(METADATA_PREFIX) and len(field) > len(METADATA_PREFIX):
        return "text"
    return None


def expected_data_type(kind: str, operator: str) -> str:
    """The `data_type` (and so the `value` member) a condition on this kind of field needs."""
    if operator in ARRAY_OPERATORS:
        return "array"
    return "date" if kind == "date" else "string"


@dataclass(frozen=True)
class SearchCondition:
    """One checked `filters[]` entry: a known field, an operator that applies to it, and a
    value of the right type (text, an aware datetime, or a list of text)."""

    field: str
    operator: str
    value: str | datetime | list[str]


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


class CheckedValueField(forms.Field):
    """Hands on a value the search request serializer has already checked."""


class CheckedValueFilter(django_filters.Filter):
    field_class = CheckedValueField


class CostsheetSearchFilterSet(django_filters.FilterSet):
    """The costsheet search, driven by the parsed body of `POST /v1/costs/search`.

    Its data are already-validated Python values (lists, datetimes, conditions), so every filter
    uses a field that passes them on; the checking with 400s naming the body's keys happens in
    `search.CostsheetSearchSerializer`.
    """

    costsheet_ids = CheckedValueFilter(field_name="id", lookup_expr="in")
    name = CheckedValueFilter(field_name="name", lookup_expr="icontains")
    lookup_key = CheckedValueFilter(field_name="lookup_key", lookup_expr="exact")
    statuses = CheckedValueFilter(field_name="status", lookup_expr="in")
    created_from = CheckedValueFilter(field_name="created_at", lookup_expr="gte")
    created_to = CheckedValueFilter(field_name="created_at", lookup_expr="lte")
    conditions = CheckedValueFilter(method="filter_conditions")
    sort = CheckedValueFilter(method="apply_sort")

    class Meta:
        model = Costsheet
        fields: list[str] = []

    def filter_conditions(
        self, queryset: QuerySet[Costsheet], name: str, conditions: Sequence[SearchCondition]
    ) -> QuerySet[Costsheet]:
        for number, condition in enumerate(conditions):
            column = condition.field
            if column.startswith(METADATA_PREFIX):
                # The key is a query parameter of the JSON lookup, never part of the SQL text.
                column = f"metadata_value_{number}"
                key = condition.field[len(METADATA_PREFIX) :]
                queryset = queryset.alias(**{column: KeyTextTransform(key, "metadata")})
            queryset = queryset.filter(_condition_q(column, condition))
        return queryset

    def apply_sort(
        self, queryset: QuerySet[Costsheet], name: str, keys: Sequence[SortKey]
    ) -> QuerySet[Costsheet]:
        ordering = [f"-{key.field}" if key.descending else key.field for key in keys]
        # The id breaks ties, so pages never overlap; ids sort by creation time.
        ordering.append("-id" if keys[-1].descending else "id")
        return queryset.order_by(*ordering)


def _condition_q(column: str, condition: SearchCondition) -> Q:
    operator = condition.operator
    if operator in _NEGATED:
        negated = ~Q(**{f"{column}__{_NEGATED[operator]}": condition.value})
        if column.startswith("metadata_value_"):
            # A costsheet without the metadata key does not contain the value either.
            negated |= Q(**{f"{column}__isnull": True})
        return negated
    return Q(**{f"{column}__{_LOOKUPS[operator]}": condition.value})


def costsheet_search(
    queryset: QuerySet[Costsheet], parameters: dict[str, Any]
) -> QuerySet[Costsheet]:
    """`queryset` filtered and sorted by the search parameters (CostsheetSearchFilterSet's)."""
    filterset = CostsheetSearchFilterSet(data=parameters, queryset=queryset)
    if not filterset.is_valid():  # the serializer checked everything; this would be a bug
        raise ValueError(f"unchecked costsheet search parameters: {filterset.errors}")
    return filterset.qs
