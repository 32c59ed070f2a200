"""Writes for subscriptions: subscribing copies the plan's prices into line items."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from costsheets.models import (
    BillingCadence,
    BillingPeriod,
    Customer,
    LineItemEntityType,
    Plan,
    Price,
    PriceType,
    Subscription,
    SubscriptionLineItem,
    SubscriptionStatus,
)
from costsheets.selectors import plan_prices
from costsheets.services.common import (
    check_metadata,
    coerce_decimals,
    place_in,
    raise_if_errors,
    related_errors,
)
from costsheets.validation import commitment_errors, normalize_currency, subscription_errors
from flexprice_site.errors import InvalidOperation, ValidationFailed
from flexprice_site.models import Environment, Status

COMMITMENT_FIELDS = (
    "commitment_type",
    "commitment_amount",
    "commitment_quantity",
    "commitment_overage_factor",
    "commitment_true_up_enabled",
    "commitment_windowed",
    "commitment_duration",
)


@dataclass(frozen=True)
class LineItemCommitment:
    """What a customer commits to on one line item (SPEC §4)."""

    commitment_type: str
    amount: Decimal | None = None
    quantity: Decimal | None = None
    overage_factor: Decimal = Decimal(1)
    true_up_enabled: bool = False
    windowed: bool = False
    duration: str = ""


def _set_commitment(line_item: SubscriptionLineItem, commitment: LineItemCommitment | None) -> None:
    """Write a commitment onto a line item, or clear it (None)."""
    commitment = commitment or LineItemCommitment(commitment_type="")
    line_item.commitment_type = commitment.commitment_type
    line_item.commitment_amount = commitment.amount
    line_item.commitment_quantity = commitment.quantity
    line_item.commitment_overage_factor = commitment.overage_factor
    line_item.commitment_true_up_enabled = commitment.true_up_enabled
    line_item.commitment_windowed = commitment.windowed
    line_item.commitment_duration = commitment.duration
    coerce_decimals(line_item, only=COMMITMENT_FIELDS)


def _commitment_errors(line_item: SubscriptionLineItem, price: Price) -> dict[str, str]:
    bucket_size = price.meter.bucket_size if price.meter is not None else ""
    return commitment_errors(line_item, meter_bucket_size=bucket_size)


def _fits(price: Price, subscription: Subscription) -> bool:
    """Flexprice's rule: a plan price joins a subscription in its currency and billing period
    (one-time charges join whatever the period)."""
    if price.currency != subscription.currency:
        return False
    if price.billing_cadence == BillingCadence.ONETIME:
        return True
    return (
        price.billing_period == subscription.billing_period
        and price.billing_period_count == subscription.billing_period_count
    )


def _line_item_for(price: Price, subscription: Subscription) -> SubscriptionLineItem:
    start = max(subscription.start_date, price.start_date or subscription.start_date)
    ends = [date for date in (subscription.end_date, price.end_date) if date is not None]
    line_item = SubscriptionLineItem(
        tenant_id=subscription.tenant_id,
        environment_id=subscription.environment_id,
        subscription=subscription,
        price=price,
        meter_id=price.meter_id,
        entity_type=LineItemEntityType.PLAN,
        entity_id=subscription.plan_id,
        display_name=price.display_name
        or (price.meter.name if price.meter is not None else subscription.plan.name),
        # A fixed price is one unit of the thing; usage prices are quantified by events.
        quantity=Decimal(1) if price.type == PriceType.FIXED else Decimal(0),
        currency=price.currency,
        price_type=price.type,
        billing_period=price.billing_period,
        billing_period_count=price.billing_period_count,
        invoice_cadence=price.invoice_cadence,
        start_date=start,
        end_date=min(ends) if ends else None,
        created_by=subscription.created_by,
        updated_by=subscription.updated_by,
    )
    return line_item


@transaction.atomic
def subscription_create(
    *,
    environment: Environment,
    customer: Customer,
    plan: Plan,
    currency: str,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    billing_anchor: datetime | None = None,
    billing_period: str = BillingPeriod.MONTHLY,
    billing_period_count: int = 1,
    subscription_status: str = SubscriptionStatus.ACTIVE,
    line_item_commitments: Mapping[str, LineItemCommitment] | None = None,
    metadata: Mapping[str, str] | None = None,
    actor: str = "",
) -> Subscription:
    """Subscribe a customer to a plan: each of the plan's published, unexpired prices in the
    subscription's currency and billing period becomes a line item. Commitments are given
    per price id and land on that price's line item."""
    start = start_date or timezone.now()
    subscription = Subscription(
        customer=customer,
        plan=plan,
        currency=normalize_currency(currency),
        start_date=start,
        end_date=end_date,
        billing_anchor=billing_anchor or start,
        billing_period=billing_period,
        billing_period_count=billing_period_count,
        subscription_status=subscription_status,
        metadata=check_metadata(metadata),
    )
    place_in(subscription, environment=environment, actor=actor)
    errors = related_errors(customer, environment=environment, field="customer", label="customer")
    errors.update(related_errors(plan, environment=environment, field="plan", label="plan"))
    if "plan" not in errors and plan.status != Status.PUBLISHED:
        errors["plan"] = f"Plan {plan.name} is {plan.status}; subscribe to a published plan."
    errors.update(subscription_errors(subscription))
    raise_if_errors(errors)

    prices = [price for price in plan_prices(plan=plan, at=start) if _fits(price, subscription)]
    if not prices:
        message = (
            f"Plan {plan.name} has no published {subscription.currency} prices billed "
            f"{subscription.billing_period} (every {subscription.billing_period_count})."
        )
        raise ValidationFailed(message, details={"plan": message})
    commitments = dict(line_item_commitments or {})
    prices_by_id = {price.pk: price for price in prices}
    unknown = [price_id for price_id in commitments if price_id not in prices_by_id]
    raise_if_errors(
        {
            f"line_item_commitments.{price_id}": f"Price {price_id} is not one of the prices "
            f"this subscription gets from plan {plan.name}."
            for price_id in unknown
        }
    )
    line_items = []
    for price in prices:
        line_item = _line_item_for(price, subscription)
        if price.pk in commitments:
            _set_commitment(line_item, commitments[price.pk])
            raise_if_errors(
                _commitment_errors(line_item, price),
                prefix=f"line_item_commitments.{price.pk}.",
            )
        line_items.append(line_item)

    subscription.save()
    SubscriptionLineItem.objects.bulk_create(line_items)
    return subscription


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, cancelled_at: datetime | None = None, actor: str = ""
) -> Subscription:
    """Cancel now (or at `cancelled_at`): the subscription and its line items end then."""
    if subscription.subscription_status == SubscriptionStatus.CANCELLED:
        raise InvalidOperation(
            f"Subscription {subscription.pk} is already cancelled.",
            details={"subscription_status": subscription.subscription_status},
        )
    at = cancelled_at or timezone.now()
    subscription.subscription_status = SubscriptionStatus.CANCELLED
    subscription.cancelled_at = at
    if subscription.end_date is None or subscription.end_date > at:
        subscription.end_date = at
    subscription.updated_by = actor
    subscription.save(
        update_fields=[
            "subscription_status",
            "cancelled_at",
            "end_date",
            "updated_by",
            "updated_at",
        ]
    )
    subscription.line_items.filter(Q(end_date__isnull=True) | Q(end_date__gt=at)).update(
        end_date=at, updated_by=actor, updated_at=timezone.now()
    )
    return subscription


def line_item_commitment_update(
    *,
    line_item: SubscriptionLineItem,
    commitment: LineItemCommitment | None,
    actor: str = "",
) -> SubscriptionLineItem:
    """Set, change or (with None) remove a line item's commitment."""
    _set_commitment(line_item, commitment)
    raise_if_errors(_commitment_errors(line_item, line_item.price))
    line_item.updated_by = actor
    line_item.save(update_fields=[*COMMITMENT_FIELDS, "updated_by", "updated_at"])
    return line_item


# Billing periods as a step of months or days.
_PERIOD_MONTHS = {
    BillingPeriod.MONTHLY: 1,
    BillingPeriod.QUARTERLY: 3,
    BillingPeriod.HALF_YEARLY: 6,
    BillingPeriod.ANNUAL: 12,
}
_PERIOD_DAYS = {BillingPeriod.DAILY: 1, BillingPeriod.WEEKLY: 7}


def _add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the month's last day (Jan 31 → Feb 28)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def subscription_period_end(*, subscription: Subscription, after: datetime) -> datetime:
    """The end of the billing period running at `after`: the first period boundary, counted
    from the billing anchor, that is later than `after`. One-time billing has no periods, so
    its period ends at `after` itself."""
    anchor, count = subscription.billing_anchor, subscription.billing_period_count
    period = subscription.billing_period
    if period in _PERIOD_DAYS:
        step = timedelta(days=_PERIOD_DAYS[period] * count)
        periods_passed = (after - anchor) // step if after >= anchor else 0
        return anchor + step * (periods_passed + 1)
    if period in _PERIOD_MONTHS:
        step_months = _PERIOD_MONTHS[period] * count
        months_passed = max((after.year - anchor.year) * 12 + after.month - anchor.month, 0)
        number = max(months_passed // step_months - 1, 0)
        boundary = _add_months(anchor, step_months * (number + 1))
        while boundary <= after:
            number += 1
            boundary = _add_months(anchor, step_months * (number + 1))
        return boundary
    return after
