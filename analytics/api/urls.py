from django.urls import path

from analytics.api.views import EventBulkIngestView, EventIngestView

urlpatterns = [
    path("events", EventIngestView.as_view(), name="event-ingest"),
    path("events/bulk", EventBulkIngestView.as_view(), name="event-bulk-ingest"),
]
