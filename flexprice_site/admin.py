"""Admin for tenancy: tenants, environments, staff users and API keys (created and revoked here)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from flexprice_site.models import ApiKey, Environment, Tenant, User
from flexprice_site.services import api_key_create, api_key_revoke
from flexprice_site.tenancy import TenantScopedAdmin, scope_to_tenant, sees_all_tenants

admin.site.site_header = "Pricing ops"
admin.site.site_title = "Pricing ops"
admin.site.index_title = "Catalogue, usage and margins"


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_at"]
    search_fields = ["name", "id"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    readonly_fields = ["id", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        return scope_to_tenant(super().get_queryset(request), request, "pk")


@admin.register(Environment)
class EnvironmentAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant", "type", "id", "created_at"]
    list_filter = ["type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["name", "id", "tenant__name"]
    readonly_fields = ["id", "created_at"]
    list_select_related = ["tenant"]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        # An environment has no environment of its own: only superusers choose its tenant.
        return [] if sees_all_tenants(request) else ["tenant"]


class RevokedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """Keys are made here and shown once; afterwards only their prefix is visible."""

    list_display = ["name", "prefix", "environment", "is_active", "created_at", "last_used_at"]
    # RelatedOnlyFieldListFilter offers only environments that have keys in the (tenant-scoped)
    # queryset; the plain filter would list every tenant's environments.
    list_filter = [
        RevokedFilter,
        ("environment", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["name", "prefix", "id"]
    list_select_related = ["environment", "environment__tenant"]
    actions = ["revoke_keys"]
    fields = ["name", "environment"]
    readonly_fields = [
        "id",
        "prefix",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]

    @admin.display(boolean=True, description="active")
    def is_active(self, api_key: ApiKey) -> bool:
        return api_key.is_active

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "environment"]
        return ["name", "environment", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        # A key's scope never changes after it is handed out; only its name can.
        return ["environment", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = api_key_create(
            environment=form.cleaned_data["environment"],
            name=form.cleaned_data["name"],
            created_by=f"user:{request.user.get_username()}",
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created.api_key, field.attname))
        obj._state.adding = False
        obj._state.db = created.api_key._state.db
        messages.warning(
            request,
            f"Copy this API key now, it will not be shown again: {created.raw_key}",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, revoked_by=f"user:{request.user.get_username()}")
            count += 1
        self.message_user(request, f"Revoked {count} API key(s). Requests using them now get 401.")


@admin.register(User)
class UserAdmin(TenantScopedAdmin, DjangoUserAdmin):
    list_display = ["username", "email", "tenant", "is_staff", "is_superuser", "is_active"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    list_select_related = ["tenant"]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        return []  # fieldsets decide; see get_fieldsets

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if sees_all_tenants(request):
            fieldsets.append(("Tenant", {"fields": ["tenant"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if not sees_all_tenants(request):
            # Staff may manage their colleagues but never grant themselves cross-tenant powers.
            readonly += ["is_superuser", "user_permissions"]
        return readonly
