"""Demo data for a fresh install: a tenant, its environment, an admin login and an API key."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from flexprice_site.models import Environment, User
from flexprice_site.services import api_key_create, environment_get_or_create

DEMO_TENANT = "Demo AI Co"
DEMO_ENVIRONMENT = "development"
DEMO_USERNAME = "admin"
PRICING_OPS_GROUP = "Pricing ops"
# Staff of a tenant manage everything in these apps (rows are scoped to their tenant).
PRICING_OPS_APPS = ["costsheets", "analytics"]
PRICING_OPS_MODELS = ["apikey", "environment", "user"]


@dataclass(frozen=True)
class DemoCredentials:
    admin_url: str
    username: str
    password: str
    api_key: str
    tenant: str
    environment: str


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / "demo_credentials.json"


def saved_demo_credentials() -> DemoCredentials | None:
    path = credentials_path()
    if not path.exists():
        return None
    return DemoCredentials(**json.loads(path.read_text()))


def pricing_ops_group() -> Group:
    group, _ = Group.objects.get_or_create(name=PRICING_OPS_GROUP)
    permissions = Permission.objects.filter(content_type__app_label__in=PRICING_OPS_APPS) | (
        Permission.objects.filter(
            content_type__app_label="flexprice_site", content_type__model__in=PRICING_OPS_MODELS
        )
    )
    group.permissions.set(permissions)
    return group


@transaction.atomic
def demo_tenant_seed(*, base_url: str) -> tuple[Environment, DemoCredentials]:
    """Create (or reuse) the demo tenant, an admin user with a fresh password and an API key."""
    environment = environment_get_or_create(
        tenant_name=DEMO_TENANT, environment_name=DEMO_ENVIRONMENT
    )
    pricing_ops_group()
    password = secrets.token_urlsafe(12)
    user, _ = User.objects.get_or_create(username=DEMO_USERNAME)
    user.tenant = environment.tenant
    user.is_staff = True
    user.is_superuser = True
    user.email = "admin@example.com"
    user.set_password(password)
    user.save()
    created = api_key_create(environment=environment, name="demo", created_by="seed_demo")
    credentials = DemoCredentials(
        admin_url=f"{base_url.rstrip('/')}/admin/",
        username=DEMO_USERNAME,
        password=password,
        api_key=created.raw_key,
        tenant=environment.tenant.name,
        environment=environment.name,
    )
    path = credentials_path()
    path.write_text(json.dumps(asdict(credentials), indent=2))
    path.chmod(0o600)
    return environment, credentials
