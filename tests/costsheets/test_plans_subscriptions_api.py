"""The plans and subscriptions API: plan prices, subscribing with commitments, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from pytest_django import DjangoAssertNumQueries

from costsheets.models import Plan, Price, Subscription, SubscriptionLineItem
from costsheets.services import subscription_period_end
from flexprice_site.models import Environment, Status
from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error, ids_of
from tests.factories import (
    CustomerFactory,
    PlanFactory,
    PriceFactory,
    SubscriptionFactory,
)

PLANS = "/v1/plans"
SUBSCRIPTIONS = "/v1/subscriptions"


def plan_with_prices(environment: Environment) -> tuple[Plan, Price, Price]:
    """A plan with a $0.5 usage price and a $20 fixed monthly price."""
    plan = PlanFactory(environment=environment)
    usage = PriceFactory(environment=environment, owner=plan, amount=Decimal("0.5"))
    fixed = PriceFactory(
        environment=environment, owner=plan, type="FIXED", meter=None, amount=Decimal(20)
    )
    return plan, usage, fixed


class TestPlans:
    def test_create_get_update_delete(self, api: KeyedClient) -> None:
        created = api.client.post(
            PLANS, {"name": "Pro", "lookup_key": "pro", "description": "For teams"}, format="json"
        )
        plan = Plan.objects.get()
        assert created.status_code == 201
        assert (created.json()["id"], created.json()["prices"]) == (plan.pk, [])
        price = PriceFactory(environment=api.environment, owner=plan)
        got = api.client.get(f"{PLANS}/{plan.pk}").json()
        assert [item["id"] for item in got["prices"]] == [price.pk]
        updated = api.client.put(f"{PLANS}/{plan.pk}", {"name": "Pro+"}, format="json").json()
        assert (updated["name"], updated["lookup_key"]) == ("Pro+", "pro")
        deleted = api.client.delete(f"{PLANS}/{plan.pk}")
        assert deleted.json() == {"message": f"Plan {plan.pk} deleted."}
        plan.refresh_from_db()
        assert plan.status == Status.DELETED

    def test_a_plan_with_open_subscriptions_stays(self, api: KeyedClient) -> None:
        subscription = SubscriptionFactory(environment=api.environment)
        response = api.client.delete(f"{PLANS}/{subscription.plan_id}")
        assert assert_error(response, status=400, code="invalid_operation")["details"] == {
            "subscriptions": 1
        }
        assert Plan.objects.get().status == Status.PUBLISHED

    def test_list_filters_and_isolation(self, api: KeyedClient, other_api: KeyedClient) -> None:
        pro = PlanFactory(environment=api.environment, name="Pro", lookup_key="pro")
        basic = PlanFactory(environment=api.environment, name="Basic")
        foreign = PlanFactory(environment=other_api.environment)
        assert ids_of(api.client.get(PLANS)) == [basic.pk, pro.pk]
        assert ids_of(api.client.get(PLANS, {"lookup_key": "pro"})) == [pro.pk]
        assert ids_of(api.client.get(PLANS, {"name": "bas"})) == [basic.pk]
        assert_error(api.client.get(f"{PLANS}/{foreign.pk}"), status=404, code="not_found")

    @pytest.mark.parametrize("rows", [1, 20])
    def test_list_query_budget(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries, rows: int
    ) -> None:
        PlanFactory.create_batch(rows, environment=api.environment)
        with django_assert_num_queries(4):
            response = api.client.get(PLANS)
        assert response.json()["pagination"]["total"] == rows


class TestSubscribe:
    def test_the_plans_prices_become_line_items_with_commitments(self, api: KeyedClient) -> None:
        plan, usage, fixed = plan_with_prices(api.environment)
        customer = CustomerFactory(environment=api.environment)
        response = api.client.post(
            SUBSCRIPTIONS,
            {
                "customer_id": customer.pk,
                "plan_id": plan.pk,
                "currency": "USD",
                "billing_period": "MONTHLY",
                "start_date": "2026-01-01T00:00:00Z",
                "line_item_commitments": {
                    usage.pk: {
                        "commitment_type": "amount",
                        "commitment_amount": 10,
                        "overage_factor": 1.5,
                        "enable_true_up": True,
                    }
                },
            },
            format="json",
        )
        body = response.json()
        subscription = Subscription.objects.get()
        assert response.status_code == 201
        assert body["id"] == subscription.pk
        assert body["id"].startswith("subs_")
        assert (body["customer_id"], body["plan_id"], body["currency"]) == (
            customer.pk,
            plan.pk,
            "usd",
        )
        assert (body["start_date"], body["billing_anchor"], body["end_date"]) == (
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            None,
        )
        assert body["subscription_status"] == "active"
        by_price = {item["price_id"]: item for item in body["line_items"]}
        assert set(by_price) == {usage.pk, fixed.pk}
        committed = by_price[usage.pk]
        assert {key: committed[key] for key in committed if key.startswith("commitment_")} == {
            "commitment_type": "amount",
            "commitment_amount": "10",
            "commitment_quantity": None,
            "commitment_overage_factor": "1.5",
            "commitment_true_up_enabled": True,
            "commitment_windowed": False,
            "commitment_duration": None,
        }
        assert (committed["customer_id"], committed["meter_id"], committed["quantity"]) == (
            customer.pk,
            usage.meter_id,
            "0",
        )
        assert (by_price[fixed.pk]["commitment_type"], by_price[fixed.pk]["quantity"]) == (
            None,
            "1",
        )
        line_item = SubscriptionLineItem.objects.get(price=usage)
        assert line_item.commitment_overage_factor == Decimal("1.5")

    def test_the_customer_can_be_named_by_external_id(self, api: KeyedClient) -> None:
        plan, _, _ = plan_with_prices(api.environment)
        customer = CustomerFactory(environment=api.environment, external_customer_id="acme")
        response = api.client.post(
            SUBSCRIPTIONS,
            {"external_customer_id": "acme", "plan_id": plan.pk, "currency": "usd"},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["customer_id"] == customer.pk

    @pytest.mark.parametrize(
        ("change", "details"),
        [
            (
                {"customer_id": None},
                {"customer_id": ["Give customer_id or external_customer_id (one of them)."]},
            ),
            (
                {"external_customer_id": "nobody", "customer_id": None},
                {
                    "external_customer_id": [
                        "There is no customer with external id nobody in this environment."
                    ]
                },
            ),
            (
                {"commitment_amount": "100"},
                {"commitment_amount": ["Give commitments per price in line_item_commitments."]},
            ),
            (
                {"subscription_status": "cancelled"},
                {"subscription_status": ["A new subscription cannot be cancelled."]},
            ),
            (
                {"currency": "eur"},
                {"plan_id": "Plan {plan} has no published eur prices billed MONTHLY (every 1)."},
            ),
            (
                {"line_item_commitments": {"price_elsewhere": {"commitment_type": "amount"}}},
                {
                    "line_item_commitments.price_elsewhere": "Price price_elsewhere is not one of "
                    "the prices this subscription gets from plan {plan}."
                },
            ),
            (
                {
                    "line_item_commitments": {
                        "{usage}": {
                            "commitment_type": "amount",
                            "commitment_amount": "10",
                            "overage_factor": "0.5",
                        }
                    }
                },
                {
                    "line_item_commitments.{usage}.overage_factor": "The overage factor is 0.5; "
                    "it must be at least 1 (1 charges usage above the commitment at the normal "
                    "price)."
                },
            ),
        ],
    )
    def test_bad_input_is_400_naming_the_field_and_writes_nothing(
        self, api: KeyedClient, change: dict[str, object], details: dict[str, object]
    ) -> None:
        plan, usage, _ = plan_with_prices(api.environment)
        customer = CustomerFactory(environment=api.environment)
        body = {"customer_id": customer.pk, "plan_id": plan.pk, "currency": "usd"}
        body.update(change)
        body = {key: value for key, value in body.items() if value is not None}
        if "line_item_commitments" in body:
            commitments = body["line_item_commitments"]
            body["line_item_commitments"] = {
                key.replace("{usage}", usage.pk): value for key, value in commitments.items()
            }
        response = api.client.post(SUBSCRIPTIONS, body, format="json")
        expected = {
            key.replace("{usage}", usage.pk): (
                value.replace("{plan}", plan.name) if isinstance(value, str) else value
            )
            for key, value in details.items()
        }
        assert assert_error(response, status=400)["details"] == expected
        assert (Subscription.objects.count(), SubscriptionLineItem.objects.count()) == (0, 0)

    def test_another_tenants_plan_is_refused_like_a_missing_one(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        foreign_plan, _, _ = plan_with_prices(other_api.environment)
        customer = CustomerFactory(environment=api.environment)
        response = api.client.post(
            SUBSCRIPTIONS,
            {"customer_id": customer.pk, "plan_id": foreign_plan.pk, "currency": "usd"},
            format="json",
        )
        assert assert_error(response, status=400)["details"] == {
            "plan_id": [f"There is no plan {foreign_plan.pk} in this environment."]
        }
        assert Subscription.objects.count() == 0


class TestReadAndList:
    def test_get_and_isolation(self, api: KeyedClient, other_api: KeyedClient) -> None:
        own = SubscriptionFactory(environment=api.environment)
        foreign = SubscriptionFactory(environment=other_api.environment)
        assert api.client.get(f"{SUBSCRIPTIONS}/{own.pk}").json()["id"] == own.pk
        assert_error(api.client.get(f"{SUBSCRIPTIONS}/{foreign.pk}"), status=404, code="not_found")
        assert ids_of(api.client.get(SUBSCRIPTIONS)) == [own.pk]

    def test_list_filters(self, api: KeyedClient) -> None:
        acme = CustomerFactory(environment=api.environment, external_customer_id="acme")
        first = SubscriptionFactory(environment=api.environment, customer=acme)
        second = SubscriptionFactory(
            environment=api.environment, subscription_status="cancelled", currency="eur"
        )
        get = api.client.get
        assert ids_of(get(SUBSCRIPTIONS, {"external_customer_id": "acme"})) == [first.pk]
        assert ids_of(get(SUBSCRIPTIONS, {"customer_id": acme.pk})) == [first.pk]
        assert ids_of(get(SUBSCRIPTIONS, {"plan_id": second.plan_id})) == [second.pk]
        assert ids_of(get(SUBSCRIPTIONS, {"subscription_status": "cancelled"})) == [second.pk]
        assert ids_of(get(SUBSCRIPTIONS, {"currency": "EUR"})) == [second.pk]

    @pytest.mark.parametrize("rows", [1, 20])
    def test_list_query_budget(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries, rows: int
    ) -> None:
        for _ in range(rows):
            plan, _, _ = plan_with_prices(api.environment)
            api.client.post(
                SUBSCRIPTIONS,
                {
                    "customer_id": CustomerFactory(environment=api.environment).pk,
                    "plan_id": plan.pk,
                    "currency": "usd",
                },
                format="json",
            )
        # the key was used just now, so no last-used update: key, count, page, line items
        with django_assert_num_queries(4):
            response = api.client.get(SUBSCRIPTIONS)
        assert response.json()["pagination"]["total"] == rows
        assert len(response.json()["items"][0]["line_items"]) == 2


class TestCancel:
    def subscribe(self, api: KeyedClient, **fields: object) -> Subscription:
        plan, _, _ = plan_with_prices(api.environment)
        response = api.client.post(
            SUBSCRIPTIONS,
            {
                "customer_id": CustomerFactory(environment=api.environment).pk,
                "plan_id": plan.pk,
                "currency": "usd",
                **fields,
            },
            format="json",
        )
        return Subscription.objects.get(pk=response.json()["id"])

    def test_immediate_cancel_ends_the_subscription_and_its_line_items(
        self, api: KeyedClient
    ) -> None:
        subscription = self.subscribe(api, start_date="2026-01-01T00:00:00Z")
        with time_machine.travel("2026-02-10T12:00:00Z", tick=False):
            response = api.client.post(
                f"{SUBSCRIPTIONS}/{subscription.pk}/cancel",
                {"cancellation_type": "immediate", "reason": "too expensive"},
                format="json",
            )
        assert response.json() == {
            "subscription_id": subscription.pk,
            "cancellation_type": "immediate",
            "effective_date": "2026-02-10T12:00:00Z",
            "status": "cancelled",
            "reason": "too expensive",
            "message": f"Subscription {subscription.pk} is cancelled as of 2026-02-10T12:00:00Z.",
            "processed_at": "2026-02-10T12:00:00Z",
        }
        subscription.refresh_from_db()
        assert subscription.subscription_status == "cancelled"
        ends = set(subscription.line_items.values_list("end_date", flat=True))
        assert ends == {datetime(2026, 2, 10, 12, tzinfo=UTC)}

    def test_end_of_period_cancels_at_the_next_anchor_day(self, api: KeyedClient) -> None:
        subscription = self.subscribe(api, start_date="2026-01-31T00:00:00Z")
        with time_machine.travel("2026-02-10T00:00:00Z", tick=False):
            response = api.client.post(
                f"{SUBSCRIPTIONS}/{subscription.pk}/cancel",
                {"cancellation_type": "end_of_period"},
                format="json",
            )
        assert response.json()["effective_date"] == "2026-02-28T00:00:00Z"
        subscription.refresh_from_db()
        assert subscription.end_date == datetime(2026, 2, 28, tzinfo=UTC)

    def test_scheduled_date_needs_cancel_at(self, api: KeyedClient) -> None:
        subscription = self.subscribe(api)
        url = f"{SUBSCRIPTIONS}/{subscription.pk}/cancel"
        missing = api.client.post(url, {"cancellation_type": "scheduled_date"}, format="json")
        assert assert_error(missing, status=400)["details"] == {
            "cancel_at": ["Give cancel_at for scheduled_date."]
        }
        subscription.refresh_from_db()
        assert subscription.subscription_status == "active"
        given = api.client.post(
            url,
            {"cancellation_type": "scheduled_date", "cancel_at": "2030-05-01T00:00:00Z"},
            format="json",
        )
        assert given.json()["effective_date"] == "2030-05-01T00:00:00Z"

    def test_cancelling_twice_is_refused(self, api: KeyedClient) -> None:
        subscription = self.subscribe(api)
        url = f"{SUBSCRIPTIONS}/{subscription.pk}/cancel"
        assert api.client.post(url, {}, format="json").status_code == 200
        assert_error(api.client.post(url, {}, format="json"), status=400, code="invalid_operation")

    def test_another_tenants_subscription_cannot_be_cancelled(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        foreign = SubscriptionFactory(environment=other_api.environment)
        response = api.client.post(f"{SUBSCRIPTIONS}/{foreign.pk}/cancel", {}, format="json")
        assert_error(response, status=404, code="not_found")
        foreign.refresh_from_db()
        assert foreign.subscription_status == "active"


class TestLineItemCommitment:
    def line_item(self, api: KeyedClient) -> SubscriptionLineItem:
        plan = PlanFactory(environment=api.environment)
        PriceFactory(environment=api.environment, owner=plan)
        response = api.client.post(
            SUBSCRIPTIONS,
            {
                "customer_id": CustomerFactory(environment=api.environment).pk,
                "plan_id": plan.pk,
                "currency": "usd",
            },
            format="json",
        )
        return SubscriptionLineItem.objects.get(subscription_id=response.json()["id"])

    def test_set_change_and_remove(self, api: KeyedClient) -> None:
        line_item = self.line_item(api)
        url = f"{SUBSCRIPTIONS}/lineitems/{line_item.pk}"
        set_ = api.client.put(
            url,
            {"commitment_type": "quantity", "commitment_quantity": "1000"},
            format="json",
        )
        assert (set_.json()["commitment_type"], set_.json()["commitment_quantity"]) == (
            "quantity",
            "1000",
        )
        changed = api.client.put(url, {"commitment_overage_factor": 2}, format="json").json()
        assert (changed["commitment_quantity"], changed["commitment_overage_factor"]) == (
            "1000",
            "2",
        )
        removed = api.client.put(url, {"commitment_type": None}, format="json").json()
        assert (removed["commitment_type"], removed["commitment_quantity"]) == (None, None)
        line_item.refresh_from_db()
        assert (line_item.commitment_type, line_item.commitment_quantity) == ("", None)

    def test_invalid_commitments_and_other_fields_are_refused(self, api: KeyedClient) -> None:
        line_item = self.line_item(api)
        url = f"{SUBSCRIPTIONS}/lineitems/{line_item.pk}"
        windowed = api.client.put(
            url,
            {"commitment_type": "amount", "commitment_amount": "5", "commitment_windowed": True},
            format="json",
        )
        assert assert_error(windowed, status=400)["details"] == {
            "commitment_windowed": "A windowed commitment is applied per bucket, so it needs a "
            "price whose meter has a bucket size."
        }
        amount = api.client.put(url, {"amount": "3"}, format="json")
        assert assert_error(amount, status=400)["details"] == {
            "amount": ["Only a line item's commitment can be changed."]
        }
        line_item.refresh_from_db()
        assert line_item.commitment_type == ""

    def test_another_tenants_line_item_is_a_404(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        foreign = self.line_item(other_api)
        response = api.client.put(
            f"{SUBSCRIPTIONS}/lineitems/{foreign.pk}",
            {"commitment_type": "amount", "commitment_amount": "5"},
            format="json",
        )
        assert_error(response, status=404, code="not_found")
        foreign.refresh_from_db()
        assert foreign.commitment_type == ""


class TestPeriodEnd:
    @pytest.mark.parametrize(
        ("period", "count", "anchor", "after", "end"),
        [
            ("MONTHLY", 1, "2026-01-31", "2026-02-10", "2026-02-28"),
            ("MONTHLY", 1, "2026-01-31", "2026-02-28", "2026-03-31"),
            ("MONTHLY", 1, "2026-01-15", "2026-01-15", "2026-02-15"),
            ("MONTHLY", 2, "2026-01-15", "2026-03-20", "2026-05-15"),
            ("QUARTERLY", 1, "2026-01-01", "2026-05-01", "2026-07-01"),
            ("ANNUAL", 1, "2024-02-29", "2025-03-01", "2026-02-28"),
            ("WEEKLY", 1, "2026-01-05", "2026-01-20", "2026-01-26"),
            ("DAILY", 3, "2026-01-01", "2026-01-07", "2026-01-10"),
            ("MONTHLY", 1, "2026-06-01", "2026-03-01", "2026-07-01"),
        ],
    )
    def test_the_first_boundary_after_the_moment(
        self, period: str, count: int, anchor: str, after: str, end: str
    ) -> None:
        subscription = Subscription(
            billing_anchor=datetime.fromisoformat(f"{anchor}T00:00:00+00:00"),
            billing_period=period,
            billing_period_count=count,
        )
        moment = datetime.fromisoformat(f"{after}T00:00:00+00:00")
        result = subscription_period_end(subscription=subscription, after=moment)
        assert result == datetime.fromisoformat(f"{end}T00:00:00+00:00")

    def test_one_time_billing_ends_at_once(self) -> None:
        moment = datetime(2026, 5, 5, tzinfo=UTC)
        subscription = Subscription(
            billing_anchor=datetime(2026, 1, 1, tzinfo=UTC), billing_period="ONETIME"
        )
        assert subscription_period_end(subscription=subscription, after=moment) == moment
