"""The margin dashboard: revenue, cost and margin of a tenant's environment, from cost_analytics."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone

from analytics.costs import PERIOD_TOTALS, CostAnalytics, cost_analytics
from analytics.costs.export import breakdown_rows
from costsheets.formatting import grouped, money_text
from costsheets.models import Customer, WindowSize
from costsheets.pricing import ZERO
from costsheets.selectors import scoped
from flexprice_site.errors import ApiError
from flexprice_site.forms import validate_storable_date
from flexprice_site.models import Environment, Status
from flexprice_site.rendering import format_decimal
from flexprice_site.tenancy import scope_to_tenant, sees_all_tenants, tenant_of

DEFAULT_DAYS = 30
# Customers listed in the picker; beyond that it becomes a text box for the external ID.
PICKER_SIZE = 1000
LONGEST_RANGE = timedelta(days=731)
TOP = 10
# The dashboard's windows and dates are UTC days: one calendar for every customer on the page.
TIME_ZONE = "UTC"
WINDOWS = [
    (WindowSize.DAY, "Day"),
    (WindowSize.WEEK, "Week"),
    (WindowSize.MONTH, "Month"),
]
PERCENT_PLACES = Decimal("0.01")


def environments_for(request: HttpRequest) -> QuerySet[Environment]:
    """The environments this admin user may look at: their tenant's (superusers: all)."""
    environments = Environment.objects.select_related("tenant").order_by("tenant__name", "name")
    return scope_to_tenant(environments, request)


def default_environment(request: HttpRequest, choices: QuerySet[Environment]) -> Environment | None:
    """The user's own tenant's first environment (production first), else the first one."""
    tenant = tenant_of(request)
    rows = list(choices)
    own = [row for row in rows if tenant is not None and row.tenant_id == tenant.pk]
    for candidates in (own, rows):
        if candidates:
            production = [row for row in candidates if row.type == Environment.Type.PRODUCTION]
            return (production or candidates)[0]
    return None


class MarginDashboardForm(forms.Form):
    """The page's filters, read from the query string (GET: the page is bookmarkable)."""

    environment = forms.ModelChoiceField(queryset=Environment.objects.none(), empty_label=None)
    start = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_storable_date],
    )
    end = forms.DateField(
        label="To (inclusive)",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_storable_date],
    )
    customer = forms.ChoiceField(required=False, label="Customer")
    include_children = forms.BooleanField(required=False, label="with its children")
    window = forms.ChoiceField(choices=WINDOWS, required=False, label="Per")
    currency = forms.CharField(
        required=False,
        max_length=3,
        label="Currency",
        help_text="Only needed when prices use several currencies.",
        widget=forms.TextInput(attrs={"size": 4, "placeholder": "usd"}),
    )

    def __init__(
        self, data: Any, *, environments: QuerySet[Environment], environment: Environment
    ) -> None:
        super().__init__(data)
        self.fields["environment"].queryset = environments
        customers = list(
            scoped(Customer.objects.all(), environment=environment)
            .exclude(status=Status.DELETED)
            .order_by("name", "external_customer_id")
            .values_list("external_customer_id", "name")[: PICKER_SIZE + 1]
        )
        if len(customers) > PICKER_SIZE:
            # Too many for a drop-down: the external ID is typed (an unknown one is reported).
            self.fields["customer"] = forms.CharField(
                required=False,
                label="Customer",
                help_text="External customer ID; empty for every customer.",
                widget=forms.TextInput(attrs={"placeholder": "All customers"}),
            )
            return
        self.fields["customer"].choices = [("", "All customers")] + [
            (external_id, f"{name} ({external_id})" if name else external_id)
            for external_id, name in customers
        ]

    def clean_currency(self) -> str | None:
        code = self.cleaned_data["currency"].strip().lower()
        if code and (len(code) != 3 or not code.isalpha()):
            raise forms.ValidationError("A 3-letter currency code, e.g. usd.")
        return code or None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The end date is before the start date.")
            elif end - start > LONGEST_RANGE:
                self.add_error("start", "Choose at most two years.")
        data["window"] = data.get("window") or WindowSize.DAY
        return data


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: Decimal
    text: str
    note: str = ""

    @property
    def raw(self) -> str:
        return format_decimal(self.value)

    @property
    def is_negative(self) -> bool:
        return self.value < ZERO


@dataclass(frozen=True)
class Row:
    """A row of a top-N table."""

    name: str
    detail: str
    revenue: str
    cost: str
    margin: str
    margin_percent: str
    link: str = ""
    is_negative: bool = False


def _amount(value: Decimal, currency: str) -> str:
    """`$1,234.50`, `-$10.00`; without a currency the exact number (`1,234.5`)."""
    if not currency:
        return grouped(value)
    return money_text(value, currency)


def _percent(value: Decimal) -> str:
    rounded = value.quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP)
    return f"{format(rounded.copy_abs() if rounded.is_zero() else rounded, ',f')}%"


def kpis(result: CostAnalytics) -> list[Kpi]:
    currency = result.currency
    summary = result.margin
    return [
        Kpi("revenue", "Revenue", result.total_revenue, _amount(result.total_revenue, currency)),
        Kpi("cost", "Cost", result.total_cost, _amount(result.total_cost, currency)),
        Kpi("margin", "Margin", summary.margin, _amount(summary.margin, currency)),
        Kpi(
            "margin_percent",
            "Margin %",
            summary.margin_percent,
            _percent(summary.margin_percent),
            "margin ÷ revenue",
        ),
        Kpi(
            "roi",
            "ROI",
            summary.roi,
            _percent(summary.roi_percent),
            "margin ÷ cost",
        ),
    ]


def chart_data(result: CostAnalytics) -> dict[str, Any]:
    """Per window: revenue, cost and margin as strings (Chart.js draws them; nothing adds)."""
    periods = result.by_period()
    label_format = "%Y-%m-%d" if result.window_size != WindowSize.MONTH else "%Y-%m"
    return {
        "labels": [period.timestamp.astimezone(UTC).strftime(label_format) for period in periods],
        "revenue": [format_decimal(period.revenue) for period in periods],
        "cost": [format_decimal(period.cost) for period in periods],
        "margin": [format_decimal(period.margin) for period in periods],
        "currency": result.currency,
    }


def top_tables(result: CostAnalytics, link: Callable[[str], str]) -> dict[str, list[Row]]:
    currency = result.currency
    customers = result.by_customer()

    def customer_row(row: Any) -> Row:
        return Row(
            name=row.customer_name or row.external_customer_id,
            detail=row.external_customer_id,
            revenue=_amount(row.revenue, currency),
            cost=_amount(row.cost, currency),
            margin=_amount(row.margin, currency),
            margin_percent=_percent(row.margin_percent),
            link=link(row.external_customer_id) if row.customer_id else "",
            is_negative=row.margin < ZERO,
        )

    meters = sorted(result.by_meter(), key=lambda row: (-row.cost, row.meter_name))
    return {
        "by_margin": [
            customer_row(row)
            for row in sorted(customers, key=lambda row: (-row.margin, row.external_customer_id))[
                :TOP
            ]
        ],
        "by_cost": [
            customer_row(row)
            for row in sorted(customers, key=lambda row: (-row.cost, row.external_customer_id))[
                :TOP
            ]
        ],
        "meters_by_cost": [
            Row(
                name=row.meter_name,
                detail=f"{grouped(row.quantity)} units",
                revenue=_amount(row.revenue, currency),
                cost=_amount(row.cost, currency),
                margin=_amount(row.margin, currency),
                margin_percent=_percent(row.margin_percent),
                is_negative=row.margin < ZERO,
            )
            for row in meters[:TOP]
        ],
    }


@dataclass(frozen=True)
class Question:
    environment: Environment
    start: datetime
    end: datetime
    external_customer_id: str | None
    include_children: bool
    window_size: str
    currency: str | None


def _read(request: HttpRequest) -> tuple[MarginDashboardForm, Question | None]:
    """The filters from the query string, with defaults for those not given."""
    choices = environments_for(request)
    chosen = default_environment(request, choices)
    if chosen is None:
        raise PermissionDenied("No environment to show.")
    picked = request.GET.get("environment")
    if picked:
        chosen = choices.filter(pk=picked).first() or chosen
    today = timezone.now().astimezone(UTC).date()
    data = {
        "environment": chosen.pk,
        "start": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "end": today.isoformat(),
        "window": WindowSize.DAY,
    }
    data.update({key: value for key, value in request.GET.items() if key in _FIELDS})
    form = MarginDashboardForm(data, environments=choices, environment=chosen)
    if not form.is_valid():
        return form, None
    values = form.cleaned_data
    return form, Question(
        environment=values["environment"],
        start=_midnight(values["start"]),
        end=_midnight(values["end"] + timedelta(days=1)),
        external_customer_id=values["customer"] or None,
        include_children=bool(values["customer"] and values["include_children"]),
        window_size=values["window"],
        currency=values["currency"],
    )


_FIELDS = ("environment", "start", "end", "customer", "include_children", "window", "currency")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _analytics(question: Question) -> CostAnalytics:
    return cost_analytics(
        environment=question.environment,
        start=question.start,
        end=question.end,
        external_customer_id=question.external_customer_id,
        include_children=question.include_children,
        window_size=question.window_size,
        time_zone=TIME_ZONE,
        currency=question.currency,
        # One chart of everything: the periods' sums, not thousands of items' periods.
        periods=PERIOD_TOTALS,
    )


def _check_access(request: HttpRequest) -> None:
    if not request.user.has_module_perms("analytics"):
        raise PermissionDenied("You may not see analytics.")


def margin_dashboard_view(request: HttpRequest) -> HttpResponse:
    _check_access(request)
    form, question = _read(request)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Margin dashboard",
        "form": form,
        "time_zone": TIME_ZONE,
        "show_environment": sees_all_tenants(request)
        or len(form.fields["environment"].queryset) > 1,
    }
    if question is not None:
        try:
            result = _analytics(question)
        except ApiError as error:
            context["error"] = error.message
        else:
            query = request.GET.copy()
            base = reverse("admin:analytics_margin_dashboard")

            def customer_link(external_id: str) -> str:
                linked = query.copy()
                linked["customer"] = external_id
                linked["environment"] = question.environment.pk
                return f"{base}?{linked.urlencode()}"

            context.update(
                {
                    "result": result,
                    "question": question,
                    "kpis": kpis(result),
                    "chart": chart_data(result),
                    "tops": top_tables(result, customer_link),
                    "csv_url": reverse("admin:analytics_margin_dashboard_csv")
                    + ("?" + request.GET.urlencode() if request.GET else ""),
                    "range_text": f"{question.start:%b %-d, %Y} – "
                    f"{question.end - timedelta(days=1):%b %-d, %Y}",
                }
            )
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)


def margin_dashboard_csv_view(request: HttpRequest) -> HttpResponse:
    """The full breakdown behind the page, one row per (customer, meter)."""
    _check_access(request)
    form, question = _read(request)
    if question is None:
        errors = "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in form.errors.items()
        )
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    try:
        result = _analytics(question)
    except ApiError as error:
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    last_day = question.end - timedelta(days=1)
    response["Content-Disposition"] = (
        f'attachment; filename="margin-{question.start:%Y-%m-%d}-{last_day:%Y-%m-%d}.csv"'
    )
    csv.writer(response, lineterminator="\r\n").writerows(breakdown_rows(result))
    return response


def _with_dashboard(
    get_urls: Callable[[], list[URLPattern | URLResolver]],
) -> Callable[[], list[URLPattern | URLResolver]]:
    def get_urls_with_dashboard() -> list[URLPattern | URLResolver]:
        return [
            path(
                "analytics/margin/",
                admin.site.admin_view(margin_dashboard_view),
                name="analytics_margin_dashboard",
            ),
            path(
                "analytics/margin/csv/",
                admin.site.admin_view(margin_dashboard_csv_view),
                name="analytics_margin_dashboard_csv",
            ),
            *get_urls(),
        ]

    return get_urls_with_dashboard


# The dashboard is a page of the admin site, not of a model: its URLs go first in the site's.
admin.site.get_urls = _with_dashboard(admin.site.get_urls)  # type: ignore[method-assign]
