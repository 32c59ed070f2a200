"""Subscription services: plan prices copied into line items, commitments, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costsheets.models import Subscription, SubscriptionLineItem
from costsheets.selectors import open_subscriptions_of
from costsheets.services import (
    LineItemCommitment,
    line_item_commitment_update,
    plan_delete,
    subscription_cancel,
    subscription_create,
)
from flexprice_site.errors import InvalidOperation, ValidationFailed
from flexprice_site.models import Environment, Status
from tests.factories import CustomerFactory, MeterFactory, PlanFactory, PriceFactory

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


class TestSubscriptions:
    def plan_with_prices(self, environment: Environment) -> tuple:
        plan = PlanFactory(environment=environment)
        bucketed = MeterFactory(
            environment=environment,
            aggregation_type="MAX",
            aggregation_field="gb",
            bucket_size="HOUR",
        )
        usage = PriceFactory(environment=environment, owner=plan, display_name="Requests")
        storage = PriceFactory(environment=environment, owner=plan, meter=bucketed)
        fixed = PriceFactory(environment=environment, owner=plan, type="FIXED", meter=None)
        PriceFactory(environment=environment, owner=plan, currency="eur")
        PriceFactory(environment=environment, owner=plan, billing_period="ANNUAL")
        PriceFactory(environment=environment, owner=plan, status=Status.ARCHIVED)
        return plan, usage, storage, fixed

    def test_creating_copies_the_plans_matching_prices_into_line_items(
        self, environment: Environment
    ) -> None:
        plan, usage, storage, fixed = self.plan_with_prices(environment)
        customer = CustomerFactory(environment=environment)
        subscription = subscription_create(
            environment=environment,
            customer=customer,
            plan=plan,
            currency="USD",
            start_date=JAN_1,
            line_item_commitments={
                storage.pk: LineItemCommitment(
                    commitment_type="amount",
                    amount=Decimal(10),
                    overage_factor=Decimal("1.5"),
                    true_up_enabled=True,
                    windowed=True,
                )
            },
        )
        assert (subscription.currency, subscription.billing_anchor) == ("usd", JAN_1)
        items = {item.price_id: item for item in subscription.line_items.all()}
        assert set(items) == {usage.pk, storage.pk, fixed.pk}
        assert items[usage.pk].display_name == "Requests"
        assert items[usage.pk].meter_id == usage.meter_id
        assert (items[usage.pk].quantity, items[fixed.pk].quantity) == (0, 1)
        assert (items[usage.pk].start_date, items[usage.pk].entity_id) == (JAN_1, plan.pk)
        assert items[usage.pk].commitment_type == ""
        committed = items[storage.pk]
        assert (
            committed.commitment_type,
            committed.commitment_amount,
            committed.commitment_overage_factor,
            committed.commitment_true_up_enabled,
            committed.commitment_windowed,
        ) == ("amount", Decimal(10), Decimal("1.5"), True, True)

    def test_a_commitment_for_a_price_not_on_the_plan_writes_nothing(
        self, environment: Environment
    ) -> None:
        plan, *_ = self.plan_with_prices(environment)
        stranger = PriceFactory(environment=environment)
        with pytest.raises(ValidationFailed) as caught:
            subscription_create(
                environment=environment,
                customer=CustomerFactory(environment=environment),
                plan=plan,
                currency="usd",
                line_item_commitments={
                    stranger.pk: LineItemCommitment(commitment_type="amount", amount=Decimal(1))
                },
            )
        assert caught.value.details == {
            f"line_item_commitments.{stranger.pk}": f"Price {stranger.pk} is not one of the "
            f"prices this subscription gets from plan {plan.name}."
        }
        assert (Subscription.objects.count(), SubscriptionLineItem.objects.count()) == (0, 0)

    def test_an_invalid_commitment_writes_nothing(self, environment: Environment) -> None:
        plan, usage, *_ = self.plan_with_prices(environment)
        with pytest.raises(ValidationFailed) as caught:
            subscription_create(
                environment=environment,
                customer=CustomerFactory(environment=environment),
                plan=plan,
                currency="usd",
                line_item_commitments={
                    usage.pk: LineItemCommitment(commitment_type="quantity", windowed=True)
                },
            )
        prefix = f"line_item_commitments.{usage.pk}."
        assert caught.value.details == {
            f"{prefix}commitment_quantity": "A quantity commitment needs a quantity above 0.",
            f"{prefix}commitment_windowed": "A windowed commitment is applied per bucket, so "
            "it needs a price whose meter has a bucket size.",
        }
        assert (Subscription.objects.count(), SubscriptionLineItem.objects.count()) == (0, 0)

    def test_a_plan_without_prices_in_the_currency_is_refused(
        self, environment: Environment
    ) -> None:
        plan, *_ = self.plan_with_prices(environment)
        with pytest.raises(ValidationFailed) as caught:
            subscription_create(
                environment=environment,
                customer=CustomerFactory(environment=environment),
                plan=plan,
                currency="gbp",
            )
        assert caught.value.details == {
            "plan": f"Plan {plan.name} has no published gbp prices billed MONTHLY (every 1)."
        }
        assert Subscription.objects.count() == 0

    def test_customer_of_another_tenant_is_refused(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        plan, *_ = self.plan_with_prices(environment)
        foreign = CustomerFactory(environment=other_environment)
        with pytest.raises(ValidationFailed) as caught:
            subscription_create(
                environment=environment, customer=foreign, plan=plan, currency="usd"
            )
        assert caught.value.details == {
            "customer": f"There is no customer {foreign.pk} in this environment."
        }
        assert Subscription.objects.count() == 0

    def test_cancel_ends_the_subscription_and_its_line_items(
        self, environment: Environment
    ) -> None:
        plan, *_ = self.plan_with_prices(environment)
        subscription = subscription_create(
            environment=environment,
            customer=CustomerFactory(environment=environment),
            plan=plan,
            currency="usd",
            start_date=JAN_1,
        )
        cancelled_at = JAN_1 + timedelta(days=10)
        subscription_cancel(subscription=subscription, cancelled_at=cancelled_at)
        subscription.refresh_from_db()
        assert (
            subscription.subscription_status,
            subscription.cancelled_at,
            subscription.end_date,
            subscription.status,
        ) == ("cancelled", cancelled_at, cancelled_at, Status.PUBLISHED)
        end_dates = set(subscription.line_items.values_list("end_date", flat=True))
        assert end_dates == {cancelled_at}
        with pytest.raises(InvalidOperation):
            subscription_cancel(subscription=subscription)

    def test_line_item_commitment_update_sets_and_clears(self, environment: Environment) -> None:
        plan, usage, *_ = self.plan_with_prices(environment)
        subscription = subscription_create(
            environment=environment,
            customer=CustomerFactory(environment=environment),
            plan=plan,
            currency="usd",
        )
        item = subscription.line_items.get(price=usage)
        line_item_commitment_update(
            line_item=item,
            commitment=LineItemCommitment(commitment_type="quantity", quantity="1000"),  # type: ignore[arg-type]
        )
        item.refresh_from_db()
        assert (item.commitment_type, item.commitment_quantity) == ("quantity", Decimal(1000))
        with pytest.raises(ValidationFailed):
            line_item_commitment_update(
                line_item=item,
                commitment=LineItemCommitment(commitment_type="amount", amount=Decimal(0)),
            )
        item.refresh_from_db()
        assert item.commitment_type == "quantity"
        line_item_commitment_update(line_item=item, commitment=None)
        item.refresh_from_db()
        assert (item.commitment_type, item.commitment_quantity) == ("", None)

    def test_a_plan_with_open_subscriptions_is_not_deleted(self, environment: Environment) -> None:
        plan, *_ = self.plan_with_prices(environment)
        subscription = subscription_create(
            environment=environment,
            customer=CustomerFactory(environment=environment),
            plan=plan,
            currency="usd",
        )
        assert list(open_subscriptions_of(plan=plan)) == [subscription]
        with pytest.raises(InvalidOperation) as caught:
            plan_delete(plan=plan)
        assert caught.value.message == (
            f"Plan {plan.name} has 1 open subscription(s); cancel them first."
        )
        plan.refresh_from_db()
        assert plan.status == Status.PUBLISHED
        subscription_cancel(subscription=subscription)
        plan_delete(plan=plan)
        plan.refresh_from_db()
        assert plan.status == Status.DELETED
