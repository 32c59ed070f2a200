"""What every catalogue admin shares: saving and deleting through services, status and dates."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import quote
from django.db import models, transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from rangefilter.filters import DateRangeFilterBuilder

from costsheets.validation import Errors
from flexprice_site.errors import ApiError
from flexprice_site.models import Environment, Status, TenantScopedModel
from flexprice_site.rendering import format_decimal
from flexprice_site.tenancy import TenantScopedAdmin, tenant_of

# Set on the request when a service refused a save, so the form shown again can carry its
# messages (see CatalogueAdmin.changeform_view).
SERVICE_ERROR_ATTRIBUTE = "_catalogue_service_error"

RECORD_FIELDS = ("id", "created_at", "created_by", "updated_at", "updated_by")
# Who made a row and when, last on every page, folded away.
RECORD_FIELDSET = ("Record", {"classes": ["collapse"], "fields": list(RECORD_FIELDS)})


def actor_of(request: HttpRequest) -> str:
    """Who made a change, as services record it."""
    return f"user:{request.user.get_username()}"


def created_range(title: str = "created") -> tuple[str, type[admin.FieldListFilter]]:
    """A from/to date filter on `created_at`."""
    return ("created_at", DateRangeFilterBuilder(title=title))


def admin_change_url(row: models.Model) -> str:
    opts = row._meta
    # Quoted as the admin quotes keys: an id may contain "_2F", which the admin reads as "/".
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(row.pk)])


def count_of(queryset: QuerySet[Any], *, pointing_at: str) -> Coalesce:
    """How many rows of `queryset` point at each listed row (`pointing_at` = OuterRef("pk")),
    as a subquery: no query per row, and no GROUP BY that would drop the list's ordering."""
    counts = (
        queryset.filter(**{pointing_at: OuterRef("pk")})
        .order_by()
        .values(pointing_at)
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def adopt(target: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved form instance the row a service just created, so the admin's
    log entry, messages and redirect point at it."""
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


class DecimalInput(forms.TextInput):
    """Decimals as people write them (`0.5`), not as the column stores them (`0.500000000000`)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"inputmode": "decimal", "size": 16, **(attrs or {})})

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, Decimal):
            return format_decimal(value)
        return super().format_value(value)


DECIMAL_FORMFIELDS: dict[type[models.Field], dict[str, Any]] = {
    models.DecimalField: {"widget": DecimalInput}
}


class StatusFilter(admin.SimpleListFilter):
    """Deleted rows are kept (soft delete) but hidden unless asked for."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*Status.choices, (self.ALL, "All, deleted too")]

    def choices(self, changelist: Any) -> Iterable[dict[str, Any]]:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Not deleted",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset.exclude(status=Status.DELETED)
        if value == self.ALL:
            return queryset
        return queryset.filter(status=value)


def status_choices(current: str) -> list[tuple[str, str]]:
    """Published and archived; deleted only for a row that is deleted already (it is set by
    deleting, and a deleted row is restored by publishing it again)."""
    choices = [(Status.PUBLISHED.value, "Published"), (Status.ARCHIVED.value, "Archived")]
    if current == Status.DELETED:
        choices.append((Status.DELETED.value, "Deleted"))
    return choices


class CatalogueForm(ModelForm):
    """A model form whose rules are `costsheets.validation`'s, shown on the field they name.

    Subclasses return the rules' errors for the instance the form built (`rule_errors`); a
    service that refuses the save later (a name taken meanwhile, a row of another environment)
    has its messages shown the same way on a second pass (`service_error`).
    """

    service_error: ClassVar[ApiError | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "status" in self.fields:
            self.fields["status"].choices = status_choices(self.instance.status)

    def rule_errors(self) -> Errors:
        return {}

    def _post_clean(self) -> None:
        super()._post_clean()
        self.add_rule_errors(self.rule_errors())
        if self.service_error is not None:
            self.add_rule_errors(self.service_error.details or {None: self.service_error.message})

    def add_rule_errors(self, errors: Mapping[str | None, str]) -> None:
        for field, message in errors.items():
            if field in self.fields:
                # A field that failed to parse already says so; the rule would only echo it.
                if field not in self._errors:
                    self.add_error(field, message)
            else:
                self.add_error(None, message)


class CatalogueAdmin(TenantScopedAdmin):
    """A tenant-scoped admin whose writes go through the catalogue services.

    Subclasses implement `create` and `update` (and `soft_delete`); the admin never saves a
    catalogue row itself, so the rules of the API and of the admin are the same.
    """

    form = CatalogueForm
    formfield_overrides = DECIMAL_FORMFIELDS
    # Fields a service accepts on update; a changed field outside it is never sent.
    updatable_fields: ClassVar[frozenset[str]] = frozenset()
    list_per_page = 50
    show_full_result_count = False

    # --- hooks for subclasses -------------------------------------------------------------------

    def create(self, request: HttpRequest, form: ModelForm) -> TenantScopedModel:
        raise NotImplementedError

    def update(
        self, request: HttpRequest, obj: Any, changes: dict[str, Any], form: ModelForm
    ) -> None:
        raise NotImplementedError

    def soft_delete(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    # --- forms ------------------------------------------------------------------------------------

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        error = getattr(request, SERVICE_ERROR_ATTRIBUTE, None)
        if error is None:
            return form
        return type(form.__name__, (form,), {"service_error": error})

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = [*super().get_readonly_fields(request, obj), *RECORD_FIELDS]
        if obj is not None:
            # Rows never move between environments: their references would point elsewhere.
            readonly.append("environment")
        return readonly

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            # A row being added has no record yet (its id is given when it is saved).
            return [fieldset for fieldset in fieldsets if fieldset[0] != "Record"]
        return fieldsets

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        if "environment" not in initial:
            tenant = tenant_of(request)
            environment = (
                Environment.objects.filter(tenant=tenant).order_by("name").first()
                if tenant is not None
                else None
            )
            if environment is not None:
                initial["environment"] = environment.pk
        return initial

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        related = db_field.related_model
        if (
            field is not None
            and isinstance(related, type)
            and issubclass(related, TenantScopedModel)
            and hasattr(field, "queryset")
        ):
            field.queryset = field.queryset.exclude(status=Status.DELETED)
        return field

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.path.endswith("/autocomplete/"):
            # A form's autocomplete offers only rows that may still be chosen.
            queryset = queryset.exclude(status=Status.DELETED)
        return queryset, may_have_duplicates

    # --- saving -----------------------------------------------------------------------------------

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except ApiError as error:
            # Everything the first pass wrote is rolled back; the second pass shows the same
            # form with the service's messages on the fields they name.
            setattr(request, SERVICE_ERROR_ATTRIBUTE, error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def changed_values(self, form: ModelForm) -> dict[str, Any]:
        return {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in self.updatable_fields and name in form.cleaned_data
        }

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        if change:
            changes = self.changed_values(form)
            if changes:
                self.update(request, obj, changes, form)
            return
        adopt(obj, self.create(request, form))

    # --- soft delete ------------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (
                type(self).delete_selected_softly,
                "delete_selected",
                f"Delete selected {self.opts.verbose_name_plural}",
            )
        return actions

    def delete_selected_softly(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        """Django's confirm-then-delete action, all or nothing through the services."""
        try:
            with transaction.atomic():
                return django_delete_selected(self, request, queryset)
        except ApiError as error:
            self.message_user(request, f"Nothing was deleted. {error.message}", messages.ERROR)
            return None

    def get_deleted_objects(
        self, objs: Iterable[Any], request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        # A soft delete marks the rows themselves and nothing else, so the confirmation lists
        # only them; whether one may go is the service's decision, made when it is asked.
        rows = list(objs)
        name = capfirst(self.opts.verbose_name)
        listed = [
            format_html('{}: <a href="{}">{}</a>', name, admin_change_url(row), row) for row in rows
        ]
        needed = set() if self.has_delete_permission(request) else {str(self.opts.verbose_name)}
        return listed, {str(self.opts.verbose_name_plural): len(rows)}, needed, []

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.soft_delete(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.soft_delete(request, obj)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            with transaction.atomic():
                return super().delete_view(request, object_id, extra_context)
        except ApiError as error:
            self.message_user(request, f"Not deleted. {error.message}", messages.ERROR)
            return HttpResponseRedirect(
                reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=[object_id],  # as the request had it, still quoted
                )
            )


def apply_to_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Any],
    change: Callable[[Any], object],
    *,
    done: str,
) -> int:
    """Run an admin action's service call on each row; a refused row is reported by name and
    leaves the others done (each row is its own transaction)."""
    count = 0
    for row in rows:
        try:
            with transaction.atomic():
                change(row)
        except ApiError as error:
            model_admin.message_user(request, f"{row}: {error.message}", messages.ERROR)
        else:
            count += 1
    noun = model_admin.opts.verbose_name if count == 1 else model_admin.opts.verbose_name_plural
    model_admin.message_user(request, f"{done} {count} {noun}.")
    return count


def readonly_link(row: models.Model | None, text: str | None = None) -> str:
    if row is None:
        return "–"
    return format_html('<a href="{}">{}</a>', admin_change_url(row), text or str(row))
