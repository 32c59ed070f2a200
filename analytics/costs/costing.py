"""The cost side: a costsheet's usage prices applied to each customer's usage of their meters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from analytics.costs.results import CostItem, PeriodAmount
from analytics.metering import UsageQuery, UsageSeries
from analytics.metering.query import CUSTOMER_KEY
from analytics.usage.pricing import price_usage
from analytics.usage.revenue import ask_engine
from costsheets.models import Costsheet, Customer, Meter, Price, PriceType
from costsheets.pricing import ZERO
from costsheets.selectors import scoped
from costsheets.terms import saved_price_terms
from flexprice_site.models import Environment, Status


@dataclass(frozen=True)
class CostScope:
    """Whose usage is costed. With a `payer`, the usage of `external_customer_ids` is that one
    customer's (its own and its children's, folded in). Without one, every customer's usage is
    costed on its own: of every customer (`external_customer_ids` None), or of those named."""

    payer: Customer | None
    external_customer_ids: tuple[str, ...] | None


def counting_prices(
    *,
    environment: Environment,
    costsheet: Costsheet,
    start: datetime,
    end: datetime,
    meter_ids: Collection[str] | None = None,
    currency: str | None = None,
) -> list[Price]:
    """The costsheet's prices that count as cost in `[start, end)` (SPEC §2): published USAGE
    prices with a meter whose own dates overlap the range, with meter and tiers, oldest first."""
    prices = (
        scoped(Price.objects.all(), environment=environment)
        .filter(
            entity_type=costsheet.price_entity_type,
            entity_id=costsheet.pk,
            status=Status.PUBLISHED,
            type=PriceType.USAGE,
            meter__isnull=False,
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=start))
        .filter(Q(start_date__isnull=True) | Q(start_date__lt=end))
        .select_related("meter")
        .prefetch_related("tiers")
        .order_by("created_at", "id")
    )
    if meter_ids is not None:
        prices = prices.filter(meter_id__in=list(meter_ids))
    if currency is not None:
        prices = prices.filter(currency=currency)
    return list(prices)


@dataclass(frozen=True)
class CostedUsage:
    """One customer's usage of one price's meter, over that price's dates within the range."""

    external_customer_id: str
    price: Price
    series: UsageSeries


def costed_usage(
    *,
    environment: Environment,
    prices: Sequence[Price],
    scope: CostScope,
    start: datetime,
    end: datetime,
    window_size: str | None,
    time_zone: str,
    billing_anchor: datetime | None = None,
    property_filters: Mapping[str, Sequence[str]] | None = None,
) -> list[CostedUsage]:
    """The usage each price prices: one per (customer, price) with events.

    Each price sees only the usage inside its own dates (clipped to the range). The engine is
    asked once per distinct date range (usually once), split by customer when the scope is
    every customer.
    """
    batches: dict[tuple[datetime, datetime], list[Price]] = defaultdict(list)
    for price in prices:
        price_start = max(start, price.start_date) if price.start_date else start
        price_end = min(end, price.end_date) if price.end_date else end
        if price_start < price_end:
            batches[(price_start, price_end)].append(price)

    by_customer = scope.payer is None
    found: list[CostedUsage] = []
    for (batch_start, batch_end), batch_prices in batches.items():
        meters: dict[str, Meter] = {}
        for price in batch_prices:
            assert price.meter is not None
            meters.setdefault(price.meter.pk, price.meter)
        query = UsageQuery(
            environment_id=environment.pk,
            meters=list(meters.values()),
            start=batch_start,
            end=batch_end,
            external_customer_ids=scope.external_customer_ids,
            window_size=window_size,
            time_zone=time_zone,
            billing_anchor=billing_anchor,
            group_by=(CUSTOMER_KEY,) if by_customer else (),
            property_filters=property_filters or {},
        )
        series_by_meter: dict[str, list[UsageSeries]] = defaultdict(list)
        for series in ask_engine(query):
            series_by_meter[series.meter_id].append(series)
        for price in batch_prices:
            for series in series_by_meter.get(price.meter_id or "", []):
                if scope.payer is not None:
                    external_id = scope.payer.external_customer_id
                else:
                    external_id = series.group.get(CUSTOMER_KEY) or ""
                found.append(CostedUsage(external_id, price, series))
    return found


def cost_item(
    usage: CostedUsage,
    *,
    costsheet: Costsheet,
    customer: Customer | None,
    window_costs: dict[datetime, Decimal] | None = None,
) -> CostItem:
    """Price one customer's usage with one costsheet price (SPEC §4): tiers apply to the whole
    total (per bucket for bucketed meters), and every period is priced on its own. With
    `window_costs`, the periods' costs are added up there instead of kept on the item."""
    price, series = usage.price, usage.series
    meter = price.meter
    assert meter is not None
    priced = price_usage(series, terms=saved_price_terms(price), bucketed=meter.is_bucketed)
    if window_costs is not None:
        for point, cost in zip(series.points, priced.point_costs, strict=True):
            window_costs[point.timestamp] += cost
    return CostItem(
        external_customer_id=usage.external_customer_id,
        customer_id=customer.pk if customer is not None else "",
        customer_name=customer.name if customer is not None else "",
        meter_id=meter.pk,
        meter_name=meter.name,
        price_id=price.pk,
        costsheet_id=costsheet.pk,
        total_quantity=series.total if series.total is not None else ZERO,
        total_events=series.event_count,
        total_cost=priced.total_cost,
        periods=tuple(
            PeriodAmount(
                timestamp=point.timestamp,
                quantity=point.value if point.value is not None else ZERO,
                amount=cost,
                event_count=point.event_count,
            )
            for point, cost in zip(series.points, priced.point_costs, strict=True)
        )
        if window_costs is None
        else (),
        currency=price.currency,
    )
