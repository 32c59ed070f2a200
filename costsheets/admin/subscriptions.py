"""Admin for subscriptions: subscribe a customer to a plan, then set line-item commitments."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.html import format_html
from rangefilter.filters import DateRangeFilterBuilder

from costsheets.admin.base import (
    RECORD_FIELDSET,
    CatalogueAdmin,
    CatalogueForm,
    DecimalInput,
    StatusFilter,
    actor_of,
    apply_to_each,
    count_of,
    created_range,
    readonly_link,
)
from costsheets.admin.prices import price_amount_summary, price_label
from costsheets.models import Subscription, SubscriptionLineItem, SubscriptionStatus
from costsheets.services import (
    LineItemCommitment,
    line_item_commitment_update,
    subscription_cancel,
    subscription_create,
)
from costsheets.validation import Errors, commitment_errors, subscription_errors

COMMITMENT_FIELDS = [
    "commitment_type",
    "commitment_amount",
    "commitment_quantity",
    "commitment_overage_factor",
    "commitment_true_up_enabled",
    "commitment_windowed",
]


class LineItemForm(CatalogueForm):
    class Meta:
        model = SubscriptionLineItem
        fields = COMMITMENT_FIELDS
        labels = {
            "commitment_type": "commitment",
            "commitment_amount": "amount",
            "commitment_quantity": "quantity",
            "commitment_overage_factor": "overage ×",
            "commitment_true_up_enabled": "true-up",
            "commitment_windowed": "per bucket",
        }

    def rule_errors(self) -> Errors:
        line_item = self.instance
        meter = line_item.price.meter if line_item.price_id else None
        return commitment_errors(line_item, meter_bucket_size=meter.bucket_size if meter else "")

    def commitment(self) -> LineItemCommitment | None:
        data = self.cleaned_data
        if not data["commitment_type"]:
            return None
        return LineItemCommitment(
            commitment_type=data["commitment_type"],
            amount=data["commitment_amount"],
            quantity=data["commitment_quantity"],
            overage_factor=data["commitment_overage_factor"],
            true_up_enabled=data["commitment_true_up_enabled"],
            windowed=data["commitment_windowed"],
        )


class LineItemFormSet(BaseInlineFormSet):
    def get_queryset(self) -> QuerySet[SubscriptionLineItem]:
        return (
            super()
            .get_queryset()
            .select_related("price__meter", "meter")
            .prefetch_related("price__tiers")
        )


class LineItemInline(admin.TabularInline):
    """A subscription's line items: copied from the plan, only their commitments change."""

    model = SubscriptionLineItem
    form = LineItemForm
    formfield_overrides = {models.DecimalField: {"widget": DecimalInput(attrs={"size": 10})}}
    formset = LineItemFormSet
    fk_name = "subscription"
    extra = 0
    can_delete = False
    fields = ["line_item", "charges", "active", *COMMITMENT_FIELDS]
    readonly_fields = ["line_item", "charges", "active"]
    verbose_name_plural = "Line items (copied from the plan; set a commitment on a usage line)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="line item")
    def line_item(self, line_item: SubscriptionLineItem) -> str:
        return readonly_link(
            line_item.price, line_item.display_name or price_label(line_item.price)
        )

    @admin.display(description="charges")
    def charges(self, line_item: SubscriptionLineItem) -> str:
        return price_amount_summary(line_item.price)

    @admin.display(description="active")
    def active(self, line_item: SubscriptionLineItem) -> str:
        start = line_item.start_date.date().isoformat()
        end = line_item.end_date.date().isoformat() if line_item.end_date else "open"
        return f"{start} → {end}"


class SubscriptionForm(CatalogueForm):
    class Meta:
        model = Subscription
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        anchor = self.fields.get("billing_anchor")
        if anchor is not None:
            anchor.required = False
            anchor.initial = None
            anchor.help_text = (
                "Monthly windows start on this day of the month. Empty: the start date."
            )
        if "currency" in self.fields:
            self.fields["currency"].initial = "usd"
            self.fields["currency"].help_text = "The plan's prices in this currency are copied."

    def rule_errors(self) -> Errors:
        if self.instance.billing_anchor is None:
            self.instance.billing_anchor = self.instance.start_date
        return subscription_errors(self.instance)


@admin.register(Subscription)
class SubscriptionAdmin(CatalogueAdmin):
    """Subscriptions are created through `subscription_create` (the plan's prices become line
    items) and ended by cancelling; their line items' commitments are edited inline."""

    form = SubscriptionForm
    inlines = [LineItemInline]
    list_display = [
        "customer_name",
        "plan_link",
        "currency",
        "subscription_status",
        "start_date",
        "end_date",
        "line_items",
        "commitments",
    ]
    list_display_links = ["customer_name"]
    list_select_related = ["customer", "plan"]
    list_filter = [
        "subscription_status",
        StatusFilter,
        "currency",
        "billing_period",
        ("plan", admin.RelatedOnlyFieldListFilter),
        ("start_date", DateRangeFilterBuilder(title="start date")),
        created_range(),
    ]
    search_fields = [
        "id",
        "customer__external_customer_id",
        "customer__name",
        "plan__name",
        "plan__lookup_key",
    ]
    autocomplete_fields = ["customer", "plan"]
    actions = ["cancel_selected"]
    fieldsets = [
        (None, {"fields": ["customer", "plan", "currency", "subscription_status"]}),
        (
            "Dates and billing",
            {
                "fields": [
                    "start_date",
                    "end_date",
                    "billing_anchor",
                    "billing_period",
                    "billing_period_count",
                    "cancelled_at",
                ]
            },
        ),
        ("More", {"classes": ["collapse"], "fields": ["environment", "metadata", "status"]}),
        RECORD_FIELDSET,
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                line_item_count=count_of(
                    SubscriptionLineItem.objects.all(), pointing_at="subscription"
                ),
                commitment_count=count_of(
                    SubscriptionLineItem.objects.exclude(commitment_type=""),
                    pointing_at="subscription",
                ),
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = [*super().get_readonly_fields(request, obj), "status", "cancelled_at"]
        if obj is not None:
            # A subscription is changed by cancelling it; its prices were copied when it began.
            readonly += [
                "customer",
                "plan",
                "currency",
                "subscription_status",
                "start_date",
                "end_date",
                "billing_anchor",
                "billing_period",
                "billing_period_count",
                "metadata",
            ]
        return readonly

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            return fieldsets
        # A subscription being added can't have been cancelled.
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "cancelled_at"]})
            for name, options in fieldsets
        ]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        # Line items exist once the subscription does: they are copied from the plan.
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # subscriptions end by being cancelled; their history stays

    # --- list columns -----------------------------------------------------------------------------

    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, subscription: Subscription) -> str:
        return str(subscription.customer)

    @admin.display(description="plan", ordering="plan__name")
    def plan_link(self, subscription: Subscription) -> str:
        return readonly_link(subscription.plan)

    @admin.display(description="line items", ordering="line_item_count")
    def line_items(self, subscription: Subscription) -> int:
        return subscription.line_item_count  # type: ignore[attr-defined]

    @admin.display(description="commitments", ordering="commitment_count")
    def commitments(self, subscription: Subscription) -> int:
        return subscription.commitment_count  # type: ignore[attr-defined]

    # --- saving -----------------------------------------------------------------------------------

    def create(self, request: HttpRequest, form: ModelForm) -> Subscription:
        data = form.cleaned_data
        subscription = subscription_create(
            environment=data["environment"],
            customer=data["customer"],
            plan=data["plan"],
            currency=data["currency"],
            start_date=data["start_date"],
            end_date=data["end_date"],
            billing_anchor=data["billing_anchor"],
            billing_period=data["billing_period"],
            billing_period_count=data["billing_period_count"],
            subscription_status=data["subscription_status"],
            metadata=data["metadata"],
            actor=actor_of(request),
        )
        count = subscription.line_items.count()
        self.message_user(
            request,
            format_html(
                "{} line item(s) were copied from plan {}; set commitments on them below.",
                count,
                subscription.plan.name,
            ),
        )
        return subscription

    def update(
        self, request: HttpRequest, obj: Subscription, changes: dict[str, Any], form: ModelForm
    ) -> None:
        """Nothing of the subscription itself changes here (see get_readonly_fields)."""

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: Any, change: bool
    ) -> None:
        changed = []
        for line_item_form in formset.forms:
            if line_item_form.has_changed():
                line_item_commitment_update(
                    line_item=line_item_form.instance,
                    commitment=line_item_form.commitment(),
                    actor=actor_of(request),
                )
                changed.append((line_item_form.instance, line_item_form.changed_data))
        formset.new_objects, formset.deleted_objects = [], []
        formset.changed_objects = changed

    def response_add(
        self, request: HttpRequest, obj: Subscription, post_url_continue: str | None = None
    ) -> Any:
        # Straight to the new subscription, where its line items' commitments are set.
        if "_addanother" not in request.POST and "_popup" not in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_add(request, obj, post_url_continue)

    # --- actions ----------------------------------------------------------------------------------

    @admin.action(description="Cancel selected subscriptions now", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        apply_to_each(
            self,
            request,
            queryset.exclude(subscription_status=SubscriptionStatus.CANCELLED),
            lambda subscription: subscription_cancel(
                subscription=subscription, actor=actor_of(request)
            ),
            done="Cancelled",
        )
