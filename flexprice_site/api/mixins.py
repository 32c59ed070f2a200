"""What every tenant-scoped API view shares."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from flexprice_site.authentication import client_of


class TenantScopedAPIMixin:
    """`scoped(queryset)`: only the caller's tenant + environment rows, never another's."""

    request: Any

    def scoped(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation has no caller
            return queryset.none()
        client = client_of(self.request)
        return queryset.filter(tenant=client.tenant, environment=client.environment)
