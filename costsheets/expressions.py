"""Meter expressions: CEL (cel-python) parsing, shared by validation and the metering engine."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import celpy
from celpy.celparser import CELParseError

MAX_EXPRESSION_LENGTH = 1000


@lru_cache(maxsize=256)
def parse_expression(text: str) -> Any:
    """The CEL syntax tree of `text`; raises CELParseError when it isn't CEL."""
    return celpy.Environment().compile(text)


def expression_error(text: str) -> str | None:
    """A message a person understands when `text` is not a usable CEL expression, else None."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        return f"The expression is {len(text)} characters long; the limit is 1000."
    try:
        parse_expression(text)
    except CELParseError as error:
        column = getattr(error, "column", None)
        where = f" near character {column}" if column else ""
        return (
            f"The expression is not valid CEL: it can't be read{where}. "
            "Write arithmetic over event properties, e.g. input_tokens * 2 + output_tokens."
        )
    return None
