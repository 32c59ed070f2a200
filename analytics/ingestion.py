"""Turning incoming event payloads into events to store, or reasons to refuse them (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from json.encoder import c_make_encoder, encode_basestring
from typing import Any, NamedTuple

from flexprice_site.bounds import json_text_error, text_error, timestamp_in_utc
from flexprice_site.ids import new_id

MAX_TEXT_LENGTH = 255
MAX_FUTURE = timedelta(hours=24)
MAX_BATCH_SIZE = 1000


class NewEvent(NamedTuple):
    # A named tuple, not a frozen dataclass: one is made per stored event, and a frozen
    # dataclass's __init__ costs several times as much (bulk ingestion is CPU-bound).
    event_id: str
    event_name: str
    external_customer_id: str
    timestamp: datetime
    source: str
    properties_json: str  # serialized once here; stored as JSONB


@dataclass(frozen=True)
class Rejection:
    field: str
    reason: str


def _text(payload: Mapping[str, Any], field: str, *, required: bool) -> str | Rejection:
    value = payload.get(field)
    # The usual case first, in one test: ingestion runs this four times per event.
    if (
        type(value) is str
        and 0 < len(value) <= MAX_TEXT_LENGTH
        and value.isascii()
        and "\x00" not in value
    ):
        return value
    if value is None or value == "":
        if required:
            return Rejection(field, f"{field} is required.")
        return ""
    if not isinstance(value, str):
        return Rejection(field, f"{field} must be a string.")
    if len(value) > MAX_TEXT_LENGTH:
        return Rejection(field, f"{field} is longer than {MAX_TEXT_LENGTH} characters.")
    if problem := text_error(value):
        return Rejection(field, f"{field}: {problem}")
    return value


def _timestamp(value: Any, now: datetime) -> datetime | Rejection:
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        return Rejection("timestamp", "timestamp must be an RFC 3339 string.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return Rejection(
            "timestamp", f"timestamp {value!r} is not RFC 3339 (e.g. 2026-01-05T09:00:00Z)."
        )
    if parsed.tzinfo is None:
        return Rejection(
            "timestamp",
            "timestamp must include a time zone offset (RFC 3339), e.g. 2026-01-05T09:00:00Z.",
        )
    try:
        parsed = timestamp_in_utc(parsed)
    except ValueError as exc:
        return Rejection("timestamp", f"timestamp {value!r}: {exc}")
    if parsed > now + MAX_FUTURE:
        return Rejection("timestamp", "timestamp is more than 24 hours in the future.")
    return parsed


def _properties_encoder() -> Callable[[Any], str]:
    """Compact JSON, non-ASCII kept, NaN and Infinity refused (ValueError): `json.dumps` with
    those options, less the encoder it builds on every call (half the validation time of a bulk
    request). The C encoder is made once; without it (not CPython) `json.dumps` does the same."""
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return lambda value: json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )

    def refuse(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    # (markers, default, encoder, indent, key separator, item separator, sort_keys, skipkeys,
    # allow_nan): markers=None skips the cycle check, which parsed JSON never needs.
    encode = c_make_encoder(None, refuse, encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(encode(value, 0))


_encode_properties = _properties_encoder()


def _properties(value: Any) -> str | Rejection:
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        return Rejection("properties", "properties must be a JSON object.")
    try:
        text = _encode_properties(value)
    except ValueError:
        # A number too large for a double (1e400) parses as infinity, which JSONB can't hold.
        return Rejection("properties", "properties contain a number out of range (Infinity).")
    # Each event's own check (not the parser's), so one bad event does not refuse its batch.
    if problem := json_text_error(text):
        return Rejection("properties", f"properties: {problem}")
    return text


def event_from_payload(payload: Any, *, now: datetime) -> NewEvent | Rejection:
    """Validate one event as sent (Flexprice's fields; `id` is accepted for `event_id`)."""
    if not isinstance(payload, dict):
        return Rejection("event", "Each event must be a JSON object.")
    event_name = _text(payload, "event_name", required=True)
    if isinstance(event_name, Rejection):
        return event_name
    external_customer_id = _text(payload, "external_customer_id", required=True)
    if isinstance(external_customer_id, Rejection):
        return external_customer_id
    id_field = "event_id" if payload.get("event_id") not in (None, "") else "id"
    event_id = _text(payload, id_field, required=False)
    if isinstance(event_id, Rejection):
        return event_id
    source = _text(payload, "source", required=False)
    if isinstance(source, Rejection):
        return source
    timestamp = _timestamp(payload.get("timestamp"), now)
    if isinstance(timestamp, Rejection):
        return timestamp
    properties_json = _properties(payload.get("properties"))
    if isinstance(properties_json, Rejection):
        return properties_json
    return NewEvent(
        event_id=event_id or new_id("event"),
        event_name=event_name,
        external_customer_id=external_customer_id,
        timestamp=timestamp,
        source=source,
        properties_json=properties_json,
    )
