"""Limit/offset pagination answering `{"items": [...], "pagination": {limit, offset, total}}`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from flexprice_site.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


class PageParamsSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    offset = serializers.IntegerField(min_value=0, default=0)


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
        try:
            self.page = page_from(request.query_params)
        except serializers.ValidationError as exc:
            raise ValidationFailed(
                "limit must be 1–1000 and offset ≥ 0.", details=exc.detail
            ) from exc
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
                "schema": {"type": "integer", "minimum": 0},
            },
        ]
