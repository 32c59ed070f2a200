"""Costsheet services and selectors: uniqueness, duplicate, archive, active costsheet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from costsheets.models import Costsheet
from costsheets.pricing import Tier
from costsheets.selectors import active_costsheet_for, costsheet_get, costsheet_prices
from costsheets.services import (
    costsheet_archive,
    costsheet_create,
    costsheet_delete,
    costsheet_duplicate,
    costsheet_update,
)
from flexprice_site.errors import AlreadyExists, NotFound
from flexprice_site.models import Environment, Status
from tests.factories import CostsheetFactory, PriceFactory

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
VOLUME_TIERS = [
    Tier(up_to=Decimal(10), unit_amount=Decimal(50)),
    Tier(up_to=Decimal(20), unit_amount=Decimal(40)),
    Tier(up_to=None, unit_amount=Decimal(30)),
]


class TestCostsheets:
    def test_name_is_unique_per_environment_among_non_deleted(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        first = costsheet_create(environment=environment, name="Providers")
        with pytest.raises(AlreadyExists) as caught:
            costsheet_create(environment=environment, name="Providers")
        assert caught.value.details == {"name": "A costsheet named “Providers” already exists."}
        assert Costsheet.objects.filter(environment=environment).count() == 1
        costsheet_create(environment=other_environment, name="Providers")
        costsheet_delete(costsheet=first)
        again = costsheet_create(environment=environment, name="Providers")
        assert again.pk != first.pk

    def test_lookup_key_is_unique_among_published_only(self, environment: Environment) -> None:
        old = costsheet_create(environment=environment, name="2025", lookup_key="providers")
        with pytest.raises(AlreadyExists) as caught:
            costsheet_create(environment=environment, name="2026", lookup_key="providers")
        assert caught.value.details == {
            "lookup_key": "A published costsheet with lookup key “providers” already exists."
        }
        costsheet_archive(costsheet=old)
        new = costsheet_create(environment=environment, name="2026", lookup_key="providers")
        assert new.lookup_key == "providers"
        with pytest.raises(AlreadyExists):
            costsheet_update(costsheet=old, data={"status": Status.PUBLISHED})
        old.refresh_from_db()
        assert old.status == Status.ARCHIVED

    def test_duplicate_copies_prices_and_tiers(self, environment: Environment) -> None:
        costsheet = CostsheetFactory(
            environment=environment,
            name="Providers",
            lookup_key="providers",
            description="Unit costs",
            metadata={"owner": "finops"},
        )
        flat = PriceFactory(environment=environment, owner=costsheet, lookup_key="gpu-hour")
        tiered = PriceFactory(
            environment=environment, owner=costsheet, billing_model="TIERED", tiers=VOLUME_TIERS
        )
        PriceFactory(environment=environment, owner=costsheet, status=Status.DELETED)

        copy = costsheet_duplicate(costsheet=costsheet, actor="user:ops")

        assert (copy.name, copy.lookup_key, copy.description, copy.metadata) == (
            "Providers (copy)",
            "",
            "Unit costs",
            {"owner": "finops"},
        )
        copies = {price.meter_id: price for price in copy.prices}
        assert set(copies) == {flat.meter_id, tiered.meter_id}
        assert copies[flat.meter_id].lookup_key == ""
        assert copies[flat.meter_id].created_by == "user:ops"
        tiers = copies[tiered.meter_id].tiers.values_list("position", "up_to", "unit_amount")
        assert list(tiers) == [(0, 10, 50), (1, 20, 40), (2, None, 30)]
        assert costsheet.prices.count() == 3
        assert costsheet_duplicate(costsheet=costsheet).name == "Providers (copy 2)"

    def test_archive_keeps_the_costsheet_out_of_active_selection(
        self, environment: Environment
    ) -> None:
        older = CostsheetFactory(environment=environment, created_at=JAN_1)
        newer = CostsheetFactory(environment=environment, created_at=JAN_1 + timedelta(days=1))
        assert active_costsheet_for(environment=environment) == newer
        costsheet_archive(costsheet=newer)
        newer.refresh_from_db()
        assert newer.status == Status.ARCHIVED
        assert active_costsheet_for(environment=environment) == older

    def test_active_costsheet_is_the_newest_published_of_the_environment(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        assert active_costsheet_for(environment=environment) is None
        published = CostsheetFactory(environment=environment, created_at=JAN_1)
        CostsheetFactory(
            environment=environment, created_at=JAN_1 + timedelta(days=1), status=Status.DELETED
        )
        CostsheetFactory(environment=other_environment, created_at=JAN_1 + timedelta(days=2))
        assert active_costsheet_for(environment=environment) == published

    def test_costsheet_prices_are_published_unexpired_usage_prices_with_a_meter(
        self, environment: Environment
    ) -> None:
        costsheet = CostsheetFactory(environment=environment)
        counted = PriceFactory(environment=environment, owner=costsheet)
        later = PriceFactory(environment=environment, owner=costsheet, end_date=JAN_1)
        PriceFactory(environment=environment, owner=costsheet, status=Status.ARCHIVED)
        PriceFactory(environment=environment, owner=costsheet, type="FIXED", meter=None)
        PriceFactory(environment=environment)  # another costsheet's
        at = JAN_1 - timedelta(seconds=1)
        assert list(costsheet_prices(costsheet=costsheet, at=at)) == [counted, later]
        assert list(costsheet_prices(costsheet=costsheet, at=JAN_1)) == [counted]

    def test_getters_do_not_see_other_environments(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        foreign = CostsheetFactory(environment=other_environment)
        with pytest.raises(NotFound) as caught:
            costsheet_get(environment=environment, costsheet_id=foreign.pk)
        assert caught.value.message == f"Costsheet {foreign.pk} was not found."
        assert costsheet_get(environment=other_environment, costsheet_id=foreign.pk) == foreign
