"""Assertions shared by the catalogue API tests."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, *, status: int, code: str = "validation_error") -> dict[str, Any]:
    """The SPEC §1 error body with this status and code; returns it for further checks."""
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"code", "message", "http_status_code", "details"}
    assert body["code"] == code
    assert body["http_status_code"] == status
    return body


def ids_of(response: Any) -> list[str]:
    """The ids of a list response's items, in order."""
    return [item["id"] for item in response.json()["items"]]
