"""Writes for tenancy: tenants, environments and API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from flexprice_site.models import ApiKey, Environment, Tenant

API_KEY_PREFIX = "sk_"
VISIBLE_PREFIX_LENGTH = 10
# last_used_at is advisory; writing it on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the person once, never stored


def api_key_create(*, environment: Environment, name: str, created_by: str = "") -> CreatedApiKey:
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        tenant_id=environment.tenant_id,
        environment=environment,
        name=name,
        prefix=raw_key[:VISIBLE_PREFIX_LENGTH],
        key_hash=hash_api_key(raw_key),
        created_by=created_by,
    )
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: ApiKey, revoked_by: str = "") -> ApiKey:
    """Revoke a key; revoking twice keeps the first revocation's time and author."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.revoked_by = revoked_by
        api_key.save(update_fields=["revoked_at", "revoked_by"])
    return api_key


def api_key_mark_used(*, api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


@transaction.atomic
def environment_get_or_create(*, tenant_name: str, environment_name: str) -> Environment:
    tenant, _ = Tenant.objects.get_or_create(name=tenant_name)
    environment, _ = Environment.objects.get_or_create(tenant=tenant, name=environment_name)
    return environment
