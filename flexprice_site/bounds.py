"""What the database can store (and the app compute with), checked where input is read.

Input that PostgreSQL would refuse must be a 400 naming the field, decided before any query
runs, never a database error caught afterwards. These are the limits; the API's parser, fields
and forms (and event ingestion) apply them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# PostgreSQL's `integer` (Django's IntegerField and PositiveIntegerField) and `bigint`.
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

# Timestamps are stored in UTC. The range leaves room for the arithmetic done on them (billing
# periods, windows aligned in a time zone, the default 7-day range) without leaving what Python's
# datetime holds (years 1-9999); it is wide enough for any real date, and for "since 1970" or
# "until 2999" sentinels.
TIMESTAMP_MIN = datetime(1900, 1, 1, tzinfo=UTC)
TIMESTAMP_MAX = datetime(9000, 1, 1, tzinfo=UTC)
# PostgreSQL refuses a timestamp whose UTC offset is 16 hours or more ("time zone displacement
# out of range"); real offsets run from -12:00 to +14:00.
MAX_UTC_OFFSET = timedelta(hours=16)

TIMESTAMP_RANGE_MESSAGE = (
    f"Timestamps must be from {TIMESTAMP_MIN:%Y-%m-%dT%H:%M:%SZ} "
    f"up to (not including) {TIMESTAMP_MAX:%Y-%m-%dT%H:%M:%SZ}."
)
UTC_OFFSET_MESSAGE = "The UTC offset must be between -15:59 and +15:59."
NUL_MESSAGE = "Text can't contain the NUL character (\\u0000)."
SURROGATE_MESSAGE = "Text can't contain an unpaired surrogate (\\ud800-\\udfff)."


def timestamp_in_utc(value: datetime) -> datetime:
    """An aware `value` in UTC; ValueError saying why when it is out of bounds."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) >= MAX_UTC_OFFSET:
        raise ValueError(UTC_OFFSET_MESSAGE)
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(TIMESTAMP_RANGE_MESSAGE) from None
    if not TIMESTAMP_MIN <= in_utc < TIMESTAMP_MAX:
        raise ValueError(TIMESTAMP_RANGE_MESSAGE)
    return in_utc


def text_error(value: str) -> str | None:
    """Why PostgreSQL can't store `value` as text or inside JSONB, or None when it can.

    Valid JSON can carry both through `\\u` escapes: NUL (`\\u0000`) and a surrogate without its
    pair (`\\ud800`), which is no character and can't be encoded as UTF-8.
    """
    if value.isascii():
        return NUL_MESSAGE if "\x00" in value else None
    if "\x00" in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


# A \u0000 escape in JSON text: one not itself escaped (`\\u0000` is a backslash, then "u0000").
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_text_error(encoded: str) -> str | None:
    """`text_error` for the strings inside JSON text as `json.dumps(ensure_ascii=False)` writes
    it (NUL escaped as `\\u0000`, other characters as they are), without decoding it again."""
    if "\\u0000" in encoded and _NUL_ESCAPE.search(encoded):
        return NUL_MESSAGE
    return None if encoded.isascii() else text_error(encoded)
