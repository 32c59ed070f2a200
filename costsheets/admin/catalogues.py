"""Admin for costsheets and plans: their prices shown on their page, archive and duplicate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from costsheets.admin.base import (
    RECORD_FIELDSET,
    CatalogueAdmin,
    CatalogueForm,
    StatusFilter,
    actor_of,
    admin_change_url,
    apply_to_each,
    count_of,
    created_range,
)
from costsheets.admin.prices import add_price_url, owned_prices_table
from costsheets.models import Costsheet, Plan, Price, PriceEntityType, PriceType, Subscription
from costsheets.services import (
    costsheet_archive,
    costsheet_create,
    costsheet_delete,
    costsheet_duplicate,
    costsheet_publish,
    costsheet_update,
    plan_create,
    plan_delete,
    plan_update,
)
from costsheets.services.catalogues import CATALOGUE_UPDATABLE
from costsheets.validation import Errors, costsheet_errors, plan_errors
from flexprice_site.errors import ApiError
from flexprice_site.models import Status

DEFAULT_CURRENCY = "usd"


def live_price_count(entity_type: str) -> Coalesce:
    """The number of non-deleted prices of each owner row."""
    prices = Price.objects.filter(entity_type=entity_type).exclude(status=Status.DELETED)
    return count_of(prices, pointing_at="entity_id")


class PriceOwnerAdmin(CatalogueAdmin):
    """Shared by costsheets and plans: their page lists their prices with an "add" link."""

    change_form_template = "admin/costsheets/price_owner_change_form.html"
    updatable_fields = CATALOGUE_UPDATABLE
    search_fields = ["name", "lookup_key", "description", "id"]
    list_filter = [
        StatusFilter,
        ("environment", admin.RelatedOnlyFieldListFilter),
        created_range(),
    ]
    fieldsets = [
        (None, {"fields": ["name", "lookup_key", "description"]}),
        ("More", {"classes": ["collapse"], "fields": ["environment", "metadata", "status"]}),
        RECORD_FIELDSET,
    ]
    entity_type: str
    # Prices added from the owner's page start as this type.
    new_price_type: str = PriceType.USAGE

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super().get_queryset(request).annotate(price_count=live_price_count(self.entity_type))
        )

    @admin.display(description="prices", ordering="price_count")
    def prices(self, owner: Costsheet | Plan) -> int:
        return owner.price_count  # type: ignore[union-attr]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if change and obj is not None:
            currency = (
                obj.prices.exclude(status=Status.DELETED).values_list("currency", flat=True).first()
            )
            context["owned_prices"] = owned_prices_table(obj)
            context["add_price_url"] = add_price_url(
                entity_type=self.entity_type,
                owner=obj,
                currency=currency or DEFAULT_CURRENCY,
                type=self.new_price_type,
            )
            context["status_tools"] = self.status_tools(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def status_tools(self, request: HttpRequest, obj: Any) -> list[dict[str, str]]:
        """Buttons on the change page: (label, url) of the POST-only views below."""
        if not self.has_change_permission(request, obj):
            return []
        tools = []
        if obj.status == Status.PUBLISHED:
            tools.append({"label": "Archive", "url": self.tool_url("archive", obj)})
        elif obj.status == Status.ARCHIVED:
            tools.append({"label": "Publish", "url": self.tool_url("publish", obj)})
        return tools

    def tool_url(self, tool: str, obj: Any) -> str:
        return reverse(f"admin:costsheets_{self.opts.model_name}_{tool}", args=[quote(obj.pk)])

    def get_urls(self) -> list[URLPattern]:
        name = f"costsheets_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/archive/",
                wrap(require_POST(self.archive_view)),
                name=f"{name}_archive",
            ),
            path(
                "<path:object_id>/publish/",
                wrap(require_POST(self.publish_view)),
                name=f"{name}_publish",
            ),
            *super().get_urls(),
        ]

    def run_tool(
        self,
        request: HttpRequest,
        object_id: str,
        change: Callable[[Any], Any],
        done: str,
        permission: Callable[[HttpRequest, Any], bool] | None = None,
    ) -> HttpResponse:
        """A change-page button: apply a service to the row and go back to a page."""
        obj = get_object_or_404(self.get_queryset(request), pk=unquote(object_id))
        if not (permission or self.has_change_permission)(request, obj):
            raise PermissionDenied
        try:
            with transaction.atomic():
                result = change(obj)
        except ApiError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(admin_change_url(obj))
        self.message_user(request, done.format(obj=obj, result=result), messages.SUCCESS)
        return HttpResponseRedirect(admin_change_url(result if result is not None else obj))

    def archive_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_tool(
            request, object_id, lambda obj: self.archive(request, obj), "Archived “{obj}”."
        )

    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_tool(
            request, object_id, lambda obj: self.publish(request, obj), "Published “{obj}”."
        )

    def archive(self, request: HttpRequest, obj: Any) -> Any:
        raise NotImplementedError

    def publish(self, request: HttpRequest, obj: Any) -> Any:
        raise NotImplementedError

    @admin.action(description="Archive selected", permissions=["change"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        apply_to_each(
            self,
            request,
            queryset.filter(status=Status.PUBLISHED),
            lambda obj: self.archive(request, obj),
            done="Archived",
        )

    @admin.action(description="Publish selected", permissions=["change"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        apply_to_each(
            self,
            request,
            queryset.filter(status=Status.ARCHIVED),
            lambda obj: self.publish(request, obj),
            done="Published",
        )


class CostsheetForm(CatalogueForm):
    class Meta:
        model = Costsheet
        fields = "__all__"

    def rule_errors(self) -> Errors:
        return costsheet_errors(self.instance)


@admin.register(Costsheet)
class CostsheetAdmin(PriceOwnerAdmin):
    form = CostsheetForm
    entity_type = PriceEntityType.COSTSHEET
    list_display = ["name", "lookup_key", "is_active", "prices", "status", "created_at"]
    actions = ["duplicate_selected", "archive_selected", "publish_selected"]
    fieldsets = [
        (None, {"fields": ["name", "standing", "lookup_key", "description"]}),
        *PriceOwnerAdmin.fieldsets[1:],
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "standing"] if obj is not None else readonly

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            # A costsheet being added has no standing yet.
            return [(None, {"fields": ["name", "lookup_key", "description"]}), *fieldsets[1:]]
        return fieldsets

    @admin.display(description="standing")
    def standing(self, costsheet: Costsheet) -> str:
        if costsheet.status != Status.PUBLISHED:
            return f"{costsheet.get_status_display()}: its prices don't count as cost."
        if self.is_active(costsheet):
            return "Published, and the active costsheet: its prices are the cost of usage."
        return "Published, but a newer published costsheet is the active one."

    def get_queryset(self, request: HttpRequest) -> QuerySet[Costsheet]:
        newest_published = (
            Costsheet.objects.filter(
                tenant_id=OuterRef("tenant_id"),
                environment_id=OuterRef("environment_id"),
                status=Status.PUBLISHED,
            )
            .order_by("-created_at", "-id")
            .values("id")[:1]
        )
        # SPEC §2: the active costsheet is the newest published one of its environment.
        return super().get_queryset(request).annotate(active_id=Subquery(newest_published))

    @admin.display(description="active", boolean=True)
    def is_active(self, costsheet: Costsheet) -> bool:
        return costsheet.active_id == costsheet.pk  # type: ignore[attr-defined]

    def status_tools(self, request: HttpRequest, obj: Any) -> list[dict[str, str]]:
        tools = super().status_tools(request, obj)
        if self.has_add_permission(request) and obj.status != Status.DELETED:
            tools.append({"label": "Duplicate", "url": self.tool_url("duplicate", obj)})
        return tools

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/duplicate/",
                self.admin_site.admin_view(require_POST(self.duplicate_view)),
                name="costsheets_costsheet_duplicate",
            ),
            *super().get_urls(),
        ]

    def duplicate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self.run_tool(
            request,
            object_id,
            lambda obj: costsheet_duplicate(costsheet=obj, actor=actor_of(request)),
            "Made “{result}”, a copy of “{obj}” with its prices. Being the newest published "
            "costsheet, it is now the active one.",
            permission=lambda request, obj: self.has_add_permission(request),
        )

    @admin.action(
        description="Duplicate selected costsheets (with their prices)", permissions=["add"]
    )
    def duplicate_selected(self, request: HttpRequest, queryset: QuerySet[Costsheet]) -> None:
        apply_to_each(
            self,
            request,
            queryset.exclude(status=Status.DELETED).order_by("created_at", "id"),
            lambda costsheet: costsheet_duplicate(costsheet=costsheet, actor=actor_of(request)),
            done="Duplicated",
        )

    def archive(self, request: HttpRequest, obj: Costsheet) -> Costsheet:
        return costsheet_archive(costsheet=obj, actor=actor_of(request))

    def publish(self, request: HttpRequest, obj: Costsheet) -> Costsheet:
        return costsheet_publish(costsheet=obj, actor=actor_of(request))

    def create(self, request: HttpRequest, form: ModelForm) -> Costsheet:
        data = form.cleaned_data
        return costsheet_create(
            environment=data["environment"],
            name=data["name"],
            lookup_key=data["lookup_key"],
            description=data["description"],
            metadata=data["metadata"],
            actor=actor_of(request),
        )

    def update(
        self, request: HttpRequest, obj: Costsheet, changes: dict[str, Any], form: ModelForm
    ) -> None:
        costsheet_update(costsheet=obj, data=changes, actor=actor_of(request))

    def soft_delete(self, request: HttpRequest, obj: Costsheet) -> None:
        costsheet_delete(costsheet=obj, actor=actor_of(request))


class PlanForm(CatalogueForm):
    class Meta:
        model = Plan
        fields = "__all__"

    def rule_errors(self) -> Errors:
        return plan_errors(self.instance)


@admin.register(Plan)
class PlanAdmin(PriceOwnerAdmin):
    form = PlanForm
    entity_type = PriceEntityType.PLAN
    new_price_type = PriceType.USAGE
    list_display = ["name", "lookup_key", "prices", "subscribers", "status", "created_at"]
    actions = ["archive_selected", "publish_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                subscriber_count=count_of(
                    Subscription.objects.filter(status=Status.PUBLISHED), pointing_at="plan"
                )
            )
        )

    @admin.display(description="subscriptions", ordering="subscriber_count")
    def subscribers(self, plan: Plan) -> int:
        return plan.subscriber_count  # type: ignore[attr-defined]

    def archive(self, request: HttpRequest, obj: Plan) -> Plan:
        return plan_update(plan=obj, data={"status": Status.ARCHIVED}, actor=actor_of(request))

    def publish(self, request: HttpRequest, obj: Plan) -> Plan:
        return plan_update(plan=obj, data={"status": Status.PUBLISHED}, actor=actor_of(request))

    def create(self, request: HttpRequest, form: ModelForm) -> Plan:
        data = form.cleaned_data
        return plan_create(
            environment=data["environment"],
            name=data["name"],
            lookup_key=data["lookup_key"],
            description=data["description"],
            metadata=data["metadata"],
            actor=actor_of(request),
        )

    def update(
        self, request: HttpRequest, obj: Plan, changes: dict[str, Any], form: ModelForm
    ) -> None:
        plan_update(plan=obj, data=changes, actor=actor_of(request))

    def soft_delete(self, request: HttpRequest, obj: Plan) -> None:
        plan_delete(plan=obj, actor=actor_of(request))
