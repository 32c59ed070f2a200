"""OpenAPI description of the site's plumbing: API-key auth, and the errors operations answer."""

from __future__ import annotations

from typing import Any

import uritemplate
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse

from flexprice_site.errors import ERROR_CODES

ERROR_COMPONENT = "Error"

# What each error status means here (SPEC §1, docs/decisions.md). Every status an operation can
# answer is declared on it with the one error body, so clients and fuzzers can rely on the list.
ERROR_DESCRIPTIONS = {
    400: "`validation_error` (bad input; `details` names each offending field) or "
    "`invalid_operation` (an action the data does not allow).",
    401: "`permission_denied`: no API key, or a key that is not valid (or revoked).",
    404: "`not_found`: nothing with this id (or external id) in the key's environment.",
    406: "`invalid_operation`: the Accept header asks for a format this operation can't give.",
    409: "`already_exists`: a name or lookup key that must be unique is taken.",
    413: "`validation_error`: the body is larger than `API_MAX_BODY_BYTES`.",
    414: "`validation_error`: the URL (path and query string) is longer than 8,192 bytes.",
    415: "`validation_error`: the body is not `application/json`.",
    429: "`too_many_requests`: over the key's rate limit; `Retry-After` says when to retry.",
    500: "`internal_error`: a fault of ours (nothing about it leaks).",
}

# Every API operation: its query string and headers are checked (400), its Accept header
# negotiated (406), its size limited (413, 414), and a fault of ours is still the error body
# (500).
ALWAYS = (400, 406, 413, 414, 500)

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The one error body of the API (SPEC §1).",
    "required": ["code", "message", "http_status_code", "details"],
    "properties": {
        "code": {"type": "string", "enum": list(ERROR_CODES)},
        "message": {"type": "string", "description": "What went wrong, for a person."},
        "http_status_code": {"type": "integer"},
        "details": {
            "type": "object",
            "additionalProperties": True,
            "description": "The offending fields (by their path in the request, such as "
            "`tiers.1.up_to`) and why; empty when no field is to blame.",
        },
    },
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error statuses an operation answers beyond those every operation of its kind does, for
    `extend_schema(responses=…)`: `{201: CustomerSerializer, **error_responses(409)}`."""
    return {status: OpenApiResponse(description=ERROR_DESCRIPTIONS[status]) for status in statuses}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema, with every error status an operation can answer declared."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status in self._error_statuses(responses):
            responses[str(status)] = self._error_response(status)
        return dict(sorted(responses.items()))

    def _error_statuses(self, declared: dict[str, Any]) -> set[int]:
        statuses = set(ALWAYS)
        if self.get_auth():
            statuses |= {401, 429}
        if uritemplate.variables(self.path):
            statuses.add(404)
        if self._get_request_body() is not None:
            statuses.add(415)
        # Statuses a view declared itself (`error_responses`) get the error body too.
        statuses |= {int(code) for code in declared if int(code) in ERROR_DESCRIPTIONS}
        return statuses

    def _error_response(self, status: int) -> dict[str, Any]:
        component = ResolvedComponent(
            name=ERROR_COMPONENT,
            type=ResolvedComponent.SCHEMA,
            object=ERROR_COMPONENT,
            schema=ERROR_SCHEMA,
        )
        self.registry.register_on_missing(component)
        response: dict[str, Any] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": component.ref}},
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {
                    "schema": {"type": "integer"},
                    "description": "Seconds to wait before trying again.",
                }
            }
        return response


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "flexprice_site.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "x-api-key"}
