"""The event explorer: browse raw usage events, fast on tables of tens of millions of rows."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from rangefilter.filters import DateTimeRangeFilterBuilder

from analytics.models import Event
from flexprice_site.tenancy import TenantScopedAdmin

# Counting a filtered slice of a huge table costs a scan; counting up to a cap costs a LIMIT.
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows, so page links never cost a full COUNT(*)."""

    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_CAP + 1].count()


class ExactValueFilter(admin.SimpleListFilter):
    """A text box that filters one column by an exact value (an index lookup, never a scan)."""

    template = "admin/analytics/exact_value_filter.html"
    field_name = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # A DISTINCT over the whole table to list choices would be the slow part; type instead.
        return [("", "")]

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        value = (self.value() or "").strip()
        return queryset.filter(**{self.field_name: value}) if value else queryset

    def choices(self, changelist: Any) -> Any:
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value() or "",
            # Other active filters ride along as hidden fields (values are lists since Django 5).
            "other_params": [
                (key, value)
                for key, values in changelist.get_filters_params().items()
                if key != self.parameter_name
                for value in (values if isinstance(values, list) else [values])
            ],
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


class CustomerFilter(ExactValueFilter):
    title = "customer (external ID)"
    parameter_name = "customer"
    field_name = "external_customer_id"


class EventNameFilter(ExactValueFilter):
    title = "event name"
    parameter_name = "event_name"
    field_name = "event_name"


class SourceFilter(ExactValueFilter):
    title = "source"
    parameter_name = "source"
    field_name = "source"


@admin.register(Event)
class EventAdmin(TenantScopedAdmin):
    """Read-only: events are facts; they arrive through the API and are never edited."""

    list_display = ["timestamp", "event_name", "external_customer_id", "source", "event_id"]
    list_filter = [
        ("timestamp", DateTimeRangeFilterBuilder(title="time")),
        CustomerFilter,
        EventNameFilter,
        SourceFilter,
        "environment",
    ]
    search_fields = ["=event_id"]
    search_help_text = "Find an event by its exact event ID."
    # Newest first, the id breaking ties: exactly the order of the event_tenant_newest index,
    # so a page is an index range scan, never a sort of the tenant's events.
    ordering = ["-timestamp", "-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    list_select_related = False
    readonly_fields = [
        "event_id",
        "event_name",
        "external_customer_id",
        "customer_id",
        "timestamp",
        "source",
        "properties_json",
        "ingested_at",
        "environment",
    ]
    fields = readonly_fields

    @admin.display(description="properties")
    def properties_json(self, event: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.properties, indent=2, sort_keys=True))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False
