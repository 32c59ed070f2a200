"""The bench's price catalogue: every meter priced on a plan and a costsheet, made once."""

from __future__ import annotations

import pytest

from bench.billing import (
    PLAN_PRICES,
    PROVIDER_UNIT_COSTS,
    BenchPricing,
    bench_pricing,
    subscription_start,
)
from bench.catalogue import DATASET_ENVIRONMENT, BenchEnvironment, bench_environment
from bench.dataset import DatasetSpec, customer_id
from bench.queries import METERS
from costsheets.models import Feature, Price, Subscription, SubscriptionLineItem
from costsheets.selectors import active_costsheet_for, costsheet_prices

SMALL = DatasetSpec(events=3_000, seed=7, customers=20, days=3, users=200)


def priced_environment() -> tuple[BenchEnvironment, BenchPricing]:
    bench = bench_environment(DATASET_ENVIRONMENT, SMALL)
    pricing = bench_pricing(
        environment=bench.environment, meters=bench.meters, customers=bench.customers, spec=SMALL
    )
    return bench, pricing


@pytest.mark.django_db
def test_every_meter_has_a_feature_a_plan_price_and_a_provider_cost() -> None:
    # when the bench prices its data set's environment
    bench, pricing = priced_environment()

    # then each bench meter has its feature, its price on the plan and its cost on the costsheet
    assert set(PLAN_PRICES) == set(PROVIDER_UNIT_COSTS) == set(METERS)
    assert {key: feature.meter_id for key, feature in pricing.features.items()} == {
        key: meter.pk for key, meter in bench.meters.items()
    }
    plan_prices = Price.objects.filter(entity_id=pricing.plan.pk)
    assert sorted(plan_prices.exclude(meter=None).values_list("meter_id", flat=True)) == sorted(
        meter.pk for meter in bench.meters.values()
    )
    assert set(plan_prices.exclude(meter=None).values_list("billing_model", flat=True)) == {
        "FLAT_FEE",
        "PACKAGE",
        "TIERED",
    }
    assert plan_prices.filter(meter=None, type="FIXED").count() == 1
    # and the costsheet is the active one, with a per-unit cost for every meter
    assert active_costsheet_for(environment=bench.environment) == pricing.costsheet
    costs = {
        price.meter_id: price.amount
        for price in costsheet_prices(costsheet=pricing.costsheet, at=SMALL.start)
    }
    assert costs == {
        bench.meters[key].pk: unit_cost for key, unit_cost in PROVIDER_UNIT_COSTS.items()
    }


@pytest.mark.django_db
def test_every_customer_is_subscribed_from_before_the_first_day() -> None:
    # when the bench prices its data set's environment
    _, pricing = priced_environment()

    # then each of the data set's customers has one subscription to the plan, started before
    # the first event, with a line item per plan price (7 usage, 1 fixed)
    subscriptions = Subscription.objects.filter(plan=pricing.plan)
    assert sorted(subscriptions.values_list("customer__external_customer_id", flat=True)) == sorted(
        customer_id(rank) for rank in range(SMALL.customers)
    )
    assert set(subscriptions.values_list("start_date", flat=True)) == {subscription_start(SMALL)}
    assert subscription_start(SMALL) < SMALL.start
    assert SubscriptionLineItem.objects.filter(subscription__plan=pricing.plan).count() == 20 * 8
    assert (pricing.subscriptions, pricing.subscriptions_made) == (20, 20)


@pytest.mark.django_db
def test_a_second_run_reuses_the_catalogue() -> None:
    # given a priced environment
    bench, first = priced_environment()
    counts = (
        Feature.objects.count(),
        Price.objects.count(),
        Subscription.objects.count(),
        SubscriptionLineItem.objects.count(),
    )

    # when the bench prices it again
    again = bench_pricing(
        environment=bench.environment, meters=bench.meters, customers=bench.customers, spec=SMALL
    )

    # then it finds what it made and makes nothing
    assert (again.plan.pk, again.costsheet.pk) == (first.plan.pk, first.costsheet.pk)
    assert {key: feature.pk for key, feature in again.features.items()} == {
        key: feature.pk for key, feature in first.features.items()
    }
    assert (again.subscriptions, again.subscriptions_made) == (20, 0)
    assert (
        Feature.objects.count(),
        Price.objects.count(),
        Subscription.objects.count(),
        SubscriptionLineItem.objects.count(),
    ) == counts
