"""The catalogue admin: tenant scoping, query budgets, forms that speak the validation rules,
tiers edited inline, the price calculator, archive / duplicate, subscriptions, soft delete."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.utils import quote
from django.test import Client
from django.urls import reverse

from analytics.metering.plan import meter_config_fingerprint
from analytics.rollups.models import MeterRollupState
from costsheets.models import (
    AggregationType,
    BillingModel,
    Costsheet,
    Customer,
    Meter,
    Plan,
    Price,
    PriceEntityType,
    PriceType,
    Subscription,
    SubscriptionLineItem,
    TierMode,
    WindowSize,
)
from costsheets.pricing import Tier
from flexprice_site.demo import pricing_ops_group
from flexprice_site.models import Environment, Status, User
from tests.factories import (
    CostsheetFactory,
    CustomerFactory,
    FeatureFactory,
    MeterFactory,
    PlanFactory,
    PriceFactory,
    SubscriptionLineItemFactory,
)

ADMIN = "/admin/costsheets"
SLAB_TIERS = [
    Tier(up_to=Decimal(10), unit_amount=Decimal(50)),
    Tier(up_to=Decimal(20), unit_amount=Decimal(40)),
    Tier(up_to=None, unit_amount=Decimal(30)),
]


def staff_client(environment: Environment, username: str) -> Client:
    """A staff user of the environment's tenant in the "Pricing ops" group, logged in."""
    user = User.objects.create_user(
        username=username, password="pw-123456!", is_staff=True, tenant=environment.tenant
    )
    user.groups.add(pricing_ops_group())
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acme(environment: Environment) -> Client:
    return staff_client(environment, "alice")


@pytest.fixture
def globex(other_environment: Environment) -> Client:
    return staff_client(other_environment, "gina")


def change_url(row: Any) -> str:
    """A row's admin page, its key quoted as the admin quotes it (“_” → “_5F”)."""
    return reverse(f"admin:costsheets_{row._meta.model_name}_change", args=[quote(row.pk)])


def page_errors(response: Any) -> dict[str, list[str]]:
    """The main form's errors of a re-rendered admin form, field → messages."""
    form = response.context["adminform"].form
    return {field: list(messages) for field, messages in form.errors.items()}


def inline_formset(response: Any, prefix: str) -> Any:
    return next(
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.prefix == prefix
    )


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- rows for every changelist ---------------------------------------------------------------


def make_customer(environment: Environment) -> Any:
    return CustomerFactory(environment=environment, parent=CustomerFactory(environment=environment))


def make_meter(environment: Environment) -> Any:
    return MeterFactory(
        environment=environment,
        aggregation_type=AggregationType.SUM,
        aggregation_field="tokens",
        filters=[{"key": "model", "values": ["gpt-4o"]}],
    )


def make_feature(environment: Environment) -> Any:
    return FeatureFactory(environment=environment)


def make_price(environment: Environment) -> Any:
    return PriceFactory(
        environment=environment,
        billing_model=BillingModel.TIERED,
        tier_mode=TierMode.SLAB,
        tiers=SLAB_TIERS,
    )


def make_costsheet(environment: Environment) -> Any:
    return PriceFactory(environment=environment)  # a costsheet with one price


def make_plan(environment: Environment) -> Any:
    return SubscriptionLineItemFactory(environment=environment)  # a plan with a subscriber


def make_subscription(environment: Environment) -> Any:
    return SubscriptionLineItemFactory(environment=environment)


# Each changelist gets one budget, for 1 row and for 20: a query per row would break it.
# 9 = session, user, two permission queries, tenant, count, rows and the list filters' choices;
# prices also prefetch their tiers and offer meters and environments to filter by.
CHANGELISTS: dict[str, tuple[Callable[[Environment], Any], int]] = {
    "customer": (make_customer, 9),
    "meter": (make_meter, 9),
    "feature": (make_feature, 9),
    "price": (make_price, 12),
    "costsheet": (make_costsheet, 9),
    "plan": (make_plan, 9),
    "subscription": (make_subscription, 9),
}


class TestChangelists:
    @pytest.mark.parametrize("rows", [1, 20])
    @pytest.mark.parametrize("model", CHANGELISTS)
    def test_query_count_does_not_grow_with_rows(
        self,
        model: str,
        rows: int,
        environment: Environment,
        acme: Client,
        django_assert_max_num_queries: Any,
    ) -> None:
        make, budget = CHANGELISTS[model]
        for _ in range(rows):
            make(environment)
        model_class = {
            "customer": Customer,
            "meter": Meter,
            "price": Price,
            "costsheet": Costsheet,
            "plan": Plan,
            "subscription": Subscription,
        }.get(model)
        expected = (
            model_class.objects.count() if model_class is not None else rows
        )  # some rows bring others of their kind along (a customer's parent)

        with django_assert_max_num_queries(budget):
            response = acme.get(f"{ADMIN}/{model}/")

        assert response.status_code == 200
        assert response.context["cl"].result_count == expected

    @pytest.mark.parametrize("model", CHANGELISTS)
    def test_search_and_filters_answer(
        self, model: str, environment: Environment, acme: Client
    ) -> None:
        CHANGELISTS[model][0](environment)
        searched = acme.get(f"{ADMIN}/{model}/", {"q": "no such thing"})
        by_date = acme.get(
            f"{ADMIN}/{model}/",
            {"created_at__range__gte": "2000-01-01", "created_at__range__lte": "2000-01-31"},
        )
        assert searched.status_code == 200
        assert searched.context["cl"].result_count == 0
        assert by_date.context["cl"].result_count == 0
        assert by_date.context["cl"].has_filters


class TestTenantIsolation:
    @pytest.mark.parametrize("model", CHANGELISTS)
    def test_another_tenants_staff_see_nothing_and_are_turned_away(
        self, model: str, environment: Environment, acme: Client, globex: Client
    ) -> None:
        row = CHANGELISTS[model][0](environment)
        if model in ("plan", "subscription"):
            row = row.subscription.plan if model == "plan" else row.subscription
        elif model == "costsheet":
            row = Costsheet.objects.get(pk=row.entity_id)
        url = f"{ADMIN}/{model}/{row.pk}/change/"

        theirs = globex.get(f"{ADMIN}/{model}/", {"status": "all"})
        change = globex.get(url)

        assert theirs.context["cl"].result_count == 0
        assert str(row.pk) not in theirs.content.decode()
        assert change.status_code == 302
        assert change.url == "/admin/"
        assert acme.get(url).status_code == 200

    def test_autocomplete_offers_only_the_tenants_live_customers(
        self,
        environment: Environment,
        other_environment: Environment,
        acme: Client,
        globex: Client,
    ) -> None:
        CustomerFactory(environment=environment, name="Northwind Group")
        CustomerFactory(environment=environment, name="Northwind Old", status=Status.DELETED)
        CustomerFactory(environment=other_environment, name="Northwind Globex")
        query = {
            "app_label": "costsheets",
            "model_name": "subscription",
            "field_name": "customer",
            "term": "northwind",
        }
        mine = acme.get("/admin/autocomplete/", query).json()["results"]
        theirs = globex.get("/admin/autocomplete/", query).json()["results"]
        assert [result["text"].split(" (")[0] for result in mine] == ["Northwind Group"]
        assert [result["text"].split(" (")[0] for result in theirs] == ["Northwind Globex"]

    def test_foreign_key_choices_are_the_staff_users_tenants_only(
        self, environment: Environment, other_environment: Environment, acme: Client
    ) -> None:
        mine = MeterFactory(environment=environment, name="Acme requests")
        MeterFactory(environment=other_environment, name="Globex secret meter")
        page = acme.get(f"{ADMIN}/price/add/")
        choices = {str(meter) for meter in page.context["adminform"].form.fields["meter"].queryset}
        assert choices == {str(mine)}

    def test_a_price_cannot_point_at_another_tenants_meter(
        self, environment: Environment, other_environment: Environment, acme: Client
    ) -> None:
        costsheet = CostsheetFactory(environment=environment)
        theirs = MeterFactory(environment=other_environment)
        response = acme.post(
            f"{ADMIN}/price/add/",
            price_post(environment, costsheet, meter=theirs.pk, billing_model="FLAT_FEE"),
        )
        assert page_errors(response)["meter"] == [
            "Select a valid choice. That choice is not one of the available choices."
        ]
        assert not Price.objects.exists()


# --- meters and features ---------------------------------------------------------------------


def meter_post(environment: Environment, **changes: str) -> dict[str, str]:
    data = {
        "name": "Input tokens",
        "event_name": "input_tokens",
        "aggregation_type": "SUM",
        "aggregation_field": "tokens",
        "aggregation_expression": "",
        "aggregation_multiplier": "",
        "bucket_size": "",
        "aggregation_group_by": "",
        "filters": "model = gpt-4o, gpt-4o-mini\nregion = eu",
        "rollup_properties": "",
        "reset_usage": "BILLING_PERIOD",
        "environment": environment.pk,
        "metadata": "{}",
    }
    return {**data, **changes}


class TestMeterForm:
    def test_a_valid_meter_is_created_by_the_service(
        self, environment: Environment, acme: Client
    ) -> None:
        response = acme.post(f"{ADMIN}/meter/add/", meter_post(environment))
        assert response.status_code == 302
        meter = Meter.objects.get()
        assert (meter.aggregation_type, meter.aggregation_field) == ("SUM", "tokens")
        assert meter.filters == [
            {"key": "model", "values": ["gpt-4o", "gpt-4o-mini"]},
            {"key": "region", "values": ["eu"]},
        ]
        assert (meter.tenant_id, meter.created_by) == (environment.tenant_id, "user:alice")

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            (
                {"aggregation_field": ""},
                "aggregation_field",
                "SUM needs a field (the event property to aggregate) or an expression.",
            ),
            (
                {"aggregation_type": "COUNT", "aggregation_field": "", "bucket_size": "HOUR"},
                "bucket_size",
                "A bucket size can only be used with MAX or SUM, not COUNT.",
            ),
            (
                {"aggregation_expression": "input_tokens * 2"},
                "aggregation_expression",
                "Give a field or an expression, not both.",
            ),
            (
                {"aggregation_type": "SUM_WITH_MULTIPLIER"},
                "aggregation_multiplier",
                "SUM_WITH_MULTIPLIER needs a multiplier above 0.",
            ),
            (
                {"aggregation_group_by": "region"},
                "aggregation_group_by",
                "Group by can only be used with MAX and a bucket size.",
            ),
            ({"filters": "model ="}, "filters", "Filter 1 (“model”) needs at least one value."),
            (
                {"filters": "just a word"},
                "filters",
                "Line 1 (“just a word”) needs an “=”: property = value, value.",
            ),
        ],
    )
    def test_invalid_aggregation_settings_are_refused_on_their_field(
        self,
        environment: Environment,
        acme: Client,
        changes: dict[str, str],
        field: str,
        message: str,
    ) -> None:
        response = acme.post(f"{ADMIN}/meter/add/", meter_post(environment, **changes))
        assert response.status_code == 200
        assert page_errors(response) == {field: [message]}
        assert not Meter.objects.exists()

    def test_editing_goes_through_the_same_rules(
        self, environment: Environment, acme: Client
    ) -> None:
        meter = make_meter(environment)
        url = f"{ADMIN}/meter/{meter.pk}/change/"
        refused = acme.post(url, meter_post(environment, aggregation_type="AVG", bucket_size="DAY"))
        assert page_errors(refused) == {
            "bucket_size": ["A bucket size can only be used with MAX or SUM, not AVG."]
        }
        accepted = acme.post(
            url, meter_post(environment, aggregation_type="MAX", bucket_size="HOUR")
        )
        assert accepted.status_code == 302
        meter.refresh_from_db()
        assert (meter.aggregation_type, meter.bucket_size) == ("MAX", WindowSize.HOUR)
        assert meter.updated_by == "user:alice"

    def test_properties_kept_in_rollups_are_typed_as_a_list(
        self, environment: Environment, acme: Client
    ) -> None:
        meter = make_meter(environment)
        url = f"{ADMIN}/meter/{meter.pk}/change/"
        page = acme.get(url).content.decode()
        assert "properties kept in the hourly rollups" in page.lower()
        refused = acme.post(url, meter_post(environment, rollup_properties="model, a, b, c"))
        assert page_errors(refused) == {
            "rollup_properties": [
                "Keep at most 3 properties in rollups: each one multiplies the meter's rollup "
                "rows by its number of values."
            ]
        }
        meter.refresh_from_db()
        assert meter.rollup_properties == []
        accepted = acme.post(url, meter_post(environment, rollup_properties="model, region"))
        assert accepted.status_code == 302
        meter.refresh_from_db()
        assert meter.rollup_properties == ["model", "region"]
        # The rollups follow the new setting: rebuilt in the background.
        state = MeterRollupState.objects.get(meter=meter)
        assert (state.status, state.config_fingerprint) == (
            "pending",
            meter_config_fingerprint(meter),
        )

    def test_a_metered_feature_needs_a_meter(self, environment: Environment, acme: Client) -> None:
        response = acme.post(
            f"{ADMIN}/feature/add/",
            {
                "name": "Tokens",
                "type": "metered",
                "meter": "",
                "environment": environment.pk,
                "metadata": "{}",
            },
        )
        assert page_errors(response) == {"meter": ["A metered feature needs a meter."]}


# --- prices, tiers and the calculator --------------------------------------------------------


def tier_rows(*rows: tuple[str, str, str]) -> dict[str, str]:
    """The tier inline's management form and rows (up_to, unit_amount, flat_amount)."""
    data = {
        "tiers-TOTAL_FORMS": str(len(rows)),
        "tiers-INITIAL_FORMS": "0",
        "tiers-MIN_NUM_FORMS": "0",
        "tiers-MAX_NUM_FORMS": "1000",
    }
    for index, (up_to, unit_amount, flat_amount) in enumerate(rows):
        data[f"tiers-{index}-up_to"] = up_to
        data[f"tiers-{index}-unit_amount"] = unit_amount
        data[f"tiers-{index}-flat_amount"] = flat_amount
    return data


def price_post(
    environment: Environment,
    owner: Costsheet | Plan,
    *,
    meter: str = "",
    tiers: tuple[tuple[str, str, str], ...] = (),
    **changes: str,
) -> dict[str, str]:
    data = {
        "entity_type": owner.price_entity_type,
        "entity_id": owner.pk,
        "display_name": "Tokens",
        "type": "USAGE",
        "meter": meter,
        "currency": "usd",
        "billing_model": "TIERED",
        "amount": "0",
        "tier_mode": "SLAB",
        "transform_quantity_divide_by": "",
        "transform_quantity_round": "up",
        "billing_period": "MONTHLY",
        "billing_period_count": "1",
        "billing_cadence": "RECURRING",
        "invoice_cadence": "ARREAR",
        "start_date_0": "",
        "start_date_1": "",
        "end_date_0": "",
        "end_date_1": "",
        "min_quantity": "",
        "trial_period_days": "0",
        "price_unit_type": "FIAT",
        "price_unit": "",
        "conversion_rate": "",
        "lookup_key": "",
        "description": "",
        "environment": environment.pk,
        "metadata": "{}",
        "status": "published",
        **changes,
    }
    return {**data, **tier_rows(*tiers)}


THREE_TIERS = (("10", "50", ""), ("20", "40", ""), ("", "30", ""))


class TestPriceForm:
    @pytest.fixture
    def costsheet(self, environment: Environment) -> Costsheet:
        return CostsheetFactory(environment=environment)

    @pytest.fixture
    def meter(self, environment: Environment) -> Meter:
        return MeterFactory(environment=environment)

    def test_a_tiered_price_is_created_with_its_tiers(
        self, environment: Environment, acme: Client, costsheet: Costsheet, meter: Meter
    ) -> None:
        response = acme.post(
            f"{ADMIN}/price/add/",
            price_post(environment, costsheet, meter=meter.pk, tiers=(*THREE_TIERS, ("", "", ""))),
        )
        assert response.status_code == 302
        price = Price.objects.get()
        assert (price.entity_type, price.entity_id) == (PriceEntityType.COSTSHEET, costsheet.pk)
        assert price.created_by == "user:alice"
        assert [
            (tier.position, tier.up_to, tier.unit_amount)
            for tier in price.tiers.order_by("position")
        ] == [(0, Decimal(10), Decimal(50)), (1, Decimal(20), Decimal(40)), (2, None, Decimal(30))]

    @pytest.mark.parametrize(
        ("tiers", "row", "field", "message"),
        [
            (
                (("20", "50", ""), ("10", "40", ""), ("", "30", "")),
                1,
                "up_to",
                "Tier 2 ends at 10, which is not above tier 1's end (20). "
                "Tiers must be in ascending order.",
            ),
            (
                (("", "50", ""), ("10", "40", "")),
                0,
                "up_to",
                "Tier 1 has no upper limit, but only the last tier can be open-ended. "
                "Give it an end or move it to the bottom.",
            ),
            (
                (("10", "50", ""), ("", "-1", "")),
                1,
                "unit_amount",
                "Tier 2's unit amount is -1; it cannot be negative.",
            ),
            (
                (("10", "50", "-5"), ("", "40", "")),
                0,
                "flat_amount",
                "Tier 1's flat amount is -5; it cannot be negative.",
            ),
        ],
    )
    def test_tier_problems_are_shown_on_their_row(
        self,
        environment: Environment,
        acme: Client,
        costsheet: Costsheet,
        meter: Meter,
        tiers: tuple[tuple[str, str, str], ...],
        row: int,
        field: str,
        message: str,
    ) -> None:
        response = acme.post(
            f"{ADMIN}/price/add/", price_post(environment, costsheet, meter=meter.pk, tiers=tiers)
        )
        formset = inline_formset(response, "tiers")
        assert [dict(form.errors) for form in formset.forms] == [
            {field: [message]} if index == row else {} for index in range(len(tiers))
        ]
        assert page_errors(response) == {}
        assert not Price.objects.exists()

    def test_a_blank_row_in_the_middle_does_not_shift_the_row_of_an_error(
        self, environment: Environment, acme: Client, costsheet: Costsheet, meter: Meter
    ) -> None:
        tiers = (("20", "50", ""), ("", "", ""), ("10", "40", ""))
        response = acme.post(
            f"{ADMIN}/price/add/", price_post(environment, costsheet, meter=meter.pk, tiers=tiers)
        )
        errors = [dict(form.errors) for form in inline_formset(response, "tiers").forms]
        assert errors[2] == {
            "up_to": [
                "Tier 2 ends at 10, which is not above tier 1's end (20). "
                "Tiers must be in ascending order."
            ]
        }
        assert errors[:2] == [{}, {}]

    @pytest.mark.parametrize(
        ("changes", "tiers", "message"),
        [
            ({}, (), "A tiered price needs at least one tier."),
            (
                {"billing_model": "FLAT_FEE", "amount": "1"},
                (("", "30", ""),),
                "Tiers only apply to a TIERED price; this one is FLAT_FEE.",
            ),
        ],
    )
    def test_problems_of_the_tiers_as_a_whole_are_shown_above_them(
        self,
        environment: Environment,
        acme: Client,
        costsheet: Costsheet,
        meter: Meter,
        changes: dict[str, str],
        tiers: tuple[tuple[str, str, str], ...],
        message: str,
    ) -> None:
        response = acme.post(
            f"{ADMIN}/price/add/",
            price_post(environment, costsheet, meter=meter.pk, tiers=tiers, **changes),
        )
        assert list(inline_formset(response, "tiers").non_form_errors()) == [message]
        assert not Price.objects.exists()

    def test_price_problems_are_shown_on_the_price_fields(
        self, environment: Environment, acme: Client, costsheet: Costsheet
    ) -> None:
        response = acme.post(
            f"{ADMIN}/price/add/",
            price_post(
                environment,
                costsheet,
                billing_model="PACKAGE",
                amount="1",
                currency="us$",
            ),
        )
        assert page_errors(response) == {
            "currency": ["“us$” is not a currency code. Use a 3-letter ISO code such as usd."],
            "transform_quantity_divide_by": [
                "A package price needs a package size (divide by) above 0; it is missing."
            ],
            "meter": ["A usage price needs a meter (the usage it prices)."],
        }

    def test_an_owner_that_does_not_exist_is_reported_by_the_service(
        self, environment: Environment, acme: Client, meter: Meter
    ) -> None:
        ghost = Costsheet(pk="cost_nothing", environment=environment)
        response = acme.post(
            f"{ADMIN}/price/add/",
            price_post(environment, ghost, meter=meter.pk, tiers=THREE_TIERS),
        )
        assert page_errors(response) == {
            "entity_id": ["There is no costsheet cost_nothing in this environment."]
        }
        assert not Price.objects.exists()

    def test_changing_tiers_replaces_them_through_the_service(
        self, environment: Environment, acme: Client
    ) -> None:
        price = make_price(environment)
        rows = list(price.tiers.order_by("position"))
        data = price_post(
            environment,
            Costsheet.objects.get(pk=price.entity_id),
            meter=price.meter_id,
            tiers=(("10", "45", ""), ("20", "40", ""), ("", "30", "")),
        )
        data["tiers-INITIAL_FORMS"] = "3"
        for index, row in enumerate(rows):
            data[f"tiers-{index}-id"] = row.pk
            data[f"tiers-{index}-price"] = price.pk
        data["tiers-1-DELETE"] = "on"  # drop the middle tier
        response = acme.post(f"{ADMIN}/price/{price.pk}/change/", data)
        assert response.status_code == 302
        assert [(tier.up_to, tier.unit_amount) for tier in price.tiers.order_by("position")] == [
            (Decimal(10), Decimal(45)),
            (None, Decimal(30)),
        ]
        price.refresh_from_db()
        assert price.updated_by == "user:alice"


class TestPriceCalculator:
    def calculate(self, client: Client, price: Price, quantity: str) -> Any:
        response = client.get(f"{ADMIN}/price/{price.pk}/change/", {"quantity": quantity})
        assert response.status_code == 200
        return response

    def test_slab_tiers_at_15_cost_700_as_500_plus_200(
        self, environment: Environment, acme: Client
    ) -> None:
        price = make_price(environment)
        response = self.calculate(acme, price, "15")
        calculation = response.context["calculator"]["calculation"]
        assert calculation.total == "$700.00"
        assert [(line.label, line.units, line.amount) for line in calculation.lines] == [
            ("Tier 1", "10", "500"),
            ("Tier 2", "5", "200"),
        ]
        page = response.content.decode()
        assert '<strong id="calculator-total">$700.00</strong>' in page
        assert "above 10 up to 20" in page

    def test_volume_tiers_price_every_unit_in_one_tier(
        self, environment: Environment, acme: Client
    ) -> None:
        price = PriceFactory(
            environment=environment,
            billing_model=BillingModel.TIERED,
            tier_mode=TierMode.VOLUME,
            tiers=SLAB_TIERS,
        )
        calculation = self.calculate(acme, price, "25").context["calculator"]["calculation"]
        assert calculation.total == "$750.00"
        assert [(line.label, line.covers, line.units) for line in calculation.lines] == [
            ("Tier 3", "above 20", "25")
        ]

    def test_the_total_is_rounded_to_the_currency_and_the_lines_are_exact(
        self, environment: Environment, acme: Client
    ) -> None:
        price = PriceFactory(environment=environment, amount=Decimal("0.0000025"), currency="usd")
        calculation = self.calculate(acme, price, "1234567").context["calculator"]["calculation"]
        assert (calculation.total, calculation.exact_total, calculation.is_rounded) == (
            "$3.09",
            "3.0864175",
            True,
        )
        assert calculation.quantity == "1,234,567"
        assert [line.amount for line in calculation.lines] == ["3.0864175"]

    def test_a_package_price_counts_packages(self, environment: Environment, acme: Client) -> None:
        price = PriceFactory(
            environment=environment,
            billing_model=BillingModel.PACKAGE,
            amount=Decimal(1),
            transform_quantity_divide_by=Decimal(100),
        )
        calculation = self.calculate(acme, price, "101").context["calculator"]["calculation"]
        assert calculation.total == "$2.00"
        assert [(line.label, line.units) for line in calculation.lines] == [("Packages", "2")]

    @pytest.mark.parametrize(
        ("quantity", "message"),
        [
            ("lots", "“lots” is not a number. Enter a quantity such as 15 or 1250000."),
            ("-3", "Enter a quantity of 0 or more."),
        ],
    )
    def test_a_quantity_that_is_not_one_says_so(
        self, environment: Environment, acme: Client, quantity: str, message: str
    ) -> None:
        price = make_price(environment)
        response = self.calculate(acme, price, quantity)
        assert response.context["calculator"]["calculation"].error == message
        assert f'<p class="errornote" id="calculator-error">{message}</p>' in (
            response.content.decode().replace("&ldquo;", "“").replace("&rdquo;", "”")
        )

    def test_without_a_quantity_only_the_form_is_shown(
        self, environment: Environment, acme: Client
    ) -> None:
        response = acme.get(f"{ADMIN}/price/{make_price(environment).pk}/change/")
        assert response.context["calculator"]["calculation"] is None
        assert 'id="calculator-quantity"' in response.content.decode()


# --- costsheets and plans --------------------------------------------------------------------


class TestCostsheetAdmin:
    def test_the_page_lists_its_prices_and_links_to_add_one(
        self, environment: Environment, acme: Client
    ) -> None:
        costsheet = CostsheetFactory(environment=environment, name="Providers")
        price = PriceFactory(environment=environment, owner=costsheet, display_name="GPU hours")
        PriceFactory(
            environment=environment, owner=costsheet, display_name="Gone", status=Status.DELETED
        )
        page = acme.get(f"{ADMIN}/costsheet/{costsheet.pk}/change/").content.decode()
        assert f'href="{change_url(price)}">GPU hours</a>' in page
        assert "Gone" not in page
        assert (
            f"/admin/costsheets/price/add/?entity_type=COSTSHEET&amp;entity_id={costsheet.pk}"
            f"&amp;environment={environment.pk}&amp;currency=usd&amp;type=USAGE"
        ) in page

    def test_the_add_price_link_fills_in_the_owner(
        self, environment: Environment, acme: Client
    ) -> None:
        costsheet = CostsheetFactory(environment=environment)
        response = acme.get(
            f"{ADMIN}/price/add/",
            {"entity_type": "COSTSHEET", "entity_id": costsheet.pk, "currency": "usd"},
        )
        form = response.context["adminform"].form
        assert (form["entity_type"].value(), form["entity_id"].value()) == (
            "COSTSHEET",
            costsheet.pk,
        )

    def test_duplicate_action_copies_the_costsheet_with_its_prices(
        self, environment: Environment, acme: Client
    ) -> None:
        costsheet = CostsheetFactory(environment=environment, name="Providers")
        make_price_on = PriceFactory(
            environment=environment,
            owner=costsheet,
            billing_model=BillingModel.TIERED,
            tier_mode=TierMode.SLAB,
            tiers=SLAB_TIERS,
        )
        response = acme.post(
            f"{ADMIN}/costsheet/",
            {"action": "duplicate_selected", "_selected_action": [costsheet.pk]},
            follow=True,
        )
        copy = Costsheet.objects.get(name="Providers (copy)")
        copied = copy.prices.get()
        assert copied.pk != make_price_on.pk
        assert copied.tiers.count() == 3
        assert copy.created_by == "user:alice"
        assert "Duplicated 1 costsheet." in messages_of(response)

    def test_archive_action_archives_through_the_service(
        self, environment: Environment, acme: Client
    ) -> None:
        first, second = CostsheetFactory.create_batch(2, environment=environment)
        response = acme.post(
            f"{ADMIN}/costsheet/",
            {"action": "archive_selected", "_selected_action": [first.pk, second.pk]},
            follow=True,
        )
        assert set(Costsheet.objects.values_list("status", flat=True)) == {Status.ARCHIVED}
        assert set(Costsheet.objects.values_list("updated_by", flat=True)) == {"user:alice"}
        assert "Archived 2 costsheets." in messages_of(response)

    def test_change_page_buttons_duplicate_and_archive(
        self, environment: Environment, acme: Client
    ) -> None:
        costsheet = CostsheetFactory(environment=environment, name="Providers")
        PriceFactory(environment=environment, owner=costsheet)
        page = acme.get(f"{ADMIN}/costsheet/{costsheet.pk}/change/").content.decode()
        assert f'action="/admin/costsheets/costsheet/{quote(costsheet.pk)}/duplicate/"' in page
        assert "Published, and the active costsheet" in page

        duplicated = acme.post(f"{ADMIN}/costsheet/{costsheet.pk}/duplicate/")
        copy = Costsheet.objects.get(name="Providers (copy)")
        assert duplicated.url == change_url(copy)
        assert copy.prices.count() == 1

        archived = acme.post(f"{ADMIN}/costsheet/{costsheet.pk}/archive/")
        costsheet.refresh_from_db()
        assert archived.status_code == 302
        assert costsheet.status == Status.ARCHIVED

    def test_buttons_refuse_get_and_other_tenants(
        self, environment: Environment, acme: Client, globex: Client
    ) -> None:
        costsheet = CostsheetFactory(environment=environment)
        assert acme.get(f"{ADMIN}/costsheet/{costsheet.pk}/duplicate/").status_code == 405
        assert globex.post(f"{ADMIN}/costsheet/{costsheet.pk}/duplicate/").status_code == 404
        assert Costsheet.objects.count() == 1

    def test_a_taken_name_is_reported_on_the_name_field(
        self, environment: Environment, acme: Client
    ) -> None:
        CostsheetFactory(environment=environment, name="Providers")
        response = acme.post(
            f"{ADMIN}/costsheet/add/",
            {
                "name": "Providers",
                "lookup_key": "",
                "description": "",
                "environment": environment.pk,
                "metadata": "{}",
                "status": "published",
            },
        )
        assert response.status_code == 200
        assert page_errors(response) == {"name": ["A costsheet named “Providers” already exists."]}
        assert Costsheet.objects.count() == 1

    def test_publishing_with_a_taken_lookup_key_is_refused_with_the_reason(
        self, environment: Environment, acme: Client
    ) -> None:
        old = CostsheetFactory(environment=environment, lookup_key="providers", status="archived")
        CostsheetFactory(environment=environment, lookup_key="providers")
        response = acme.post(f"{ADMIN}/costsheet/{old.pk}/publish/", follow=True)
        assert messages_of(response) == [
            "A published costsheet with lookup key “providers” already exists."
        ]
        old.refresh_from_db()
        assert old.status == Status.ARCHIVED


class TestPlanAdmin:
    def test_plan_page_lists_its_prices(self, environment: Environment, acme: Client) -> None:
        plan = PlanFactory(environment=environment)
        price = PriceFactory(environment=environment, owner=plan, display_name="Seats")
        page = acme.get(f"{ADMIN}/plan/{plan.pk}/change/").content.decode()
        assert f'href="{change_url(price)}">Seats</a>' in page
        assert f"entity_type=PLAN&amp;entity_id={plan.pk}" in page


# --- subscriptions ---------------------------------------------------------------------------


class TestSubscriptionAdmin:
    @pytest.fixture
    def plan(self, environment: Environment) -> Plan:
        plan = PlanFactory(environment=environment, name="Scale")
        PriceFactory(environment=environment, owner=plan, display_name="Tokens")
        PriceFactory(
            environment=environment,
            owner=plan,
            display_name="Platform",
            type=PriceType.FIXED,
            meter=None,
            amount=Decimal(499),
        )
        PriceFactory(environment=environment, owner=plan, currency="eur", display_name="Euro")
        return plan

    def subscribe(self, client: Client, environment: Environment, **changes: str) -> Any:
        data = {
            "customer": changes.pop("customer"),
            "plan": changes.pop("plan"),
            "currency": "usd",
            "subscription_status": "active",
            "start_date_0": "2026-01-01",
            "start_date_1": "00:00:00",
            "end_date_0": "",
            "end_date_1": "",
            "billing_anchor_0": "",
            "billing_anchor_1": "",
            "billing_period": "MONTHLY",
            "billing_period_count": "1",
            "environment": environment.pk,
            "metadata": "{}",
            **changes,
        }
        return client.post(f"{ADMIN}/subscription/add/", data)

    def test_creating_copies_the_plans_prices_into_line_items(
        self, environment: Environment, acme: Client, plan: Plan
    ) -> None:
        customer = CustomerFactory(environment=environment)
        response = self.subscribe(acme, environment, customer=customer.pk, plan=plan.pk)
        subscription = Subscription.objects.get()
        assert response.url == change_url(subscription)
        assert sorted(subscription.line_items.values_list("display_name", "quantity")) == [
            ("Platform", Decimal(1)),
            ("Tokens", Decimal(0)),
        ]
        assert subscription.billing_anchor == subscription.start_date
        assert subscription.created_by == "user:alice"

    def test_a_plan_without_prices_in_the_currency_is_reported_on_the_plan(
        self, environment: Environment, acme: Client, plan: Plan
    ) -> None:
        customer = CustomerFactory(environment=environment)
        response = self.subscribe(
            acme, environment, customer=customer.pk, plan=plan.pk, currency="gbp"
        )
        assert page_errors(response) == {
            "plan": ["Plan Scale has no published gbp prices billed MONTHLY (every 1)."]
        }
        assert not Subscription.objects.exists()

    def line_item_post(self, subscription: Subscription, **commitment: str) -> dict[str, str]:
        line_item = subscription.line_items.get()
        data = {
            "line_items-TOTAL_FORMS": "1",
            "line_items-INITIAL_FORMS": "1",
            "line_items-MIN_NUM_FORMS": "0",
            "line_items-MAX_NUM_FORMS": "1000",
            "line_items-0-id": line_item.pk,
            "line_items-0-subscription": subscription.pk,
            "line_items-0-commitment_type": "",
            "line_items-0-commitment_amount": "",
            "line_items-0-commitment_quantity": "",
            "line_items-0-commitment_overage_factor": "1",
        }
        data.update({f"line_items-0-{key}": value for key, value in commitment.items()})
        return data

    def test_commitments_are_set_on_line_items_inline(
        self, environment: Environment, acme: Client
    ) -> None:
        line_item = SubscriptionLineItemFactory(environment=environment)
        subscription = line_item.subscription
        response = acme.post(
            f"{ADMIN}/subscription/{subscription.pk}/change/",
            self.line_item_post(
                subscription,
                commitment_type="amount",
                commitment_amount="100",
                commitment_overage_factor="1.5",
                commitment_true_up_enabled="on",
            ),
        )
        assert response.status_code == 302
        line_item.refresh_from_db()
        assert (
            line_item.commitment_type,
            line_item.commitment_amount,
            line_item.commitment_overage_factor,
            line_item.commitment_true_up_enabled,
        ) == ("amount", Decimal(100), Decimal("1.5"), True)
        assert line_item.updated_by == "user:alice"

    def test_an_invalid_commitment_is_shown_on_its_line(
        self, environment: Environment, acme: Client
    ) -> None:
        line_item = SubscriptionLineItemFactory(environment=environment)
        response = acme.post(
            f"{ADMIN}/subscription/{line_item.subscription_id}/change/",
            self.line_item_post(
                line_item.subscription,
                commitment_type="amount",
                commitment_amount="100",
                commitment_windowed="on",
                commitment_overage_factor="0.5",
            ),
        )
        [form] = inline_formset(response, "line_items").forms
        assert dict(form.errors) == {
            "commitment_overage_factor": [
                "The overage factor is 0.5; it must be at least 1 "
                "(1 charges usage above the commitment at the normal price)."
            ],
            "commitment_windowed": [
                "A windowed commitment is applied per bucket, so it needs a price whose meter "
                "has a bucket size."
            ],
        }
        line_item.refresh_from_db()
        assert line_item.commitment_type == ""

    def test_cancel_action_ends_subscriptions_and_nothing_is_deleted(
        self, environment: Environment, acme: Client
    ) -> None:
        line_item = SubscriptionLineItemFactory(environment=environment)
        acme.post(
            f"{ADMIN}/subscription/",
            {"action": "cancel_selected", "_selected_action": [line_item.subscription_id]},
        )
        subscription = Subscription.objects.get()
        assert subscription.subscription_status == "cancelled"
        assert subscription.cancelled_at is not None
        deleting = acme.post(f"{ADMIN}/subscription/{subscription.pk}/delete/", {"post": "yes"})
        assert deleting.status_code == 403
        assert SubscriptionLineItem.objects.count() == 1


# --- soft delete ------------------------------------------------------------------------------


class TestSoftDelete:
    def test_deleting_marks_the_row_deleted_and_lists_hide_it(
        self, environment: Environment, acme: Client
    ) -> None:
        meter = MeterFactory(environment=environment, name="Old meter")
        confirm = acme.get(f"{ADMIN}/meter/{meter.pk}/delete/").content.decode()
        response = acme.post(f"{ADMIN}/meter/{meter.pk}/delete/", {"post": "yes"})
        meter.refresh_from_db()
        assert "Deleting keeps the row" in confirm
        assert response.status_code == 302
        assert (meter.status, meter.updated_by) == (Status.DELETED, "user:alice")
        assert acme.get(f"{ADMIN}/meter/").context["cl"].result_count == 0
        assert acme.get(f"{ADMIN}/meter/", {"status": "deleted"}).context["cl"].result_count == 1

    def test_a_delete_the_service_refuses_changes_nothing(
        self, environment: Environment, acme: Client
    ) -> None:
        price = PriceFactory(environment=environment)
        response = acme.post(
            f"{ADMIN}/meter/{price.meter_id}/delete/", {"post": "yes"}, follow=True
        )
        assert messages_of(response) == [
            f"Not deleted. Meter {price.meter.name} is used by 1 price(s); delete those first."
        ]
        assert Meter.objects.get().status == Status.PUBLISHED

    def test_bulk_delete_is_all_or_nothing(self, environment: Environment, acme: Client) -> None:
        free = MeterFactory(environment=environment)
        used = PriceFactory(environment=environment).meter
        response = acme.post(
            f"{ADMIN}/meter/",
            {"action": "delete_selected", "_selected_action": [free.pk, used.pk], "post": "yes"},
            follow=True,
        )
        assert messages_of(response) == [
            f"Nothing was deleted. Meter {used.name} is used by 1 price(s); delete those first."
        ]
        assert set(Meter.objects.values_list("status", flat=True)) == {Status.PUBLISHED}

        acme.post(
            f"{ADMIN}/meter/",
            {"action": "delete_selected", "_selected_action": [free.pk], "post": "yes"},
        )
        free.refresh_from_db()
        assert free.status == Status.DELETED

    def test_a_customer_with_open_subscriptions_is_not_deleted(
        self, environment: Environment, acme: Client
    ) -> None:
        customer = SubscriptionLineItemFactory(environment=environment).subscription.customer
        response = acme.post(
            f"{ADMIN}/customer/{customer.pk}/delete/", {"post": "yes"}, follow=True
        )
        assert messages_of(response) == [
            f"Not deleted. Customer {customer.external_customer_id} has 1 open subscription(s); "
            "cancel them before deleting the customer."
        ]
        customer.refresh_from_db()
        assert customer.status == Status.PUBLISHED

    def test_a_deleted_price_is_restored_by_publishing_it(
        self, environment: Environment, acme: Client
    ) -> None:
        price = PriceFactory(environment=environment, status=Status.DELETED)
        live = PriceFactory(environment=environment)
        page = acme.get(f"{ADMIN}/price/{price.pk}/change/")
        live_page = acme.get(f"{ADMIN}/price/{live.pk}/change/")
        status_choices = [
            [value for value, _ in response.context["adminform"].form.fields["status"].choices]
            for response in (page, live_page)
        ]
        # "deleted" is offered only to a row that is deleted already: it is set by deleting.
        assert status_choices == [["published", "archived", "deleted"], ["published", "archived"]]

        data = price_post(
            environment,
            Costsheet.objects.get(pk=price.entity_id),
            meter=price.meter_id,
            billing_model="FLAT_FEE",
            amount="1",
            display_name="",
        )
        response = acme.post(f"{ADMIN}/price/{price.pk}/change/", data)
        assert response.status_code == 302
        price.refresh_from_db()
        assert price.status == Status.PUBLISHED


class TestCustomerAdmin:
    def test_a_customer_cannot_become_its_own_grandparent(
        self, environment: Environment, acme: Client
    ) -> None:
        parent = CustomerFactory(environment=environment)
        child = CustomerFactory(environment=environment, parent=parent)
        response = acme.post(
            f"{ADMIN}/customer/{parent.pk}/change/",
            {
                "external_customer_id": parent.external_customer_id,
                "name": parent.name,
                "email": parent.email,
                "timezone": "UTC",
                "parent": child.pk,
                "metadata": "{}",
            },
        )
        assert page_errors(response) == {
            "parent": [
                f"Customer {child.pk} is below this customer in the hierarchy, "
                "so it cannot be its parent."
            ]
        }
        parent.refresh_from_db()
        assert parent.parent_id is None

    def test_a_time_zone_must_be_an_iana_name(self, environment: Environment, acme: Client) -> None:
        response = acme.post(
            f"{ADMIN}/customer/add/",
            {
                "external_customer_id": "acme-1",
                "name": "Acme",
                "email": "",
                "timezone": "Mars/Olympus",
                "environment": environment.pk,
                "metadata": "{}",
            },
        )
        assert page_errors(response) == {
            "timezone": [
                "“Mars/Olympus” is not a time zone. Use an IANA name such as UTC or Europe/Paris."
            ]
        }
        assert not Customer.objects.exists()
