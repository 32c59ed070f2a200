"""The bench's data set is reproducible and has the promised shape (no timing here)."""

from __future__ import annotations

import numpy as np

from bench.dataset import (
    EVENT_NAMES,
    DatasetSpec,
    chunks,
    customer_weights,
    timestamps_text,
)

SMALL = DatasetSpec(events=20_000, seed=7, customers=50, days=3, users=500)


def _whole(spec: DatasetSpec) -> dict[str, np.ndarray]:
    parts = list(chunks(spec))
    return {
        name: np.concatenate([getattr(chunk, name) for chunk in parts])
        for name in ("timestamp_us", "customer", "event_name", "user", "tokens")
    }


def test_same_seed_gives_the_same_events() -> None:
    # given two generators of one spec
    first, second = next(chunks(SMALL)), next(chunks(SMALL))

    # then their events are equal, down to the first ones' exact values
    assert timestamps_text(first)[:2] == timestamps_text(second)[:2]
    assert first.customer[:5].tolist() == second.customer[:5].tolist()
    for name in ("timestamp_us", "customer", "event_name", "model", "region", "tokens", "user"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name


def test_the_first_events_are_pinned() -> None:
    # a change to the generator changes every published bench number: it must be deliberate
    chunk = next(chunks(SMALL))

    assert timestamps_text(chunk)[:2] == [
        "2026-09-01T00:00:22.311946Z",
        "2026-09-01T00:00:28.861284Z",
    ]
    assert chunk.customer[:5].tolist() == [5, 34, 0, 8, 0]
    assert chunk.event_name[:5].tolist() == [0, 1, 3, 4, 3]
    assert chunk.tokens[:3].tolist() == [246, 378, 347]


def test_another_seed_gives_other_events() -> None:
    other = DatasetSpec(events=20_000, seed=8, customers=50, days=3, users=500)

    assert not np.array_equal(next(chunks(SMALL)).customer, next(chunks(other)).customer)


def test_shape() -> None:
    # when the whole small data set is made
    events = _whole(SMALL)

    # then it has every event, in timestamp order, each timestamp distinct, inside the days
    assert len(events["timestamp_us"]) == 20_000
    assert bool(np.all(np.diff(events["timestamp_us"]) > 0))
    start_us = int(SMALL.start.timestamp()) * 1_000_000
    assert int(events["timestamp_us"][0]) >= start_us
    assert int(events["timestamp_us"][-1]) < start_us + 3 * 86_400 * 1_000_000
    # five event names, customers and users within their counts
    assert sorted(set(events["event_name"].tolist())) == [0, 1, 2, 3, 4]
    assert len(EVENT_NAMES) == 5
    assert set(events["customer"].tolist()) <= set(range(50))
    assert len(set(events["user"].tolist())) == 500
    assert int(events["tokens"].min()) >= 1
    assert SMALL.name == "s7-n20000-c50-d3-u500-20260901"


def test_the_heaviest_customer_has_about_18_percent_of_a_thousand() -> None:
    weights = customer_weights(DatasetSpec(events=1, customers=1_000))

    assert round(float(weights[0]), 4) == 0.1794
    assert bool(np.all(np.diff(weights) < 0))


def test_the_data_set_spans_blocks_without_gaps() -> None:
    # 600,000 events are three blocks (250k, 250k, 100k), still one ordered sequence
    spec = DatasetSpec(events=600_000, seed=1, customers=10, days=30, users=100)
    parts = list(chunks(spec))

    assert [len(part) for part in parts] == [250_000, 250_000, 100_000]
    assert [part.offset for part in parts] == [0, 250_000, 500_000]
    assert int(parts[0].timestamp_us[-1]) < int(parts[1].timestamp_us[0])
    assert int(parts[1].timestamp_us[-1]) < int(parts[2].timestamp_us[0])
