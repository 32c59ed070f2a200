"""Request plumbing for the API that must run before a view reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from flexprice_site.errors import API_PREFIX, error_response


class ApiRequestSizeMiddleware:
    """Refuse API bodies over API_MAX_BODY_BYTES with 413, without reading them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:
                return error_response(
                    "validation_error",
                    f"The request body is {length} bytes; the limit is {limit} bytes.",
                    413,
                )
        return self.get_response(request)
