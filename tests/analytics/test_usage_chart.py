"""The usage chart on a meter's admin page: 30 days of daily usage and the top customers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.admin.utils import quote
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from analytics.services import events_ingest
from costsheets.models import AggregationType, Meter
from flexprice_site.demo import pricing_ops_group
from flexprice_site.models import Environment, User
from tests.factories import CustomerFactory, MeterFactory, SubscriptionLineItemFactory

NOW = datetime(2026, 2, 14, 15, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def staff(environment: Environment) -> Client:
    user = User.objects.create_user(
        username="ops", password="pw-123456!", is_staff=True, tenant=environment.tenant
    )
    user.groups.add(pricing_ops_group())
    client = Client()
    client.force_login(user)
    return client


def page(meter: Meter) -> str:
    return f"/admin/costsheets/meter/{quote(meter.pk)}/change/"


def send(environment: Environment, *events: tuple[str, str, int]) -> None:
    """(customer, timestamp, tokens) events, stored by the ingestion service."""
    report = events_ingest(
        environment=environment,
        payloads=[
            {
                "event_name": "llm_call",
                "external_customer_id": customer,
                "timestamp": at,
                "properties": {"tokens": tokens},
            }
            for customer, at, tokens in events
        ],
    )
    assert all(result.outcome == "accepted" for result in report.results)


def test_the_meter_page_charts_30_days_and_the_top_customers(
    environment: Environment, staff: Client
) -> None:
    # Given a SUM meter, a customer on $0.01 per token and another without a subscription
    meter = MeterFactory(
        environment=environment,
        event_name="llm_call",
        aggregation_type=AggregationType.SUM,
        aggregation_field="tokens",
    )
    paying = CustomerFactory(environment=environment, external_customer_id="paying")
    SubscriptionLineItemFactory(
        environment=environment,
        subscription__customer=paying,
        subscription__start_date=datetime(2026, 1, 1, tzinfo=UTC),
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        price__meter=meter,
        price__amount=Decimal("0.01"),
    )
    send(
        environment,
        ("paying", "2026-01-15T23:59:59Z", 999),  # a day before the 30 days
        ("paying", "2026-01-16T00:00:00Z", 100),
        ("paying", "2026-02-14T09:00:00Z", 50),
        ("free", "2026-02-10T12:00:00Z", 500),
        ("free", "2026-02-14T15:29:59Z", 1),
    )

    response = staff.get(page(meter))

    # Then the chart covers 16 January to today, every day listed
    assert response.status_code == 200
    chart = response.context["usage_chart"]
    data = chart["data"]
    assert (len(data["labels"]), data["labels"][0], data["labels"][-1]) == (
        30,
        "2026-01-16",
        "2026-02-14",
    )
    assert [
        (label, usage, events)
        for label, usage, events in zip(data["labels"], data["usage"], data["events"], strict=True)
        if events
    ] == [("2026-01-16", "100", 1), ("2026-02-10", "500", 1), ("2026-02-14", "51", 2)]
    assert (chart["total_usage"], chart["chart"].event_count) == ("651", 4)
    # And the customers who used it most, with what their line items earned
    assert chart["customers"] == [
        {
            "external_customer_id": "free",
            "usage": "501",
            "event_count": 2,
            "revenue": "0",
            "currency": "USD",
        },
        {
            "external_customer_id": "paying",
            "usage": "150",
            "event_count": 2,
            "revenue": "1.5",
            "currency": "USD",
        },
    ]
    assert (data["customers"], data["customer_usage"]) == (["free", "paying"], ["501", "150"])
    html = response.content.decode()
    assert '<script src="/static/vendor/chart.js/chart.umd.min.js"></script>' in html
    assert 'id="meter-usage-data"' in html


def test_a_meter_without_events_says_so(environment: Environment, staff: Client) -> None:
    meter = MeterFactory(environment=environment)

    response = staff.get(page(meter))

    assert response.status_code == 200
    assert response.context["usage_chart"]["chart"].event_count == 0
    assert "No events in the last 30 days." in response.content.decode()
    assert "chart.umd.min.js" not in response.content.decode()


@pytest.mark.parametrize("customers", [1, 8])
def test_the_chart_costs_no_more_queries_with_more_customers(
    environment: Environment,
    staff: Client,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    customers: int,
) -> None:
    meter = MeterFactory(
        environment=environment,
        event_name="llm_call",
        aggregation_type=AggregationType.SUM,
        aggregation_field="tokens",
    )
    for number in range(customers):
        SubscriptionLineItemFactory(
            environment=environment,
            subscription__customer=CustomerFactory(
                environment=environment, external_customer_id=f"c{number}"
            ),
            subscription__start_date=datetime(2026, 1, 1, tzinfo=UTC),
            start_date=datetime(2026, 1, 1, tzinfo=UTC),
            price__meter=meter,
        )
    send(environment, *[(f"c{number}", "2026-02-10T12:00:00Z", 5) for number in range(customers)])
    staff.get(page(meter))  # warm the admin's own caches (content types, permissions)

    # With several customers, the top-customers series (usage by customer) and their line
    # items' revenue are one engine question, asked once: 19 queries (customers are read on
    # their own for every customer's line items); 20 with one customer.
    with django_assert_max_num_queries(20):
        response = staff.get(page(meter))

    assert len(response.context["usage_chart"]["customers"]) == customers
