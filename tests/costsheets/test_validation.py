"""The SPEC §2 validation rules, checked on unsaved rows (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from analytics.metering.query import GROUP_BY_PROPERTY_PATTERN
from costsheets import pricing
from costsheets.expressions import expression_error
from costsheets.models import (
    AggregationType,
    BillingModel,
    CommitmentType,
    Costsheet,
    Customer,
    Feature,
    Meter,
    Plan,
    Price,
    RoundMode,
    Subscription,
    SubscriptionLineItem,
    TierMode,
)
from costsheets.pricing import Tier
from costsheets.validation import (
    ROLLUP_PROPERTY_PATTERN,
    commitment_errors,
    costsheet_errors,
    customer_errors,
    feature_errors,
    filters_errors,
    metadata_errors,
    meter_errors,
    plan_errors,
    price_errors,
    subscription_errors,
    timezone_errors,
)

ZERO = Decimal(0)


def meter(**fields: Any) -> Meter:
    values: dict[str, Any] = {"name": "Tokens", "event_name": "llm_call"}
    return Meter(**{**values, **fields})


def price(**fields: Any) -> Price:
    values: dict[str, Any] = {
        "currency": "usd",
        "amount": Decimal("1"),
        "meter_id": "meter_1",
        "entity_type": "COSTSHEET",
        "entity_id": "cost_1",
    }
    return Price(**{**values, **fields})


def line_item(**fields: Any) -> SubscriptionLineItem:
    return SubscriptionLineItem(**fields)


class TestMeterAggregation:
    @pytest.mark.parametrize(
        "fields",
        [
            {"aggregation_type": "COUNT"},
            {"aggregation_type": "SUM", "aggregation_field": "tokens"},
            {"aggregation_type": "SUM", "aggregation_expression": "a * b"},
            {"aggregation_type": "AVG", "aggregation_expression": "a * b"},
            {"aggregation_type": "MAX", "aggregation_expression": "a"},
            {"aggregation_type": "LATEST", "aggregation_expression": "a"},
            {"aggregation_type": "COUNT_UNIQUE", "aggregation_field": "user_id"},
            {"aggregation_type": "WEIGHTED_SUM", "aggregation_field": "gb"},
        ],
    )
    def test_valid_aggregations_have_no_errors(self, fields: dict) -> None:
        assert meter_errors(meter(**fields)) == {}

    def test_an_unknown_type_is_named(self) -> None:
        assert meter_errors(meter(aggregation_type="MEDIAN")) == {
            "aggregation_type": "“MEDIAN” is not an aggregation type. Use COUNT, SUM, AVG, "
            "COUNT_UNIQUE, LATEST, SUM_WITH_MULTIPLIER, MAX or WEIGHTED_SUM."
        }

    @pytest.mark.parametrize(
        "kind",
        ["SUM", "AVG", "COUNT_UNIQUE", "LATEST", "SUM_WITH_MULTIPLIER", "MAX", "WEIGHTED_SUM"],
    )
    def test_every_type_but_count_needs_a_field_or_expression(self, kind: str) -> None:
        errors = meter_errors(meter(aggregation_type=kind, aggregation_multiplier=Decimal(2)))
        assert errors == {
            "aggregation_field": f"{kind} needs a field (the event property to aggregate) "
            "or an expression."
        }

    def test_field_and_expression_together_are_refused(self) -> None:
        errors = meter_errors(
            meter(aggregation_type="SUM", aggregation_field="a", aggregation_expression="a * 2")
        )
        assert errors == {"aggregation_expression": "Give a field or an expression, not both."}

    @pytest.mark.parametrize(
        "kind", ["COUNT", "COUNT_UNIQUE", "SUM_WITH_MULTIPLIER", "WEIGHTED_SUM"]
    )
    def test_expressions_only_for_sum_avg_max_latest(self, kind: str) -> None:
        errors = meter_errors(
            meter(
                aggregation_type=kind,
                aggregation_expression="a * 2",
                aggregation_multiplier=Decimal(2),
            )
        )
        assert errors == {
            "aggregation_expression": "An expression can only be used with SUM, AVG, MAX or "
            f"LATEST, not {kind}."
        }

    @pytest.mark.parametrize("multiplier", [None, Decimal(0), Decimal("-1")])
    def test_sum_with_multiplier_needs_a_positive_multiplier(
        self, multiplier: Decimal | None
    ) -> None:
        errors = meter_errors(
            meter(
                aggregation_type="SUM_WITH_MULTIPLIER",
                aggregation_field="a",
                aggregation_multiplier=multiplier,
            )
        )
        assert errors == {
            "aggregation_multiplier": "SUM_WITH_MULTIPLIER needs a multiplier above 0."
        }

    def test_sum_with_multiplier_above_zero_is_valid(self) -> None:
        fields = {"aggregation_field": "a", "aggregation_multiplier": Decimal("0.001")}
        assert meter_errors(meter(aggregation_type="SUM_WITH_MULTIPLIER", **fields)) == {}

    @pytest.mark.parametrize("kind", ["MAX", "SUM"])
    def test_bucket_size_with_max_or_sum(self, kind: str) -> None:
        fields = {"aggregation_field": "gb", "bucket_size": "HOUR"}
        assert meter_errors(meter(aggregation_type=kind, **fields)) == {}

    @pytest.mark.parametrize("kind", ["AVG", "LATEST", "COUNT_UNIQUE", "WEIGHTED_SUM"])
    def test_bucket_size_refused_with_other_types(self, kind: str) -> None:
        fields = {"aggregation_field": "gb", "bucket_size": "HOUR"}
        assert meter_errors(meter(aggregation_type=kind, **fields)) == {
            "bucket_size": f"A bucket size can only be used with MAX or SUM, not {kind}."
        }

    def test_bucket_size_refused_with_count(self) -> None:
        assert meter_errors(meter(aggregation_type="COUNT", bucket_size="DAY")) == {
            "bucket_size": "A bucket size can only be used with MAX or SUM, not COUNT."
        }

    def test_an_unknown_bucket_size_is_named(self) -> None:
        errors = meter_errors(
            meter(aggregation_type="MAX", aggregation_field="gb", bucket_size="2HOUR")
        )
        assert errors == {
            "bucket_size": "“2HOUR” is not a bucket size. Use MINUTE, 15MIN, 30MIN, HOUR, "
            "3HOUR, 6HOUR, 12HOUR, DAY, WEEK or MONTH."
        }

    def test_group_by_with_max_and_bucket_size(self) -> None:
        fields = {"aggregation_field": "gb", "bucket_size": "HOUR", "aggregation_group_by": "vm"}
        assert meter_errors(meter(aggregation_type="MAX", **fields)) == {}

    @pytest.mark.parametrize(("kind", "bucket_size"), [("MAX", ""), ("SUM", "HOUR"), ("AVG", "")])
    def test_group_by_needs_max_and_a_bucket_size(self, kind: str, bucket_size: str) -> None:
        errors = meter_errors(
            meter(
                aggregation_type=kind,
                aggregation_field="gb",
                bucket_size=bucket_size,
                aggregation_group_by="vm",
            )
        )
        assert errors["aggregation_group_by"] == (
            "Group by can only be used with MAX and a bucket size."
        )

    def test_property_names_are_whitelisted(self) -> None:
        errors = meter_errors(meter(aggregation_type="SUM", aggregation_field="a'); drop"))
        assert errors == {
            "aggregation_field": "“a'); drop” is not a usable property name. "
            "Use letters, digits, _, -, . and : only."
        }

    def test_name_event_name_and_reset_usage(self) -> None:
        errors = meter_errors(meter(name=" ", event_name="", reset_usage="DAILY"))
        assert errors == {
            "name": "Give the meter a name.",
            "event_name": "Give the name of the events this meter counts.",
            "reset_usage": "“DAILY” is not a usage reset option. Use BILLING_PERIOD or NEVER.",
        }


class TestMeterFilters:
    def test_filters_with_keys_and_values_are_valid(self) -> None:
        filters = [
            {"key": "model", "values": ["gpt-4o", "o1"]},
            {"key": "region", "values": ["eu"]},
        ]
        assert filters_errors(filters) == {}
        assert meter_errors(meter(filters=filters)) == {}

    @pytest.mark.parametrize(
        ("filters", "message"),
        [
            ({"model": ["gpt-4o"]}, "Filters must be a list of {key, values} objects."),
            (["model"], "Filter 1 must be an object with a key and values."),
            ([{"values": ["a"]}], "Filter 1 needs a key (the event property to match)."),
            (
                [{"key": "model", "values": ["a"]}, {"key": " ", "values": ["a"]}],
                "Filter 2 needs a key (the event property to match).",
            ),
            ([{"key": "model", "values": []}], "Filter 1 (“model”) needs at least one value."),
            ([{"key": "model"}], "Filter 1 (“model”): values must be a list of strings."),
            (
                [{"key": "model", "values": [1]}],
                "Filter 1 (“model”): values must be a list of strings.",
            ),
            (
                [{"key": "model", "values": ["a"], "op": "neq"}],
                "Filter 1 must be an object with a key and values.",
            ),
        ],
    )
    def test_every_filter_needs_a_key_and_a_value(self, filters: object, message: str) -> None:
        assert filters_errors(filters) == {"filters": message}
        assert meter_errors(meter(filters=filters)) == {"filters": message}


class TestMeterRollupProperties:
    def test_up_to_three_property_names_are_valid(self) -> None:
        assert meter_errors(meter(rollup_properties=[])) == {}
        assert meter_errors(meter(rollup_properties=["model", "region", "user.tier"])) == {}

    @pytest.mark.parametrize(
        ("properties", "message"),
        [
            (
                ["a", "b", "c", "d"],
                "Keep at most 3 properties in rollups: each one multiplies the meter's rollup "
                "rows by its number of values.",
            ),
            (["model", "model"], "A property is named twice."),
            (
                ["1st"],
                "“1st” can't be kept in rollups. Use a letter or _ first, then letters, digits, "
                "_, - and . (up to 64 characters).",
            ),
            (
                ["model'); DROP TABLE x; --"],
                "“model'); DROP TABLE x; --” can't be kept in rollups. Use a letter or _ first, "
                "then letters, digits, _, - and . (up to 64 characters).",
            ),
            (
                ["a:b"],
                "“a:b” can't be kept in rollups. Use a letter or _ first, then letters, digits, "
                "_, - and . (up to 64 characters).",
            ),
            (
                ["x" * 65],
                f"“{'x' * 65}” can't be kept in rollups. Use a letter or _ first, then letters, "
                "digits, _, - and . (up to 64 characters).",
            ),
            ("model", "Give a list of property names."),
            ([1], "Give a list of property names."),
        ],
    )
    def test_other_lists_are_refused(self, properties: object, message: str) -> None:
        assert meter_errors(meter(rollup_properties=properties)) == {"rollup_properties": message}

    def test_the_rule_is_the_engines_rule_for_grouped_properties(self) -> None:
        # Every property a query can group by can be kept, and nothing else.
        assert ROLLUP_PROPERTY_PATTERN.pattern == GROUP_BY_PROPERTY_PATTERN.pattern.removeprefix(
            r"properties\."
        ).removeprefix("(").removesuffix(")")


class TestFeature:
    def test_metered_feature_with_meter_is_valid(self) -> None:
        assert feature_errors(Feature(name="Tokens", type="metered", meter_id="meter_1")) == {}

    def test_metered_feature_needs_a_meter(self) -> None:
        assert feature_errors(Feature(name="Tokens", type="metered")) == {
            "meter": "A metered feature needs a meter."
        }

    def test_only_metered_features_have_a_meter(self) -> None:
        assert feature_errors(Feature(name="SSO", type="boolean", meter_id="meter_1")) == {
            "meter": "Only metered features have a meter; this one is boolean."
        }

    def test_unknown_type(self) -> None:
        assert feature_errors(Feature(name="SSO", type="flag")) == {
            "type": "“flag” is not a feature type. Use metered, boolean or static."
        }

    @pytest.mark.parametrize("rate", [Decimal(0), Decimal("-0.5")])
    def test_reporting_unit_conversion_rate_above_zero(self, rate: Decimal) -> None:
        feature = Feature(
            name="Compute",
            type="static",
            reporting_unit_singular="minute",
            reporting_unit_conversion_rate=rate,
        )
        assert feature_errors(feature) == {
            "reporting_unit_conversion_rate": "The reporting unit's conversion rate is "
            f"{rate}; it must be above 0."
        }

    def test_reporting_unit_needs_a_conversion_rate(self) -> None:
        feature = Feature(name="Compute", type="static", reporting_unit_plural="minutes")
        assert feature_errors(feature) == {
            "reporting_unit_conversion_rate": "A reporting unit needs a conversion rate above 0 "
            "(reporting value = usage × conversion rate)."
        }

    def test_reporting_unit_with_positive_rate_is_valid(self) -> None:
        feature = Feature(
            name="Compute",
            type="static",
            reporting_unit_singular="minute",
            reporting_unit_plural="minutes",
            reporting_unit_conversion_rate=Decimal("0.0166"),
        )
        assert feature_errors(feature) == {}


class TestPrice:
    def test_a_flat_fee_usage_price_is_valid(self) -> None:
        assert price_errors(price()) == {}

    def test_usage_price_needs_a_meter(self) -> None:
        assert price_errors(price(meter_id=None)) == {
            "meter": "A usage price needs a meter (the usage it prices)."
        }

    def test_fixed_price_needs_no_meter(self) -> None:
        assert price_errors(price(type="FIXED", meter_id=None)) == {}

    def test_currency_must_have_three_letters(self) -> None:
        assert price_errors(price(currency="dollars")) == {
            "currency": "“dollars” is not a currency code. Use a 3-letter ISO code such as usd."
        }

    def test_end_date_after_start_date(self) -> None:
        moment = datetime(2026, 1, 1, tzinfo=UTC)
        assert price_errors(price(start_date=moment, end_date=moment)) == {
            "end_date": "The end date must be after the start date."
        }

    def test_tier_rules_come_from_pricing(self) -> None:
        tiers = [Tier(up_to=Decimal(10), unit_amount=Decimal(1)), Tier(None, Decimal(1))]
        tiers.reverse()
        tiered = price(billing_model="TIERED", tier_mode="SLAB")
        assert price_errors(tiered, tiers=tiers) == {
            "tiers[0].up_to": "Tier 1 has no upper limit, but only the last tier can be "
            "open-ended. Give it an end or move it to the bottom."
        }

    def test_descending_tiers_are_refused(self) -> None:
        tiers = [Tier(Decimal(20), Decimal(1)), Tier(Decimal(10), Decimal(1)), Tier(None, ZERO)]
        errors = price_errors(price(billing_model="TIERED"), tiers=tiers)
        assert errors == {
            "tiers[1].up_to": "Tier 2 ends at 10, which is not above tier 1's end (20). "
            "Tiers must be in ascending order."
        }

    def test_tiered_price_needs_tiers(self) -> None:
        assert price_errors(price(billing_model="TIERED"), tiers=[]) == {
            "tiers": "A tiered price needs at least one tier."
        }

    def test_tiers_only_for_tiered_prices(self) -> None:
        tiers = [Tier(None, Decimal(1))]
        assert price_errors(price(billing_model="FLAT_FEE"), tiers=tiers) == {
            "tiers": "Tiers only apply to a TIERED price; this one is FLAT_FEE."
        }

    def test_package_needs_a_package_size(self) -> None:
        assert price_errors(price(billing_model="PACKAGE")) == {
            "transform_quantity_divide_by": "A package price needs a package size (divide by) "
            "above 0; it is missing."
        }

    def test_unknown_enum_values_are_named(self) -> None:
        errors = price_errors(price(billing_model="STAIRCASE", type="ONCE", currency="usdollar"))
        assert errors == {
            "type": "“ONCE” is not a price type. Use USAGE or FIXED.",
            "billing_model": "“STAIRCASE” is not a billing model. Use FLAT_FEE, PACKAGE or TIERED.",
            "currency": "“usdollar” is not a currency code. Use a 3-letter ISO code such as usd.",
        }

    def test_custom_price_unit_needs_code_and_rate(self) -> None:
        assert price_errors(price(price_unit_type="CUSTOM")) == {
            "price_unit": "A custom price unit needs its code, e.g. credits.",
            "conversion_rate": "A custom price unit needs a conversion rate above 0 "
            "(the value of one unit in the fiat currency).",
        }

    def test_owner_period_count_and_min_quantity(self) -> None:
        errors = price_errors(
            price(entity_id="", billing_period_count=0, min_quantity=Decimal("-1"))
        )
        assert errors == {
            "entity_id": "Say which plan, costsheet, … this price belongs to.",
            "billing_period_count": "The billing period count must be from 1 to 1,000.",
            "min_quantity": "The minimum quantity cannot be negative.",
        }

    def test_display_amount(self) -> None:
        assert price(amount=Decimal("12.500")).display_amount == "$12.5"
        assert price(amount=Decimal("0.002"), currency="eur").display_amount == "€0.002"
        assert price(amount=Decimal("3"), currency="chf").display_amount == "CHF 3"

    def test_model_choices_match_the_pricing_enums(self) -> None:
        assert set(BillingModel.values) == {member.value for member in pricing.BillingModel}
        assert set(TierMode.values) == {member.value for member in pricing.TierMode}
        assert set(RoundMode.values) == {member.value for member in pricing.RoundMode}
        assert set(CommitmentType.values) == {member.value for member in pricing.CommitmentType}


class TestCommitment:
    def test_no_commitment_is_valid(self) -> None:
        assert commitment_errors(line_item()) == {}

    def test_amount_commitment_needs_an_amount_above_zero(self) -> None:
        for amount in (None, ZERO):
            errors = commitment_errors(
                line_item(commitment_type="amount", commitment_amount=amount)
            )
            assert errors == {"commitment_amount": "An amount commitment needs an amount above 0."}

    def test_quantity_commitment_needs_a_quantity_above_zero(self) -> None:
        errors = commitment_errors(line_item(commitment_type="quantity", commitment_quantity=ZERO))
        assert errors == {"commitment_quantity": "A quantity commitment needs a quantity above 0."}

    def test_overage_factor_at_least_one(self) -> None:
        item = line_item(
            commitment_type="amount",
            commitment_amount=Decimal(10),
            commitment_overage_factor=Decimal("0.9"),
        )
        assert commitment_errors(item) == {
            "commitment_overage_factor": "The overage factor is 0.9; it must be at least 1 "
            "(1 charges usage above the commitment at the normal price)."
        }

    def test_a_committed_amount_needs_a_type(self) -> None:
        assert commitment_errors(line_item(commitment_amount=Decimal(5))) == {
            "commitment_type": "Choose a commitment type: amount or quantity."
        }

    def test_windowed_needs_a_bucketed_meter(self) -> None:
        item = line_item(
            commitment_type="amount", commitment_amount=Decimal(10), commitment_windowed=True
        )
        assert commitment_errors(item) == {
            "commitment_windowed": "A windowed commitment is applied per bucket, so it needs a "
            "price whose meter has a bucket size."
        }
        assert commitment_errors(item, meter_bucket_size="HOUR") == {}


class TestCustomer:
    def test_valid_customer(self) -> None:
        customer = Customer(external_customer_id="acme", timezone="Asia/Kolkata")
        assert customer_errors(customer) == {}

    def test_timezone_must_be_iana(self) -> None:
        assert timezone_errors("Mars/Olympus") == {
            "timezone": "“Mars/Olympus” is not a time zone. Use an IANA name such as UTC or "
            "Europe/Paris."
        }
        assert timezone_errors("Europe/Paris") == {}

    def test_external_id_email_and_country(self) -> None:
        customer = Customer(external_customer_id=" ", email="nope", address_country="USA")
        assert customer_errors(customer) == {
            "external_customer_id": "Give the customer's external ID (its ID in your system).",
            "email": "“nope” is not a valid email address.",
            "address_country": "“USA” is not a country code. Use 2 letters, e.g. US.",
        }

    def test_a_customer_cannot_be_its_own_parent(self) -> None:
        customer = Customer(id="cust_a", external_customer_id="a", parent_id="cust_a")
        assert customer_errors(customer, parent_ancestor_ids=["cust_a"]) == {
            "parent": "A customer cannot be its own parent."
        }

    def test_a_descendant_cannot_become_the_parent(self) -> None:
        customer = Customer(id="cust_a", external_customer_id="a", parent_id="cust_c")
        errors = customer_errors(customer, parent_ancestor_ids=["cust_c", "cust_b", "cust_a"])
        assert errors == {
            "parent": "Customer cust_c is below this customer in the hierarchy, so it cannot "
            "be its parent."
        }


class TestOthers:
    def test_names_are_required(self) -> None:
        assert costsheet_errors(Costsheet(name=" ")) == {"name": "Give the costsheet a name."}
        assert plan_errors(Plan(name="")) == {"name": "Give the plan a name."}

    def test_metadata_maps_strings_to_strings(self) -> None:
        assert metadata_errors({"team": "infra"}) == {}
        assert metadata_errors({"seats": 5}) == {
            "metadata": "Metadata must be an object mapping names to text values."
        }

    def test_subscription_rules(self) -> None:
        start = datetime(2026, 2, 1, tzinfo=UTC)
        subscription = Subscription(
            currency="us",
            start_date=start,
            end_date=datetime(2026, 1, 1, tzinfo=UTC),
            billing_period="FORTNIGHTLY",
            billing_period_count=0,
            subscription_status="active",
        )
        assert subscription_errors(subscription) == {
            "currency": "“us” is not a currency code. Use a 3-letter ISO code such as usd.",
            "billing_period": "“FORTNIGHTLY” is not a billing period. Use MONTHLY, ANNUAL, "
            "WEEKLY, DAILY, QUARTERLY, HALF_YEARLY or ONETIME.",
            "billing_period_count": "The billing period count must be from 1 to 1,000.",
            "end_date": "The end date must be after the start date.",
        }

    def test_aggregation_choices_are_the_eight_types(self) -> None:
        assert AggregationType.values == [
            "COUNT",
            "SUM",
            "AVG",
            "COUNT_UNIQUE",
            "LATEST",
            "SUM_WITH_MULTIPLIER",
            "MAX",
            "WEIGHTED_SUM",
        ]


class TestMeterExpressions:
    def test_an_expression_that_is_not_cel_is_refused_with_where_it_breaks(self) -> None:
        meter = Meter(
            name="Weighted tokens",
            event_name="llm_call",
            aggregation_type="SUM",
            aggregation_expression="input_tokens * ",
            filters=[],
        )
        assert meter_errors(meter) == {
            "aggregation_expression": (
                "The expression is not valid CEL: it can't be read near character 14. "
                "Write arithmetic over event properties, e.g. input_tokens * 2 + output_tokens."
            )
        }

    def test_a_cel_expression_is_accepted(self) -> None:
        meter = Meter(
            name="Weighted tokens",
            event_name="llm_call",
            aggregation_type="SUM",
            aggregation_expression="input_tokens * 2 + output_tokens",
            filters=[],
        )
        assert meter_errors(meter) == {}

    def test_an_overlong_expression_is_refused(self) -> None:
        assert expression_error("a + " * 300 + "b") == (
            "The expression is 1201 characters long; the limit is 1000."
        )
