"""The catalogue models, one module per subject; import them from here."""

from costsheets.models.base import DECIMAL_DIGITS, DECIMAL_PLACES, BillingPeriod, decimal_field
from costsheets.models.catalogues import Costsheet, Plan
from costsheets.models.customers import Customer
from costsheets.models.meters import (
    AggregationType,
    Feature,
    FeatureType,
    Meter,
    ResetUsage,
    WindowSize,
)
from costsheets.models.prices import (
    BillingCadence,
    BillingModel,
    InvoiceCadence,
    Price,
    PriceEntityType,
    PriceTier,
    PriceType,
    PriceUnitType,
    RoundMode,
    TierMode,
)
from costsheets.models.subscriptions import (
    CommitmentType,
    LineItemEntityType,
    Subscription,
    SubscriptionLineItem,
    SubscriptionStatus,
)

__all__ = [
    "DECIMAL_DIGITS",
    "DECIMAL_PLACES",
    "AggregationType",
    "BillingCadence",
    "BillingModel",
    "BillingPeriod",
    "CommitmentType",
    "Costsheet",
    "Customer",
    "Feature",
    "FeatureType",
    "InvoiceCadence",
    "LineItemEntityType",
    "Meter",
    "Plan",
    "Price",
    "PriceEntityType",
    "PriceTier",
    "PriceType",
    "PriceUnitType",
    "ResetUsage",
    "RoundMode",
    "Subscription",
    "SubscriptionLineItem",
    "SubscriptionStatus",
    "TierMode",
    "WindowSize",
    "decimal_field",
]
