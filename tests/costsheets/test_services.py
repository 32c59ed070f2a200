"""Catalogue services for customers, meters, features and prices: validation, uniqueness per
tenant + environment, soft delete."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costsheets.models import Customer, Feature, Meter, Price, PriceTier
from costsheets.pricing import Tier, cost
from costsheets.selectors import customer_descendant_ids, customer_get, customer_get_by_external_id
from costsheets.services import (
    customer_create,
    customer_delete,
    customer_update,
    feature_create,
    meter_create,
    meter_delete,
    price_create,
    price_update,
)
from costsheets.terms import price_terms_for
from flexprice_site.errors import AlreadyExists, InvalidOperation, NotFound, ValidationFailed
from flexprice_site.models import Environment, Status
from tests.factories import (
    CostsheetFactory,
    CustomerFactory,
    FeatureFactory,
    MeterFactory,
    PriceFactory,
    SubscriptionFactory,
)

VOLUME_TIERS = [
    Tier(up_to=Decimal(10), unit_amount=Decimal(50)),
    Tier(up_to=Decimal(20), unit_amount=Decimal(40)),
    Tier(up_to=None, unit_amount=Decimal(30)),
]


class TestCustomers:
    def test_create_stores_the_customer_in_the_environment(self, environment: Environment) -> None:
        customer = customer_create(
            environment=environment,
            external_customer_id=" acme-1 ",
            name="Acme Corp",
            timezone="Europe/Paris",
            address_country="fr",
            metadata={"segment": "enterprise"},
            actor="api_key:key_1",
        )
        stored = Customer.objects.get()
        assert stored.pk == customer.pk
        assert stored.pk.startswith("cust_")
        assert (stored.tenant_id, stored.environment_id) == (environment.tenant_id, environment.pk)
        assert stored.external_customer_id == "acme-1"
        assert stored.timezone == "Europe/Paris"
        assert stored.address_country == "FR"
        assert stored.metadata == {"segment": "enterprise"}
        assert (stored.created_by, stored.updated_by) == ("api_key:key_1", "api_key:key_1")
        assert stored.status == Status.PUBLISHED

    def test_invalid_timezone_writes_nothing(self, environment: Environment) -> None:
        with pytest.raises(ValidationFailed) as caught:
            customer_create(environment=environment, external_customer_id="a", timezone="CET+9")
        assert caught.value.details == {
            "timezone": "“CET+9” is not a time zone. Use an IANA name such as UTC or Europe/Paris."
        }
        assert caught.value.message == caught.value.details["timezone"]
        assert Customer.objects.count() == 0

    def test_external_id_is_unique_in_the_environment(self, environment: Environment) -> None:
        customer_create(environment=environment, external_customer_id="acme")
        with pytest.raises(AlreadyExists) as caught:
            customer_create(environment=environment, external_customer_id="acme")
        assert caught.value.details == {
            "external_customer_id": "A customer with external ID “acme” already exists."
        }
        assert Customer.objects.count() == 1

    def test_another_tenant_can_reuse_the_external_id(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        customer_create(environment=environment, external_customer_id="acme")
        other = customer_create(environment=other_environment, external_customer_id="acme")
        assert other.tenant_id == other_environment.tenant_id
        assert Customer.objects.filter(external_customer_id="acme").count() == 2

    def test_soft_delete_keeps_the_row_and_frees_the_external_id(
        self, environment: Environment
    ) -> None:
        customer = customer_create(environment=environment, external_customer_id="acme")
        customer_delete(customer=customer, actor="user:ops")
        customer.refresh_from_db()
        assert (customer.status, customer.updated_by) == (Status.DELETED, "user:ops")
        with pytest.raises(NotFound):
            customer_get(environment=environment, customer_id=customer.pk)
        again = customer_create(environment=environment, external_customer_id="acme")
        found = customer_get_by_external_id(environment=environment, external_customer_id="acme")
        assert found.pk == again.pk

    def test_a_customer_with_an_open_subscription_is_not_deleted(
        self, environment: Environment
    ) -> None:
        subscription = SubscriptionFactory(environment=environment)
        with pytest.raises(InvalidOperation) as caught:
            customer_delete(customer=subscription.customer)
        assert caught.value.message == (
            f"Customer {subscription.customer.external_customer_id} has 1 open subscription(s); "
            "cancel them before deleting the customer."
        )
        subscription.customer.refresh_from_db()
        assert subscription.customer.status == Status.PUBLISHED

    def test_parent_from_another_environment_is_refused(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        foreign = CustomerFactory(environment=other_environment)
        with pytest.raises(ValidationFailed) as caught:
            customer_create(environment=environment, external_customer_id="kid", parent=foreign)
        assert caught.value.details == {
            "parent": f"There is no customer {foreign.pk} in this environment."
        }
        assert Customer.objects.filter(environment=environment).count() == 0

    def test_a_cycle_of_parents_is_refused(self, environment: Environment) -> None:
        grandparent = CustomerFactory(environment=environment)
        parent = CustomerFactory(environment=environment, parent=grandparent)
        child = CustomerFactory(environment=environment, parent=parent)
        with pytest.raises(ValidationFailed) as caught:
            customer_update(customer=grandparent, data={"parent": child})
        assert caught.value.details == {
            "parent": f"Customer {child.pk} is below this customer in the hierarchy, so it "
            "cannot be its parent."
        }
        grandparent.refresh_from_db()
        assert grandparent.parent_id is None
        assert customer_descendant_ids(grandparent) == [parent.pk, child.pk]

    def test_update_refuses_fields_it_does_not_own(self, environment: Environment) -> None:
        customer = CustomerFactory(environment=environment, name="Before")
        with pytest.raises(ValidationFailed) as caught:
            customer_update(customer=customer, data={"name": "After", "tenant": None})
        assert caught.value.details == {"tenant": "This field cannot be changed."}
        customer.refresh_from_db()
        assert customer.name == "Before"


class TestMetersAndFeatures:
    def test_invalid_meter_writes_nothing(self, environment: Environment) -> None:
        with pytest.raises(ValidationFailed) as caught:
            meter_create(
                environment=environment,
                name="Storage",
                event_name="storage",
                aggregation_type="AVG",
                bucket_size="HOUR",
                aggregation_field="gb",
            )
        assert caught.value.details == {
            "bucket_size": "A bucket size can only be used with MAX or SUM, not AVG."
        }
        assert Meter.objects.count() == 0

    def test_multiplier_given_as_text_is_stored_as_decimal(self, environment: Environment) -> None:
        meter = meter_create(
            environment=environment,
            name="Tokens (thousands)",
            event_name="llm_call",
            aggregation_type="SUM_WITH_MULTIPLIER",
            aggregation_field="tokens",
            aggregation_multiplier="0.001",  # type: ignore[arg-type]
        )
        meter.refresh_from_db()
        assert meter.aggregation_multiplier == Decimal("0.001")

    def test_a_float_multiplier_is_refused(self, environment: Environment) -> None:
        with pytest.raises(ValidationFailed) as caught:
            meter_create(
                environment=environment,
                name="x",
                event_name="x",
                aggregation_type="SUM_WITH_MULTIPLIER",
                aggregation_field="a",
                aggregation_multiplier=0.1,  # type: ignore[arg-type]
            )
        assert caught.value.details == {
            "aggregation_multiplier": "0.1 is a float; give the number as a Decimal or a string."
        }
        assert Meter.objects.count() == 0

    def test_a_meter_in_use_is_not_deleted(self, environment: Environment) -> None:
        feature = FeatureFactory(environment=environment)
        with pytest.raises(InvalidOperation) as caught:
            meter_delete(meter=feature.meter)
        assert caught.value.message == (
            f"Meter {feature.meter.name} is used by 1 feature(s); delete those first."
        )
        feature.meter.refresh_from_db()
        assert feature.meter.status == Status.PUBLISHED

    def test_feature_creates_its_meter_inline(self, environment: Environment) -> None:
        feature = feature_create(
            environment=environment,
            name="Input tokens",
            new_meter={
                "event_name": "llm_call",
                "aggregation_type": "SUM",
                "aggregation_field": "input_tokens",
                "filters": [{"key": "model", "values": ["gpt-4o"]}],
            },
        )
        meter = Meter.objects.get()
        assert feature.meter_id == meter.pk
        assert (meter.name, meter.event_name, meter.aggregation_field) == (
            "Input tokens",
            "llm_call",
            "input_tokens",
        )
        assert meter.environment_id == environment.pk

    def test_an_invalid_inline_meter_writes_nothing(self, environment: Environment) -> None:
        with pytest.raises(ValidationFailed) as caught:
            feature_create(
                environment=environment,
                name="Input tokens",
                new_meter={"event_name": "llm_call", "aggregation_type": "SUM"},
            )
        assert caught.value.details == {
            "meter.aggregation_field": "SUM needs a field (the event property to aggregate) "
            "or an expression."
        }
        assert (Meter.objects.count(), Feature.objects.count()) == (0, 0)

    def test_an_invalid_feature_creates_no_meter(self, environment: Environment) -> None:
        with pytest.raises(ValidationFailed) as caught:
            feature_create(
                environment=environment,
                name="Tokens",
                reporting_unit_conversion_rate=Decimal(0),
                new_meter={"event_name": "llm_call"},
            )
        assert caught.value.details == {
            "reporting_unit_conversion_rate": "The reporting unit's conversion rate is 0; it "
            "must be above 0."
        }
        assert (Meter.objects.count(), Feature.objects.count()) == (0, 0)


class TestPrices:
    def test_tiered_price_is_saved_with_its_tiers_in_order(self, environment: Environment) -> None:
        costsheet = CostsheetFactory(environment=environment)
        meter = MeterFactory(environment=environment)
        price = price_create(
            environment=environment,
            entity_type="COSTSHEET",
            entity_id=costsheet.pk,
            currency="USD",
            billing_model="TIERED",
            tier_mode="VOLUME",
            tiers=VOLUME_TIERS,
            meter=meter,
        )
        price.refresh_from_db()
        assert price.currency == "usd"
        rows = list(price.tiers.values_list("position", "up_to", "unit_amount"))
        assert rows == [(0, Decimal(10), Decimal(50)), (1, Decimal(20), Decimal(40)), (2, None, 30)]
        terms = price_terms_for(price)
        assert [cost(terms, Decimal(q)) for q in (5, 15, 25)] == [250, 600, 750]

    def test_invalid_tiers_write_nothing(self, environment: Environment) -> None:
        costsheet = CostsheetFactory(environment=environment)
        with pytest.raises(ValidationFailed) as caught:
            price_create(
                environment=environment,
                entity_type="COSTSHEET",
                entity_id=costsheet.pk,
                currency="usd",
                billing_model="TIERED",
                tiers=list(reversed(VOLUME_TIERS)),
                meter=MeterFactory(environment=environment),
            )
        assert caught.value.details == {
            "tiers[0].up_to": "Tier 1 has no upper limit, but only the last tier can be "
            "open-ended. Give it an end or move it to the bottom.",
            "tiers[2].up_to": "Tier 3 ends at 10, which is not above tier 2's end (20). "
            "Tiers must be in ascending order.",
        }
        assert (Price.objects.count(), PriceTier.objects.count()) == (0, 0)

    def test_numbers_too_large_for_the_columns_write_nothing(
        self, environment: Environment
    ) -> None:
        costsheet = CostsheetFactory(environment=environment)
        too_large = Decimal(10) ** 18
        arguments = {
            "environment": environment,
            "entity_type": "COSTSHEET",
            "entity_id": costsheet.pk,
            "currency": "usd",
            "meter": MeterFactory(environment=environment),
        }
        with pytest.raises(ValidationFailed) as caught:
            price_create(**arguments, amount=too_large)
        assert caught.value.details == {
            "amount": "1000000000000000000 is too large: at most 18 digits before the decimal "
            "point."
        }
        with pytest.raises(ValidationFailed) as caught:
            price_create(**arguments, billing_model="TIERED", tiers=[Tier(None, too_large * 10)])
        assert caught.value.details == {
            "tiers[0].unit_amount": "Tier 1: 10000000000000000000 is too large: at most 18 "
            "digits before the decimal point."
        }
        assert (Price.objects.count(), PriceTier.objects.count()) == (0, 0)

    def test_owner_and_meter_must_be_in_the_environment(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        foreign_costsheet = CostsheetFactory(environment=other_environment)
        foreign_meter = MeterFactory(environment=other_environment)
        with pytest.raises(ValidationFailed) as caught:
            price_create(
                environment=environment,
                entity_type="COSTSHEET",
                entity_id=foreign_costsheet.pk,
                currency="usd",
                meter=foreign_meter,
            )
        assert caught.value.details == {
            "entity_id": f"There is no costsheet {foreign_costsheet.pk} in this environment.",
            "meter": f"There is no meter {foreign_meter.pk} in this environment.",
        }
        assert Price.objects.count() == 0

    def test_update_replaces_tiers_and_drops_them_when_no_longer_tiered(
        self, environment: Environment
    ) -> None:
        price = PriceFactory(environment=environment, billing_model="TIERED", tiers=VOLUME_TIERS)
        price_update(price=price, data={"tiers": [Tier(None, Decimal("0.5"))]})
        assert list(price.tiers.values_list("up_to", "unit_amount")) == [(None, Decimal("0.5"))]
        price_update(price=price, data={"billing_model": "FLAT_FEE", "amount": "2"})
        price.refresh_from_db()
        assert (price.billing_model, price.amount, price.tiers.count()) == (
            "FLAT_FEE",
            Decimal(2),
            0,
        )

    def test_an_invalid_update_changes_nothing(self, environment: Environment) -> None:
        price = PriceFactory(environment=environment, amount=Decimal("1.5"))
        with pytest.raises(ValidationFailed) as caught:
            price_update(price=price, data={"amount": Decimal("-1")})
        assert caught.value.details == {"amount": "The amount is -1; it cannot be negative."}
        price.refresh_from_db()
        assert price.amount == Decimal("1.5")

    def test_status_cannot_be_set_to_deleted_by_update(self, environment: Environment) -> None:
        price = PriceFactory(environment=environment)
        with pytest.raises(ValidationFailed):
            price_update(price=price, data={"status": Status.DELETED})
        price.refresh_from_db()
        assert price.status == Status.PUBLISHED
