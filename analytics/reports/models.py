"""Report schedules (what to send, to whom, how often) and report runs (one per period sent)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from analytics.reports import periods
from costsheets.models import Customer
from costsheets.validation import time_zone_error
from flexprice_site.models import Environment, Tenant

# Totals as they were sent: money and SPEC §6 ratios (16 decimal places) without rounding.
TOTAL_DIGITS = 40
TOTAL_PLACES = 16
RECIPIENT_SEPARATORS = re.compile(r"[\s,;]+")


class Cadence(models.TextChoices):
    DAILY = periods.DAILY, "Daily"
    WEEKLY = periods.WEEKLY, "Weekly (Monday to Sunday)"
    MONTHLY = periods.MONTHLY, "Monthly"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


def recipient_list(text: str) -> list[str]:
    """Addresses separated by commas, semicolons, spaces or new lines, each once, in order."""
    return list(dict.fromkeys(part for part in RECIPIENT_SEPARATORS.split(text) if part))


def validate_recipients(text: str) -> None:
    addresses = recipient_list(text)
    if not addresses:
        raise ValidationError("Enter at least one email address.")
    validate = EmailValidator()
    wrong = []
    for address in addresses:
        try:
            validate(address)
        except ValidationError:
            wrong.append(address)
    if wrong:
        raise ValidationError(f"Not an email address: {', '.join(wrong)}.")


def validate_time_zone(name: str) -> None:
    error = time_zone_error(name)
    if error:
        raise ValidationError(error)


class ReportSchedule(models.Model):
    """A margin report emailed every day, week or month for one tenant + environment.

    `next_run_at` is when the next period's report is due; the periodic tick claims schedules
    whose moment has come, and every save of the schedule plans it again from its settings.
    """

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=255)
    recipients = models.TextField(
        validators=[validate_recipients],
        help_text="Email addresses, separated by commas or new lines.",
    )
    cadence = models.CharField(max_length=16, choices=Cadence.choices, default=Cadence.WEEKLY)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone (e.g. Europe/Paris): periods start at local midnight.",
    )
    send_hour = models.PositiveSmallIntegerField(
        default=8,
        validators=[MaxValueValidator(23)],
        help_text="Local hour (0–23) on the day a period closes at which its report is sent.",
    )
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Report on this customer only; empty: every customer of the environment.",
    )
    include_children = models.BooleanField(
        default=False, help_text="With a customer: fold its child customers' usage into it."
    )
    currency = models.CharField(
        max_length=3,
        blank=True,
        help_text="Only needed when the environment's prices use several currencies (e.g. usd).",
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Inactive schedules send nothing; their runs are kept."
    )
    next_run_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the next report is due."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "report schedule"
        indexes = [
            # The tick: active schedules whose moment has come.
            models.Index(
                fields=["next_run_at"],
                condition=Q(is_active=True),
                name="report_schedule_due",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def recipient_list(self) -> list[str]:
        return recipient_list(self.recipients)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.customer_id is not None and self.environment_id is not None:
            customer_environment = Customer.objects.filter(pk=self.customer_id).values_list(
                "environment_id", flat=True
            )
            if list(customer_environment) != [self.environment_id]:
                errors["customer"] = "Choose a customer of the schedule's environment."
        if self.include_children and self.customer_id is None:
            errors["include_children"] = "Children are folded into a customer: choose one."
        code = self.currency.strip().lower()
        if code and (len(code) != 3 or not code.isalpha()):
            errors["currency"] = "A 3-letter currency code, e.g. usd."
        self.currency = code
        if errors:
            raise ValidationError(errors)


class ReportRun(models.Model):
    """The report of one schedule for one period: at most one per period, sent at most once.

    pending → sending → sent, or back to pending (a delivery failed and will be retried) and
    finally failed (attempts used up, or the report can't be computed). The totals are those
    of the email (written just before it is handed to the mail server).
    """

    id = models.BigAutoField(primary_key=True)
    schedule = models.ForeignKey(ReportSchedule, on_delete=models.PROTECT, related_name="runs")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    attempt_limit = models.PositiveIntegerField(
        default=5, help_text="Attempts allowed before the run is failed (send now adds more)."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivery_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, unique=True)
    subject = models.CharField(max_length=998, blank=True)
    recipients = models.TextField(blank=True)
    currency = models.CharField(max_length=3, blank=True)
    had_usage = models.BooleanField(null=True)
    total_revenue = models.DecimalField(
        max_digits=TOTAL_DIGITS, decimal_places=TOTAL_PLACES, null=True, blank=True
    )
    total_cost = models.DecimalField(
        max_digits=TOTAL_DIGITS, decimal_places=TOTAL_PLACES, null=True, blank=True
    )
    margin = models.DecimalField(
        max_digits=TOTAL_DIGITS, decimal_places=TOTAL_PLACES, null=True, blank=True
    )
    margin_percent = models.DecimalField(
        max_digits=TOTAL_DIGITS, decimal_places=TOTAL_PLACES, null=True, blank=True
    )
    roi = models.DecimalField(
        max_digits=TOTAL_DIGITS, decimal_places=TOTAL_PLACES, null=True, blank=True
    )
    roi_percent = models.DecimalField(
        max_digits=TOTAL_DIGITS, decimal_places=TOTAL_PLACES, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    class Meta:
        ordering = ["-period_start", "-id"]
        verbose_name = "report run"
        constraints = [
            # One run per schedule and period, whoever (tick, command, send now) gets there first.
            models.UniqueConstraint(
                fields=["schedule", "period_start"], name="report_run_unique_period"
            ),
        ]
        indexes = [
            # The tick's recovery: runs waiting (or stuck) past their moment.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="report_run_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} · {self.period_start:%Y-%m-%d}"

    @property
    def period(self) -> periods.Period:
        return periods.Period(start=self.period_start, end=self.period_end)
