"""POST /v1/events/analytics: usage per feature over time, priced (SPEC §5); JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.usage_serializers import (
    UsageAnalyticsRequestSerializer,
    UsageAnalyticsResponseSerializer,
    usage_analytics_body,
    usage_analytics_rows,
)
from analytics.usage import usage_analytics
from costsheets.api.common import CatalogueViewMixin
from flexprice_site.rendering import ApiJSONRenderer
from flexprice_site.schema import error_responses


class CsvRenderer(BaseRenderer):
    """Rows (lists of strings, the header first) as CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(data or [])
        return buffer.getvalue().encode(self.charset)


class UsageAnalyticsView(CatalogueViewMixin, APIView):
    renderer_classes = [ApiJSONRenderer, CsvRenderer]

    @extend_schema(
        operation_id="getUsageAnalytics",
        tags=["Events"],
        summary="Get usage analytics",
        description=(
            "Usage of every metered feature (or those in `feature_ids`) over "
            "`[start_time, end_time)` (default: the last 7 days), per window with "
            "`window_size`, sliced by `group_by`. With a customer, usage is priced with its "
            "subscription line items (each over its own dates, commitments applied): "
            "`total_cost` is revenue. Without one it covers every customer, each priced on its "
            "own. `Accept: text/csv` (or `?format=csv`) answers the points as CSV."
        ),
        parameters=[
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["json", "csv"], description="Answer as CSV."
            )
        ],
        request=UsageAnalyticsRequestSerializer,
        responses={
            (200, "application/json"): UsageAnalyticsResponseSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            # No customer with `external_customer_id` (or one of `external_customer_ids`).
            **error_responses(404),
        },
    )
    def post(self, request: Request) -> Response:
        validated = self.validated(UsageAnalyticsRequestSerializer)
        question = validated["request"]
        result = usage_analytics(environment=self.environment, request=question)
        if request.accepted_renderer.format == CsvRenderer.format:
            return Response(
                usage_analytics_rows(result, group_by=question.group_by),
                headers={"Content-Disposition": 'attachment; filename="usage-analytics.csv"'},
            )
        return Response(usage_analytics_body(result, expand=validated["expand"]))

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are answered in the JSON error body (SPEC §1), even to a CSV request.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = ApiJSONRenderer()
        self.request.accepted_media_type = ApiJSONRenderer.media_type
        return response
