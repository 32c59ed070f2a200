"""Request plumbing that must run before a view reads the request."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.views import defaults

from flexprice_site.bounds import text_error
from flexprice_site.errors import API_PREFIX, error_response

# Longer than any URL of this API needs (lists take a few comma-separated ids), and as long as
# common proxies allow. gunicorn passes longer request lines on (gunicorn.conf.py) so that this,
# not an HTML page of the server's, is the answer.
MAX_URL_BYTES = 8192


class ApiRequestSizeMiddleware:
    """Refuse API URLs over MAX_URL_BYTES with 414 and bodies over API_MAX_BODY_BYTES with 413,
    without reading the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            url_bytes = len(request.path.encode()) + len(request.META.get("QUERY_STRING", ""))
            if url_bytes > MAX_URL_BYTES:
                return error_response(
                    "validation_error",
                    f"The URL is {url_bytes} bytes; the limit is {MAX_URL_BYTES} bytes.",
                    414,
                )
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


class UrlTextMiddleware:
    """Refuse requests whose path or query string holds text PostgreSQL can't store (a NUL,
    `%00`) before any view, filter or admin page looks it up: the API answers 400 naming the
    parameter in its error body, the admin its 400 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Django decodes the URL with replacement characters, so only NUL can get through.
        places = [("path", request.path)]
        places += [
            (name if text_error(name) is None else "query", text)
            for name, values in request.GET.lists()
            for text in (name, *values)
        ]
        for field, text in places:
            if problem := text_error(text):
                if request.path.startswith(API_PREFIX):
                    return error_response(
                        "validation_error", f"{field}: {problem}", 400, {field: [problem]}
                    )
                return defaults.bad_request(request, SuspiciousOperation(f"{field}: {problem}"))
        return self.get_response(request)
