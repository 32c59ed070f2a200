"""Usage analytics (SPEC §5): metered usage per feature, priced with subscription line items."""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from analytics.metering import UsageQuery, UsageSeries, shared_answers
from analytics.usage.revenue import LineItemRevenue, ask_engine, revenue_by_line_item
from analytics.usage.scope import (
    UTC_NAME,
    BillingUnit,
    billing_units,
    customer_zone,
    metered_features,
    meters_named,
    usage_line_items,
)
from analytics.usage.types import (
    CommitmentSummary,
    UsageAnalyticsItem,
    UsageAnalyticsPoint,
    UsageAnalyticsRequest,
    UsageAnalyticsResult,
    engine_group_key,
)
from costsheets.models import Feature, Meter, SubscriptionLineItem
from costsheets.pricing import ZERO, CommitmentResult, sum_results
from flexprice_site.errors import InvalidOperation, ValidationFailed
from flexprice_site.models import Environment

SOURCE_KEY = "source"

Only = TypeVar("Only")


@shared_answers()
def usage_analytics(
    *, environment: Environment, request: UsageAnalyticsRequest
) -> UsageAnalyticsResult:
    """Usage of the request's features (or meters) in its scope and range, priced (SPEC §5).

    One customer (with or without its children): one item per (feature, line item, group
    values), each line item pricing only the usage of its own dates; usage outside every line
    item's dates shows as an unpriced item. Several customers, or the whole environment: one
    item per (feature, group values) with the usage of all of them, and as cost the sum of what
    each customer's line items charge for its share.
    """
    prepared = _prepare(environment, request)
    if prepared is None:
        return _result(request, [], currency=request.currency or "")
    selection, units, line_items, currency, ask = prepared
    if units is not None and len(units) == 1:
        built = _customer_items(ask, units[0], line_items, currency)
    else:
        built = _aggregated_items(ask, units, line_items, currency)
    by_meter: dict[str, list[tuple[tuple[object, ...], UsageAnalyticsItem]]] = defaultdict(list)
    for sort_key, item in built:
        by_meter[item.meter.pk].append((sort_key, item))
    items = [
        (sort_key, dataclasses.replace(item, meter=meter, feature=feature))
        for meter, feature in selection
        for sort_key, item in by_meter[meter.pk]
    ]
    items.sort(key=lambda pair: (pair[1].name, pair[0]))
    return _result(request, [item for _, item in items], currency=currency, ask=ask)


@shared_answers()
def usage_revenue(
    *, environment: Environment, request: UsageAnalyticsRequest
) -> tuple[Decimal, str]:
    """What `usage_analytics(request)` charges in all, and in which currency, without its
    items: every line item's charge added up. For answers that show only the total (a page of
    cost analytics) of thousands of customers' items."""
    prepared = _prepare(environment, request)
    if prepared is None:
        return ZERO, request.currency or ""
    _, units, line_items, currency, ask = prepared
    if units is not None and len(units) == 1:
        revenues = ask.revenue(
            units=units,
            line_items=line_items,
            time_zone=request.time_zone or customer_zone(units[0].customer),
            billing_anchors=True,
        )
    else:
        revenues = ask.revenue(
            units=units,
            line_items=line_items,
            time_zone=request.time_zone or _shared_zone(units) or UTC_NAME,
            billing_anchors=False,
        )
    return sum((revenue.priced.total_cost for revenue in revenues), ZERO), currency


def _prepare(
    environment: Environment, request: UsageAnalyticsRequest
) -> (
    tuple[list[tuple[Meter, Feature | None]], list[BillingUnit] | None, list[Any], str, _Asker]
    | None
):
    """What every usage question starts from: the (meter, feature) selection, the billing
    units, their line items, the currency and the engine's asker; None without any meter."""
    if request.include_children and not request.external_customer_ids:
        raise ValidationFailed(
            "include_children folds a customer's children into it: name the customer.",
            details={"include_children": ["Needs external_customer_id or external_customer_ids."]},
        )
    selection = _selection(environment, request)
    meters = list({meter.pk: meter for meter, _ in selection}.values())
    units = (
        billing_units(
            environment=environment,
            external_customer_ids=request.external_customer_ids,
            include_children=request.include_children,
        )
        if request.external_customer_ids
        else None
    )
    if not meters:
        return None
    line_items = (
        usage_line_items(
            environment=environment,
            meter_ids=[meter.pk for meter in meters],
            start=request.start,
            end=request.end,
            customer_ids=None if units is None else [unit.customer.pk for unit in units],
            currency=request.currency,
        )
        if request.priced
        else []
    )
    currency = _currency_of(line_items, request.currency)
    engine_groups = tuple(
        key for key in map(engine_group_key, dict.fromkeys(request.group_by)) if key is not None
    )
    ask = _Asker(
        environment=environment, request=request, engine_groups=engine_groups, meters=meters
    )
    return selection, units, line_items, currency, ask


def _result(
    request: UsageAnalyticsRequest,
    items: list[UsageAnalyticsItem],
    *,
    currency: str,
    ask: _Asker | None = None,
) -> UsageAnalyticsResult:
    window_costs: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
    if ask is not None:
        for timestamp, cost in ask.window_costs.items():
            window_costs[timestamp] += cost
    for item in items:
        for point in item.points:
            window_costs[point.timestamp] += point.cost
    if not request.item_points:
        items = [dataclasses.replace(item, points=()) if item.points else item for item in items]
    return UsageAnalyticsResult(
        items=tuple(items),
        total_cost=sum((item.total_cost for item in items), ZERO),
        currency=currency,
        start=request.start,
        end=request.end,
        window_size=request.window_size,
        window_costs=tuple(sorted(window_costs.items())),
    )


def _selection(
    environment: Environment, request: UsageAnalyticsRequest
) -> list[tuple[Meter, Feature | None]]:
    """(meter, feature) pairs to report on: every metered feature, the named ones, or — for
    `meter_ids` — meters on their own."""
    if request.meter_ids:
        return [
            (meter, None)
            for meter in meters_named(environment=environment, meter_ids=request.meter_ids)
        ]
    features = metered_features(environment=environment, feature_ids=request.feature_ids)
    return [(feature.meter, feature) for feature in features if feature.meter is not None]


def _currency_of(line_items: Sequence[SubscriptionLineItem], requested: str | None) -> str:
    if requested:
        return requested
    currencies = sorted({line_item.currency for line_item in line_items})
    if len(currencies) > 1:
        raise InvalidOperation(
            f"The usage in this scope is priced in {', '.join(currencies)}; a total can't mix "
            "currencies. Name one with currency (or narrow the customers).",
            details={"currency": [f"Choose one of {', '.join(currencies)}."]},
        )
    return currencies[0] if currencies else ""


@dataclass
class _Asker:
    """Asks the engine the request's questions."""

    environment: Environment
    request: UsageAnalyticsRequest
    engine_groups: tuple[str, ...]
    meters: list[Meter]
    # Point costs of items built without points (request.item_points False), per window.
    window_costs: dict[datetime, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def query(
        self,
        *,
        meters: Sequence[Meter],
        start: datetime,
        end: datetime,
        external_customer_ids: Sequence[str] | None,
        time_zone: str,
        billing_anchor: datetime | None,
    ) -> UsageQuery:
        return UsageQuery(
            environment_id=self.environment.pk,
            meters=meters,
            start=start,
            end=end,
            external_customer_ids=external_customer_ids,
            window_size=self.request.window_size,
            time_zone=time_zone,
            billing_anchor=billing_anchor,
            group_by=self.engine_groups,
            property_filters=self.request.property_filters,
            sources=self.request.sources or None,
            with_sources=self.lists_sources,
        )

    @property
    def lists_sources(self) -> bool:
        """Whether items list their sources read from the engine (not when grouped by source:
        the group's source is the item's)."""
        return self.request.with_sources and SOURCE_KEY not in self.engine_groups

    def revenue(
        self,
        *,
        units: Sequence[BillingUnit] | None,
        line_items: Sequence[SubscriptionLineItem],
        time_zone: str | None,
        billing_anchors: bool,
        with_sources: bool = False,
    ) -> list[LineItemRevenue]:
        return revenue_by_line_item(
            environment=self.environment,
            meters=self.meters,
            start=self.request.start,
            end=self.request.end,
            units=units,
            line_items=line_items,
            window_size=self.request.window_size,
            time_zone=time_zone,
            billing_anchors=billing_anchors,
            group_by=self.engine_groups,
            property_filters=self.request.property_filters,
            sources=self.request.sources or None,
            with_sources=with_sources and self.lists_sources,
        )


# --- one customer ---------------------------------------------------------------------------


def _customer_items(
    ask: _Asker,
    unit: BillingUnit,
    line_items: Sequence[SubscriptionLineItem],
    currency: str,
) -> list[tuple[tuple[object, ...], UsageAnalyticsItem]]:
    request = ask.request
    zone = request.time_zone or customer_zone(unit.customer)
    revenues = ask.revenue(
        units=[unit],
        line_items=line_items,
        time_zone=zone,
        billing_anchors=True,
        with_sources=True,
    )
    anchor = line_items[0].subscription.billing_anchor if line_items else None

    built: list[tuple[tuple[object, ...], UsageAnalyticsItem]] = []
    for revenue in revenues:
        sources = _sources_for(ask, revenue.series)
        built.append(
            (
                _sort_key(revenue.series.group, ask, revenue.start, revenue.line_item.pk),
                _priced_item(ask, revenue, sources),
            )
        )

    # Usage no line item prices: meters without one, and the dates outside theirs.
    for (gap_start, gap_end), meters in _gaps(
        ask.meters, line_items, request.start, request.end
    ).items():
        query = ask.query(
            meters=meters,
            start=gap_start,
            end=gap_end,
            external_customer_ids=unit.external_customer_ids,
            time_zone=zone,
            billing_anchor=anchor,
        )
        for series in ask_engine(query):
            sources = _sources_for(ask, series)
            item = _unpriced_item(ask, series, sources, currency)
            built.append((_sort_key(series.group, ask, gap_start, ""), item))
    return built


def _gaps(
    meters: Sequence[Meter],
    line_items: Sequence[SubscriptionLineItem],
    start: datetime,
    end: datetime,
) -> dict[tuple[datetime, datetime], list[Meter]]:
    """For each stretch of the range that no line item of a meter covers, those meters."""
    covered: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for line_item in line_items:
        covered[line_item.meter_id].append(
            (max(start, line_item.start_date), min(end, line_item.end_date or end))
        )
    gaps: dict[tuple[datetime, datetime], list[Meter]] = defaultdict(list)
    for meter in meters:
        cursor = start
        for covered_start, covered_end in sorted(covered.get(meter.pk, [])):
            if covered_start > cursor:
                gaps[(cursor, covered_start)].append(meter)
            cursor = max(cursor, covered_end)
        if cursor < end:
            gaps[(cursor, end)].append(meter)
    return gaps


def _sources_for(ask: _Asker, series: UsageSeries) -> tuple[str, ...]:
    """An item's sources: its group's, when grouped by source; else those the engine listed."""
    if SOURCE_KEY in ask.engine_groups:
        source = series.group.get(SOURCE_KEY)
        return (source,) if source else ()
    return series.sources


def _sort_key(
    group: Mapping[str, str | None], ask: _Asker, start: datetime, tie: str
) -> tuple[object, ...]:
    return (tuple(group.get(key) or "" for key in ask.engine_groups), start, tie)


def _api_group(ask: _Asker, group: Mapping[str, str | None]) -> tuple[tuple[str, str | None], ...]:
    """The item's group values under the API's group_by names, in the request's order."""
    pairs = []
    for key in dict.fromkeys(ask.request.group_by):
        engine_key = engine_group_key(key)
        if engine_key is not None:
            pairs.append((key, group.get(engine_key)))
    return tuple(pairs)


def _points(
    series: UsageSeries, costs: Iterable[tuple[Decimal, CommitmentResult | None]]
) -> tuple[UsageAnalyticsPoint, ...]:
    return tuple(
        UsageAnalyticsPoint(
            timestamp=point.timestamp,
            usage=point.value if point.value is not None else ZERO,
            event_count=point.event_count,
            cost=cost,
            commitment=commitment,
        )
        for point, (cost, commitment) in zip(series.points, costs, strict=True)
    )


def _priced_item(
    ask: _Asker, revenue: LineItemRevenue, sources: tuple[str, ...]
) -> UsageAnalyticsItem:
    line_item = revenue.line_item
    priced = revenue.priced
    commitment = None
    if priced.commitment is not None:
        commitment = CommitmentSummary(
            utilized=priced.commitment.utilized,
            overage=priced.commitment.overage,
            true_up=priced.commitment.true_up,
            windowed=line_item.commitment_windowed and revenue.meter.is_bucketed,
            line_item=line_item,
        )
    series = revenue.series
    return UsageAnalyticsItem(
        meter=revenue.meter,
        feature=None,
        group=_api_group(ask, series.group),
        sources=sources,
        total_usage=series.total if series.total is not None else ZERO,
        event_count=series.event_count,
        total_cost=priced.total_cost,
        currency=line_item.currency,
        points=_points(series, zip(priced.point_costs, priced.point_splits(), strict=True)),
        window_size=ask.request.window_size,
        price=line_item.price,
        line_item=line_item,
        plan=line_item.subscription.plan,
        subscription_id=line_item.subscription_id,
        commitment=commitment,
    )


def _unpriced_item(
    ask: _Asker, series: UsageSeries, sources: tuple[str, ...], currency: str
) -> UsageAnalyticsItem:
    meter = next(meter for meter in ask.meters if meter.pk == series.meter_id)
    return UsageAnalyticsItem(
        meter=meter,
        feature=None,
        group=_api_group(ask, series.group),
        sources=sources,
        total_usage=series.total if series.total is not None else ZERO,
        event_count=series.event_count,
        total_cost=ZERO,
        currency=currency,
        points=_points(series, ((ZERO, None) for _ in series.points)),
        window_size=ask.request.window_size,
    )


# --- several customers, or all of them -----------------------------------------------------------


@dataclass
class _Aggregate:
    """Cost of one (meter, group values) summed over the customers' line items."""

    total_cost: Decimal = ZERO
    point_costs: dict[int, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    point_commitments: dict[int, list[CommitmentResult]] = field(
        default_factory=lambda: defaultdict(list)
    )
    commitments: list[CommitmentResult] = field(default_factory=list)
    windowed: bool = False
    line_items: dict[str, SubscriptionLineItem] = field(default_factory=dict)


def _aggregated_items(
    ask: _Asker,
    units: Sequence[BillingUnit] | None,
    line_items: Sequence[SubscriptionLineItem],
    currency: str,
) -> list[tuple[tuple[object, ...], UsageAnalyticsItem]]:
    request = ask.request
    zone = request.time_zone or _shared_zone(units) or UTC_NAME
    # Every customer's usage is priced in the same windows as the items show, so each
    # point's cost lands in its window; MONTH windows are calendar months here.
    revenues = ask.revenue(
        units=units, line_items=line_items, time_zone=zone, billing_anchors=False
    )
    external_ids = None
    if units is not None:
        external_ids = list(
            dict.fromkeys(
                external_id for unit in units for external_id in unit.external_customer_ids
            )
        )
    query = ask.query(
        meters=ask.meters,
        start=request.start,
        end=request.end,
        external_customer_ids=external_ids,
        time_zone=zone,
        billing_anchor=None,
    )
    usage = {
        (series.meter_id, _group_key(ask, series.group)): series for series in ask_engine(query)
    }
    aggregates: dict[tuple[str, tuple[str | None, ...]], _Aggregate] = defaultdict(_Aggregate)
    # Thousands of line items can share one series (no group_by): list its windows once.
    index_of: dict[tuple[str, tuple[str | None, ...]], _WindowIndex] = {}
    for revenue in revenues:
        key = (revenue.meter.pk, _group_key(ask, revenue.group))
        if key not in usage:
            # Only a commitment's true-up, on usage that did not happen: an empty item.
            usage[key] = UsageSeries(
                meter_id=revenue.meter.pk, group=dict(revenue.group), total=None, event_count=0
            )
        aggregate = aggregates[key]
        aggregate.total_cost += revenue.priced.total_cost
        aggregate.line_items[revenue.line_item.pk] = revenue.line_item
        if revenue.priced.commitment is not None:
            aggregate.commitments.append(revenue.priced.commitment)
            aggregate.windowed |= (
                revenue.line_item.commitment_windowed and revenue.meter.is_bucketed
            )
        if not request.item_points:
            # Only the windows' sums are kept: points are window starts (in the one time zone
            # every customer is priced in here), added up by them.
            window_costs = ask.window_costs
            for point, cost in zip(revenue.series.points, revenue.priced.point_costs, strict=True):
                window_costs[point.timestamp] += cost
            continue
        if key not in index_of:
            index_of[key] = _WindowIndex([point.timestamp for point in usage[key].points])
        index = index_of[key]
        costs = aggregate.point_costs
        for point, cost in zip(revenue.series.points, revenue.priced.point_costs, strict=True):
            costs[index(point.timestamp)] += cost
        if revenue.priced.point_commitments:
            for point, split in zip(
                revenue.series.points, revenue.priced.point_commitments, strict=True
            ):
                aggregate.point_commitments[index(point.timestamp)].append(split)

    meter_by_id = {meter.pk: meter for meter in ask.meters}
    built = []
    for (meter_id, group_key), series in usage.items():
        aggregate = aggregates.get((meter_id, group_key)) or _Aggregate()
        contributors = list(aggregate.line_items.values())
        only = contributors[0] if len(contributors) == 1 else None
        commitment = None
        if aggregate.commitments:
            total = sum_results(aggregate.commitments)
            commitment = CommitmentSummary(
                utilized=total.utilized,
                overage=total.overage,
                true_up=total.true_up,
                windowed=aggregate.windowed,
                line_item=only,
            )
        costs = []
        if request.item_points:
            for index in range(len(series.points)):
                windows = aggregate.point_commitments.get(index)
                costs.append(
                    (
                        aggregate.point_costs.get(index, ZERO),
                        sum_results(windows) if windows else None,
                    )
                )
        item = UsageAnalyticsItem(
            meter=meter_by_id[meter_id],
            feature=None,
            group=_api_group(ask, series.group),
            sources=_sources_for(ask, series),
            total_usage=series.total if series.total is not None else ZERO,
            event_count=series.event_count,
            total_cost=aggregate.total_cost,
            currency=currency,
            points=_points(series, costs) if request.item_points else (),
            window_size=request.window_size,
            price=_only({line_item.price_id: line_item.price for line_item in contributors}),
            line_item=only,
            plan=_only(
                {
                    line_item.subscription.plan_id: line_item.subscription.plan
                    for line_item in contributors
                }
            ),
            subscription_id=_only(
                {line_item.subscription_id: line_item.subscription_id for line_item in contributors}
            ),
            commitment=commitment,
        )
        built.append((_sort_key(series.group, ask, request.start, ""), item))
    return built


class _WindowIndex:
    """The position of the item's window a point belongs to: its own timestamp's, or (for a
    line item whose dates start inside a window) the window that holds it."""

    def __init__(self, timestamps: list[datetime]) -> None:
        self.timestamps = timestamps
        self.positions = {timestamp: index for index, timestamp in enumerate(timestamps)}

    def __call__(self, timestamp: datetime) -> int:
        found = self.positions.get(timestamp)
        if found is None:
            found = max(bisect_right(self.timestamps, timestamp) - 1, 0)
        return found


def _group_key(ask: _Asker, group: Mapping[str, str | None]) -> tuple[str | None, ...]:
    return tuple(group.get(key) for key in ask.engine_groups)


def _only(values: Mapping[str, Only]) -> Only | None:
    """The one value, or None when there are none or several."""
    return next(iter(values.values())) if len(values) == 1 else None


def _shared_zone(units: Sequence[BillingUnit] | None) -> str | None:
    """The time zone every named customer shares, if they share one."""
    if not units:
        return None
    zones = {customer_zone(unit.customer) for unit in units}
    return zones.pop() if len(zones) == 1 else None
