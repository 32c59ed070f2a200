"""Serializers for the tenancy API."""

from __future__ import annotations

from rest_framework import serializers

from flexprice_site.models import ApiKey
from flexprice_site.rendering import UtcDateTimeField


class ApiKeySerializer(serializers.ModelSerializer):
    environment_id = serializers.CharField(read_only=True)
    tenant_id = serializers.CharField(read_only=True)
    status = serializers.SerializerMethodField()
    created_at = UtcDateTimeField(read_only=True)
    last_used_at = UtcDateTimeField(read_only=True, allow_null=True)
    revoked_at = UtcDateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "tenant_id",
            "environment_id",
            "status",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields

    def get_status(self, api_key: ApiKey) -> str:
        return "published" if api_key.is_active else "archived"
