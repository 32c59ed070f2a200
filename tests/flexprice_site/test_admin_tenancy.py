"""The admin shows staff users only their own tenant's rows; API keys are made and revoked there."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from flexprice_site.models import ApiKey, Environment, User
from flexprice_site.services import api_key_create


def staff_client(environment: Environment, username: str) -> tuple[Client, User]:
    user = User.objects.create_user(
        username=username, password="pw-123456!", is_staff=True, tenant=environment.tenant
    )
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="flexprice_site",
            content_type__model__in=["apikey", "environment"],
        )
    )
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def acme_staff(environment: Environment) -> tuple[Client, User]:
    return staff_client(environment, "alice")


@pytest.fixture
def globex_staff(other_environment: Environment) -> tuple[Client, User]:
    return staff_client(other_environment, "gina")


class TestAdminIsolation:
    def test_staff_see_only_their_tenants_api_keys(
        self, environment: Environment, other_environment: Environment, globex_staff
    ) -> None:
        acme_key = api_key_create(environment=environment, name="acme-secret-key").api_key
        api_key_create(environment=other_environment, name="globex key")
        client, _ = globex_staff

        changelist = client.get("/admin/flexprice_site/apikey/")
        assert changelist.status_code == 200
        assert "globex key" in changelist.content.decode()
        assert "acme-secret-key" not in changelist.content.decode()
        # Another tenant's row is not even addressable.
        assert client.get(f"/admin/flexprice_site/apikey/{acme_key.pk}/change/").status_code == 302
        assert ApiKey.objects.get(pk=acme_key.pk).name == "acme-secret-key"

    def test_the_environment_filter_offers_only_their_tenants_environments(
        self, environment: Environment, other_environment: Environment, globex_staff
    ) -> None:
        globex_staging = Environment.objects.create(
            tenant=other_environment.tenant, name="staging", type="development"
        )
        api_key_create(environment=environment, name="acme key")
        api_key_create(environment=other_environment, name="globex key")
        api_key_create(environment=globex_staging, name="globex staging key")
        client, _ = globex_staff

        page = client.get("/admin/flexprice_site/apikey/").content.decode()

        assert f"environment__id__exact={other_environment.pk}" in page
        assert f"environment__id__exact={globex_staging.pk}" in page
        assert f"environment__id__exact={environment.pk}" not in page

    def test_staff_see_only_their_tenants_environments(
        self, environment: Environment, other_environment: Environment, globex_staff
    ) -> None:
        client, _ = globex_staff
        page = client.get("/admin/flexprice_site/environment/").content.decode()
        assert other_environment.id in page
        assert environment.id not in page

    def test_superusers_see_every_tenant(
        self, environment: Environment, other_environment: Environment, admin_client: Client
    ) -> None:
        api_key_create(environment=environment, name="acme key")
        api_key_create(environment=other_environment, name="globex key")
        page = admin_client.get("/admin/flexprice_site/apikey/").content.decode()
        assert "acme key" in page and "globex key" in page

    def test_changelist_query_count_does_not_grow_with_rows(
        self, environment: Environment, acme_staff, django_assert_max_num_queries
    ) -> None:
        client, _ = acme_staff
        for number in range(20):
            api_key_create(environment=environment, name=f"key {number}")
        with django_assert_max_num_queries(12):
            response = client.get("/admin/flexprice_site/apikey/")
        assert response.status_code == 200


class TestApiKeyAdmin:
    def test_creating_a_key_shows_it_once_and_it_works(
        self, environment: Environment, acme_staff
    ) -> None:
        client, _ = acme_staff
        response = client.post(
            "/admin/flexprice_site/apikey/add/",
            {"name": "billing sync", "environment": environment.pk},
            follow=True,
        )
        page = response.content.decode()
        raw_key = re.search(r"not be shown again: (sk_[\w-]+)", page).group(1)
        api_key = ApiKey.objects.get(name="billing sync")
        assert api_key.tenant == environment.tenant
        assert api_key.created_by == "user:alice"
        assert raw_key.startswith(api_key.prefix)
        # The key works, and its page never shows the secret again.
        listing = Client().get("/v1/secrets/api/keys", HTTP_X_API_KEY=raw_key)
        assert listing.status_code == 200
        detail = client.get(f"/admin/flexprice_site/apikey/{api_key.pk}/change/").content.decode()
        assert raw_key not in detail

    def test_staff_cannot_create_a_key_in_another_tenants_environment(
        self, other_environment: Environment, acme_staff
    ) -> None:
        client, _ = acme_staff
        response = client.post(
            "/admin/flexprice_site/apikey/add/",
            {"name": "sneaky", "environment": other_environment.pk},
        )
        assert response.status_code == 200  # the form comes back with an error
        assert "Select a valid choice" in response.content.decode()
        assert not ApiKey.objects.filter(name="sneaky").exists()

    def test_revoking_from_the_admin_locks_the_key_out(
        self, environment: Environment, acme_staff
    ) -> None:
        client, _ = acme_staff
        created = api_key_create(environment=environment, name="old key")
        response = client.post(
            "/admin/flexprice_site/apikey/",
            {"action": "revoke_keys", "_selected_action": [created.api_key.pk]},
            follow=True,
        )
        assert "Revoked 1 API key(s)" in response.content.decode()
        revoked = ApiKey.objects.get(pk=created.api_key.pk)
        assert revoked.revoked_by == "user:alice"
        listing = Client().get("/v1/secrets/api/keys", HTTP_X_API_KEY=created.raw_key)
        assert listing.status_code == 401
