"""Margin reports in the admin: schedules with preview and "send now", and the runs they sent."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from rangefilter.filters import DateRangeFilterBuilder

from analytics.reports.models import ReportRun, ReportSchedule, RunStatus
from analytics.reports.periods import Period, period_label
from analytics.reports.rendering import csv_filename, csv_text, preview_html, report_render
from analytics.reports.selectors import report_data_for, schedule_scope_label
from analytics.reports.services import (
    SendNowResult,
    SendOutcome,
    report_period_of,
    report_schedule_plan,
    report_send_now,
)
from costsheets.formatting import money_text
from flexprice_site.errors import ApiError
from flexprice_site.tenancy import TenantScopedAdmin


def schedule_period(schedule: ReportSchedule, period_start: str | None) -> Period:
    """The period of `?period_start=YYYY-MM-DD` (the one containing that local day), else the
    last closed one."""
    day = None
    if period_start:
        try:
            day = date.fromisoformat(period_start)
        except ValueError:
            raise Http404(f"“{period_start}” is not a date (YYYY-MM-DD).") from None
    return report_period_of(schedule, day=day, now=timezone.now())


def send_now_message(schedule: ReportSchedule, result: SendNowResult) -> tuple[int, str]:
    """What a person is told after "send now": a message level and the sentence."""
    run = result.run
    label = period_label(schedule.cadence, run.period, schedule.zone)
    what = f"“{schedule.name}” for {label}"
    if result.outcome is None:
        return messages.WARNING, (
            f"{what}: delivery failed ({result.error}). It will be retried in "
            f"{result.retry_in_seconds} s; the run shows its progress."
        )
    if result.outcome == SendOutcome.SENT:
        return messages.SUCCESS, f"{what} was sent to {run.recipients}."
    if result.outcome == SendOutcome.ALREADY_SENT:
        sent_at = timezone.localtime(run.sent_at).strftime("%Y-%m-%d %H:%M %Z")
        return messages.INFO, (
            f"{what} was already sent on {sent_at}; a period's report is never sent twice."
        )
    if result.outcome == SendOutcome.IN_PROGRESS:
        return messages.INFO, f"{what} is being sent right now; the run shows when it is done."
    return messages.ERROR, f"{what} could not be sent: {run.last_error}"


@admin.register(ReportSchedule)
class ReportScheduleAdmin(TenantScopedAdmin):
    change_form_template = "admin/analytics/reportschedule/change_form.html"
    list_display = [
        "name",
        "environment",
        "cadence",
        "sends_at",
        "scope",
        "recipients_short",
        "is_active",
        "next_run_at",
        "last_run",
        "preview_link",
    ]
    list_filter = ["is_active", "cadence", ("environment", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["environment__tenant", "customer"]
    search_fields = [
        "name",
        "recipients",
        "customer__name",
        "=customer__external_customer_id",
    ]
    ordering = ["name", "id"]
    actions = ["send_now", "preview"]
    fieldsets = [
        (None, {"fields": ["name", "environment", "recipients", "is_active"]}),
        ("When", {"fields": ["cadence", "time_zone", "send_hour", "next_run_at"]}),
        (
            "What",
            {
                "fields": ["customer", "include_children", "currency"],
                "description": "Leave the customer empty for the whole environment.",
            },
        ),
    ]
    readonly_fields = ["next_run_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReportSchedule]:
        latest = ReportRun.objects.filter(schedule=OuterRef("pk")).order_by("-period_start")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_run_id=Subquery(latest.values("pk")[:1]),
                last_run_start=Subquery(latest.values("period_start")[:1]),
                last_run_status=Subquery(latest.values("status")[:1]),
            )
        )

    @admin.display(description="sends")
    def sends_at(self, schedule: ReportSchedule) -> str:
        when = {"daily": "daily", "weekly": "Mondays", "monthly": "on the 1st"}[schedule.cadence]
        return f"{when} {schedule.send_hour:02d}:00 {schedule.time_zone}"

    @admin.display(description="scope", ordering="customer__name")
    def scope(self, schedule: ReportSchedule) -> str:
        return schedule_scope_label(schedule)

    @admin.display(description="recipients")
    def recipients_short(self, schedule: ReportSchedule) -> str:
        addresses = schedule.recipient_list
        more = f" +{len(addresses) - 2}" if len(addresses) > 2 else ""
        return ", ".join(addresses[:2]) + more

    @admin.display(description="last run")
    def last_run(self, schedule: ReportSchedule) -> str:
        run_id = getattr(schedule, "last_run_id", None)
        if run_id is None:
            return "–"
        start = timezone.localtime(schedule.last_run_start, schedule.zone)
        status = RunStatus(schedule.last_run_status).label
        url = reverse("admin:analytics_reportrun_change", args=[quote(run_id)])
        return format_html('<a href="{}">{}: {}</a>', url, f"{start:%Y-%m-%d}", status)

    @admin.display(description="")
    def preview_link(self, schedule: ReportSchedule) -> str:
        url = reverse("admin:analytics_reportschedule_preview", args=[quote(schedule.pk)])
        return format_html('<a href="{}">Preview</a>', url)

    def save_model(
        self, request: HttpRequest, obj: ReportSchedule, form: ModelForm, change: bool
    ) -> None:
        report_schedule_plan(schedule=obj)
        super().save_model(request, obj, form, change)

    # --- send now and preview ------------------------------------------------------------

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("analytics.change_reportschedule")

    @admin.action(description="Send now (the last closed period)", permissions=["send"])
    def send_now(self, request: HttpRequest, queryset: QuerySet[ReportSchedule]) -> None:
        for schedule in queryset.select_related("environment", "customer"):
            level, text = send_now_message(schedule, report_send_now(schedule=schedule))
            self.message_user(request, text, level)

    @admin.action(description="Preview the report (the last closed period)")
    def preview(
        self, request: HttpRequest, queryset: QuerySet[ReportSchedule]
    ) -> HttpResponse | None:
        schedules = list(queryset[:2])
        if len(schedules) != 1:
            self.message_user(request, "Choose one schedule to preview.", messages.WARNING)
            return None
        url = reverse("admin:analytics_reportschedule_preview", args=[quote(schedules[0].pk)])
        return HttpResponseRedirect(url)

    def get_urls(self) -> list[URLPattern]:
        def view(function: Any) -> Any:
            return self.admin_site.admin_view(function)

        return [
            path(
                "<path:object_id>/preview/",
                view(self.preview_view),
                name="analytics_reportschedule_preview",
            ),
            path(
                "<path:object_id>/preview/csv/",
                view(self.preview_csv_view),
                name="analytics_reportschedule_preview_csv",
            ),
            path(
                "<path:object_id>/send-now/",
                view(require_POST(self.send_now_view)),
                name="analytics_reportschedule_send_now",
            ),
            *super().get_urls(),
        ]

    def _schedule(self, request: HttpRequest, object_id: str) -> ReportSchedule:
        schedule = self.get_object(request, object_id)
        if schedule is None or not self.has_view_permission(request, schedule):
            raise Http404("No such report schedule.")
        return schedule

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        schedule = self._schedule(request, object_id)
        period = schedule_period(schedule, request.GET.get("period_start"))
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preview: {schedule.name}",
            "schedule": schedule,
            "period_label": period_label(schedule.cadence, period, schedule.zone),
            "period_start": period.start.astimezone(schedule.zone).date().isoformat(),
            "recipients": ", ".join(schedule.recipient_list),
            "can_send": self.has_send_permission(request),
            "run": ReportRun.objects.filter(schedule=schedule, period_start=period.start).first(),
        }
        try:
            rendered = report_render(report_data_for(schedule=schedule, period=period))
        except ApiError as error:
            context["error"] = str(error)
        else:
            context.update(
                rendered=rendered, html=preview_html(rendered), has_chart=bool(rendered.chart_png)
            )
        return TemplateResponse(request, "admin/analytics/reportschedule/preview.html", context)

    def preview_csv_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        schedule = self._schedule(request, object_id)
        period = schedule_period(schedule, request.GET.get("period_start"))
        try:
            data = report_data_for(schedule=schedule, period=period)
        except ApiError as error:
            raise Http404(str(error)) from None
        # Only the attachment: no chart to draw, no email to render.
        response = HttpResponse(csv_text(data.csv_rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{csv_filename(data)}"'
        return response

    def send_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        schedule = self._schedule(request, object_id)
        if not self.has_send_permission(request):
            raise PermissionDenied
        period = schedule_period(schedule, request.POST.get("period_start"))
        result = report_send_now(schedule=schedule, period=period)
        level, text = send_now_message(schedule, result)
        self.message_user(request, text, level)
        return redirect("admin:analytics_reportrun_change", quote(result.run.pk))


class RunStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in RunStatus.choices] + [
            ("retrying", "Retrying (pending after a failure)")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ReportRun]) -> QuerySet[ReportRun]:
        value = self.value()
        if value == "retrying":
            return queryset.filter(status=RunStatus.PENDING, attempts__gt=0)
        return queryset.filter(status=value) if value else queryset


@admin.register(ReportRun)
class ReportRunAdmin(TenantScopedAdmin):
    """Read-only: runs are written by the tick and the send task; staff can send or retry."""

    tenant_field = "schedule__tenant"
    change_form_template = "admin/analytics/reportrun/change_form.html"
    list_display = [
        "schedule",
        "period",
        "status_badge",
        "attempts_text",
        "sent_at",
        "revenue_text",
        "cost_text",
        "margin_text",
        "error_summary",
    ]
    list_filter = [
        RunStatusFilter,
        "schedule__cadence",
        ("period_start", DateRangeFilterBuilder(title="period start")),
        ("sent_at", DateRangeFilterBuilder(title="sent")),
        ("schedule", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["schedule"]
    search_fields = ["schedule__name", "=message_id", "recipients", "subject", "last_error"]
    ordering = ["-period_start", "-id"]
    actions = ["send_now"]
    fieldsets = [
        (None, {"fields": ["schedule", "period", "status", "subject", "recipients"]}),
        (
            "Delivery",
            {
                "fields": [
                    "attempts_text",
                    "next_attempt_at",
                    "claimed_at",
                    "delivery_started_at",
                    "sent_at",
                    "message_id",
                    "last_error",
                    "last_error_at",
                ]
            },
        ),
        (
            "Totals sent",
            {
                "fields": [
                    "currency",
                    "had_usage",
                    "total_revenue",
                    "total_cost",
                    "margin",
                    "margin_percent",
                    "roi",
                    "roi_percent",
                ]
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            field
            for _, options in self.fieldsets
            for field in options["fields"]  # type: ignore[index]
        ]

    @admin.display(description="period", ordering="period_start")
    def period(self, run: ReportRun) -> str:
        schedule = run.schedule
        return period_label(schedule.cadence, run.period, schedule.zone)

    @admin.display(description="status", ordering="status")
    def status_badge(self, run: ReportRun) -> str:
        colours = {
            RunStatus.SENT: "#1f7a3f",
            RunStatus.FAILED: "#b42318",
            RunStatus.SENDING: "#2f6fdf",
            RunStatus.PENDING: "#8a6d00",
        }
        text = run.get_status_display()
        if run.status == RunStatus.PENDING and run.attempts:
            text = "Retrying"
        return format_html(
            '<strong class="run-status run-{}" style="color: {}">{}</strong>',
            run.status,
            colours[RunStatus(run.status)],
            text,
        )

    @admin.display(description="attempts")
    def attempts_text(self, run: ReportRun) -> str:
        return f"{run.attempts} of {run.attempt_limit}"

    def _money(self, run: ReportRun, amount: Any) -> str:
        return "–" if amount is None else money_text(amount, run.currency)

    @admin.display(description="revenue", ordering="total_revenue")
    def revenue_text(self, run: ReportRun) -> str:
        return self._money(run, run.total_revenue)

    @admin.display(description="cost", ordering="total_cost")
    def cost_text(self, run: ReportRun) -> str:
        return self._money(run, run.total_cost)

    @admin.display(description="margin", ordering="margin")
    def margin_text(self, run: ReportRun) -> str:
        return self._money(run, run.margin)

    @admin.display(description="error")
    def error_summary(self, run: ReportRun) -> str:
        return run.last_error[:120] or "–"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("analytics.change_reportschedule")

    @admin.action(description="Send now (retry failed or waiting runs)", permissions=["send"])
    def send_now(self, request: HttpRequest, queryset: QuerySet[ReportRun]) -> None:
        for run in queryset.select_related("schedule__environment", "schedule__customer"):
            schedule = run.schedule
            result = report_send_now(schedule=schedule, period=run.period)
            level, text = send_now_message(schedule, result)
            self.message_user(request, text, level)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/send-now/",
                self.admin_site.admin_view(require_POST(self.send_now_view)),
                name="analytics_reportrun_send_now",
            ),
            *super().get_urls(),
        ]

    def send_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        run = self.get_object(request, object_id)
        if run is None:
            raise Http404("No such report run.")
        if not self.has_send_permission(request):
            raise PermissionDenied
        result = report_send_now(schedule=run.schedule, period=run.period)
        level, text = send_now_message(run.schedule, result)
        self.message_user(request, text, level)
        return redirect("admin:analytics_reportrun_change", quote(run.pk))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if run is not None:
            context["report_run"] = run
            context["preview_url"] = (
                reverse("admin:analytics_reportschedule_preview", args=[quote(run.schedule_id)])
                + "?period_start="
                + run.period_start.astimezone(run.schedule.zone).date().isoformat()
            )
            context["can_send"] = self.has_send_permission(request) and run.status != RunStatus.SENT
        return super().change_view(request, object_id, form_url, extra_context=context)
