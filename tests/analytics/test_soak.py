"""The soak run's workload (`make soak`): what it sends is valid and counted, its report exact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from analytics.models import Event
from analytics.soak import (
    CUSTOMERS,
    Client,
    Observed,
    Worker,
    latency_table,
    percentile,
    set_up_catalogue,
)
from costsheets.models import Customer, Price, Subscription
from flexprice_site.services import api_key_create, environment_get_or_create

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]

    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)
    assert (percentile([7.0], 0.5), percentile([7.0], 0.99)) == (7.0, 7.0)
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_the_table_has_a_row_per_endpoint_with_its_statuses() -> None:
    first, second = Observed(), Observed()
    first.answers = [("POST /v1/events/bulk", 202, 0.010), ("PUT /v1/costs/{id}", 200, 0.004)]
    second.answers = [("POST /v1/events/bulk", 202, 0.030), ("POST /v1/events/bulk", 500, 0.020)]

    assert latency_table([first, second]) == [
        "endpoint              requests    p50 ms    p99 ms  statuses",
        "POST /v1/events/bulk         3      20.0      30.0  202: 2, 500: 1",
        "PUT /v1/costs/{id}           1       4.0       4.0  200: 1",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_worker_s_requests_are_valid_and_each_event_is_stored_once(live_server: Any) -> None:
    # Given the soak's catalogue, set up over HTTP as `make soak` does
    environment = environment_get_or_create(tenant_name="Soak", environment_name="production")
    key = api_key_create(environment=environment, name="soak").raw_key
    setup = Observed()
    setup_client = Client(live_server.url, key, setup)
    catalogue = set_up_catalogue(setup_client, now=NOW)
    setup_client.close()

    # When one worker makes every kind of request, ingesting six batches with re-sends
    observed = Observed()
    worker = Worker(0, Client(live_server.url, key, observed), catalogue, now=NOW, seed=14)
    for _ in range(6):
        worker.ingest()
    worker.usage()
    worker.cost()
    for _ in range(3):
        worker.catalogue_write()
    # (A connection kept open would keep the live server's thread, and its database session.)
    worker.client.close()

    # Then nothing failed, and every distinct event sent was accepted and stored once
    assert (setup.failures, observed.failures) == ([], [])
    assert (Customer.objects.count(), Subscription.objects.count()) == (CUSTOMERS + 1, CUSTOMERS)
    assert Price.objects.count() == 4
    assert len(observed.event_ids) == observed.accepted == Event.objects.count() == 1100
    assert observed.duplicates == 100
    assert sorted(route for route, _, _ in observed.answers) == [
        "POST /v1/costs/analytics-v2",
        "POST /v1/customers",
        "POST /v1/events/analytics",
        *["POST /v1/events/bulk"] * 6,
        "PUT /v1/costs/{id}",
        "PUT /v1/customers/{id}",
    ]
