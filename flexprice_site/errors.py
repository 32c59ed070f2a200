"""The one error body of the API (SPEC §1) and the exceptions services raise to produce it."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from flexprice_site.rendering import ApiJSONEncoder

logger = logging.getLogger(__name__)

API_PREFIX = "/v1/"

# The codes an error body can carry (SPEC §1); the HTTP status says the rest.
ERROR_CODES = (
    "validation_error",
    "invalid_operation",
    "permission_denied",
    "not_found",
    "already_exists",
    "version_conflict",
    "too_many_requests",
    "internal_error",
    "service_unavailable",
)


class ApiError(Exception):
    """An error a service or view raises on purpose; it is answered as it says."""

    code = "internal_error"
    http_status = status.HTTP_500_INTERNAL_SERVER_ERROR

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(ApiError):
    code = "validation_error"
    http_status = status.HTTP_400_BAD_REQUEST


class InvalidOperation(ApiError):
    code = "invalid_operation"
    http_status = status.HTTP_400_BAD_REQUEST


class NotFound(ApiError):
    code = "not_found"
    http_status = status.HTTP_404_NOT_FOUND


class AlreadyExists(ApiError):
    code = "already_exists"
    http_status = status.HTTP_409_CONFLICT


class VersionConflict(ApiError):
    code = "version_conflict"
    http_status = status.HTTP_409_CONFLICT


class ServiceUnavailable(ApiError):
    code = "service_unavailable"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


def error_body(code: str, message: str, http_status: int, details: Any = None) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "http_status_code": http_status,
        "details": details or {},
    }


def _first_message(detail: Any, path: str = "") -> str:
    """The first leaf of a DRF error tree, prefixed with where it is (`tiers.1.up_to: …`)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                return _first_message(value, path)
            return _first_message(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list) and detail:
        for index, value in enumerate(detail):
            if value:
                child = f"{path}.{index}" if isinstance(value, dict) else path
                return _first_message(value, child)
    text = str(detail)
    return f"{path}: {text}" if path else text


def _plain(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(key): _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(value) for value in detail]
    return str(detail)


def _classify(exc: Exception) -> tuple[str, int, str, Any]:
    """(code, http status, message, details) for any exception a view lets through."""
    if isinstance(exc, ApiError):
        return exc.code, exc.http_status, exc.message, exc.details
    if isinstance(exc, exceptions.ValidationError):
        details = _plain(exc.detail)
        if isinstance(details, list):
            details = {"non_field_errors": details}
        return "validation_error", 400, _first_message(exc.detail), details
    if isinstance(exc, exceptions.ParseError):
        return "validation_error", 400, f"The request body is not valid JSON: {exc.detail}", {}
    if isinstance(exc, RequestDataTooBig):
        return "validation_error", 413, "The request body is too large.", {}
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return "validation_error", 415, "Send the request body as application/json.", {}
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return "permission_denied", 401, str(exc.detail), {}
    if isinstance(exc, (exceptions.PermissionDenied, DjangoPermissionDenied)):
        message = str(getattr(exc, "detail", "")) or "You may not do this."
        return "permission_denied", 403, message, {}
    if isinstance(exc, (exceptions.NotFound, Http404)):
        return "not_found", 404, "Not found.", {}
    if isinstance(exc, exceptions.MethodNotAllowed):
        return "invalid_operation", 405, str(exc.detail), {}
    if isinstance(exc, exceptions.NotAcceptable):
        return "invalid_operation", 406, str(exc.detail), {}
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait) if exc.wait is not None else None
        message = "Too many requests."
        if wait is not None:
            message += f" Try again in {wait} seconds."
        return "too_many_requests", 429, message, {"retry_after_seconds": wait}
    if isinstance(exc, exceptions.APIException):
        return "internal_error", exc.status_code, str(exc.detail), {}
    return "internal_error", 500, "An unexpected error occurred.", {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error, expected or not, in the SPEC §1 body."""
    code, http_status, message, details = _classify(exc)
    set_rollback()
    if http_status >= 500:
        view = context.get("view")
        logger.error("unhandled error in %s", type(view).__name__, exc_info=exc)
    response = Response(error_body(code, message, http_status, details), status=http_status)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(int(exc.wait))
    if http_status == 401:
        response["WWW-Authenticate"] = "x-api-key"
    if isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        if view is not None:
            response["Allow"] = ", ".join(view.allowed_methods)
    return response


def error_response(code: str, message: str, http_status: int, details: Any = None) -> JsonResponse:
    return JsonResponse(
        error_body(code, message, http_status, details),
        status=http_status,
        encoder=ApiJSONEncoder,
    )


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Catch-all for unknown /v1/ routes, whatever the method."""
    return error_response("not_found", f"No API route for {request.method} {request.path}.", 404)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


# Django's own handlers, for errors raised outside DRF views: JSON under /v1/, HTML elsewhere.


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return error_response("validation_error", "Bad request.", 400)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return error_response("permission_denied", "You may not do this.", 403)
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return error_response("internal_error", "An unexpected error occurred.", 500)
    return defaults.server_error(request)
