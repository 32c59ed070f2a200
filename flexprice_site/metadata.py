"""What an OPTIONS request to the API answers."""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class ApiMetadata(SimpleMetadata):
    """The view's name, description and formats. DRF would also describe each writable method's
    fields, asking a view for the object it updates, which a list view that updates by query
    (`PUT /v1/customers?id=…`) does not have: that was a 500. The OpenAPI schema at
    /v1/openapi.json describes every field."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}
