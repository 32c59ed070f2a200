"""A small catalogue with hand-checkable numbers for the cost analytics tests.

One customer (acme-1, UTC) uses two meters in January 2026:

- "API calls" (COUNT of api_request): 3 events on Jan 1, 2 on Jan 2.
- "Tokens" (SUM of llm_call.tokens): 80 on Jan 1; 50 + 70 = 120 on Jan 2.

The published costsheet "Provider costs" prices calls at a FLAT 0.5 each and tokens with a
SLAB [≤100: 0.01, then 0.005 + 1 flat]. The customer's plan charges a FLAT 1 per call and
tokens with VOLUME tiers [≤100: 0.05, ≤1000: 0.04, then 0.03] under an amount commitment of 5
(overage * 1.5, true-up on).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from analytics.services import Outcome, events_ingest
from costsheets.models import (
    AggregationType,
    BillingModel,
    Costsheet,
    Customer,
    Feature,
    Price,
    SubscriptionLineItem,
    TierMode,
)
from costsheets.pricing import Tier
from flexprice_site.models import Environment
from tests.factories import (
    CostsheetFactory,
    CustomerFactory,
    FeatureFactory,
    PriceFactory,
    SubscriptionLineItemFactory,
)

JANUARY = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-02-01T00:00:00Z"}
JAN_START = datetime(2026, 1, 1, tzinfo=UTC)
JAN_END = datetime(2026, 2, 1, tzinfo=UTC)
D = Decimal
_event_numbers = itertools.count(1)


@dataclass
class World:
    environment: Environment
    customer: Customer
    calls: Feature
    tokens: Feature
    costsheet: Costsheet
    call_cost: Price
    token_cost: Price
    call_line_item: SubscriptionLineItem
    token_line_item: SubscriptionLineItem


def event(
    at: str, customer: str = "acme-1", name: str = "api_request", **properties: Any
) -> dict[str, Any]:
    return {
        "event_id": f"cost-evt-{next(_event_numbers)}",
        "event_name": name,
        "external_customer_id": customer,
        "timestamp": at,
        "source": "api",
        "properties": properties,
    }


def ingest(environment: Environment, *events: dict[str, Any]) -> None:
    report = events_ingest(environment=environment, payloads=list(events))
    assert report.count(Outcome.ACCEPTED) == len(events)


def customer(environment: Environment, external_id: str, **fields: Any) -> Customer:
    return CustomerFactory(
        environment=environment,
        external_customer_id=external_id,
        name=fields.pop("name", external_id.title()),
        **fields,
    )


def metered(
    environment: Environment, name: str, event_name: str, aggregation: str, field: str = ""
) -> Feature:
    return FeatureFactory(
        environment=environment,
        name=name,
        meter__name=name,
        meter__event_name=event_name,
        meter__aggregation_type=aggregation,
        meter__aggregation_field=field,
    )


def cost_price(
    costsheet: Costsheet,
    feature: Feature,
    *,
    amount: str = "0",
    tiers: list[Tier] | None = None,
    tier_mode: str = TierMode.SLAB,
    currency: str = "usd",
    **fields: Any,
) -> Price:
    return PriceFactory(
        environment=costsheet.environment,
        owner=costsheet,
        meter=feature.meter,
        currency=currency,
        amount=D(amount),
        billing_model=BillingModel.TIERED if tiers else BillingModel.FLAT_FEE,
        tier_mode=tier_mode,
        tiers=tiers,
        **fields,
    )


def subscribe(
    who: Customer,
    feature: Feature,
    *,
    amount: str = "0",
    tiers: list[Tier] | None = None,
    tier_mode: str = TierMode.VOLUME,
    currency: str = "usd",
    **line_item: Any,
) -> SubscriptionLineItem:
    """A subscription of `who` (from Dec 1, 2025) charging `amount` per unit, or `tiers`."""
    starts = datetime(2025, 12, 1, tzinfo=UTC)
    return SubscriptionLineItemFactory(
        environment=who.environment,
        subscription__customer=who,
        subscription__currency=currency,
        subscription__start_date=starts,
        subscription__billing_anchor=starts,
        price__meter=feature.meter,
        price__currency=currency,
        price__amount=D(amount),
        price__billing_model=BillingModel.TIERED if tiers else BillingModel.FLAT_FEE,
        price__tier_mode=tier_mode,
        price__tiers=tiers,
        start_date=starts,
        **line_item,
    )


TOKEN_COST_TIERS = [
    Tier(up_to=D(100), unit_amount=D("0.01")),
    Tier(up_to=None, unit_amount=D("0.005"), flat_amount=D(1)),
]
TOKEN_REVENUE_TIERS = [
    Tier(up_to=D(100), unit_amount=D("0.05")),
    Tier(up_to=D(1000), unit_amount=D("0.04")),
    Tier(up_to=None, unit_amount=D("0.03")),
]


def build_world(environment: Environment, *, with_events: bool = True) -> World:
    acme = customer(environment, "acme-1", name="Acme One")
    calls = metered(environment, "API calls", "api_request", AggregationType.COUNT)
    tokens = metered(environment, "Tokens", "llm_call", AggregationType.SUM, "tokens")
    costsheet = CostsheetFactory(environment=environment, name="Provider costs")
    call_cost = cost_price(costsheet, calls, amount="0.5")
    token_cost = cost_price(costsheet, tokens, tiers=TOKEN_COST_TIERS)
    call_line_item = subscribe(acme, calls, amount="1")
    token_line_item = subscribe(
        acme,
        tokens,
        tiers=TOKEN_REVENUE_TIERS,
        commitment_type="amount",
        commitment_amount=D(5),
        commitment_overage_factor=D("1.5"),
        commitment_true_up_enabled=True,
    )
    if with_events:
        ingest(
            environment,
            event("2026-01-01T10:00:00Z"),
            event("2026-01-01T10:05:00Z"),
            event("2026-01-01T10:10:00Z"),
            event("2026-01-01T11:00:00Z", name="llm_call", tokens=80, model="a"),
            event("2026-01-02T09:00:00Z"),
            event("2026-01-02T09:30:00Z"),
            event("2026-01-02T10:00:00Z", name="llm_call", tokens=50, model="b"),
            event("2026-01-02T12:00:00Z", name="llm_call", tokens=70, model="a"),
        )
    return World(
        environment=environment,
        customer=acme,
        calls=calls,
        tokens=tokens,
        costsheet=costsheet,
        call_cost=call_cost,
        token_cost=token_cost,
        call_line_item=call_line_item,
        token_line_item=token_line_item,
    )
