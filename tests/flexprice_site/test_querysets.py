"""light_instances: rows read fast, the same values, bookkeeping fields loaded on first use."""

from __future__ import annotations

import pytest

from costsheets.models import Customer
from flexprice_site.querysets import light_instances
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_instances_carry_every_field_but_the_bookkeeping(
    django_assert_num_queries: object,
) -> None:
    # given two customers, one with metadata
    CustomerFactory(external_customer_id="a", name="Alpha", metadata={"tier": "gold"})
    CustomerFactory(external_customer_id="b", name="Beta", timezone="Europe/Berlin")
    rows = Customer.objects.order_by("external_customer_id")

    # when they are read light
    with django_assert_num_queries(1):  # type: ignore[operator]
        light = light_instances(rows)

    # then every field but the bookkeeping ones holds what Django's own instances hold
    full = list(rows)
    assert [row.pk for row in light] == [row.pk for row in full]
    for fast, slow in zip(light, full, strict=True):
        assert fast.get_deferred_fields() == {
            "metadata",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
        }
        for field in Customer._meta.concrete_fields:
            if field.attname not in fast.get_deferred_fields():
                assert getattr(fast, field.attname) == getattr(slow, field.attname)
        assert fast._state.adding is False
    # and a bookkeeping field read anyway loads, in one query of its own
    with django_assert_num_queries(1):  # type: ignore[operator]
        assert light[0].metadata == {"tier": "gold"}
