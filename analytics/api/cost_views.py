"""POST /v1/costs/analytics-v2 (and /v1/costs/analytics): cost, revenue and margin (SPEC §6)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.cost_serializers import (
    CostAnalyticsQuestion,
    CostAnalyticsRequestSerializer,
    CostAnalyticsResponseSerializer,
    cost_analytics_body,
    expanded_ids,
    page_items,
)
from analytics.costs import cost_analytics
from costsheets.api.common import CatalogueViewMixin
from costsheets.models import Meter, Price
from flexprice_site.rendering import ApiJSONRenderer
from flexprice_site.schema import error_responses

DESCRIPTION = (
    "What the usage of one customer (`external_customer_id`; with `include_children` its "
    "children's too) or of every customer cost over `[start_time, end_time)` (default: the last "
    "7 days), and what it earned. Cost: the active costsheet's usage prices (or those of the "
    "extension `costsheet_id`) applied to each customer's usage of their meters, one "
    "`cost_analytics` item per (customer, meter, price), tiers applied to each customer's total, "
    "with `cost_by_period` per `window_size`. Revenue: the same usage priced with subscription "
    "line items, exactly as POST /v1/events/analytics prices it. `margin` = revenue − cost, "
    "`margin_percent` = margin / revenue × 100, `roi` = margin / cost, `roi_percent` = roi × 100 "
    "(16 decimal places; a zero denominator gives 0). `limit` / `offset` page `cost_analytics`; "
    "the totals cover every item."
)

EXAMPLE = {
    "start_time": "2026-01-01T00:00:00Z",
    "end_time": "2026-02-01T00:00:00Z",
    "external_customer_id": "acme-1",
    "expand": ["price"],
    "limit": 50,
    "offset": 0,
    "window_size": "DAY",
}


def _schema(operation_id: str, summary: str) -> extend_schema:
    return extend_schema(
        operation_id=operation_id,
        tags=["Costs"],
        summary=summary,
        description=DESCRIPTION,
        request=CostAnalyticsRequestSerializer,
        # 404: no customer with `external_customer_id`, or no costsheet `costsheet_id`.
        responses={200: CostAnalyticsResponseSerializer, **error_responses(404)},
        examples=[OpenApiExample("One customer, January", value=EXAMPLE, request_only=True)],
    )


class _CostAnalyticsView(CatalogueViewMixin, APIView):
    renderer_classes = [ApiJSONRenderer]

    def answer(self) -> Response:
        question: CostAnalyticsQuestion = self.validated(CostAnalyticsRequestSerializer)["question"]
        result = cost_analytics(
            environment=self.environment, page=question.page, **question.arguments
        )
        meters = prices = None
        if question.expand:
            meter_ids, price_ids = expanded_ids(page_items(result, question.page))
            if "meter" in question.expand:
                meter_rows = self.scoped(Meter.objects.all()).filter(pk__in=meter_ids)
                meters = {meter.pk: meter for meter in meter_rows}
            if "price" in question.expand:
                price_rows = (
                    self.scoped(Price.objects.all())
                    .filter(pk__in=price_ids)
                    .prefetch_related("tiers")
                )
                prices = {price.pk: price for price in price_rows}
        body = cost_analytics_body(result, page=question.page, meters=meters, prices=prices)
        return Response(body)


class CostAnalyticsV2View(_CostAnalyticsView):
    @_schema("getDetailedCostAnalyticsV2", "Get combined revenue and cost analytics (V2)")
    def post(self, request: Request) -> Response:
        return self.answer()


class CostAnalyticsView(_CostAnalyticsView):
    @_schema("getDetailedCostAnalytics", "Get combined revenue and cost analytics")
    def post(self, request: Request) -> Response:
        return self.answer()
