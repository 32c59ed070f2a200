"""A usage question's per-meter statements run side by side on their own connections
(analytics/metering/parallel.py) — and give exactly what one connection gives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from analytics.metering import UsageQuery, meter_usage, selectors, shared_answers
from costsheets.models import Meter
from flexprice_site.models import Environment
from flexprice_site.services import environment_get_or_create
from tests.analytics.test_metering import END, START, ingest, meter, utc


@pytest.fixture
def committed(transactional_db: None) -> Environment:
    """Committed events (other connections see only committed rows) and four meters."""
    environment = environment_get_or_create(tenant_name="Parallel", environment_name="prod")
    ingest(
        environment,
        *[
            {
                "timestamp": utc(2026, 1, 5, hour, minute),
                "external_customer_id": f"c{minute % 3}",
                "source": "api" if minute % 2 else "batch",
                "properties": {"tokens": hour * 100 + minute, "user": f"u{minute % 7}"},
            }
            for hour in (1, 9, 17)
            for minute in range(0, 60, 5)
        ],
    )
    return environment


@pytest.fixture
def threads_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the threads that ran each meter's statement."""
    seen: list[str] = []
    original = selectors._run_statement

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "_run_statement", recording)
    yield seen


def meters(environment: Environment) -> tuple[Meter, ...]:
    return (
        meter(environment, "SUM"),
        meter(environment, "MAX"),
        meter(environment, "COUNT"),
        meter(environment, "COUNT_UNIQUE", field="user"),
    )


def query(environment: Environment, chosen: tuple[Meter, ...]) -> UsageQuery:
    return UsageQuery(
        environment_id=environment.pk,
        meters=chosen,
        start=START,
        end=END,
        window_size="HOUR",
        group_by=("customer", "source"),
    )


def test_side_by_side_gives_what_one_connection_gives(
    committed: Environment, threads_seen: list[str]
) -> None:
    chosen = meters(committed)
    with override_settings(METERING_PARALLEL_STATEMENTS=1):
        one_by_one = meter_usage(query(committed, chosen))
    assert set(threads_seen) == {threading.current_thread().name}
    threads_seen.clear()

    with override_settings(METERING_PARALLEL_STATEMENTS=2):
        side_by_side = meter_usage(query(committed, chosen))

    assert side_by_side == one_by_one
    assert len(one_by_one) == 4 * 6  # 4 meters, 3 customers, 2 sources
    # In the order of the meters, whatever thread finished first.
    assert [series.meter_id for series in side_by_side][::6] == [m.pk for m in chosen]
    assert len(threads_seen) == 4
    assert all(name.startswith("metering") for name in threads_seen)


def test_inside_a_transaction_everything_stays_on_the_callers_connection(
    committed: Environment, threads_seen: list[str]
) -> None:
    chosen = meters(committed)
    with override_settings(METERING_PARALLEL_STATEMENTS=2), transaction.atomic():
        # An event the transaction has not committed: only this connection sees it.
        ingest(
            committed,
            {"timestamp": utc(2026, 1, 6, 3), "properties": {"tokens": 1}},
            now=utc(2026, 6, 2),
        )
        found = meter_usage(query(committed, chosen))

    assert set(threads_seen) == {threading.current_thread().name}
    assert sum(series.event_count for series in found if series.meter_id == chosen[2].pk) == 37


def test_shared_answers_hold_for_the_statement_threads(
    committed: Environment, threads_seen: list[str]
) -> None:
    chosen = meters(committed)
    with override_settings(METERING_PARALLEL_STATEMENTS=2), shared_answers():
        first = meter_usage(query(committed, chosen))
        again = meter_usage(query(committed, chosen))

    assert again == first
    assert len(threads_seen) == 4  # the second question was answered without a statement
