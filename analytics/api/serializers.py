"""Request and response shapes of the events API (for the OpenAPI schema and rendering)."""

from __future__ import annotations

from rest_framework import serializers

from analytics.ingestion import MAX_BATCH_SIZE
from analytics.services import EventResult, IngestReport, Outcome


class IngestEventRequestSerializer(serializers.Serializer):
    """One usage event, as Flexprice takes it. Validated by `analytics.ingestion`."""

    event_name = serializers.CharField(max_length=255)
    external_customer_id = serializers.CharField(max_length=255)
    event_id = serializers.CharField(
        max_length=255, required=False, help_text="Your ID for the event; re-sending it is a no-op."
    )
    customer_id = serializers.CharField(
        required=False, help_text="Ignored: the customer is resolved from external_customer_id."
    )
    timestamp = serializers.DateTimeField(
        required=False, help_text="RFC 3339 with an offset; default now; at most 24 h ahead."
    )
    source = serializers.CharField(max_length=255, required=False)
    properties = serializers.DictField(required=False)


class BulkIngestEventRequestSerializer(serializers.Serializer):
    events = IngestEventRequestSerializer(many=True, max_length=MAX_BATCH_SIZE)


class IngestEventResponseSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[Outcome.ACCEPTED, Outcome.DUPLICATE])
    message = serializers.CharField()


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=[outcome.value for outcome in Outcome])
    field = serializers.CharField(allow_null=True, required=False)
    reason = serializers.CharField(allow_null=True, required=False)


class BulkIngestEventSummarySerializer(serializers.Serializer):
    """The default answer to a batch: counts as strings, the map of strings Flexprice's SDK
    reads (SPEC §2)."""

    message = serializers.CharField()
    accepted = serializers.CharField(help_text='Events stored, as a string ("950").')
    duplicates = serializers.CharField(help_text="Events already received, not counted again.")
    rejected = serializers.CharField(help_text="Events refused; see `Prefer`.")


class BulkIngestEventResultsSerializer(serializers.Serializer):
    """The answer with `Prefer: return=representation`: counts, and every event's result."""

    message = serializers.CharField()
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventResultSerializer(many=True)


def result_body(result: EventResult) -> dict[str, object]:
    body: dict[str, object] = {
        "index": result.index,
        "event_id": result.event_id,
        "status": result.outcome.value,
    }
    if result.outcome == Outcome.REJECTED:
        body["field"] = result.field
        body["reason"] = result.reason
    return body


def bulk_results_body(report: IngestReport) -> dict[str, object]:
    """Counts and one result per event, in request order."""
    accepted = report.count(Outcome.ACCEPTED)
    duplicates = report.count(Outcome.DUPLICATE)
    rejected = report.count(Outcome.REJECTED)
    return {
        "message": (
            f"{accepted} accepted, {duplicates} duplicate (not counted again), {rejected} rejected."
        ),
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": rejected,
        "results": [result_body(result) for result in report.results],
    }


def bulk_summary_body(report: IngestReport) -> dict[str, str]:
    """The counts as strings; when events were refused, the message says why the first one was
    and how to ask for every event's result."""
    body = bulk_results_body(report)
    message = str(body["message"])
    refused = [result for result in report.results if result.outcome == Outcome.REJECTED]
    if refused:
        first = refused[0]
        message += (
            f" The first rejected is events.{first.index}: {first.reason} Send "
            "`Prefer: return=representation` for every event's result."
        )
    return {
        "message": message,
        **{key: str(body[key]) for key in ("accepted", "duplicates", "rejected")},
    }
