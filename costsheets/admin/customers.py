"""Admin for customers: who uses the product, their time zone and parent."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from costsheets.admin.base import (
    RECORD_FIELDSET,
    CatalogueAdmin,
    CatalogueForm,
    StatusFilter,
    actor_of,
    count_of,
    created_range,
    readonly_link,
)
from costsheets.models import Customer, Subscription, SubscriptionStatus
from costsheets.selectors import customer_ancestor_ids
from costsheets.services import customer_create, customer_delete, customer_update
from costsheets.services.customers import CUSTOMER_UPDATABLE
from costsheets.validation import Errors, customer_errors
from flexprice_site.models import Status


class CustomerForm(CatalogueForm):
    class Meta:
        model = Customer
        fields = "__all__"

    def rule_errors(self) -> Errors:
        customer = self.instance
        parent = customer.parent if customer.parent_id else None
        ancestors = customer_ancestor_ids(parent) if parent is not None else []
        return customer_errors(customer, parent_ancestor_ids=ancestors)


@admin.register(Customer)
class CustomerAdmin(CatalogueAdmin):
    form = CustomerForm
    updatable_fields = CUSTOMER_UPDATABLE
    list_display = [
        "external_customer_id",
        "name",
        "email",
        "parent_link",
        "open_subscriptions",
        "timezone",
        "status",
        "created_at",
    ]
    list_display_links = ["external_customer_id", "name"]
    list_select_related = ["parent"]
    list_filter = [StatusFilter, "timezone", "address_country", created_range()]
    search_fields = ["external_customer_id", "name", "email", "id"]
    autocomplete_fields = ["parent"]
    fieldsets = [
        (None, {"fields": ["external_customer_id", "name", "email", "timezone", "parent"]}),
        (
            "Address",
            {
                "classes": ["collapse"],
                "fields": [
                    "address_line1",
                    "address_line2",
                    "address_city",
                    "address_state",
                    "address_postal_code",
                    "address_country",
                ],
            },
        ),
        ("More", {"classes": ["collapse"], "fields": ["environment", "metadata", "status"]}),
        RECORD_FIELDSET,
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        open_subscriptions = Subscription.objects.filter(status=Status.PUBLISHED).exclude(
            subscription_status=SubscriptionStatus.CANCELLED
        )
        return (
            super()
            .get_queryset(request)
            .annotate(open_subscription_count=count_of(open_subscriptions, pointing_at="customer"))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Deleting is the only way to change a customer's status.
        return [*super().get_readonly_fields(request, obj), "status"]

    @admin.display(description="parent", ordering="parent__external_customer_id")
    def parent_link(self, customer: Customer) -> str:
        return readonly_link(customer.parent) if customer.parent_id else "–"

    @admin.display(description="open subscriptions", ordering="open_subscription_count")
    def open_subscriptions(self, customer: Customer) -> int:
        return customer.open_subscription_count  # type: ignore[attr-defined]

    def create(self, request: HttpRequest, form: ModelForm) -> Customer:
        data = form.cleaned_data
        return customer_create(
            environment=data["environment"],
            external_customer_id=data["external_customer_id"],
            name=data["name"],
            email=data["email"],
            timezone=data["timezone"],
            parent=data["parent"],
            address_line1=data["address_line1"],
            address_line2=data["address_line2"],
            address_city=data["address_city"],
            address_state=data["address_state"],
            address_postal_code=data["address_postal_code"],
            address_country=data["address_country"],
            metadata=data["metadata"],
            actor=actor_of(request),
        )

    def update(
        self, request: HttpRequest, obj: Customer, changes: dict[str, Any], form: ModelForm
    ) -> None:
        customer_update(customer=obj, data=changes, actor=actor_of(request))

    def soft_delete(self, request: HttpRequest, obj: Customer) -> None:
        customer_delete(customer=obj, actor=actor_of(request))
