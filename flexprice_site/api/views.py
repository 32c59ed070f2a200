"""Tenancy API: the caller's own API keys (never the secrets)."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import generics

from flexprice_site.api.mixins import TenantScopedAPIMixin
from flexprice_site.api.serializers import ApiKeySerializer
from flexprice_site.models import ApiKey


class ApiKeyListView(TenantScopedAPIMixin, generics.ListAPIView):
    """The API keys of the caller's tenant + environment, newest first."""

    serializer_class = ApiKeySerializer

    def get_queryset(self) -> QuerySet[ApiKey]:
        return self.scoped(ApiKey.objects.order_by("-created_at", "-id"))
