"""The demo catalogue that seed_demo makes: an AI-API company, made once however often it runs."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management import call_command

from costsheets.demo import catalogue_seed
from costsheets.models import (
    Costsheet,
    Customer,
    Feature,
    Meter,
    Plan,
    Price,
    PriceEntityType,
    Subscription,
    SubscriptionLineItem,
)
from costsheets.pricing import cost
from costsheets.selectors import active_costsheet_for, costsheet_prices
from costsheets.terms import price_terms_for
from flexprice_site.models import Environment

NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def catalogue_counts(environment: Environment) -> dict[str, int]:
    return {
        model.__name__: model.objects.filter(environment=environment).count()
        for model in (Meter, Feature, Costsheet, Plan, Price, Customer, Subscription)
    } | {
        "commitments": SubscriptionLineItem.objects.filter(environment=environment)
        .exclude(commitment_type="")
        .count()
    }


class TestCatalogueSeed:
    def test_it_makes_an_ai_api_companys_catalogue(self, environment: Environment) -> None:
        seed = catalogue_seed(environment=environment, now=NOV_10)

        assert catalogue_counts(environment) == {
            "Meter": 6,
            "Feature": 6,
            "Costsheet": 1,
            "Plan": 2,
            "Price": 15,
            "Customer": 20,
            "Subscription": 20,
            "commitments": 5,
        }
        meters = {meter.name: meter for meter in Meter.objects.all()}
        assert {
            name: (
                meter.event_name,
                meter.aggregation_type,
                meter.aggregation_field or meter.aggregation_expression,
                meter.bucket_size,
            )
            for name, meter in meters.items()
        } == {
            "Input tokens": ("input_tokens", "SUM", "tokens", ""),
            "Output tokens": ("output_tokens", "SUM", "tokens", ""),
            "API requests": ("api_request", "COUNT", "", ""),
            "Active users": ("api_request", "COUNT_UNIQUE", "user_id", ""),
            "Storage (GB-hours)": ("storage_usage", "MAX", "gb", "HOUR"),
            "Weighted tokens (CEL)": ("completion", "SUM", "input_tokens * 2 + output_tokens", ""),
        }
        assert meters["Input tokens"].filters == [
            {"key": "model", "values": ["gpt-4o", "gpt-4o-mini", "o3-mini"]}
        ]
        assert seed.created["meters"] == 6

    def test_the_provider_costsheet_prices_every_meter(self, environment: Environment) -> None:
        catalogue_seed(environment=environment, now=NOV_10)
        costsheet = active_costsheet_for(environment=environment)
        assert costsheet is not None and costsheet.name == "Provider costs"
        prices = list(costsheet_prices(costsheet=costsheet))
        assert {price.meter.name for price in prices} == set(
            Meter.objects.values_list("name", flat=True)
        )
        input_tokens = next(price for price in prices if price.meter.name == "Input tokens")
        assert cost(price_terms_for(input_tokens), Decimal(1_000_000)) == Decimal("2.5")

    def test_starter_is_package_priced_and_scale_is_tiered(self, environment: Environment) -> None:
        catalogue_seed(environment=environment, now=NOV_10)
        models_of = {
            plan.name: sorted(
                (price.type, price.billing_model, price.tier_mode if price.tiers.exists() else "")
                for price in Price.objects.filter(
                    entity_type=PriceEntityType.PLAN, entity_id=plan.pk
                )
            )
            for plan in Plan.objects.all()
        }
        assert models_of == {
            "Starter": [
                ("FIXED", "FLAT_FEE", ""),
                ("USAGE", "PACKAGE", ""),
                ("USAGE", "PACKAGE", ""),
                ("USAGE", "PACKAGE", ""),
            ],
            "Scale": [
                ("FIXED", "FLAT_FEE", ""),
                ("USAGE", "TIERED", "SLAB"),
                ("USAGE", "TIERED", "SLAB"),
                ("USAGE", "TIERED", "SLAB"),
                ("USAGE", "TIERED", "VOLUME"),
            ],
        }
        scale_output = Price.objects.get(lookup_key="scale-output-tokens")
        # 120M output tokens: 50M at 0.000011 + 70M at 0.00001.
        assert cost(price_terms_for(scale_output), Decimal(120_000_000)) == Decimal(1250)

    def test_customers_include_a_parent_with_two_children_and_commitments(
        self, environment: Environment
    ) -> None:
        catalogue_seed(environment=environment, now=NOV_10)
        parent = Customer.objects.get(external_customer_id="northwind")
        assert sorted(parent.children.values_list("external_customer_id", flat=True)) == [
            "northwind-labs",
            "northwind-retail",
        ]
        assert Subscription.objects.filter(customer=parent).get().plan.name == "Scale"
        committed = SubscriptionLineItem.objects.exclude(commitment_type="").select_related(
            "subscription__customer", "price"
        )
        assert sorted(
            (item.subscription.customer.external_customer_id, item.price.lookup_key)
            for item in committed
        ) == [
            ("acme-robotics", "scale-output-tokens"),
            ("initech", "scale-storage"),
            ("northwind", "scale-input-tokens"),
            ("umbrella-health", "scale-active-users"),
            ("umbrella-health", "scale-input-tokens"),
        ]
        # Every subscription starts on or before the seed's month, never in the future.
        assert max(Subscription.objects.values_list("start_date", flat=True)) == datetime(
            2026, 11, 1, tzinfo=UTC
        )

    def test_running_it_again_adds_nothing(self, environment: Environment) -> None:
        catalogue_seed(environment=environment, now=NOV_10)
        before = catalogue_counts(environment)
        again = catalogue_seed(environment=environment, now=NOV_10)
        assert catalogue_counts(environment) == before
        assert again.created == {}
        assert again.existing["customers"] == 20


def test_seed_demo_reports_the_catalogue(db: None, settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    first, second = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    assert "    6 meters (6 new), 6 features (6 new)\n" in first.getvalue()
    assert "    6 meters, 6 features\n" in second.getvalue()
    assert (
        "    20 customers (one parent with two children), 20 subscriptions, "
        "5 line-item commitments\n"
    ) in second.getvalue()
    assert Customer.objects.count() == 20
