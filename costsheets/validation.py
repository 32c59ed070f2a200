"""The catalogue's validation rules (SPEC §2) in one place, shared by the admin and the API.

Every function is pure (no queries) and returns `{field: message}`, empty when all is well.
Fields are the model's field names; tier problems are keyed `tiers[<0-based index>].<field>`.
A function that checks a model row takes an unsaved or saved instance and reads only its own
columns (`meter_id`, never `meter`), so a form or a serializer can check a row before saving.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models

from costsheets.expressions import expression_error
from costsheets.models import (
    AggregationType,
    BillingCadence,
    BillingModel,
    BillingPeriod,
    CommitmentType,
    Costsheet,
    Customer,
    Feature,
    FeatureType,
    InvoiceCadence,
    Meter,
    Plan,
    Price,
    PriceEntityType,
    PriceType,
    PriceUnitType,
    ResetUsage,
    RoundMode,
    Subscription,
    SubscriptionLineItem,
    SubscriptionStatus,
    TierMode,
    WindowSize,
)
from costsheets.pricing import Tier, price_terms_errors
from costsheets.terms import price_terms_for
from flexprice_site.rendering import format_decimal

Errors = dict[str, str]

# Event property names end up as JSON keys in metering SQL; they are always passed as query
# parameters, and this whitelist keeps them to names a person would recognise in a report.
PROPERTY_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,254}")
# Properties kept in rollups: also the rule for property names in a query's group_by
# (analytics.metering.query.GROUP_BY_PROPERTY_PATTERN is built from it), so that every property
# a query can group by can be kept, and no name can be kept that a query could not name.
ROLLUP_PROPERTY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_ROLLUP_PROPERTIES = 3

EXPRESSION_TYPES = (
    AggregationType.SUM,
    AggregationType.AVG,
    AggregationType.MAX,
    AggregationType.LATEST,
)
BUCKETED_TYPES = (AggregationType.MAX, AggregationType.SUM)
# Billing every 1,000 periods is far past any real plan, and keeps period arithmetic (up to 1,000
# years from a timestamp before flexprice_site.bounds.TIMESTAMP_MAX) inside what dates can hold.
MAX_BILLING_PERIOD_COUNT = 1000


def _one_of(choices: type[models.TextChoices]) -> str:
    values = [str(value) for value in choices.values]
    return f"{', '.join(values[:-1])} or {values[-1]}"


def _choice_errors(field: str, value: str, choices: type[models.TextChoices], what: str) -> Errors:
    if value in choices.values:
        return {}
    return {field: f"“{value}” is not {what}. Use {_one_of(choices)}."}


def _is_property_name(name: str) -> bool:
    return PROPERTY_NAME_PATTERN.fullmatch(name) is not None


def _property_name_message(name: str) -> str:
    return f"“{name}” is not a usable property name. Use letters, digits, _, -, . and : only."


def metadata_errors(metadata: object) -> Errors:
    """Metadata maps strings to strings (SPEC §2)."""
    if isinstance(metadata, dict) and all(
        isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
    ):
        return {}
    return {"metadata": "Metadata must be an object mapping names to text values."}


# --- customers ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _time_zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone_error(name: str) -> str | None:
    """Why `name` is not an IANA time zone name (such as `UTC` or `Europe/Paris`), or None.

    The one check of a time zone name, for customers, analytics requests and report schedules.
    """
    if name in _time_zone_names():
        return None
    return f"“{name}” is not a time zone. Use an IANA name such as UTC or Europe/Paris."


def timezone_errors(name: str, *, field: str = "timezone") -> Errors:
    """An IANA time zone name such as `UTC` or `Europe/Paris`."""
    error = time_zone_error(name)
    return {field: error} if error else {}


def customer_parent_errors(customer: Customer, *, parent_ancestor_ids: Sequence[str]) -> Errors:
    """The parent is not the customer itself, nor one of its descendants.

    `parent_ancestor_ids` is the chain above the new parent (the parent's id first, then its
    parent's, …), as `selectors.customer_ancestor_ids` gives it.
    """
    if customer.parent_id is None:
        return {}
    if customer.parent_id == customer.pk:
        return {"parent": "A customer cannot be its own parent."}
    if customer.pk in parent_ancestor_ids:
        return {
            "parent": f"Customer {customer.parent_id} is below this customer in the hierarchy, "
            "so it cannot be its parent."
        }
    return {}


def customer_errors(customer: Customer, *, parent_ancestor_ids: Sequence[str] = ()) -> Errors:
    errors: Errors = {}
    if not customer.external_customer_id.strip():
        errors["external_customer_id"] = "Give the customer's external ID (its ID in your system)."
    if customer.email:
        try:
            validate_email(customer.email)
        except ValidationError:
            errors["email"] = f"“{customer.email}” is not a valid email address."
    errors.update(timezone_errors(customer.timezone))
    country = customer.address_country
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        errors["address_country"] = f"“{country}” is not a country code. Use 2 letters, e.g. US."
    errors.update(customer_parent_errors(customer, parent_ancestor_ids=parent_ancestor_ids))
    return errors


# --- meters and features -----------------------------------------------------------------------


def filters_errors(filters: object) -> Errors:
    """Meter filters: a list of `{"key": str, "values": [str, …]}`, each with ≥ 1 value."""
    if not isinstance(filters, list):
        return {"filters": "Filters must be a list of {key, values} objects."}
    for number, item in enumerate(filters, start=1):
        if not isinstance(item, dict) or set(item) - {"key", "values"}:
            return {"filters": f"Filter {number} must be an object with a key and values."}
        key = item.get("key")
        if not isinstance(key, str) or not key.strip():
            return {"filters": f"Filter {number} needs a key (the event property to match)."}
        if not _is_property_name(key):
            return {"filters": f"Filter {number}: {_property_name_message(key)}"}
        values = item.get("values")
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            return {"filters": f"Filter {number} (“{key}”): values must be a list of strings."}
        if not values:
            return {"filters": f"Filter {number} (“{key}”) needs at least one value."}
    return {}


def rollup_properties_errors(properties: object) -> Errors:
    """A meter's rollup_properties: up to MAX_ROLLUP_PROPERTIES distinct property names."""
    if not isinstance(properties, list | tuple) or not all(
        isinstance(name, str) for name in properties
    ):
        return {"rollup_properties": "Give a list of property names."}
    if len(properties) > MAX_ROLLUP_PROPERTIES:
        return {
            "rollup_properties": f"Keep at most {MAX_ROLLUP_PROPERTIES} properties in rollups: "
            "each one multiplies the meter's rollup rows by its number of values."
        }
    for name in properties:
        if ROLLUP_PROPERTY_PATTERN.fullmatch(name) is None:
            return {
                "rollup_properties": f"“{name}” can't be kept in rollups. Use a letter or _ "
                "first, then letters, digits, _, - and . (up to 64 characters)."
            }
    if len(set(properties)) != len(properties):
        return {"rollup_properties": "A property is named twice."}
    return {}


def meter_errors(meter: Meter) -> Errors:
    errors: Errors = {}
    if not meter.name.strip():
        errors["name"] = "Give the meter a name."
    if not meter.event_name.strip():
        errors["event_name"] = "Give the name of the events this meter counts."
    errors.update(
        _choice_errors("reset_usage", meter.reset_usage, ResetUsage, "a usage reset option")
    )
    errors.update(filters_errors(meter.filters))
    errors.update(rollup_properties_errors(meter.rollup_properties))
    kind = meter.aggregation_type
    if kind not in AggregationType.values:
        errors.update(
            _choice_errors("aggregation_type", kind, AggregationType, "an aggregation type")
        )
        return errors
    field, expression = meter.aggregation_field, meter.aggregation_expression.strip()
    if expression and kind not in EXPRESSION_TYPES:
        errors["aggregation_expression"] = (
            f"An expression can only be used with SUM, AVG, MAX or LATEST, not {kind}."
        )
    elif field and expression:
        errors["aggregation_expression"] = "Give a field or an expression, not both."
    elif expression and (message := expression_error(expression)):
        errors["aggregation_expression"] = message
    if kind != AggregationType.COUNT and not field and not expression:
        errors["aggregation_field"] = (
            f"{kind} needs a field (the event property to aggregate) or an expression."
        )
    elif field and not _is_property_name(field):
        errors["aggregation_field"] = _property_name_message(field)
    multiplier = meter.aggregation_multiplier
    if kind == AggregationType.SUM_WITH_MULTIPLIER and (multiplier is None or multiplier <= 0):
        errors["aggregation_multiplier"] = "SUM_WITH_MULTIPLIER needs a multiplier above 0."
    if meter.bucket_size:
        if meter.bucket_size not in WindowSize.values:
            errors.update(
                _choice_errors("bucket_size", meter.bucket_size, WindowSize, "a bucket size")
            )
        elif kind not in BUCKETED_TYPES:
            errors["bucket_size"] = f"A bucket size can only be used with MAX or SUM, not {kind}."
    group_by = meter.aggregation_group_by
    if group_by:
        if kind != AggregationType.MAX or not meter.bucket_size:
            errors["aggregation_group_by"] = "Group by can only be used with MAX and a bucket size."
        elif not _is_property_name(group_by):
            errors["aggregation_group_by"] = _property_name_message(group_by)
    return errors


def feature_errors(feature: Feature) -> Errors:
    errors: Errors = {}
    if not feature.name.strip():
        errors["name"] = "Give the feature a name."
    if feature.type not in FeatureType.values:
        errors.update(_choice_errors("type", feature.type, FeatureType, "a feature type"))
    elif feature.type == FeatureType.METERED and feature.meter_id is None:
        errors["meter"] = "A metered feature needs a meter."
    elif feature.type != FeatureType.METERED and feature.meter_id is not None:
        errors["meter"] = f"Only metered features have a meter; this one is {feature.type}."
    rate = feature.reporting_unit_conversion_rate
    has_reporting_unit = bool(feature.reporting_unit_singular or feature.reporting_unit_plural)
    if rate is not None and rate <= 0:
        errors["reporting_unit_conversion_rate"] = (
            f"The reporting unit's conversion rate is {format_decimal(rate)}; it must be above 0."
        )
    elif rate is None and has_reporting_unit:
        errors["reporting_unit_conversion_rate"] = (
            "A reporting unit needs a conversion rate above 0 "
            "(reporting value = usage × conversion rate)."
        )
    return errors


# --- prices ------------------------------------------------------------------------------------

# price_terms_errors speaks of the pure terms; these are the same things' model field names.
_TERMS_FIELDS = {"divide_by": "transform_quantity_divide_by"}


def price_errors(price: Price, *, tiers: Sequence[Tier] | None = None) -> Errors:
    """Everything wrong with a price; pass `tiers` when they are not saved with it yet."""
    errors: Errors = {}
    for field, choices, what in (
        ("type", PriceType, "a price type"),
        ("billing_model", BillingModel, "a billing model"),
        ("tier_mode", TierMode, "a tier mode"),
        ("transform_quantity_round", RoundMode, "a rounding mode"),
        ("billing_period", BillingPeriod, "a billing period"),
        ("billing_cadence", BillingCadence, "a billing cadence"),
        ("invoice_cadence", InvoiceCadence, "an invoice cadence"),
        ("entity_type", PriceEntityType, "a price owner type"),
        ("price_unit_type", PriceUnitType, "a price unit type"),
    ):
        value = getattr(price, field)
        if value or field != "tier_mode":
            errors.update(_choice_errors(field, value, choices, what))
    if tiers and price.billing_model != BillingModel.TIERED:
        errors["tiers"] = f"Tiers only apply to a TIERED price; this one is {price.billing_model}."
    if errors.keys() & {"billing_model", "tier_mode", "transform_quantity_round"}:
        # Terms can't be built from unknown enum values; check what can be checked alone.
        errors.update(currency_errors(price.currency))
    else:
        terms = price_terms_for(price, tiers=tiers)
        for key, message in price_terms_errors(terms).items():
            errors[_TERMS_FIELDS.get(key, key)] = message
    if price.type == PriceType.USAGE and price.meter_id is None:
        errors["meter"] = "A usage price needs a meter (the usage it prices)."
    if not price.entity_id:
        errors["entity_id"] = "Say which plan, costsheet, … this price belongs to."
    if price.start_date and price.end_date and price.end_date <= price.start_date:
        errors["end_date"] = "The end date must be after the start date."
    if price.billing_period_count is not None:
        errors.update(billing_period_count_errors(price.billing_period_count))
    if price.min_quantity is not None and price.min_quantity < 0:
        errors["min_quantity"] = "The minimum quantity cannot be negative."
    if price.price_unit_type == PriceUnitType.CUSTOM:
        if not price.price_unit.strip():
            errors["price_unit"] = "A custom price unit needs its code, e.g. credits."
        if price.conversion_rate is None or price.conversion_rate <= 0:
            errors["conversion_rate"] = (
                "A custom price unit needs a conversion rate above 0 "
                "(the value of one unit in the fiat currency)."
            )
    return errors


def billing_period_count_errors(count: int) -> Errors:
    if not 1 <= count <= MAX_BILLING_PERIOD_COUNT:
        return {
            "billing_period_count": "The billing period count must be from 1 to "
            f"{MAX_BILLING_PERIOD_COUNT:,}."
        }
    return {}


def normalize_currency(code: str) -> str:
    """`" USD "` → `"usd"`: currencies are stored as 3 lowercase letters."""
    return code.strip().lower()


def currency_errors(code: str, *, field: str = "currency") -> Errors:
    if len(code) == 3 and code.isascii() and code.isalpha():
        return {}
    return {field: f"“{code}” is not a currency code. Use a 3-letter ISO code such as usd."}


# --- costsheets, plans, subscriptions ----------------------------------------------------------


def costsheet_errors(costsheet: Costsheet) -> Errors:
    if not costsheet.name.strip():
        return {"name": "Give the costsheet a name."}
    return {}


def plan_errors(plan: Plan) -> Errors:
    if not plan.name.strip():
        return {"name": "Give the plan a name."}
    return {}


def subscription_errors(subscription: Subscription) -> Errors:
    errors = currency_errors(subscription.currency)
    errors.update(
        _choice_errors(
            "billing_period", subscription.billing_period, BillingPeriod, "a billing period"
        )
    )
    errors.update(
        _choice_errors(
            "subscription_status",
            subscription.subscription_status,
            SubscriptionStatus,
            "a subscription status",
        )
    )
    errors.update(billing_period_count_errors(subscription.billing_period_count))
    start, end = subscription.start_date, subscription.end_date
    if start and end and end <= start:
        errors["end_date"] = "The end date must be after the start date."
    return errors


def commitment_errors(line_item: SubscriptionLineItem, *, meter_bucket_size: str = "") -> Errors:
    """A line item's commitment. `meter_bucket_size` is the bucket size of its meter, if any:
    a windowed commitment is applied per bucket, so it needs a bucketed meter."""
    errors: Errors = {}
    factor = line_item.commitment_overage_factor
    if factor is None or factor < 1:
        shown = "missing" if factor is None else format_decimal(factor)
        errors["commitment_overage_factor"] = (
            f"The overage factor is {shown}; it must be at least 1 "
            "(1 charges usage above the commitment at the normal price)."
        )
    kind = line_item.commitment_type
    if not kind:
        if line_item.commitment_amount is not None or line_item.commitment_quantity is not None:
            errors["commitment_type"] = "Choose a commitment type: amount or quantity."
        elif line_item.commitment_windowed or line_item.commitment_true_up_enabled:
            errors["commitment_type"] = (
                "Choose a commitment type (amount or quantity) to window or true up."
            )
        return errors
    if kind not in CommitmentType.values:
        errors.update(_choice_errors("commitment_type", kind, CommitmentType, "a commitment type"))
        return errors
    amount, quantity = line_item.commitment_amount, line_item.commitment_quantity
    if kind == CommitmentType.AMOUNT and (amount is None or amount <= 0):
        errors["commitment_amount"] = "An amount commitment needs an amount above 0."
    if kind == CommitmentType.QUANTITY and (quantity is None or quantity <= 0):
        errors["commitment_quantity"] = "A quantity commitment needs a quantity above 0."
    if line_item.commitment_windowed and not meter_bucket_size:
        errors["commitment_windowed"] = (
            "A windowed commitment is applied per bucket, so it needs a price whose meter has "
            "a bucket size."
        )
    return errors
