"""The bench's data set: reproducible usage events from a seed, generated in chunks with numpy.

Customers' activity is Zipf-skewed (exponent 1.1 over 1,000 customers puts ~18% of all events
on the heaviest one), five event names, thirty days, and every event carries the properties
`model`, `tokens`, `region` and `user_id` (100,000 distinct users). Events come out in timestamp
order, as a live system receives them, and every timestamp is distinct (to the microsecond), so
LATEST has one right answer without a tie-break.

Columns are integer codes; `*_NAMES` and the `*_text` helpers turn them into the strings that are
stored, so PostgreSQL and DuckDB are loaded from the very same arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

EVENT_NAMES = ("api_request", "llm_completion", "embedding", "image_generation", "file_upload")
EVENT_NAME_WEIGHTS = (0.35, 0.30, 0.15, 0.10, 0.10)
MODELS = ("gpt-4o", "gpt-4o-mini", "o3-mini", "claude-sonnet-4", "llama-3.1-70b")
MODEL_WEIGHTS = (0.30, 0.30, 0.15, 0.15, 0.10)
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")
REGION_WEIGHTS = (0.35, 0.20, 0.25, 0.10, 0.10)
SOURCE = "bench"
ZIPF_EXPONENT = 1.1
DEFAULT_START = datetime(2026, 9, 1, tzinfo=UTC)
# Events are made in blocks of this many, each from its own random stream: part of the data set's
# definition, so changing it changes the events.
BLOCK_SIZE = 250_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DatasetSpec:
    events: int = 10_000_000
    seed: int = 42
    customers: int = 1_000
    days: int = 30
    users: int = 100_000
    start: datetime = DEFAULT_START

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def name(self) -> str:
        """Identifies the data set: the same name means the same events, byte for byte."""
        return (
            f"s{self.seed}-n{self.events}-c{self.customers}-d{self.days}-u{self.users}"
            f"-{self.start:%Y%m%d}"
        )


@dataclass(frozen=True)
class Chunk:
    """Events `offset … offset + len(self) - 1` of a data set, as parallel arrays of codes."""

    offset: int
    timestamp_us: np.ndarray  # int64 microseconds since the Unix epoch, strictly increasing
    customer: np.ndarray  # int: customer rank, 0 = heaviest
    event_name: np.ndarray  # int: index into EVENT_NAMES
    model: np.ndarray  # int: index into MODELS
    region: np.ndarray  # int: index into REGIONS
    tokens: np.ndarray  # int64 ≥ 1
    user: np.ndarray  # int: 0 … users - 1

    def __len__(self) -> int:
        return len(self.timestamp_us)


def customer_id(rank: int) -> str:
    return f"customer-{rank:04d}"


def user_id(index: int) -> str:
    return f"user-{index:05d}"


def event_id(spec: DatasetSpec, index: int) -> str:
    return f"s{spec.seed}-{index:010d}"


def customer_weights(spec: DatasetSpec) -> np.ndarray:
    """Zipf-like share of all events per customer rank (rank 0 is the heaviest)."""
    weights = np.arange(1, spec.customers + 1, dtype=np.float64) ** -ZIPF_EXPONENT
    return weights / weights.sum()


def _probabilities(weights: tuple[float, ...]) -> np.ndarray:
    array = np.asarray(weights, dtype=np.float64)
    return array / array.sum()


def _chunk(spec: DatasetSpec, offset: int, size: int, weights: np.ndarray) -> Chunk:
    # Each chunk has its own stream, derived from (seed, offset): any chunk can be made alone and
    # the data set does not depend on the order chunks are consumed in.
    rng = np.random.default_rng([spec.seed, offset])
    total_us = spec.days * 86_400 * 1_000_000
    slice_start = total_us * offset // spec.events
    slice_end = total_us * (offset + size) // spec.events
    # Sorted draws over a slice shortened by `size`, plus 0, 1, 2, …: strictly increasing.
    span = max(slice_end - slice_start - size, 1)
    draws = np.sort(rng.integers(0, span, size=size, dtype=np.int64))
    start_us = (spec.start - EPOCH) // timedelta(microseconds=1)
    timestamp_us = start_us + slice_start + draws + np.arange(size, dtype=np.int64)
    customer = rng.choice(spec.customers, size=size, p=weights).astype(np.int32)
    event_name = rng.choice(len(EVENT_NAMES), size=size, p=_probabilities(EVENT_NAME_WEIGHTS))
    model = rng.choice(len(MODELS), size=size, p=_probabilities(MODEL_WEIGHTS))
    region = rng.choice(len(REGIONS), size=size, p=_probabilities(REGION_WEIGHTS))
    tokens = np.clip(rng.lognormal(mean=6.5, sigma=1.0, size=size), 1, 200_000).astype(np.int64)
    user = rng.integers(0, spec.users, size=size, dtype=np.int32)
    return Chunk(
        offset=offset,
        timestamp_us=timestamp_us,
        customer=customer,
        event_name=event_name.astype(np.int8),
        model=model.astype(np.int8),
        region=region.astype(np.int8),
        tokens=tokens,
        user=user,
    )


def chunks(spec: DatasetSpec) -> Iterator[Chunk]:
    """The whole data set, BLOCK_SIZE events at a time, in timestamp order."""
    weights = customer_weights(spec)
    for offset in range(0, spec.events, BLOCK_SIZE):
        yield _chunk(spec, offset, min(BLOCK_SIZE, spec.events - offset), weights)


def timestamps_text(chunk: Chunk) -> list[str]:
    """RFC 3339 UTC timestamps with microseconds, as PostgreSQL's COPY reads them."""
    as_datetime64 = chunk.timestamp_us.astype("datetime64[us]")
    return [text + "Z" for text in np.datetime_as_string(as_datetime64, unit="us").tolist()]
