"""The demo's usage events (seed_demo): a month of traffic, reproducible, seeded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.costs import cost_analytics
from analytics.demo import DemoEvents, demo_events_seed
from analytics.models import Event
from costsheets.demo import CUSTOMERS, catalogue_seed
from flexprice_site.models import Environment

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def test_the_demo_month_is_the_same_wherever_and_whenever_it_is_seeded(
    environment: Environment, other_environment: Environment
) -> None:
    for place in (environment, other_environment):
        catalogue_seed(environment=place, now=NOW)

    first = demo_events_seed(environment=environment, now=NOW)
    second = demo_events_seed(environment=other_environment, now=NOW)
    again = demo_events_seed(environment=environment, now=NOW)

    # 20 customers * 30 days * about 8.4 events, none after NOW
    assert first == second == DemoEvents(accepted=5048, duplicates=0, days=30)
    assert again == DemoEvents(accepted=0, duplicates=5048, days=30)
    stored = Event.objects.filter(environment=environment)
    assert stored.count() == 5048
    assert stored.filter(timestamp__gt=NOW).count() == 0
    assert (
        stored.filter(timestamp__lt=NOW.replace(hour=0, minute=0) - timedelta(days=29)).count() == 0
    )
    assert set(stored.values_list("external_customer_id", flat=True).distinct()) == {
        spec.external_id for spec in CUSTOMERS
    }
    start, end = NOW - timedelta(days=30), NOW
    here = cost_analytics(environment=environment, start=start, end=end)
    there = cost_analytics(environment=other_environment, start=start, end=end)
    assert (here.total_cost, here.total_revenue) == (there.total_cost, there.total_revenue)
    assert (here.is_empty, len(here.by_customer()), len(here.by_period())) == (False, 20, 30)


def test_seeding_a_day_later_adds_only_the_new_hours(environment: Environment) -> None:
    catalogue_seed(environment=environment, now=NOW)
    demo_events_seed(environment=environment, now=NOW)

    later = demo_events_seed(environment=environment, now=NOW + timedelta(days=1))

    stored = Event.objects.filter(environment=environment)
    # The rest of March 10 and March 11 up to 15:30 are new; March 10's morning is not.
    assert later.accepted == stored.filter(ingested_at=NOW + timedelta(days=1)).count()
    assert (
        later.accepted + later.duplicates
        == stored.filter(timestamp__gte=datetime(2026, 2, 10, tzinfo=UTC)).count()
    )
    assert later == DemoEvents(accepted=176, duplicates=4870, days=30)
