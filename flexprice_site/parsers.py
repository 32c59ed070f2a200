"""Reading JSON as the database can keep it: exact numbers, a nesting limit, and only text
PostgreSQL can store. The API's bodies and the admin's JSON fields are both read here."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser, get_encoding

from flexprice_site.bounds import text_error

# Deeper than any body of this API needs (event properties included); JSON nested thousands of
# levels deep would otherwise exhaust the decoder's recursion, which is a RecursionError.
MAX_JSON_DEPTH = 64
DEPTH_MESSAGE = f"JSON can be nested at most {MAX_JSON_DEPTH} levels deep."
BODY = "body"  # how `details` names the body itself, when no field is to blame

# A piece of JSON a scanner needs to follow nesting: a string (skipped whole), a bracket, a colon
# or a comma.
_PIECE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _field(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path) if path else BODY


def _problem(value: Any, path: tuple[Any, ...], check_text: bool) -> tuple[str, str] | None:
    """(field, message) for the first place in `value` nested too deep or holding text the
    database can't store, in document order; None when there is none."""
    if len(path) >= MAX_JSON_DEPTH:
        return _field(path), DEPTH_MESSAGE
    items = value.items() if type(value) is dict else enumerate(value)
    for key, child in items:
        if check_text and type(key) is str and (message := text_error(key)):
            return _field(path), f"A key: {message}"
        kind = type(child)
        if kind is dict or kind is list:
            if problem := _problem(child, (*path, key), check_text):
                return problem
        elif check_text and kind is str and (message := text_error(child)):
            return _field((*path, key)), message
    return None


def _too_deep_at(text: str) -> str:
    """Where JSON too deep for the decoder first passes MAX_JSON_DEPTH, named as `_problem`
    names it, found by following the brackets (the decoder gave up: there is no value)."""
    # One frame per open container: [its bracket, the key or index being read, expecting a key].
    frames: list[list[Any]] = []
    for match in _PIECE.finditer(text):
        piece = match.group()
        if piece in "[{":
            if len(frames) >= MAX_JSON_DEPTH:
                break
            frames.append([piece, 0 if piece == "[" else None, piece == "{"])
        elif piece in "]}":
            frames.pop()
        elif piece == "," and frames:
            if frames[-1][0] == "[":
                frames[-1][1] += 1
            else:
                frames[-1][2] = True
        elif piece.startswith('"') and frames and frames[-1][2]:
            frames[-1][1], frames[-1][2] = json.loads(piece), False
    return _field(tuple(frame[1] for frame in frames))


class JSONRefused(Exception):
    """Valid JSON the database can't keep: `field` says where (dotted path, or "body")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def read_json(text: str, *, parse_float: Any = Decimal, check_text: bool = True) -> Any:
    """`text` decoded; JSONRefused when it is nested deeper than MAX_JSON_DEPTH or holds a string
    or key PostgreSQL can't store (NUL, unpaired surrogates), ValueError when it is not JSON.
    NaN and Infinity are not JSON numbers here."""
    try:
        data = json.loads(text, parse_float=parse_float, parse_constant=_refuse_constant)
    except RecursionError:
        raise JSONRefused(_too_deep_at(text), DEPTH_MESSAGE) from None
    if isinstance(data, dict | list):
        # NUL and surrogates can only arrive as \u escapes: without one, no string can hold
        # them, and only the nesting is checked.
        problem = _problem(data, (), check_text and "\\u" in text)
        if problem is not None:
            raise JSONRefused(*problem)
    elif check_text and isinstance(data, str) and (message := text_error(data)):
        raise JSONRefused(BODY, message)
    return data


class ApiJSONParser(JSONParser):
    """JSON bodies, read by `read_json`: numbers as Decimal, so `0.1` stays exactly 0.1 on its
    way to money columns (Flexprice's SDKs send some amounts, such as commitments, as JSON
    numbers); what the database can't keep is a 400 naming where, before any view sees it."""

    parse_float: Any = Decimal
    # Views that check each item's text themselves (event ingestion refuses one bad event of a
    # batch, not the batch) turn this off.
    check_text = True

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            return read_json(text, parse_float=self.parse_float, check_text=self.check_text)
        except JSONRefused as refused:
            raise ValidationError({refused.field: [refused.message]}) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


class EventJSONParser(ApiJSONParser):
    """Event bodies: `analytics.ingestion` checks each event's text, so that one bad event of a
    batch is refused alone; numbers stay floats for the JSONB encoder."""

    parse_float = float
    check_text = False
