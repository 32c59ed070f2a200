"""Writes of the catalogue (`<entity>_<verb>`), one module per subject; import them from here."""

from costsheets.services.catalogues import (
    costsheet_archive,
    costsheet_create,
    costsheet_delete,
    costsheet_duplicate,
    costsheet_publish,
    costsheet_update,
    plan_create,
    plan_delete,
    plan_update,
)
from costsheets.services.customers import customer_create, customer_delete, customer_update
from costsheets.services.meters import (
    feature_create,
    feature_delete,
    feature_update,
    meter_create,
    meter_delete,
    meter_update,
)
from costsheets.services.prices import price_create, price_delete, price_update
from costsheets.services.subscriptions import (
    LineItemCommitment,
    line_item_commitment_update,
    subscription_cancel,
    subscription_create,
    subscription_period_end,
)

__all__ = [
    "LineItemCommitment",
    "costsheet_archive",
    "costsheet_create",
    "costsheet_delete",
    "costsheet_duplicate",
    "costsheet_publish",
    "costsheet_update",
    "customer_create",
    "customer_delete",
    "customer_update",
    "feature_create",
    "feature_delete",
    "feature_update",
    "line_item_commitment_update",
    "meter_create",
    "meter_delete",
    "meter_update",
    "plan_create",
    "plan_delete",
    "plan_update",
    "price_create",
    "price_delete",
    "price_update",
    "subscription_cancel",
    "subscription_create",
    "subscription_period_end",
]
