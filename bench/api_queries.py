"""The analytics endpoints' rows: each as a request body, and what makes its answer right."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bench.dataset import DatasetSpec, customer_id
from bench.queries import sampled_customers

USAGE_PATH = "/v1/events/analytics"
COST_PATH = "/v1/costs/analytics-v2"


@dataclass(frozen=True)
class ApiQuery:
    key: str
    title: str
    path: str
    days: int  # the last `days` days of the data set
    window_size: str
    customers: str  # "heaviest", "sampled" (a rotating sample) or "all" (tenant-wide)
    target_p50_ms: float

    @property
    def target_text(self) -> str:
        return f"p50 ≤ {self.target_p50_ms:g} ms"

    @property
    def items_field(self) -> str:
        return "items" if self.path == USAGE_PATH else "cost_analytics"


API_QUERY_SET: tuple[ApiQuery, ...] = (
    ApiQuery(
        key="api-usage-heaviest-hour",
        title="POST /v1/events/analytics, heaviest customer, all features, 30 d, HOUR",
        path=USAGE_PATH,
        days=30,
        window_size="HOUR",
        customers="heaviest",
        target_p50_ms=60,
    ),
    ApiQuery(
        key="api-usage-tenant-day",
        title="POST /v1/events/analytics, tenant-wide, all features, 7 d, DAY",
        path=USAGE_PATH,
        days=7,
        window_size="DAY",
        customers="all",
        target_p50_ms=400,
    ),
    ApiQuery(
        key="api-costs-tenant",
        title="POST /v1/costs/analytics-v2, tenant-wide, 30 d, DAY",
        path=COST_PATH,
        days=30,
        window_size="DAY",
        customers="all",
        target_p50_ms=500,
    ),
    ApiQuery(
        key="api-costs-heaviest",
        title="POST /v1/costs/analytics-v2, heaviest customer, 30 d, DAY",
        path=COST_PATH,
        days=30,
        window_size="DAY",
        customers="heaviest",
        target_p50_ms=100,
    ),
    ApiQuery(
        key="api-costs-sampled",
        title="POST /v1/costs/analytics-v2, sampled customers, 30 d, DAY",
        path=COST_PATH,
        days=30,
        window_size="DAY",
        customers="sampled",
        target_p50_ms=100,
    ),
)


def api_customers(query: ApiQuery, spec: DatasetSpec) -> list[str | None]:
    """The customer of each successive run (None: tenant-wide), as for the metering rows."""
    if query.customers == "heaviest":
        return [customer_id(0)]
    if query.customers == "sampled":
        return list(sampled_customers(spec))
    return [None]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def request_body(query: ApiQuery, spec: DatasetSpec, customer: str | None) -> dict[str, Any]:
    """The JSON body a client sends; no `feature_ids`, so every metered feature is in it."""
    body: dict[str, Any] = {
        "start_time": _rfc3339(spec.end - timedelta(days=query.days)),
        "end_time": _rfc3339(spec.end),
        "window_size": query.window_size,
    }
    if customer is not None:
        body["external_customer_id"] = customer
    return body


@dataclass(frozen=True)
class AnswerCheck:
    ok: bool
    note: str  # what was wrong, or a short summary of a good answer


def answer_check(query: ApiQuery, status: int, content: bytes) -> AnswerCheck:
    """A right answer is a 200 with items and money in it: the bench prices every meter, on
    both sides (plan and costsheet), so a zero total means something was not priced."""
    if status != 200:
        text = " ".join(content[:300].decode(errors="replace").split())
        return AnswerCheck(False, f"HTTP {status}: {text}")
    try:
        answer = json.loads(content)
        items = answer[query.items_field]
        total_cost = Decimal(answer["total_cost"])
        total_revenue = Decimal(answer.get("total_revenue", total_cost))
    except (ValueError, KeyError, TypeError, InvalidOperation) as error:
        return AnswerCheck(False, f"not the endpoint's JSON ({type(error).__name__}: {error})")
    if not items:
        return AnswerCheck(False, f"200 with no {query.items_field}")
    if total_cost <= 0:
        return AnswerCheck(False, f"200 with total_cost {answer['total_cost']}")
    if total_revenue <= 0:
        return AnswerCheck(False, f"200 with total_revenue {answer['total_revenue']}")
    summary = f"200, {len(items)} {query.items_field}, total_cost {answer['total_cost']}"
    if "total_revenue" in answer:
        summary += f", total_revenue {answer['total_revenue']}"
    return AnswerCheck(True, summary)
