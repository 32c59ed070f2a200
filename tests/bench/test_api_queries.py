"""The bench's analytics-endpoint rows: their request bodies are answered, and checked (no
timing)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine

from bench.api_queries import (
    API_QUERY_SET,
    COST_PATH,
    USAGE_PATH,
    answer_check,
    api_customers,
    request_body,
)
from bench.http_ingest import ingest_events
from bench.queries import sampled_customers
from tests.bench.test_billing import SMALL, priced_environment
from tests.conftest import keyed_client


def test_request_bodies() -> None:
    heaviest, tenant = API_QUERY_SET[0], API_QUERY_SET[1]

    assert request_body(heaviest, SMALL, "customer-0000") == {
        "start_time": "2026-08-05T00:00:00Z",
        "end_time": "2026-09-04T00:00:00Z",
        "window_size": "HOUR",
        "external_customer_id": "customer-0000",
    }
    assert request_body(tenant, SMALL, None) == {
        "start_time": "2026-08-28T00:00:00Z",
        "end_time": "2026-09-04T00:00:00Z",
        "window_size": "DAY",
    }
    assert [api_customers(query, SMALL) for query in API_QUERY_SET] == [
        ["customer-0000"],
        [None],
        [None],
        ["customer-0000"],
        sampled_customers(SMALL),
    ]


def test_an_answer_without_items_or_money_fails_the_row() -> None:
    usage = API_QUERY_SET[0]
    good = {"items": [{"feature_id": "feat_1"}], "total_cost": "3.5", "currency": "usd"}

    assert answer_check(usage, 200, json.dumps(good).encode()).ok is True
    assert answer_check(usage, 500, b"boom").note == "HTTP 500: boom"
    assert answer_check(usage, 200, json.dumps({**good, "items": []}).encode()).note == (
        "200 with no items"
    )
    assert answer_check(usage, 200, json.dumps({**good, "total_cost": "0"}).encode()).note == (
        "200 with total_cost 0"
    )
    assert answer_check(usage, 200, b"<html>").ok is False


@pytest.mark.django_db
@pytest.mark.parametrize("query", API_QUERY_SET, ids=lambda query: query.key)
def test_each_body_is_answered_with_priced_usage(query) -> None:
    # given the small data set's last day posted to the priced environment, as clients post it
    bench, pricing = priced_environment()
    api = keyed_client(bench.environment)
    with time_machine.travel(SMALL.end + timedelta(minutes=1), tick=False):
        events = ingest_events(SMALL, "test", SMALL.end)
        for start in range(0, len(events), 1_000):
            response = api.client.post(
                "/v1/events/bulk", {"events": events[start : start + 1_000]}, format="json"
            )
            assert response.status_code == 202, response.json()

        # when each of the row's bodies is posted to its endpoint
        for customer in api_customers(query, SMALL):
            response = api.client.post(
                query.path, request_body(query, SMALL, customer), format="json"
            )

            # then the answer is a 200 the bench counts as good, with every meter in it
            assert response.status_code == 200, response.content
            assert answer_check(query, 200, response.content).ok is True, response.content
            answer = response.json()
            if query.path == USAGE_PATH:
                assert {item["feature_id"] for item in answer["items"]} == {
                    feature.pk for feature in pricing.features.values()
                }
                assert answer["currency"] == "usd"
            else:
                assert query.path == COST_PATH
                assert answer["costsheet_id"] == pricing.costsheet.pk
                if customer is not None:
                    assert {item["meter_id"] for item in answer["cost_analytics"]} == {
                        meter.pk for meter in bench.meters.values()
                    }
                    assert {item["external_customer_id"] for item in answer["cost_analytics"]} == {
                        customer
                    }
