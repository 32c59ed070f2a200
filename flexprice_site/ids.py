"""Prefixed, time-sortable identifiers (`cost_01JD…`), generated server-side."""

from __future__ import annotations

import secrets
import threading
import time

# Crockford's base32: no I, L, O, U, so IDs survive being read aloud or retyped.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_millis = 0
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, remainder = divmod(value, 32)
        chars.append(_ALPHABET[remainder])
    return "".join(reversed(chars))


def new_ulid() -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 bits of randomness.

    Within one millisecond the random part is incremented instead of redrawn, so IDs made by
    one process sort in creation order even when several are made in the same millisecond.
    """
    global _last_millis, _last_random
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis <= _last_millis:
            millis = _last_millis
            _last_random = (_last_random + 1) % (1 << 80)
        else:
            _last_millis = millis
            _last_random = secrets.randbits(80)
        return _encode(millis, 10) + _encode(_last_random, 16)


def new_id(prefix: str) -> str:
    """`<prefix>_<ULID>`, e.g. `new_id("cost")` → `cost_01JD5V6Z1M8Q3E7K2T9W4X6Y8A`."""
    return f"{prefix}_{new_ulid()}"
