"""cost_analytics: what a scope's usage cost us, what it earned, and the margin (SPEC §6)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from analytics.costs.costing import (
    CostedUsage,
    CostScope,
    cost_item,
    costed_usage,
    counting_prices,
)
from analytics.costs.results import (
    CostAnalytics,
    CostItem,
    PeriodAmount,
    PeriodMargin,
    RevenueItem,
)
from analytics.metering import shared_answers
from analytics.metering.windows import WINDOW_SIZES
from analytics.usage import (
    UsageAnalyticsItem,
    UsageAnalyticsRequest,
    usage_analytics,
    usage_revenue,
)
from analytics.usage.scope import (
    UTC_NAME,
    BillingUnit,
    billing_units,
    customer_zone,
    metered_features,
    usage_line_items,
)
from analytics.usage.types import GROUP_CUSTOMER
from costsheets.models import Costsheet, Customer, Feature, Price, WindowSize
from costsheets.pricing import ZERO, margin_summary
from costsheets.selectors import active_costsheet_for, costsheet_get, scoped
from costsheets.validation import time_zone_error
from flexprice_site.errors import InvalidOperation, ValidationFailed
from flexprice_site.models import Environment, Status
from flexprice_site.pagination import Page
from flexprice_site.querysets import light_instances

# What cost_analytics(periods=…) gives: every item's periods, or their sums per window only.
ITEM_PERIODS = "items"
PERIOD_TOTALS = "totals"


@shared_answers()
def cost_analytics(
    *,
    environment: Environment,
    start: datetime,
    end: datetime,
    external_customer_id: str | None = None,
    feature_ids: Sequence[str] = (),
    include_children: bool = False,
    property_filters: Mapping[str, Sequence[str]] | None = None,
    window_size: str | None = "DAY",
    time_zone: str | None = None,
    costsheet_id: str | None = None,
    currency: str | None = None,
    page: Page | None = None,
    periods: str = ITEM_PERIODS,
) -> CostAnalytics:
    """Cost, revenue and margin of one customer (with its children, if asked) or of every
    customer over `[start, end)`.

    Cost: the costsheet's counting prices (the active costsheet, or `costsheet_id`) applied to
    each customer's usage of their meters, one item per (customer, meter, price); tiers apply
    to each customer's total over the range (per bucket for bucketed meters). Revenue: the same
    usage priced with subscription line items, computed by usage analytics (SPEC §5) itself.
    Windows align in `time_zone`, else the customer's time zone (one customer) or UTC.

    `page`: only the cost items of this page (in the items' order) carry their periods, and
    revenue items carry none — what the API shows; the totals still cover everything. The
    periods of thousands of items are then neither read nor priced, and revenue comes as its
    total only (no revenue items). Without a page, `periods`
    says what periods come: every item's (ITEM_PERIODS), or only their sums per window for
    `by_period` (PERIOD_TOTALS: the dashboard's and the reports' chart of everything).

    Raises NotFound for an unknown customer or costsheet, ValidationFailed for bad input and
    InvalidOperation when the scope's prices mix currencies and `currency` names none.
    """
    _check(start=start, end=end, window_size=window_size, time_zone=time_zone)
    currency = currency.strip().lower() if currency else None
    if include_children and not external_customer_id:
        raise ValidationFailed(
            "include_children folds a customer's children into it: name the customer.",
            details={"include_children": ["Needs external_customer_id."]},
        )
    unit = _unit(environment, external_customer_id, include_children)
    # The features behind meters: for feature_ids, and for the anchor of one customer's months.
    features: list[Feature] = []
    if feature_ids or (unit is not None and window_size == WindowSize.MONTH):
        features = metered_features(environment=environment, feature_ids=list(feature_ids))
    costsheet = _costsheet(environment, costsheet_id)
    prices = []
    if costsheet is not None:
        prices = counting_prices(
            environment=environment,
            costsheet=costsheet,
            start=start,
            end=end,
            meter_ids={feature.meter_id for feature in features} if feature_ids else None,
            currency=currency,
        )
    _refuse_mixed({price.currency for price in prices}, "The costsheet's prices")

    filters = {key: tuple(values) for key, values in (property_filters or {}).items()}
    # One customer's handful of items are cheap to detail; every customer's are not.
    every_period = page is None or unit is not None
    windows = window_size if every_period else None
    totals_only = page is None and periods == PERIOD_TOTALS
    request = UsageAnalyticsRequest(
        start=start,
        end=end,
        external_customer_ids=(unit.customer.external_customer_id,) if unit else (),
        include_children=include_children,
        feature_ids=tuple(dict.fromkeys(feature_ids)),
        property_filters=filters,
        group_by=() if unit else (GROUP_CUSTOMER,),
        window_size=windows,
        time_zone=time_zone,
        currency=currency,
        # Cost items have no `sources`: don't ask the engine for them.
        with_sources=False,
        item_points=not totals_only,
    )
    if every_period:
        revenue = usage_analytics(environment=environment, request=request)
        revenue_items, total_revenue = revenue.items, revenue.total_cost
        revenue_currency, revenue_windows = revenue.currency, revenue.window_costs
    else:
        # A page shows no revenue item: thousands of them would only be added up.
        revenue_items, revenue_windows = (), ()
        total_revenue, revenue_currency = usage_revenue(environment=environment, request=request)
    found_currency = _one_currency(revenue_currency, {price.currency for price in prices})

    zone = time_zone or (customer_zone(unit.customer) if unit else UTC_NAME)
    scope = CostScope(
        payer=unit.customer if unit else None,
        external_customer_ids=unit.external_customer_ids if unit else None,
    )
    anchor = _anchor(environment, unit, features, start, end, window_size, currency)

    def costed_for(
        scope: CostScope, prices: Sequence[Price], windows: str | None
    ) -> list[CostedUsage]:
        return costed_usage(
            environment=environment,
            prices=prices,
            scope=scope,
            start=start,
            end=end,
            window_size=windows,
            time_zone=zone,
            billing_anchor=anchor,
            property_filters=filters,
        )

    costed = costed_for(scope, prices, windows)
    revenue_rows = [(_revenue_customer(item, unit), item) for item in revenue_items]
    customers = _customers(
        environment,
        unit,
        {usage.external_customer_id for usage in costed}
        | {external_id for external_id, _ in revenue_rows},
    )
    cost_windows: dict[datetime, Decimal] | None = (
        defaultdict(lambda: ZERO) if totals_only else None
    )
    cost_items = _cost_items(costed, costsheet, customers, cost_windows)
    if not every_period and window_size is not None and page is not None:
        cost_items = _with_page_periods(
            cost_items,
            page,
            lambda shown_scope, shown_prices: costed_for(shown_scope, shown_prices, window_size),
            prices,
            costsheet,
            customers,
        )
    revenue_items = tuple(
        _revenue_item(item, external_id, customers.get(external_id))
        for external_id, item in revenue_rows
    )
    total_cost = sum((item.total_cost for item in cost_items), ZERO)
    return CostAnalytics(
        start=start,
        end=end,
        currency=found_currency,
        costsheet_id=costsheet.pk if costsheet is not None else None,
        total_cost=total_cost,
        total_revenue=total_revenue,
        margin=margin_summary(total_revenue, total_cost),
        cost_items=cost_items,
        revenue_items=revenue_items,
        window_size=window_size,
        time_zone=zone,
        external_customer_id=unit.customer.external_customer_id if unit else None,
        include_children=include_children,
        periods_complete=every_period and not totals_only,
        period_totals=(
            _period_totals(revenue_windows, cost_windows) if cost_windows is not None else None
        ),
    )


def _with_page_periods(
    items: tuple[CostItem, ...],
    page: Page,
    costed_for: Callable[[CostScope, Sequence[Price]], list[CostedUsage]],
    prices: Sequence[Price],
    costsheet: Costsheet | None,
    customers: Mapping[str, Customer],
) -> tuple[CostItem, ...]:
    """The items, those of the page with their periods: the page's customers' usage of the
    page's prices, read with windows (the same totals) and priced point by point."""
    shown = items[page.offset : page.offset + page.limit]
    if not shown or costsheet is None:
        return items
    price_ids = {item.price_id for item in shown}
    external_ids = tuple(dict.fromkeys(item.external_customer_id for item in shown))
    detailed = {
        (usage.external_customer_id, usage.price.pk): cost_item(
            usage, costsheet=costsheet, customer=customers.get(usage.external_customer_id)
        )
        for usage in costed_for(
            CostScope(payer=None, external_customer_ids=external_ids),
            [price for price in prices if price.pk in price_ids],
        )
    }
    return tuple(
        detailed.get((item.external_customer_id, item.price_id), item)
        if page.offset <= index < page.offset + page.limit
        else item
        for index, item in enumerate(items)
    )


def _check(
    *, start: datetime, end: datetime, window_size: str | None, time_zone: str | None
) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed(
            "start_time and end_time need a time zone offset.",
            details={"start_time": ["Give aware timestamps (RFC 3339 with an offset)."]},
        )
    if start >= end:
        raise ValidationFailed(
            "start_time must be before end_time (the range is [start, end)).",
            details={"start_time": ["start_time must be before end_time."]},
        )
    if window_size is not None and window_size not in WINDOW_SIZES:
        raise ValidationFailed(
            f"“{window_size}” is not a window size.",
            details={"window_size": [f"Use one of {', '.join(WINDOW_SIZES)}."]},
        )
    if time_zone is not None:
        error = time_zone_error(time_zone)
        if error:
            raise ValidationFailed(error, details={"time_zone": [error]})


def _unit(
    environment: Environment, external_customer_id: str | None, include_children: bool
) -> BillingUnit | None:
    if not external_customer_id:
        return None
    (unit,) = billing_units(
        environment=environment,
        external_customer_ids=[external_customer_id],
        include_children=include_children,
    )
    return unit


def _costsheet(environment: Environment, costsheet_id: str | None) -> Costsheet | None:
    if costsheet_id:
        return costsheet_get(environment=environment, costsheet_id=costsheet_id)
    return active_costsheet_for(environment=environment)


def _refuse_mixed(currencies: set[str], what: str) -> None:
    if len(currencies) > 1:
        listed = ", ".join(sorted(currencies))
        raise InvalidOperation(
            f"{what} are in {listed}; a total can't mix currencies. Name one with currency.",
            details={"currency": [f"Choose one of {listed}."]},
        )


def _one_currency(revenue_currency: str, cost_currencies: set[str]) -> str:
    """The currency of both sides; revenue and cost in different currencies can't be netted."""
    currencies = cost_currencies | ({revenue_currency} if revenue_currency else set())
    _refuse_mixed(currencies, "Revenue and cost")
    return currencies.pop() if currencies else ""


def _anchor(
    environment: Environment,
    unit: BillingUnit | None,
    features: Sequence[Feature],
    start: datetime,
    end: datetime,
    window_size: str | None,
    currency: str | None,
) -> datetime | None:
    """MONTH windows of one customer start on its billing-anchor day, as its revenue's do
    (usage analytics takes the anchor of its first line item), so cost and revenue periods
    line up."""
    if unit is None or window_size != WindowSize.MONTH:
        return None
    line_items = usage_line_items(
        environment=environment,
        meter_ids=[feature.meter_id for feature in features if feature.meter_id],
        start=start,
        end=end,
        customer_ids=[unit.customer.pk],
        currency=currency,
    )
    return line_items[0].subscription.billing_anchor if line_items else None


def _revenue_customer(item: UsageAnalyticsItem, unit: BillingUnit | None) -> str:
    if unit is not None:
        return unit.customer.external_customer_id
    return item.external_customer_id or ""


def _customers(
    environment: Environment, unit: BillingUnit | None, external_ids: set[str]
) -> dict[str, Customer]:
    """The live customers of those external IDs (events may name IDs no customer has)."""
    if unit is not None:
        return {unit.customer.external_customer_id: unit.customer}
    if not external_ids:
        return {}
    rows = (
        scoped(Customer.objects.all(), environment=environment)
        .exclude(status=Status.DELETED)
        .filter(external_customer_id__in=sorted(external_ids))
    )
    return {customer.external_customer_id: customer for customer in light_instances(rows)}


def _period_totals(
    revenue: Sequence[tuple[datetime, Decimal]], cost: Mapping[datetime, Decimal]
) -> tuple[PeriodMargin, ...]:
    earned = dict(revenue)
    return tuple(
        PeriodMargin(
            timestamp=moment,
            revenue=earned.get(moment, ZERO),
            cost=cost.get(moment, ZERO),
            margin=earned.get(moment, ZERO) - cost.get(moment, ZERO),
        )
        for moment in sorted(set(earned) | set(cost))
    )


def _cost_items(
    costed: Sequence[CostedUsage],
    costsheet: Costsheet | None,
    customers: Mapping[str, Customer],
    window_costs: dict[datetime, Decimal] | None = None,
) -> tuple[CostItem, ...]:
    if costsheet is None:
        return ()
    order = {usage.price.pk: (usage.price.created_at, usage.price.pk) for usage in costed}
    items = [
        cost_item(
            usage,
            costsheet=costsheet,
            customer=customers.get(usage.external_customer_id),
            window_costs=window_costs,
        )
        for usage in costed
    ]
    items.sort(
        key=lambda item: (
            item.external_customer_id,
            item.meter_name,
            item.meter_id,
            order[item.price_id],
        )
    )
    return tuple(items)


def _revenue_item(
    item: UsageAnalyticsItem, external_id: str, customer: Customer | None
) -> RevenueItem:
    return RevenueItem(
        external_customer_id=external_id,
        customer_id=customer.pk if customer is not None else "",
        customer_name=customer.name if customer is not None else "",
        meter_id=item.meter.pk,
        meter_name=item.meter.name,
        feature_id=item.feature.pk if item.feature is not None else None,
        price_id=item.price.pk if item.price is not None else None,
        line_item_id=item.line_item.pk if item.line_item is not None else None,
        subscription_id=item.subscription_id,
        total_usage=item.total_usage,
        total_revenue=item.total_cost,
        periods=tuple(
            PeriodAmount(
                timestamp=point.timestamp,
                quantity=point.usage,
                amount=point.cost,
                event_count=point.event_count,
            )
            for point in item.points
        ),
        total_events=item.event_count,
        feature_name=item.feature.name if item.feature is not None else "",
    )
