"""The query set: each query as a UsageQuery for our engine and as the equivalent DuckDB SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from bench.dataset import DatasetSpec, customer_id


@dataclass(frozen=True)
class BenchMeter:
    name: str
    event_name: str
    aggregation_type: str
    field: str = ""
    # Properties kept in the meter's rollups (Meter.rollup_properties), when the app has them.
    rollup_properties: tuple[str, ...] = ()


# The meters the query set reads; the bench creates them in its environments by name. Only
# the meter the query set filters by a property keeps properties in its rollups: each kept
# property multiplies a meter's rollup rows by its number of values (here 25 times), which the
# unfiltered queries of the other meters would pay for.
METERS: dict[str, BenchMeter] = {
    "tokens": BenchMeter(
        "Bench: completion tokens",
        "llm_completion",
        "SUM",
        "tokens",
        rollup_properties=("model", "region"),
    ),
    "completions": BenchMeter("Bench: completions", "llm_completion", "COUNT"),
    "max_tokens": BenchMeter("Bench: largest completion", "llm_completion", "MAX", "tokens"),
    "latest_tokens": BenchMeter("Bench: latest completion", "llm_completion", "LATEST", "tokens"),
    "completion_users": BenchMeter(
        "Bench: completion users", "llm_completion", "COUNT_UNIQUE", "user_id"
    ),
    "requests": BenchMeter("Bench: API requests", "api_request", "COUNT"),
    "request_users": BenchMeter("Bench: API users", "api_request", "COUNT_UNIQUE", "user_id"),
}

# DuckDB's aggregate for each meter (the data set's properties are typed columns there).
DUCK_AGGREGATES = {
    "COUNT": "count(*)",
    "SUM": "sum({field})",
    "MAX": "max({field})",
    "LATEST": "arg_max({field}, ts)",
    "COUNT_UNIQUE": "count(DISTINCT {field})",
}
WINDOW_UNITS = {"HOUR": "hour", "DAY": "day"}


@dataclass(frozen=True)
class BenchQuery:
    key: str
    title: str
    meters: tuple[str, ...]  # keys of METERS, all of one event name
    days: int  # the last `days` days of the data set
    window_size: str
    customers: str = "all"  # "heaviest", "sampled" (a rotating sample) or "all" (tenant-wide)
    group_by_customer: bool = False
    property_filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    target_p50_ms: float | None = None
    target_p95_ms: float | None = None

    @property
    def target_text(self) -> str:
        parts = []
        if self.target_p50_ms is not None:
            parts.append(f"p50 ≤ {self.target_p50_ms:g} ms")
        if self.target_p95_ms is not None:
            parts.append(f"p95 ≤ {self.target_p95_ms:g} ms")
        return ", ".join(parts)


QUERY_SET: tuple[BenchQuery, ...] = (
    BenchQuery(
        key="customer-hour-sum-heaviest",
        title="heaviest customer, 30 d, HOUR, SUM model=gpt-4o",
        meters=("tokens",),
        days=30,
        window_size="HOUR",
        customers="heaviest",
        property_filters={"model": ("gpt-4o",)},
        target_p50_ms=20,
        target_p95_ms=50,
    ),
    BenchQuery(
        key="customer-hour-sum-sampled",
        title="sampled customers, 30 d, HOUR, SUM model=gpt-4o",
        meters=("tokens",),
        days=30,
        window_size="HOUR",
        customers="sampled",
        property_filters={"model": ("gpt-4o",)},
        target_p50_ms=20,
        target_p95_ms=50,
    ),
    BenchQuery(
        key="customer-day-mixed-heaviest",
        title="heaviest customer, 30 d, DAY, COUNT+MAX+LATEST+COUNT_UNIQUE",
        meters=("completions", "max_tokens", "latest_tokens", "completion_users"),
        days=30,
        window_size="DAY",
        customers="heaviest",
        target_p50_ms=50,
    ),
    BenchQuery(
        key="customer-day-mixed-sampled",
        title="sampled customers, 30 d, DAY, COUNT+MAX+LATEST+COUNT_UNIQUE",
        meters=("completions", "max_tokens", "latest_tokens", "completion_users"),
        days=30,
        window_size="DAY",
        customers="sampled",
        target_p50_ms=50,
    ),
    BenchQuery(
        key="tenant-day-count-by-customer",
        title="tenant-wide, 7 d, DAY, COUNT grouped by customer",
        meters=("requests",),
        days=7,
        window_size="DAY",
        group_by_customer=True,
        target_p50_ms=250,
    ),
    BenchQuery(
        key="tenant-day-unique-users",
        title="tenant-wide, 30 d, DAY, exact COUNT_UNIQUE user_id",
        meters=("request_users",),
        days=30,
        window_size="DAY",
        target_p50_ms=500,
    ),
)

SAMPLED_CUSTOMERS = 20


def sampled_customers(spec: DatasetSpec) -> list[str]:
    """The rotating sample for "one customer" queries: seeded ranks, the heaviest excluded."""
    rng = np.random.default_rng([spec.seed, 7])
    count = min(SAMPLED_CUSTOMERS, spec.customers - 1)
    ranks = rng.choice(np.arange(1, spec.customers), size=count, replace=False)
    return [customer_id(int(rank)) for rank in ranks]


def customers_for(query: BenchQuery, spec: DatasetSpec) -> list[str | None]:
    """The customer of each successive run (None: tenant-wide)."""
    if query.customers == "heaviest":
        return [customer_id(0)]
    if query.customers == "sampled":
        return list(sampled_customers(spec))
    return [None]


def time_range(query: BenchQuery, spec: DatasetSpec) -> tuple[datetime, datetime]:
    return spec.end - timedelta(days=query.days), spec.end


# A normalised answer: (meter key, customer or None, window start or None for the total) → value.
Answer = dict[tuple[str, str | None, datetime | None], Decimal | None]


def usage_query(
    query: BenchQuery,
    spec: DatasetSpec,
    *,
    environment_id: Any,
    meters: Mapping[str, Any],
    customer: str | None,
) -> Any:
    from analytics.metering import UsageQuery

    start, end = time_range(query, spec)
    return UsageQuery(
        environment_id=environment_id,
        meters=tuple(meters[key] for key in query.meters),
        start=start,
        end=end,
        external_customer_ids=None if customer is None else (customer,),
        window_size=query.window_size,
        time_zone="UTC",
        group_by=("customer",) if query.group_by_customer else (),
        property_filters=dict(query.property_filters),
    )


def engine_answer(series: Sequence[Any], meter_keys: Mapping[str, str]) -> Answer:
    """Our engine's UsageSeries list, normalised; `meter_keys` maps meter id → key."""
    answer: Answer = {}
    for one in series:
        key = meter_keys[one.meter_id]
        customer = one.group.get("customer") if one.group else None
        answer[(key, customer, None)] = one.total
        for point in one.points:
            answer[(key, customer, point.timestamp.astimezone(UTC))] = point.value
    return answer


def duck_sql(query: BenchQuery, *, with_customer: bool) -> str:
    """One statement answering the windows and the totals (GROUPING SETS), like the engine."""
    event_names = {METERS[key].event_name for key in query.meters}
    if len(event_names) != 1:
        raise ValueError(f"{query.key}: all meters of a query must read one event name.")
    aggregates = [
        DUCK_AGGREGATES[METERS[key].aggregation_type].format(field=METERS[key].field or "*")
        for key in query.meters
    ]
    window = f"date_trunc('{WINDOW_UNITS[query.window_size]}', ts)"
    group = "customer" if query.group_by_customer else "NULL"
    conditions = ["event_name = $event_name", "ts >= $start", "ts < $end"]
    if with_customer:
        conditions.append("customer = $customer")
    for name, values in query.property_filters.items():
        placeholders = ", ".join(f"$filter_{name}_{index}" for index in range(len(values)))
        conditions.append(f"{name} IN ({placeholders})")
    grouping = (
        "GROUPING SETS ((customer, w), (customer))"
        if query.group_by_customer
        else "GROUPING SETS ((w), ())"
    )
    return (
        f"SELECT {group} AS grp, {window} AS w, count(*) AS n, {', '.join(aggregates)} "  # noqa: S608
        f"FROM events WHERE {' AND '.join(conditions)} GROUP BY {grouping}"
    )


def duck_parameters(query: BenchQuery, spec: DatasetSpec, customer: str | None) -> dict[str, Any]:
    start, end = time_range(query, spec)
    parameters: dict[str, Any] = {
        "event_name": METERS[query.meters[0]].event_name,
        "start": start.replace(tzinfo=None),
        "end": end.replace(tzinfo=None),
    }
    if customer is not None:
        parameters["customer"] = customer
    for name, values in query.property_filters.items():
        for index, value in enumerate(values):
            parameters[f"filter_{name}_{index}"] = value
    return parameters


def duck_answer(query: BenchQuery, rows: Sequence[tuple[Any, ...]]) -> Answer:
    answer: Answer = {}
    for group, window, event_count, *values in rows:
        if not event_count:
            continue  # the grand total of no rows; the engine answers no series there
        when = None if window is None else window.replace(tzinfo=UTC)
        for key, value in zip(query.meters, values, strict=True):
            answer[(key, group, when)] = None if value is None else Decimal(value)
    return answer


def answer_differences(ours: Answer, theirs: Answer, limit: int = 5) -> list[str]:
    """What differs between two answers (empty when they agree), a few examples at most."""
    differences = []
    for key in sorted(set(ours) | set(theirs), key=repr):
        mine, other = ours.get(key), theirs.get(key)
        if mine is None and other is None:
            continue
        if mine is None or other is None or Decimal(mine) != Decimal(other):
            differences.append(f"{key}: ours {mine}, DuckDB {other}")
    if len(differences) > limit:
        return [*differences[:limit], f"… and {len(differences) - limit} more"]
    return differences
