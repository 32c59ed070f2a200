"""Reads for tenancy: finding the key behind a request."""

from __future__ import annotations

from flexprice_site.models import ApiKey
from flexprice_site.services import hash_api_key


def api_key_for_secret(raw_key: str) -> ApiKey | None:
    """The active key whose secret this is, with its tenant and environment loaded."""
    return (
        ApiKey.objects.select_related("tenant", "environment")
        .filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True)
        .first()
    )
