"""Revenue per subscription line item: each line item's usage over its own dates, priced."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from analytics.metering import UsageQuery, UsageSeries, meter_usage
from analytics.metering.query import CUSTOMER_KEY
from analytics.metering.windows import TooManyWindows
from analytics.usage.pricing import (
    PricedUsage,
    allocate,
    allocate_split,
    price_usage,
    priceable,
)
from analytics.usage.scope import BillingUnit, customer_zone, usage_line_items
from costsheets.models import Customer, Meter, SubscriptionLineItem, WindowSize
from costsheets.pricing import CommitmentResult, PriceTerms
from costsheets.terms import commitment_for, saved_price_terms
from flexprice_site.errors import ValidationFailed
from flexprice_site.models import Environment


@dataclass(frozen=True)
class LineItemRevenue:
    """What one line item earns from one group of usage values.

    `start`/`end` are the line item's dates clipped to the range: the only usage it prices.
    `group` has the group-by keys the caller asked for (engine names: `source`, `customer`,
    `properties.<name>`). `series` is the group's usage; it is empty (no events) when the only
    charge is a commitment's true-up. `billed` is what the line item charges for all of its
    usage (tiers and commitment applied to the whole); `priced` is this group's share of it
    (the whole itself without group_by), with the group's points priced on their own.
    `query` is the question the engine was asked.
    """

    customer: Customer
    line_item: SubscriptionLineItem
    meter: Meter
    start: datetime
    end: datetime
    group: Mapping[str, str | None]
    series: UsageSeries
    priced: PricedUsage
    billed: PricedUsage
    query: UsageQuery


@dataclass(frozen=True)
class _Batch:
    """Line items whose usage one engine question answers."""

    start: datetime
    end: datetime
    time_zone: str
    billing_anchor: datetime | None
    external_customer_ids: tuple[str, ...]
    line_items: list[tuple[SubscriptionLineItem, BillingUnit]]


def revenue_by_line_item(
    *,
    environment: Environment,
    meters: Sequence[Meter],
    start: datetime,
    end: datetime,
    units: Sequence[BillingUnit] | None = None,
    line_items: Sequence[SubscriptionLineItem] | None = None,
    window_size: str | None = None,
    time_zone: str | None = None,
    billing_anchors: bool = True,
    group_by: Sequence[str] = (),
    property_filters: Mapping[str, Sequence[str]] | None = None,
    sources: Sequence[str] | None = None,
    currency: str | None = None,
    with_sources: bool = False,
) -> list[LineItemRevenue]:
    """Revenue of every usage line item of `meters` active in `[start, end)`.

    `units`: whose line items, and whose usage each pays for (None: every customer of the
    environment, each paying for its own usage). `line_items`: already fetched with
    `scope.usage_line_items` (fetched here when None). Each line item prices only the usage of
    its own dates within the range, tiers applied to that whole total (per bucket for bucketed
    meters), its commitment applied as SPEC §4 says. Windows and buckets align in `time_zone`,
    or each customer's own time zone when None; MONTH windows start on the subscription's
    billing-anchor day when `billing_anchors`. The engine is asked one question per distinct
    (dates, time zone, anchor) — tenant-wide usage of many customers with the usual
    subscriptions is one question, split by customer — and one per family with children.
    """
    meter_by_id = {meter.pk: meter for meter in meters}
    if line_items is None:
        line_items = usage_line_items(
            environment=environment,
            meter_ids=list(meter_by_id),
            start=start,
            end=end,
            customer_ids=None if units is None else [unit.customer.pk for unit in units],
            currency=currency,
        )
    unit_of: dict[str, BillingUnit] = {unit.customer.pk: unit for unit in units or ()}
    batches: dict[tuple[object, ...], _Batch] = {}
    for line_item in line_items:
        if line_item.meter_id not in meter_by_id:
            continue
        customer = line_item.subscription.customer
        unit = unit_of.get(customer.pk)
        if unit is None:
            if units is not None:
                continue
            unit = unit_of[customer.pk] = BillingUnit(customer, (customer.external_customer_id,))
        item_start = max(start, line_item.start_date)
        item_end = min(end, line_item.end_date) if line_item.end_date else end
        if item_start >= item_end:
            continue
        zone = time_zone or customer_zone(customer)
        anchor = _anchor(
            line_item, meter_by_id[line_item.meter_id], window_size, enabled=billing_anchors
        )
        anchor_key = _anchor_key(anchor, zone)
        family = len(unit.external_customer_ids) > 1
        key = (item_start, item_end, zone, anchor_key, customer.pk if family else None)
        batch = batches.get(key)
        if batch is None:
            batch = batches[key] = _Batch(
                start=item_start,
                end=item_end,
                time_zone=zone,
                billing_anchor=anchor,
                external_customer_ids=unit.external_customer_ids if family else (),
                line_items=[],
            )
        batch.line_items.append((line_item, unit))

    requested = tuple(group_by)
    revenues: list[LineItemRevenue] = []
    for batch in batches.values():
        revenues.extend(
            _batch_revenue(
                environment=environment,
                batch=batch,
                meter_by_id=meter_by_id,
                window_size=window_size,
                group_by=requested,
                property_filters=property_filters or {},
                sources=sources,
                everyone=units is None,
                with_sources=with_sources,
            )
        )
    return revenues


def _anchor(
    line_item: SubscriptionLineItem, meter: Meter, window_size: str | None, *, enabled: bool
) -> datetime | None:
    """The billing anchor, where it moves windows or buckets (MONTH ones) at all."""
    if not enabled or WindowSize.MONTH not in (window_size, meter.bucket_size):
        return None
    return line_item.subscription.billing_anchor


def _anchor_key(anchor: datetime | None, zone: str) -> tuple[int, ...] | None:
    """Anchors on the same day of the month at the same local time make the same windows."""
    if anchor is None:
        return None
    local = anchor.astimezone(ZoneInfo(zone))
    return (local.day, local.hour, local.minute, local.second, local.microsecond)


def _batch_revenue(
    *,
    environment: Environment,
    batch: _Batch,
    meter_by_id: Mapping[str, Meter],
    window_size: str | None,
    group_by: tuple[str, ...],
    property_filters: Mapping[str, Sequence[str]],
    sources: Sequence[str] | None,
    everyone: bool,
    with_sources: bool,
) -> list[LineItemRevenue]:
    payers = {unit.customer.pk: unit for _, unit in batch.line_items}
    if batch.external_customer_ids:
        external_ids = batch.external_customer_ids
        by_customer = False
    else:
        external_ids = tuple(
            sorted({unit.customer.external_customer_id for unit in payers.values()})
        )
        by_customer = len(external_ids) > 1
    engine_group_by = group_by
    if by_customer and CUSTOMER_KEY not in group_by:
        engine_group_by = (*group_by, CUSTOMER_KEY)
    meters = list(
        {
            line_item.meter_id: meter_by_id[line_item.meter_id] for line_item, _ in batch.line_items
        }.values()
    )
    query = UsageQuery(
        environment_id=environment.pk,
        meters=meters,
        start=batch.start,
        end=batch.end,
        # Every customer's usage, split by customer, when every customer is in scope: the
        # line items look up their own payer's series, and the question is the one the cost
        # side asks too (metering.shared_answers runs it once).
        external_customer_ids=None if everyone and by_customer else external_ids,
        window_size=window_size,
        time_zone=batch.time_zone,
        billing_anchor=batch.billing_anchor,
        group_by=engine_group_by,
        property_filters=property_filters,
        sources=sources,
        with_sources=with_sources,
    )
    series_by_meter: dict[tuple[str, str | None], list[UsageSeries]] = defaultdict(list)
    for series in ask_engine(query):
        owner = series.group.get(CUSTOMER_KEY) if by_customer else None
        series_by_meter[(series.meter_id, owner)].append(series)
    # With group_by, the line item is priced on its whole usage (tiers and commitment apply
    # to what it bills), and each group gets its share: the groups' costs add up to revenue.
    # Grouping by customer slices nothing where each customer pays for its own usage.
    own_usage = by_customer or not batch.external_customer_ids
    sliced = bool(set(group_by) - ({CUSTOMER_KEY} if own_usage else set()))
    wholes: dict[tuple[str, str | None], UsageSeries] = {}
    if sliced:
        whole_query = dataclasses.replace(
            query,
            group_by=(CUSTOMER_KEY,) if by_customer else (),
            window_size=None,
            with_sources=False,
        )
        for series in ask_engine(whole_query):
            owner = series.group.get(CUSTOMER_KEY) if by_customer else None
            wholes[(series.meter_id, owner)] = series

    revenues = []
    for line_item, unit in batch.line_items:
        meter = meter_by_id[line_item.meter_id]
        owner = unit.customer.external_customer_id if by_customer else None
        terms = saved_price_terms(line_item.price)
        commitment = commitment_for(line_item)
        groups = series_by_meter.get((meter.pk, owner), [])
        whole = wholes.get((meter.pk, owner)) if sliced else (groups[0] if groups else None)
        whole = whole or _no_usage(meter, engine_group_by, unit)
        billed = price_usage(
            whole,
            terms=terms,
            bucketed=meter.is_bucketed,
            commitment=commitment,
            windowed=line_item.commitment_windowed,
        )
        if not groups:
            if billed.total_cost.is_zero():
                continue
            # A commitment's true-up charges for usage that did not happen.
            groups = [_no_usage(meter, engine_group_by, unit)]
        for series, priced in zip(
            groups, _shares(groups, billed, terms=terms, meter=meter, sliced=sliced), strict=True
        ):
            revenues.append(
                LineItemRevenue(
                    customer=unit.customer,
                    line_item=line_item,
                    meter=meter,
                    start=batch.start,
                    end=batch.end,
                    group={key: series.group.get(key) for key in group_by},
                    series=series,
                    priced=priced,
                    billed=billed,
                    query=query,
                )
            )
    return revenues


def _no_usage(meter: Meter, group_by: Sequence[str], unit: BillingUnit) -> UsageSeries:
    group: dict[str, str | None] = dict.fromkeys(group_by)
    if CUSTOMER_KEY in group:
        group[CUSTOMER_KEY] = unit.customer.external_customer_id
    return UsageSeries(meter_id=meter.pk, group=group, total=None, event_count=0)


def _shares(
    groups: Sequence[UsageSeries],
    billed: PricedUsage,
    *,
    terms: PriceTerms,
    meter: Meter,
    sliced: bool,
) -> list[PricedUsage]:
    """Each group's part of what the line item bills. Unsliced, the one group is the whole.
    Sliced, the charge (and its commitment split) is shared in proportion to the groups'
    usage, and each group's points are priced on their own."""
    if not sliced:
        return [billed]
    weights = [priceable(series.total) for series in groups]
    currency = terms.currency
    splits: list[CommitmentResult | None]
    if billed.commitment is not None:
        splits = list(allocate_split(billed.commitment, weights, currency))
        totals = [split.charge for split in splits if split is not None]
    else:
        totals = allocate(billed.total_cost, weights, currency)
        splits = [None] * len(groups)
    shares = []
    for series, total, split in zip(groups, totals, splits, strict=True):
        alone = price_usage(series, terms=terms, bucketed=meter.is_bucketed)
        shares.append(
            PricedUsage(
                total_cost=total,
                usage_charge=alone.usage_charge,
                commitment=split,
                point_costs=alone.point_costs,
            )
        )
    return shares


def ask_engine(query: UsageQuery) -> list[UsageSeries]:
    """`meter_usage`, with a range too long for a meter's buckets reported as a 400."""
    try:
        return meter_usage(query)
    except TooManyWindows as error:
        raise ValidationFailed(
            str(error),
            details={"end_time": [f"{error} (the range is too long for a meter's buckets)."]},
        ) from None
