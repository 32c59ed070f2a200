"""Rollup status in the admin: each meter's rebuild progress, "rebuild now", and the backlog."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from analytics.metering.plan import meter_config_fingerprint, meter_has_rollups
from analytics.rollups.models import MeterRollupState, RollupStatus
from analytics.rollups.selectors import BacklogSummary, backlog_summary
from analytics.rollups.services import rollup_state_sync
from costsheets.models import Meter
from flexprice_site.tenancy import TenantScopedAdmin, sees_all_tenants, tenant_of


def progress_text(state: MeterRollupState) -> str:
    """ "Ready", "Building: 40 % (12 of 30 days)", "Pending" … as staff read it."""
    if state.status == RollupStatus.READY:
        return "Ready"
    if state.status == RollupStatus.BUILDING or state.chunks_done:
        days = f"{state.chunks_done} of {state.chunks_total} days"
        label = "Building" if state.status == RollupStatus.BUILDING else "Pending (resumes)"
        return f"{label}: {state.progress_percent} % ({days})"
    return "Pending"


def meter_rollup_status(meter: Meter) -> SafeString | str:
    """The meter's rollup status with a link to its row, for the meter's own admin page."""
    if meter.pk is None or meter._state.adding:
        return "Built once the meter is saved."
    if not meter_has_rollups(meter):
        return "Not rolled up: this meter is always computed from raw events."
    state = MeterRollupState.objects.filter(meter_id=meter.pk).first()
    if state is None:
        return "Pending: the rollup sweep will start a rebuild within a minute."
    text = progress_text(state)
    if state.status == RollupStatus.READY and (
        state.config_fingerprint != meter_config_fingerprint(meter)
    ):
        text = "Pending: the meter changed since its rollups were built."
    url = reverse("admin:analytics_meterrollupstate_change", args=[quote(state.pk)])
    return format_html('<a href="{}">{}</a>', url, text)


@admin.register(MeterRollupState)
class MeterRollupStateAdmin(TenantScopedAdmin):
    """Read-only: the rollup job and rebuilds write these rows; staff can only ask for a rebuild."""

    tenant_field = "meter__tenant"
    change_list_template = "admin/analytics/meterrollupstate/change_list.html"
    list_display = [
        "meter_name",
        "event_name",
        "status",
        "progress",
        "built_through",
        "updated_at",
        "finished_at",
        "error_summary",
    ]
    list_filter = ["status", ("meter__environment", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["meter"]
    search_fields = ["meter__name", "=meter__id", "meter__event_name"]
    ordering = ["meter__name"]
    actions = ["rebuild_now"]
    fields = [
        "meter",
        "status",
        "progress",
        "rebuild_from",
        "rebuild_until",
        "built_through",
        "started_at",
        "updated_at",
        "finished_at",
        "error",
        "config_fingerprint",
    ]
    readonly_fields = fields

    @admin.display(description="meter", ordering="meter__name")
    def meter_name(self, state: MeterRollupState) -> str:
        return state.meter.name

    @admin.display(description="event name", ordering="meter__event_name")
    def event_name(self, state: MeterRollupState) -> str:
        return state.meter.event_name

    @admin.display(description="progress")
    def progress(self, state: MeterRollupState) -> str:
        return progress_text(state)

    @admin.display(description="error")
    def error_summary(self, state: MeterRollupState) -> str:
        return state.error[:120] or "–"

    @admin.action(description="Rebuild the rollups of the selected meters", permissions=["rebuild"])
    def rebuild_now(self, request: HttpRequest, queryset: QuerySet[MeterRollupState]) -> None:
        meters = Meter.objects.filter(pk__in=queryset.values("meter_id"))
        with transaction.atomic():
            for meter in meters:
                rollup_state_sync(meter=meter, force=True)
        self.message_user(
            request,
            f"Rebuild started for {len(meters)} meter(s); progress shows here.",
            messages.SUCCESS,
        )

    def has_rebuild_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("analytics.change_meterrollupstate")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if sees_all_tenants(request):
            summary = backlog_summary(tenant=None)
        else:
            tenant = tenant_of(request)
            summary = BacklogSummary(0, None) if tenant is None else backlog_summary(tenant=tenant)
        lag = None
        if summary.oldest_ingested_at is not None:
            lag = (timezone.now() - summary.oldest_ingested_at).total_seconds()
        context = {"backlog": summary, "backlog_lag_seconds": lag, **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)
