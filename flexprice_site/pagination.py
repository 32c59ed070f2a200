"""Limit/offset pagination answering `{"items": [...], "pagination": {limit, offset, total}}`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from flexprice_site.bounds import BIGINT_MAX

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
# PostgreSQL's OFFSET is a bigint.
MAX_OFFSET = BIGINT_MAX


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


class LimitField(serializers.IntegerField):
    """`limit`: a page of 1 to MAX_LIMIT items."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_LIMIT, **kwargs)


class OffsetField(serializers.IntegerField):
    """`offset`: items to skip, from 0 to what PostgreSQL's OFFSET holds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, max_value=MAX_OFFSET, **kwargs)


class PageParamsSerializer(serializers.Serializer):
    limit = LimitField(default=DEFAULT_LIMIT)
    offset = OffsetField(default=0)


def page_from(data: Any) -> Page:
    """Validated limit/offset from query params or a body; out-of-range values are a 400."""
    params = PageParamsSerializer(
        data={key: data[key] for key in ("limit", "offset") if data.get(key) not in (None, "")}
    )
    params.is_valid(raise_exception=True)
    return Page(limit=params.validated_data["limit"], offset=params.validated_data["offset"])


def paginated_body(items: Sequence[Any], *, page: Page, total: int) -> dict[str, Any]:
    return {
        "items": list(items),
        "pagination": {"limit": page.limit, "offset": page.offset, "total": total},
    }


class LimitOffsetPagination(pagination.BasePagination):
    """DRF pagination class for list views; one COUNT and one page query per request."""

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        self.page = page_from(request.query_params)
        self.total = queryset.count()
        return list(queryset[self.page.offset : self.page.offset + self.page.limit])

    def get_paginated_response(self, data: Any) -> Response:
        return Response(paginated_body(data, page=self.page, total=self.total))

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["items", "pagination"],
            "properties": {
                "items": schema,
                "pagination": {
                    "type": "object",
                    "properties": {
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "total": {"type": "integer"},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                "description": f"Page size, default {DEFAULT_LIMIT}.",
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            },
        ]
