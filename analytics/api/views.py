"""Events API: ingest one event or a batch, idempotently (Flexprice's paths and fields)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import (
    BulkIngestEventRequestSerializer,
    BulkIngestEventResultsSerializer,
    BulkIngestEventSummarySerializer,
    IngestEventRequestSerializer,
    IngestEventResponseSerializer,
    bulk_results_body,
    bulk_summary_body,
)
from analytics.ingestion import MAX_BATCH_SIZE
from analytics.services import Outcome, events_ingest
from flexprice_site.authentication import client_of
from flexprice_site.errors import ValidationFailed
from flexprice_site.parsers import EventJSONParser

MESSAGES = {
    Outcome.ACCEPTED: "Event accepted for processing.",
    Outcome.DUPLICATE: "Duplicate event: this event_id was already received; not counted again.",
}


# RFC 7240: `Prefer: return=representation` asks a batch's answer for every event's result.
RETURN_REPRESENTATION = "return=representation"
RETURN_MINIMAL = "return=minimal"


def preferred_return(request: Request) -> str | None:
    """The `return` preference a request states (RFC 7240), if any."""
    for preference in request.headers.get("Prefer", "").split(","):
        value = preference.split(";")[0].replace(" ", "").replace('"', "").lower()
        if value in (RETURN_REPRESENTATION, RETURN_MINIMAL):
            return value
    return None


class EventIngestView(APIView):
    parser_classes = [EventJSONParser]

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
    parser_classes = [EventJSONParser]

    @extend_schema(
        operation_id="ingest_events_bulk",
        request=BulkIngestEventRequestSerializer,
        parameters=[
            OpenApiParameter(
                "Prefer",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                enum=[RETURN_MINIMAL, RETURN_REPRESENTATION],
                description="`return=representation` answers every event's result too; the "
                "default (`return=minimal`) is the counts as strings.",
            )
        ],
        responses={
            202: PolymorphicProxySerializer(
                component_name="BulkIngestEventResponse",
                serializers=[BulkIngestEventSummarySerializer, BulkIngestEventResultsSerializer],
                resource_type_field_name=None,
            )
        },
        tags=["Events"],
        summary="Ingest up to 1,000 usage events",
        description=(
            "Good events are stored even when others in the batch are refused. The answer is "
            "the counts of events accepted, duplicate (already received; not counted again) and "
            "rejected, as strings (what Flexprice's SDK reads). With `Prefer: "
            "return=representation` the counts are numbers and `results` reports each event in "
            "order, with the reason for each one rejected. A batch in which every event is "
            "refused is a 400 listing why."
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
        if report.count(Outcome.REJECTED) == len(events):
            raise ValidationFailed(
                "Every event in the batch was rejected; nothing was stored.",
                details={"results": bulk_results_body(report)["results"]},
            )
        preference = preferred_return(request)
        if preference == RETURN_REPRESENTATION:
            body: dict[str, object] = bulk_results_body(report)
        else:
            body = bulk_summary_body(report)
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        if preference is not None:
            response["Preference-Applied"] = preference
        return response
