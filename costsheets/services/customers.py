"""Writes for customers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from costsheets.models import Customer
from costsheets.selectors import customer_ancestor_ids, open_subscriptions_of
from costsheets.services.common import (
    apply_changes,
    check_metadata,
    place_in,
    raise_if_errors,
    related_errors,
    save_checked,
    soft_delete,
)
from costsheets.validation import customer_errors
from flexprice_site.errors import InvalidOperation
from flexprice_site.models import Environment

CUSTOMER_UPDATABLE = frozenset(
    {
        "external_customer_id",
        "name",
        "email",
        "timezone",
        "parent",
        "address_line1",
        "address_line2",
        "address_city",
        "address_state",
        "address_postal_code",
        "address_country",
        "metadata",
    }
)


def _validate(customer: Customer, *, environment: Environment) -> None:
    parent = customer.parent
    errors = related_errors(parent, environment=environment, field="parent", label="customer")
    if not errors:
        ancestors = customer_ancestor_ids(parent) if parent is not None else []
        errors = customer_errors(customer, parent_ancestor_ids=ancestors)
    raise_if_errors(errors)


def customer_create(
    *,
    environment: Environment,
    external_customer_id: str,
    name: str = "",
    email: str = "",
    timezone: str = "UTC",
    parent: Customer | None = None,
    address_line1: str = "",
    address_line2: str = "",
    address_city: str = "",
    address_state: str = "",
    address_postal_code: str = "",
    address_country: str = "",
    metadata: Mapping[str, str] | None = None,
    actor: str = "",
) -> Customer:
    customer = Customer(
        external_customer_id=external_customer_id.strip(),
        name=name,
        email=email,
        timezone=timezone,
        parent=parent,
        address_line1=address_line1,
        address_line2=address_line2,
        address_city=address_city,
        address_state=address_state,
        address_postal_code=address_postal_code,
        address_country=address_country.upper(),
        metadata=check_metadata(metadata),
    )
    place_in(customer, environment=environment, actor=actor)
    _validate(customer, environment=environment)
    save_checked(customer)
    return customer


def customer_update(*, customer: Customer, data: Mapping[str, Any], actor: str = "") -> Customer:
    """Change the given fields; a new parent may not be the customer or one of its children."""
    update_fields = apply_changes(customer, data, allowed=CUSTOMER_UPDATABLE, actor=actor)
    if "address_country" in data:
        customer.address_country = customer.address_country.upper()
    _validate(customer, environment=customer.environment)
    save_checked(customer, update_fields=update_fields)
    return customer


@transaction.atomic
def customer_delete(*, customer: Customer, actor: str = "") -> Customer:
    """Soft-delete a customer that has no open subscription; its external ID becomes free."""
    open_count = open_subscriptions_of(customer=customer).count()
    if open_count:
        raise InvalidOperation(
            f"Customer {customer.external_customer_id} has {open_count} open subscription(s); "
            "cancel them before deleting the customer.",
            details={"subscriptions": open_count},
        )
    soft_delete(customer, actor=actor)
    return customer
