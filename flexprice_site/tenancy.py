"""Tenant scoping in the admin: staff see and write only their own tenant's rows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from flexprice_site.forms import (
    StorableJSONField,
    StorableModelChoiceField,
    StorableModelMultipleChoiceField,
    validate_storable_timestamp,
)
from flexprice_site.models import Environment, Tenant, TenantScopedModel, User


def tenant_of(request: HttpRequest) -> Tenant | None:
    user = request.user
    return user.tenant if isinstance(user, User) else None


def sees_all_tenants(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


def scope_to_tenant(
    queryset: QuerySet[Any], request: HttpRequest, field: str = "tenant"
) -> QuerySet[Any]:
    """The rows of `queryset` this admin user may see (superusers: all; no tenant: none)."""
    if sees_all_tenants(request):
        return queryset
    tenant = tenant_of(request)
    if tenant is None:
        return queryset.none()
    return queryset.filter(**{field: tenant})


class TenantEnvironmentListFilter(admin.RelatedFieldListFilter):
    """An environment filter offering the environments of the user's tenant (all of them to
    superusers), read from the environments table: Django's default offers every tenant's, and
    RelatedOnlyFieldListFilter would read them off the list's rows (a DISTINCT over a tenant's
    events, on the event explorer)."""

    def field_choices(
        self, field: models.Field, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[Any, str]]:
        environments = scope_to_tenant(Environment.objects.select_related("tenant"), request)
        return [(environment.pk, str(environment)) for environment in environments]


class TenantScopedAdmin(admin.ModelAdmin):
    """Base admin for any model with a `tenant` (and usually an `environment`) foreign key.

    Staff users never see the tenant field: it is set from their own tenant (or from the chosen
    environment), and every foreign-key choice is limited to their tenant's rows, so a form can't
    be used to point at another tenant's data. Its fields refuse, as form errors, what the
    database can't store, as the API does (flexprice_site.forms).
    """

    tenant_field = "tenant"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope_to_tenant(super().get_queryset(request), request, self.tenant_field)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        excluded = list(super().get_exclude(request, obj) or [])
        model_fields = {field.name for field in self.model._meta.get_fields()}
        if self.tenant_field in model_fields and (
            not sees_all_tenants(request) or "environment" in model_fields
        ):
            # With an environment the tenant follows from it; staff never pick a tenant.
            excluded.append(self.tenant_field)
        return excluded

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = list(super().get_list_filter(request))
        if sees_all_tenants(request) and self.tenant_field == "tenant":
            filters.insert(0, "tenant")
        return filters

    def formfield_for_dbfield(
        self, db_field: models.Field, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if isinstance(db_field, models.JSONField):
            kwargs.setdefault("form_class", StorableJSONField)
        elif isinstance(db_field, models.DateTimeField):
            kwargs["validators"] = [*kwargs.get("validators", []), validate_storable_timestamp]
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: models.ManyToManyField, request: HttpRequest, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("form_class", StorableModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("form_class", StorableModelChoiceField)
        related = db_field.related_model
        if not sees_all_tenants(request):
            tenant = tenant_of(request)
            if related is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(pk=getattr(tenant, "pk", None))
            elif related is Environment or (
                isinstance(related, type) and issubclass(related, TenantScopedModel)
            ):
                kwargs["queryset"] = related._default_manager.filter(tenant=tenant)
            elif related is User:
                kwargs["queryset"] = User.objects.filter(tenant=tenant)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        environment = getattr(obj, "environment", None) if hasattr(obj, "environment_id") else None
        if isinstance(environment, Environment):
            obj.tenant_id = environment.tenant_id
        elif not sees_all_tenants(request) or getattr(obj, f"{self.tenant_field}_id", None) is None:
            setattr(obj, f"{self.tenant_field}_id", getattr(tenant_of(request), "pk", None))
        if isinstance(obj, TenantScopedModel):
            actor = f"user:{request.user.get_username()}"
            if not change:
                obj.created_by = actor
            obj.updated_by = actor
        super().save_model(request, obj, form, change)
