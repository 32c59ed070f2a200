"""The event explorer: browse raw usage events, fast on tables of tens of millions of rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from rangefilter.filters import DateTimeRangeFilterBuilder

from analytics.models import Event
from flexprice_site.models import Tenant
from flexprice_site.tenancy import (
    TenantEnvironmentListFilter,
    TenantScopedAdmin,
    sees_all_tenants,
)

# Counting a filtered slice of a huge table costs a scan; counting up to a cap costs a LIMIT.
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows, so page links never cost a full COUNT(*).

    With `tenant_ids` (a superuser's explorer: every tenant's events) it reads rows tenant by
    tenant, in one statement: each tenant's newest rows are a range of the (tenant, timestamp,
    id) index, whereas the newest rows of the whole table, in no index's order, are a sort of all
    of it (seconds at 10M events). The first `n` rows of the page's order are among the first `n`
    of each tenant's, so the merged page is exact.
    """

    def __init__(
        self,
        object_list: QuerySet[Event],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
        *,
        tenant_ids: Sequence[str] | None = None,
    ) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.tenant_ids = None if tenant_ids is None else list(tenant_ids)

    def _each_tenant(
        self, queryset: QuerySet[Any], limit: int, *, merged_in_order: bool
    ) -> QuerySet[Any]:
        """Each tenant's first `limit` rows of `queryset` in its order, as one UNION ALL (in that
        order too if `merged_in_order`).

        Each branch keeps its ORDER BY … LIMIT: without them PostgreSQL (18) sorts every row of
        every branch instead of reading each branch's index range in order.
        """
        tenant_ids = self.tenant_ids or []
        branches = [queryset.filter(tenant_id=tenant_id)[:limit] for tenant_id in tenant_ids]
        if not branches:
            return queryset.none()
        if len(branches) == 1:
            return branches[0]
        merged = branches[0].union(*branches[1:], all=True)
        return merged.order_by(*queryset.query.order_by) if merged_in_order else merged

    @cached_property
    def count(self) -> int:
        # Counted in the list's order, like its pages, so that the count reads an index range
        # too. Without an order PostgreSQL may count with a sequential scan that stops after
        # COUNT_CAP rows, which reads the whole table first when the matching rows are at its
        # end (a tenant that started sending events lately: 1.2 s at 10M events).
        rows = self.object_list.values("pk")
        if self.tenant_ids is not None:
            rows = self._each_tenant(rows, COUNT_CAP + 1, merged_in_order=False)
        return rows[: COUNT_CAP + 1].count()

    def rows(self, bottom: int, top: int) -> QuerySet[Event]:
        """Rows `bottom` to `top - 1` of the list, in its order."""
        if self.tenant_ids is None:
            return self.object_list[bottom:top]
        return self._each_tenant(self.object_list, top, merged_in_order=True)[bottom:top]

    def page(self, number: Any) -> Page:
        # Paginator.page, reading its slice through `rows`.
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self.rows(bottom, top), number, self)


class EventChangeList(ChangeList):
    def get_ordering_field(self, field_name: Any) -> Any:
        # Only the columns of `sortable_by`, from the page address too: ordering by any other
        # column is a sort of all the tenant's events (5.5 s at 10M events).
        if field_name not in (self.sortable_by or ()):
            return None
        return super().get_ordering_field(field_name)

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        if isinstance(self.result_list, QuerySet) and not self.result_list.query.is_sliced:
            # Django lists the whole queryset when every row fits on one page (at most
            # list_max_show_all of them); read those rows the paginator's way too.
            self.result_list = self.paginator.rows(0, self.result_count)


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
        ("environment", TenantEnvironmentListFilter),
    ]
    # `exact`, not "=" (iexact): UPPER(event_id) has no index, so a search read the whole table.
    search_fields = ["event_id__exact"]
    search_help_text = "Find an event by its exact event ID."
    # Newest first, the id breaking ties: exactly the order of the event_tenant_newest index,
    # so a page is an index range scan, never a sort of the tenant's events.
    ordering = ["-timestamp", "-id"]
    # Newest or oldest first (the same index, read backwards); see EventChangeList.
    sortable_by = ["timestamp"]
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

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return EventChangeList

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Event],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> CappedCountPaginator:
        # Superusers see every tenant's events: pages are read tenant by tenant (events always
        # belong to an existing tenant: a tenant with events can't be deleted).
        tenant_ids = (
            list(Tenant.objects.order_by().values_list("pk", flat=True))
            if sees_all_tenants(request)
            else None
        )
        return CappedCountPaginator(
            queryset, per_page, orphans, allow_empty_first_page, tenant_ids=tenant_ids
        )

    @admin.display(description="properties")
    def properties_json(self, event: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.properties, indent=2, sort_keys=True))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False
