"""API-key authentication: every API request acts for exactly one tenant + environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from flexprice_site.models import ApiKey, Environment, Tenant
from flexprice_site.selectors import api_key_for_secret
from flexprice_site.services import api_key_mark_used

API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class ApiClient:
    """`request.user` for API calls: the key's holder, scoped to one tenant + environment."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def tenant(self) -> Tenant:
        return self.api_key.tenant

    @property
    def environment(self) -> Environment:
        return self.api_key.environment

    @property
    def actor(self) -> str:
        """What `created_by` / `updated_by` record for writes made with this key."""
        return f"api_key:{self.api_key.id}"

    def __str__(self) -> str:
        return self.actor


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        raw_key = request.headers.get(API_KEY_HEADER, "").strip()
        if not raw_key:
            return None
        api_key = api_key_for_secret(raw_key)
        if api_key is None:
            # Unknown and revoked keys get the same answer: nothing about a key leaks.
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        api_key_mark_used(api_key=api_key)
        return ApiClient(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        # Having a challenge makes DRF answer 401 (not 403) to unauthenticated requests.
        return API_KEY_HEADER


class HasApiKey(permissions.BasePermission):
    message = f"Send a valid API key in the {API_KEY_HEADER} header."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, ApiClient)


def client_of(request: Request) -> ApiClient:
    """The authenticated API client of a request (views behind HasApiKey always have one)."""
    user = request.user
    if not isinstance(user, ApiClient):
        raise exceptions.NotAuthenticated()
    return user
