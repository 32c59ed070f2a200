"""Admin for prices: tiers edited inline and checked with the price, and the price calculator."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.exceptions import ValidationError
from django.db.models import Case, CharField, OuterRef, QuerySet, Subquery, Value, When
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from costsheets.admin.base import (
    DECIMAL_FORMFIELDS,
    RECORD_FIELDSET,
    CatalogueAdmin,
    CatalogueForm,
    StatusFilter,
    actor_of,
    adopt,
    apply_to_each,
    created_range,
    readonly_link,
)
from costsheets.admin.calculator import price_calculation
from costsheets.formatting import grouped
from costsheets.models import (
    BillingModel,
    Costsheet,
    Plan,
    Price,
    PriceEntityType,
    PriceTier,
    PriceType,
    Subscription,
)
from costsheets.pricing import Tier
from costsheets.selectors import owned_prices
from costsheets.services import price_create, price_delete, price_update
from costsheets.services.prices import PRICE_UPDATABLE
from costsheets.validation import Errors, price_errors
from flexprice_site.models import Status

TIER_ERROR_KEY = re.compile(r"tiers\[(\d+)\]\.(\w+)")

# Where each kind of owner is edited, for links from a price to its owner.
OWNER_ADMIN_URLS = {
    PriceEntityType.COSTSHEET: "admin:costsheets_costsheet_change",
    PriceEntityType.PLAN: "admin:costsheets_plan_change",
    PriceEntityType.SUBSCRIPTION: "admin:costsheets_subscription_change",
}


def tiers_summary(price: Price, *, detailed: bool) -> str:
    """From the prefetched tiers: `SLAB, 3 tiers: 0.000011 → 0.000009/unit`, or (detailed)
    every tier, `SLAB: ≤ 50,000,000 at 0.000011/unit; …; above at 0.000009/unit`."""
    tiers = list(price.tiers.all())
    if not tiers:
        return f"{price.tier_mode}, no tiers yet"
    if not detailed:
        first, last = grouped(tiers[0].unit_amount), grouped(tiers[-1].unit_amount)
        rates = first if len(tiers) == 1 else f"{first} → {last}"
        return f"{price.tier_mode}, {len(tiers)} tiers: {rates}/unit"
    parts = []
    for tier in tiers:
        limit = "above" if tier.up_to is None else f"≤ {grouped(tier.up_to)}"
        part = f"{limit} at {grouped(tier.unit_amount)}/unit"
        if tier.flat_amount:
            part += f" + {grouped(tier.flat_amount)}"
        parts.append(part)
    return f"{price.tier_mode}: " + "; ".join(parts)


def price_amount_summary(price: Price, *, detailed: bool = False) -> str:
    """What a price charges, in a few words, as lists and owner pages show it."""
    if price.billing_model == BillingModel.TIERED:
        return tiers_summary(price, detailed=detailed)
    if price.billing_model == BillingModel.PACKAGE:
        size = grouped(price.transform_quantity_divide_by or Decimal(0))
        return f"{price.display_amount} per {size} (rounded {price.transform_quantity_round})"
    if price.type == PriceType.USAGE:
        return f"{price.display_amount} per unit"
    return f"{price.display_amount} {price.get_billing_period_display().lower()}"


def price_label(price: Price) -> str:
    return price.display_name or price.lookup_key or price.pk


def add_price_url(*, entity_type: str, owner: Costsheet | Plan, **initial: str) -> str:
    """The price form, with the owner (and anything else given) filled in."""
    query = {
        "entity_type": entity_type,
        "entity_id": owner.pk,
        "environment": owner.environment_id,
        **initial,
    }
    return f"{reverse('admin:costsheets_price_add')}?{urlencode(query)}"


def owned_prices_table(owner: Costsheet | Plan) -> SafeString:
    """The owner's live prices as a table linking to each price's page (with its calculator)."""
    prices = list(owned_prices(owner))
    if not prices:
        return format_html("<p>{}</p>", "No prices yet.")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                readonly_link(price, price_label(price)),
                price.type,
                price.meter.name if price.meter else "–",
                price.billing_model,
                price_amount_summary(price, detailed=True),
                price.currency.upper(),
                price.status,
            )
            for price in prices
        ),
    )
    return format_html(
        '<table class="owned-prices"><thead><tr><th>Price</th><th>Type</th><th>Meter</th>'
        "<th>Model</th><th>Charges</th><th>Currency</th><th>Status</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        rows,
    )


class PriceForm(CatalogueForm):
    class Meta:
        model = Price
        fields = "__all__"

    def rule_errors(self) -> Errors:
        # The tiers are checked with the price by the tier rows' formset (PriceTierFormSet),
        # which knows them; here everything else is.
        errors = price_errors(self.instance, tiers=())
        return {
            field: message for field, message in errors.items() if not field.startswith("tiers")
        }


class PriceTierForm(ModelForm):
    class Meta:
        model = PriceTier
        fields = ["up_to", "unit_amount", "flat_amount"]

    def has_changed(self) -> bool:
        # A new row left entirely blank is no tier, even though "unit amount" starts at 0.
        if self.instance._state.adding and not any(
            str(self.data.get(self.add_prefix(name), "")).strip() for name in self.Meta.fields
        ):
            return False
        return super().has_changed()


class PriceTierFormSet(BaseInlineFormSet):
    """The tier rows, validated together with their price by `validation.price_errors`.

    A tier problem (`tiers[i].field`) is shown on the i-th filled-in row, in the field it names;
    a problem of the tiers as a whole above the rows.
    """

    def tier_forms(self) -> list[ModelForm]:
        """The rows that make the price's tiers, in the order shown (blank and deleted rows
        are left out)."""
        return [
            form
            for form in self.forms
            if form.cleaned_data and not (self.can_delete and self._should_delete_form(form))
        ]

    def tiers(self) -> list[Tier]:
        return [
            Tier(
                up_to=form.cleaned_data.get("up_to"),
                unit_amount=form.cleaned_data.get("unit_amount") or 0,
                flat_amount=form.cleaned_data.get("flat_amount") or 0,
            )
            for form in self.tier_forms()
        ]

    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return  # a row that didn't parse says so; its tier can't be checked yet
        forms = self.tier_forms()
        problems = []
        for key, message in price_errors(self.instance, tiers=self.tiers()).items():
            match = TIER_ERROR_KEY.fullmatch(key)
            if match is not None:
                form = forms[int(match.group(1))]
                field = match.group(2)
                form.add_error(field if field in form.fields else None, message)
            elif key.startswith("tiers"):
                problems.append(message)
        if problems:
            raise ValidationError(problems)

    def has_changed(self) -> bool:
        return super().has_changed() or any(
            self._should_delete_form(form) for form in self.initial_forms
        )


class PriceTierInline(admin.TabularInline):
    model = PriceTier
    form = PriceTierForm
    formfield_overrides = DECIMAL_FORMFIELDS
    formset = PriceTierFormSet
    fields = ["up_to", "unit_amount", "flat_amount"]
    verbose_name = "tier"
    verbose_name_plural = (
        "Tiers (TIERED prices only; top to bottom, each up to and including “up to”; "
        "leave “up to” empty on the last)"
    )

    def get_extra(self, request: HttpRequest, obj: Price | None = None, **kwargs: Any) -> int:
        return 3 if obj is None else 1


@admin.register(Price)
class PriceAdmin(CatalogueAdmin):
    form = PriceForm
    inlines = [PriceTierInline]
    updatable_fields = PRICE_UPDATABLE
    change_form_template = "admin/costsheets/price/change_form.html"
    list_display = [
        "label",
        "owner",
        "type",
        "meter_name",
        "charges",
        "currency",
        "status",
        "created_at",
    ]
    list_display_links = ["label"]
    list_select_related = ["meter"]
    list_filter = [
        StatusFilter,
        "entity_type",
        "type",
        "billing_model",
        "currency",
        ("meter", admin.RelatedOnlyFieldListFilter),
        ("environment", admin.RelatedOnlyFieldListFilter),
        created_range(),
    ]
    search_fields = ["id", "display_name", "lookup_key", "entity_id", "meter__name"]
    actions = ["archive_prices", "publish_prices"]
    fieldsets = [
        ("Belongs to", {"fields": ["entity_type", "entity_id"]}),
        (
            "What it charges",
            {
                "fields": [
                    "display_name",
                    "type",
                    "meter",
                    "currency",
                    "billing_model",
                    "amount",
                    "tier_mode",
                    "transform_quantity_divide_by",
                    "transform_quantity_round",
                ],
                "description": "FLAT_FEE charges the amount per unit; PACKAGE the amount per "
                "package of “divide by” units; TIERED uses the tiers below.",
            },
        ),
        (
            "Billing",
            {
                "fields": [
                    "billing_period",
                    "billing_period_count",
                    "billing_cadence",
                    "invoice_cadence",
                    "start_date",
                    "end_date",
                    "min_quantity",
                    "trial_period_days",
                ]
            },
        ),
        (
            "Custom price unit",
            {
                "classes": ["collapse"],
                "fields": ["price_unit_type", "price_unit", "conversion_rate"],
            },
        ),
        (
            "More",
            {
                "classes": ["collapse"],
                "fields": ["lookup_key", "description", "environment", "metadata", "status"],
            },
        ),
        RECORD_FIELDSET,
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Price]:
        def name_of(model: type[Costsheet | Plan]) -> Subquery:
            return Subquery(model.objects.filter(pk=OuterRef("entity_id")).values("name")[:1])

        subscriber = Subquery(
            Subscription.objects.filter(pk=OuterRef("entity_id")).values(
                "customer__external_customer_id"
            )[:1]
        )
        # The owner's name in the same query as the prices, whatever kind of owner it is.
        owner_name = Case(
            When(entity_type=PriceEntityType.COSTSHEET, then=name_of(Costsheet)),
            When(entity_type=PriceEntityType.PLAN, then=name_of(Plan)),
            When(entity_type=PriceEntityType.SUBSCRIPTION, then=subscriber),
            default=Value(""),
            output_field=CharField(),
        )
        return (
            super().get_queryset(request).annotate(owner_name=owner_name).prefetch_related("tiers")
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # A price always stays with its owner (copy it to give another owner the same).
            readonly += ["owner_link", "entity_type", "entity_id"]
        return readonly

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        # On a saved price the owner is shown as a link (and can no longer change).
        return [
            ("Belongs to", {"fields": ["owner_link", "entity_type", "entity_id"]}),
            *fieldsets[1:],
        ]

    # --- list columns -----------------------------------------------------------------------------

    @admin.display(description="price", ordering="display_name")
    def label(self, price: Price) -> str:
        return price_label(price)

    @admin.display(description="belongs to", ordering="owner_name")
    def owner(self, price: Price) -> str:
        name = getattr(price, "owner_name", "") or price.entity_id
        url_name = OWNER_ADMIN_URLS.get(price.entity_type)
        if url_name is None or not price.entity_id:
            return f"{price.entity_type}: {name}"
        url = reverse(url_name, args=[quote(price.entity_id)])
        return format_html('{}: <a href="{}">{}</a>', price.get_entity_type_display(), url, name)

    @admin.display(description="meter", ordering="meter__name")
    def meter_name(self, price: Price) -> str:
        return price.meter.name if price.meter else "–"

    @admin.display(description="charges")
    def charges(self, price: Price) -> str:
        return price_amount_summary(price)

    @admin.display(description="belongs to")
    def owner_link(self, price: Price) -> str:
        return self.owner(price)

    # --- calculator -------------------------------------------------------------------------------

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Price | None = None,
    ) -> HttpResponse:
        if change and obj is not None and request.method == "GET":
            quantity = request.GET.get("quantity", "").strip()
            context["calculator"] = {
                "quantity": quantity,
                "calculation": price_calculation(obj, quantity) if quantity else None,
                "changelist_filters": request.GET.get("_changelist_filters", ""),
            }
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- saving -----------------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Price, form: ModelForm, change: bool) -> None:
        """Nothing yet: the price is saved with its tiers, in one service call, by
        save_related (the tiers are only known there)."""

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list[Any], change: bool
    ) -> None:
        tier_formset = next(
            formset for formset in formsets if isinstance(formset, PriceTierFormSet)
        )
        tiers = tier_formset.tiers()
        price = form.instance
        if change:
            changes = self.changed_values(form)
            if tier_formset.has_changed() or "billing_model" in changes:
                changes["tiers"] = tiers
            if changes:
                price_update(price=price, data=changes, actor=actor_of(request))
        else:
            data = form.cleaned_data
            created = price_create(
                environment=data["environment"],
                entity_type=data["entity_type"],
                entity_id=data["entity_id"],
                currency=data["currency"],
                type=data["type"],
                billing_model=data["billing_model"],
                amount=data["amount"],
                tier_mode=data["tier_mode"],
                tiers=tiers,
                transform_quantity_divide_by=data["transform_quantity_divide_by"],
                transform_quantity_round=data["transform_quantity_round"],
                meter=data["meter"],
                billing_period=data["billing_period"],
                billing_period_count=data["billing_period_count"],
                billing_cadence=data["billing_cadence"],
                invoice_cadence=data["invoice_cadence"],
                lookup_key=data["lookup_key"],
                display_name=data["display_name"],
                description=data["description"],
                start_date=data["start_date"],
                end_date=data["end_date"],
                min_quantity=data["min_quantity"],
                trial_period_days=data["trial_period_days"],
                price_unit_type=data["price_unit_type"],
                price_unit=data["price_unit"],
                conversion_rate=data["conversion_rate"],
                metadata=data["metadata"],
                actor=actor_of(request),
            )
            adopt(price, created)
        for formset in formsets:
            # The change message is built from what formsets saved; the service saved it all.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def soft_delete(self, request: HttpRequest, obj: Price) -> None:
        price_delete(price=obj, actor=actor_of(request))

    # --- actions ----------------------------------------------------------------------------------

    @admin.action(description="Archive selected prices", permissions=["change"])
    def archive_prices(self, request: HttpRequest, queryset: QuerySet[Price]) -> None:
        apply_to_each(
            self,
            request,
            queryset.filter(status=Status.PUBLISHED),
            lambda price: price_update(
                price=price, data={"status": Status.ARCHIVED}, actor=actor_of(request)
            ),
            done="Archived",
        )

    @admin.action(description="Publish selected prices", permissions=["change"])
    def publish_prices(self, request: HttpRequest, queryset: QuerySet[Price]) -> None:
        apply_to_each(
            self,
            request,
            queryset.filter(status=Status.ARCHIVED),
            lambda price: price_update(
                price=price, data={"status": Status.PUBLISHED}, actor=actor_of(request)
            ),
            done="Published",
        )
