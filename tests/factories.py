"""factory_boy factories for the catalogue; every row lives in one tenant + environment.

Pass `environment=` to place a row (and everything it creates along with it) elsewhere than
the default Acme / production, which is the `environment` fixture's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory
from factory.django import DjangoModelFactory

from costsheets.models import (
    AggregationType,
    BillingModel,
    Costsheet,
    Customer,
    Feature,
    FeatureType,
    Meter,
    Plan,
    Price,
    PriceTier,
    PriceType,
    Subscription,
    SubscriptionLineItem,
)
from costsheets.pricing import Tier
from flexprice_site.models import Environment
from flexprice_site.services import environment_get_or_create


def default_environment() -> Environment:
    return environment_get_or_create(tenant_name="Acme", environment_name="production")


def _same_environment() -> factory.SelfAttribute:
    return factory.SelfAttribute("..environment")


class ScopedFactory(DjangoModelFactory):
    class Meta:
        abstract = True

    environment = factory.LazyFunction(default_environment)
    tenant = factory.SelfAttribute("environment.tenant")


class CustomerFactory(ScopedFactory):
    class Meta:
        model = Customer

    external_customer_id = factory.Sequence(lambda n: f"customer-{n}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"billing{n}@example.com")


class MeterFactory(ScopedFactory):
    class Meta:
        model = Meter

    name = factory.Sequence(lambda n: f"Meter {n}")
    event_name = "api_request"
    aggregation_type = AggregationType.COUNT


class FeatureFactory(ScopedFactory):
    class Meta:
        model = Feature

    name = factory.Sequence(lambda n: f"Feature {n}")
    type = FeatureType.METERED
    meter = factory.SubFactory(MeterFactory, environment=_same_environment())
    unit_singular = "request"
    unit_plural = "requests"


class CostsheetFactory(ScopedFactory):
    class Meta:
        model = Costsheet

    name = factory.Sequence(lambda n: f"Costsheet {n}")


class PlanFactory(ScopedFactory):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"Plan {n}")


class PriceFactory(ScopedFactory):
    """A $1 per unit USAGE price of a new costsheet; `owner=` gives it to a plan or costsheet,
    `tiers=[Tier(…), …]` saves tiers with it."""

    class Meta:
        model = Price
        skip_postgeneration_save = True

    class Params:
        owner = factory.SubFactory(CostsheetFactory, environment=_same_environment())

    entity_type = factory.LazyAttribute(lambda price: price.owner.price_entity_type)
    entity_id = factory.LazyAttribute(lambda price: price.owner.pk)
    currency = "usd"
    amount = Decimal("1")
    type = PriceType.USAGE
    billing_model = BillingModel.FLAT_FEE
    meter = factory.SubFactory(MeterFactory, environment=_same_environment())

    @factory.post_generation
    def tiers(self, create: bool, extracted: list[Tier] | None, **kwargs: Any) -> None:
        if not create or not extracted:
            return
        for position, tier in enumerate(extracted):
            PriceTier.objects.create(
                price=self,
                position=position,
                up_to=tier.up_to,
                unit_amount=tier.unit_amount,
                flat_amount=tier.flat_amount,
            )


class PriceTierFactory(DjangoModelFactory):
    class Meta:
        model = PriceTier

    price = factory.SubFactory(PriceFactory, billing_model=BillingModel.TIERED)
    position = factory.Sequence(lambda n: n)
    up_to = None
    unit_amount = Decimal("1")


class SubscriptionFactory(ScopedFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory, environment=_same_environment())
    plan = factory.SubFactory(PlanFactory, environment=_same_environment())
    currency = "usd"


class SubscriptionLineItemFactory(ScopedFactory):
    """A line item of a new subscription, for a new usage price of that subscription's plan."""

    class Meta:
        model = SubscriptionLineItem

    subscription = factory.SubFactory(SubscriptionFactory, environment=_same_environment())
    price = factory.SubFactory(
        PriceFactory,
        environment=_same_environment(),
        owner=factory.SelfAttribute("..subscription.plan"),
    )
    meter = factory.SelfAttribute("price.meter")
    entity_id = factory.SelfAttribute("subscription.plan_id")
    currency = factory.SelfAttribute("price.currency")
    price_type = factory.SelfAttribute("price.type")
    start_date = factory.SelfAttribute("subscription.start_date")
