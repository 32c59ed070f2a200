from django.urls import path

from analytics.api import cost_views
from analytics.api.usage_views import UsageAnalyticsView
from analytics.api.views import EventBulkIngestView, EventIngestView

urlpatterns = [
    path("events", EventIngestView.as_view(), name="event-ingest"),
    path("events/bulk", EventBulkIngestView.as_view(), name="event-bulk-ingest"),
    path("events/analytics", UsageAnalyticsView.as_view(), name="usage-analytics"),
    path("costs/analytics-v2", cost_views.CostAnalyticsV2View.as_view(), name="cost-analytics-v2"),
    path("costs/analytics", cost_views.CostAnalyticsView.as_view(), name="cost-analytics"),
]
