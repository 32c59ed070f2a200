"""`POST /v1/costs/search` (SPEC §6): the body, checked, driving CostsheetSearchFilterSet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from costsheets.api.catalogues import CostsheetSerializer
from costsheets.api.common import (
    CatalogueAPIView,
    EnumField,
    KnownKeysOnlyMixin,
    StrictStringField,
)
from costsheets.api.filters import (
    DATA_TYPES,
    DATE_OPERATORS,
    OPERATORS,
    SORT_FIELDS,
    TEXT_OPERATORS,
    SearchCondition,
    SortKey,
    costsheet_search,
    expected_data_type,
    field_kind,
)
from costsheets.models import Costsheet, PriceEntityType
from costsheets.selectors import prices_by_owner
from flexprice_site.models import Environment, Status
from flexprice_site.pagination import (
    DEFAULT_LIMIT,
    LimitField,
    OffsetField,
    Page,
    paginated_body,
)
from flexprice_site.rendering import MoneyField, UtcDateTimeField

DIRECTIONS = [
    ("asc", "Ascending: A to Z, oldest first"),
    ("desc", "Descending: Z to A, newest first"),
]
ORDERS = [("asc", "Ascending"), ("desc", "Descending")]
EXPANDABLE = ("prices", "meters")
# The statuses searched when the body names none: everything but deleted (SPEC §6).
DEFAULT_STATUSES = (Status.PUBLISHED, Status.ARCHIVED)


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values)


class FilterValueSerializer(serializers.Serializer):
    """The value of a condition; the member used is the one its data type names."""

    string = StrictStringField(required=False, allow_blank=True)
    number = MoneyField(required=False)
    boolean = serializers.BooleanField(required=False)
    date = UtcDateTimeField(required=False)
    array = serializers.ListField(child=StrictStringField(allow_blank=True), required=False)


class FilterConditionSerializer(serializers.Serializer):
    field = StrictStringField(
        help_text="name, lookup_key, description, status, created_at, updated_at or metadata.<key>."
    )
    operator = EnumField([(name, name) for name in OPERATORS], enum_name="FilterOperator")
    data_type = EnumField(
        [(name, name) for name in DATA_TYPES],
        enum_name="FilterDataType",
        required=False,
        help_text="string for text fields, date for created_at / updated_at, array for in and "
        "not_in; inferred when left out.",
    )
    value = FilterValueSerializer(required=False)

    def validate(self, attrs: dict[str, Any]) -> SearchCondition:
        name, operator = attrs["field"], attrs["operator"]
        kind = field_kind(name)
        if kind is None:
            raise serializers.ValidationError(
                {
                    "field": f"Cannot filter on “{name}”. Use one of {_one_of(SORT_FIELDS)} or "
                    "metadata.<key>."
                }
            )
        allowed = TEXT_OPERATORS if kind == "text" else DATE_OPERATORS
        if operator not in allowed:
            raise serializers.ValidationError(
                {
                    "operator": f"“{operator}” does not apply to {name}, a {kind} field. "
                    f"Use one of {_one_of(allowed)}."
                }
            )
        data_type = expected_data_type(kind, operator)
        if attrs.get("data_type", data_type) != data_type:
            raise serializers.ValidationError(
                {
                    "data_type": f"{name} {operator} compares {data_type} values, "
                    f"not {attrs['data_type']}."
                }
            )
        value = (attrs.get("value") or {}).get(data_type)
        if value is None:
            raise serializers.ValidationError(
                {"value": f"Give value.{data_type} for {name} {operator}."}
            )
        return SearchCondition(field=name, operator=operator, value=value)


class SortConditionSerializer(serializers.Serializer):
    field = StrictStringField(help_text=f"One of {_one_of(SORT_FIELDS)}.")
    direction = EnumField(DIRECTIONS, enum_name="SortDirection", default="desc")

    def validate(self, attrs: dict[str, Any]) -> SortKey:
        return SortKey(field=_sort_field(attrs["field"]), descending=attrs["direction"] == "desc")


def _sort_field(name: str) -> str:
    if name not in SORT_FIELDS:
        raise serializers.ValidationError(
            {"field": f"Cannot sort by “{name}”. Use one of {_one_of(SORT_FIELDS)}."}
        )
    return name


class QueryFilterSerializer(serializers.Serializer):
    limit = LimitField(default=DEFAULT_LIMIT)
    offset = OffsetField(default=0)
    sort = StrictStringField(required=False, help_text=f"One of {_one_of(SORT_FIELDS)}.")
    order = EnumField(DIRECTIONS, enum_name="SortDirection", required=False)
    status = EnumField(Status, required=False)
    expand = StrictStringField(
        required=False,
        allow_blank=True,
        help_text="prices: each costsheet's published prices; prices,meters: also their meters.",
    )

    def validate_sort(self, value: str) -> str:
        if value not in SORT_FIELDS:
            raise serializers.ValidationError(
                f"Cannot sort by “{value}”. Use one of {_one_of(SORT_FIELDS)}."
            )
        return value

    def validate_expand(self, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if item and item not in EXPANDABLE:
                raise serializers.ValidationError(
                    f"Cannot expand “{item}”. Use prices or prices,meters."
                )
        return value


class TimeRangeFilterSerializer(serializers.Serializer):
    """A creation-time range, inclusive at both ends."""

    start_time = UtcDateTimeField(required=False, allow_null=True)
    end_time = UtcDateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start_time"), attrs.get("end_time")
        if start is not None and end is not None and end < start:
            raise serializers.ValidationError({"end_time": "end_time is before start_time."})
        return attrs


@dataclass(frozen=True)
class CostsheetSearch:
    """A checked search: the FilterSet's parameters, the page and what to expand."""

    parameters: dict[str, Any]
    page: Page
    expand: frozenset[str] = field(default_factory=frozenset)


# Body keys documented by Flexprice (camelCase) and their snake_case forms, both accepted.
SPELLINGS = {
    "costsheetIDs": "costsheet_ids",
    "lookupKey": "lookup_key",
    "queryFilter": "query_filter",
    "timeRangeFilter": "time_range_filter",
    "environmentID": "environment_id",
    "tenantID": "tenant_id",
}


class CostsheetSearchSerializer(KnownKeysOnlyMixin, serializers.Serializer):
    """The search body. Each camelCase key may also be sent in snake_case (not both).

    `tenantID` / `environmentID` may only name the API key's own tenant and environment: the
    key decides the scope, and naming another one is a client error (400), never a wider search.
    """

    costsheetIDs = serializers.ListField(child=StrictStringField(), required=False)
    costsheet_ids = serializers.ListField(child=StrictStringField(), required=False)
    name = StrictStringField(required=False, allow_blank=True, help_text="Part of the name.")
    lookupKey = StrictStringField(required=False, allow_blank=True)
    lookup_key = StrictStringField(required=False, allow_blank=True)
    status = EnumField(Status, required=False)
    filters = FilterConditionSerializer(many=True, required=False)
    sort = SortConditionSerializer(many=True, required=False)
    queryFilter = QueryFilterSerializer(required=False)
    query_filter = QueryFilterSerializer(required=False)
    timeRangeFilter = TimeRangeFilterSerializer(required=False)
    time_range_filter = TimeRangeFilterSerializer(required=False)
    environmentID = StrictStringField(required=False, allow_blank=True)
    environment_id = StrictStringField(required=False, allow_blank=True)
    tenantID = StrictStringField(required=False, allow_blank=True)
    tenant_id = StrictStringField(required=False, allow_blank=True)

    key_hints = {
        key: f'Give {key} inside queryFilter: {{"queryFilter": {{"{key}": …}}}}.'
        for key in ("expand", "limit", "offset", "order")
    }

    def validate(self, attrs: dict[str, Any]) -> CostsheetSearch:
        self._check_scope(attrs)
        values = self._merge_spellings(attrs)
        query = values.get("query_filter") or {"limit": DEFAULT_LIMIT, "offset": 0}
        named = {status for status in (values.get("status"), query.get("status")) if status}
        if len(named) > 1:
            message = "status and queryFilter.status name different statuses; give one."
            raise serializers.ValidationError({"status": message})
        time_range = values.get("time_range_filter") or {}
        parameters = {
            "costsheet_ids": values.get("costsheet_ids"),
            "name": values.get("name"),
            "lookup_key": values.get("lookup_key"),
            "statuses": sorted(named or DEFAULT_STATUSES),
            "created_from": time_range.get("start_time"),
            "created_to": time_range.get("end_time"),
            "conditions": values.get("filters"),
            "sort": self._sort_keys(values, query),
        }
        expand = {part.strip() for part in query.get("expand", "").split(",") if part.strip()}
        if "meters" in expand:
            expand.add("prices")  # the meters shown are the prices' meters
        return CostsheetSearch(
            parameters=parameters,
            page=Page(limit=query["limit"], offset=query["offset"]),
            expand=frozenset(expand),
        )

    def _merge_spellings(self, attrs: dict[str, Any]) -> dict[str, Any]:
        values = dict(attrs)
        for camel, snake in SPELLINGS.items():
            if camel in values and snake in values:
                message = f"Give {camel} or {snake}, not both."
                raise serializers.ValidationError({camel: message, snake: message})
            if camel in values:
                values[snake] = values.pop(camel)
        return values

    def _check_scope(self, attrs: dict[str, Any]) -> None:
        environment: Environment = self.context["environment"]
        for keys, own_id, what in (
            (("tenantID", "tenant_id"), environment.tenant_id, "tenant"),
            (("environmentID", "environment_id"), environment.pk, "environment"),
        ):
            for key in keys:
                given = attrs.get(key)
                if given and given != own_id:
                    raise serializers.ValidationError(
                        {
                            key: f"The API key belongs to {what} {own_id}; a search cannot "
                            f"name another {what}."
                        }
                    )

    def _sort_keys(self, values: dict[str, Any], query: dict[str, Any]) -> list[SortKey]:
        keys = list(values.get("sort") or [])
        descending = query.get("order", "desc") == "desc"
        if "sort" in query:
            keys.append(SortKey(field=query["sort"], descending=descending))
        return keys or [SortKey(field="created_at", descending=descending)]


class PaginationSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    total = serializers.IntegerField()


class CostsheetListSerializer(serializers.Serializer):
    items = CostsheetSerializer(many=True)
    pagination = PaginationSerializer()


SEARCH_EXAMPLE = {
    "filters": [
        {
            "field": "metadata.region",
            "operator": "eq",
            "data_type": "string",
            "value": {"string": "eu"},
        }
    ],
    "sort": [{"field": "name", "direction": "asc"}],
    "status": "published",
    "timeRangeFilter": {"start_time": "2026-01-01T00:00:00Z"},
    "queryFilter": {"limit": 20, "offset": 0, "expand": "prices,meters"},
}


class CostsheetSearchView(CatalogueAPIView):
    """Costsheets by filter, sorted and paginated, optionally with their prices and meters."""

    @extend_schema(
        operation_id="costs_search",
        summary="List costsheets by filter",
        request=CostsheetSearchSerializer,
        responses={200: CostsheetListSerializer},
        examples=[OpenApiExample("Search", value=SEARCH_EXAMPLE, request_only=True)],
        tags=["costs"],
    )
    def post(self, request: Request) -> Response:
        serializer = CostsheetSearchSerializer(data=self.body(), context=self.context())
        serializer.is_valid(raise_exception=True)
        search: CostsheetSearch = serializer.validated_data
        costsheets = costsheet_search(self.scoped(Costsheet.objects.all()), search.parameters)
        total = costsheets.count()
        page = list(costsheets[search.page.offset : search.page.offset + search.page.limit])
        context: dict[str, Any] = {"expand_meter": "meters" in search.expand}
        if "prices" in search.expand:
            context["prices_by_owner"] = prices_by_owner(
                environment=self.environment,
                entity_type=PriceEntityType.COSTSHEET,
                owner_ids=[costsheet.pk for costsheet in page],
                published_only=True,
                with_meter="meters" in search.expand,
            )
        items = CostsheetSerializer(page, many=True, context=context).data
        return Response(paginated_body(items, page=search.page, total=total))
