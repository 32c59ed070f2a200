"""Events API: ingest one event or a batch, idempotently (Flexprice's paths and fields)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import (
    BulkIngestEventRequestSerializer,
    BulkIngestEventResponseSerializer,
    IngestEventRequestSerializer,
    IngestEventResponseSerializer,
    bulk_body,
)
from analytics.ingestion import MAX_BATCH_SIZE
from analytics.services import Outcome, events_ingest
from flexprice_site.authentication import client_of
from flexprice_site.errors import ValidationFailed

MESSAGES = {
    Outcome.ACCEPTED: "Event accepted for processing.",
    Outcome.DUPLICATE: "Duplicate event: this event_id was already received; not counted again.",
}


class EventIngestView(APIView):
    @extend_schema(
        operation_id="ingest_event",
        request=IngestEventRequestSerializer,
        responses={202: IngestEventResponseSerializer},
        tags=["Events"],
        summary="Ingest one usage event",
    )
    def post(self, request: Request) -> Response:
        client = client_of(request)
        if not isinstance(request.data, dict):
            raise ValidationFailed("The body must be a JSON object (one event).")
        report = events_ingest(environment=client.environment, payloads=[request.data])
        result = report.results[0]
        if result.outcome == Outcome.REJECTED:
            raise ValidationFailed(
                result.reason or "Invalid event.",
                details={result.field or "event": [result.reason]},
            )
        # Every value a string: Flexprice's SDK reads this response as a string map.
        body = {
            "event_id": result.event_id,
            "status": result.outcome.value,
            "message": MESSAGES[result.outcome],
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class EventBulkIngestView(APIView):
    @extend_schema(
        operation_id="ingest_events_bulk",
        request=BulkIngestEventRequestSerializer,
        responses={202: BulkIngestEventResponseSerializer},
        tags=["Events"],
        summary="Ingest up to 1,000 usage events",
        description=(
            "Good events are stored even when others in the batch are refused. Each event is "
            "reported in order as accepted, duplicate (already received; not counted again) or "
            "rejected with the reason. A batch in which every event is refused is a 400. With "
            "`Prefer: return=minimal` the answer is the counts alone, as strings."
        ),
    )
    def post(self, request: Request) -> Response:
        client = client_of(request)
        events = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(events, list) or not events:
            raise ValidationFailed(
                'The body must be {"events": [...]} with at least one event.',
                details={"events": ["A non-empty list of events is required."]},
            )
        if len(events) > MAX_BATCH_SIZE:
            raise ValidationFailed(
                f"A batch holds at most {MAX_BATCH_SIZE} events; this one has {len(events)}.",
                details={"events": [f"At most {MAX_BATCH_SIZE} events per request."]},
            )
        report = events_ingest(environment=client.environment, payloads=events)
        body = bulk_body(report)
        if body["rejected"] == len(events):
            raise ValidationFailed(
                "Every event in the batch was rejected; nothing was stored.",
                details={"results": body["results"]},
            )
        if "return=minimal" in request.headers.get("Prefer", ""):
            # RFC 7240: the counts alone, all strings, the shape Flexprice's SDK parses.
            body = {
                key: str(body[key]) for key in ("message", "accepted", "duplicates", "rejected")
            }
        return Response(body, status=status.HTTP_202_ACCEPTED)
