"""The meters and features API: aggregation JSON, inline meters, validation, isolation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pytest_django import DjangoAssertNumQueries

from costsheets.models import Feature, Meter
from flexprice_site.models import Status
from tests.conftest import KeyedClient
from tests.costsheets.catalogue_api import assert_error, ids_of
from tests.factories import FeatureFactory, MeterFactory, PriceFactory

METERS = "/v1/meters"
FEATURES = "/v1/features"

TOKENS_METER = {
    "name": "Input tokens",
    "event_name": "llm_call",
    "aggregation": {"type": "SUM", "field": "input_tokens"},
    "filters": [{"key": "model", "values": ["gpt-4o", "gpt-4o-mini"]}],
    "reset_usage": "BILLING_PERIOD",
}


class TestMeters:
    def test_create_answers_flexprices_aggregation_and_filters(self, api: KeyedClient) -> None:
        response = api.client.post(METERS, TOKENS_METER, format="json")
        body = response.json()
        meter = Meter.objects.get()
        assert response.status_code == 201
        assert body["id"] == meter.pk
        assert body["id"].startswith("meter_")
        assert (body["name"], body["event_name"], body["reset_usage"]) == (
            "Input tokens",
            "llm_call",
            "BILLING_PERIOD",
        )
        assert body["aggregation"] == {
            "type": "SUM",
            "field": "input_tokens",
            "expression": "",
            "multiplier": None,
            "bucket_size": None,
            "group_by": "",
        }
        assert body["filters"] == [{"key": "model", "values": ["gpt-4o", "gpt-4o-mini"]}]
        assert (meter.aggregation_type, meter.aggregation_field) == ("SUM", "input_tokens")

    def test_bucketed_max_with_group_by(self, api: KeyedClient) -> None:
        response = api.client.post(
            METERS,
            {
                "name": "Storage",
                "event_name": "storage",
                "aggregation": {
                    "type": "MAX",
                    "field": "gb",
                    "bucket_size": "HOUR",
                    "group_by": "bucket_id",
                },
            },
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["aggregation"] == {
            "type": "MAX",
            "field": "gb",
            "expression": "",
            "multiplier": None,
            "bucket_size": "HOUR",
            "group_by": "bucket_id",
        }

    def test_a_json_number_multiplier_is_kept_exactly(self, api: KeyedClient) -> None:
        response = api.client.post(
            METERS,
            {
                "name": "Weighted",
                "event_name": "calls",
                "aggregation": {"type": "SUM_WITH_MULTIPLIER", "field": "n", "multiplier": 0.1},
            },
            format="json",
        )
        assert response.json()["aggregation"]["multiplier"] == "0.1"
        assert Meter.objects.get().aggregation_multiplier == Decimal("0.1")

    @pytest.mark.parametrize(
        ("aggregation", "details"),
        [
            (
                {"type": "SUM"},
                {
                    "aggregation.field": "SUM needs a field (the event property to aggregate) "
                    "or an expression."
                },
            ),
            (
                {"type": "COUNT", "bucket_size": "HOUR"},
                {
                    "aggregation.bucket_size": "A bucket size can only be used with MAX or SUM, "
                    "not COUNT."
                },
            ),
            (
                {"type": "SUM_WITH_MULTIPLIER", "field": "n"},
                {"aggregation.multiplier": "SUM_WITH_MULTIPLIER needs a multiplier above 0."},
            ),
            (
                {"type": "MEDIAN"},
                {
                    "aggregation": {
                        "type": [
                            "“MEDIAN” is not one of COUNT, SUM, AVG, COUNT_UNIQUE, LATEST, "
                            "SUM_WITH_MULTIPLIER, MAX, WEIGHTED_SUM."
                        ]
                    }
                },
            ),
        ],
    )
    def test_invalid_aggregations_are_400_naming_the_field(
        self, api: KeyedClient, aggregation: dict[str, str], details: dict[str, object]
    ) -> None:
        response = api.client.post(
            METERS,
            {"name": "M", "event_name": "e", "aggregation": aggregation},
            format="json",
        )
        body = assert_error(response, status=400)
        assert body["details"] == details
        assert Meter.objects.count() == 0

    def test_a_filter_needs_a_value(self, api: KeyedClient) -> None:
        response = api.client.post(
            METERS,
            {**TOKENS_METER, "filters": [{"key": "model", "values": []}]},
            format="json",
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "filters": {"0": {"values": ["Ensure this field has at least 1 elements."]}}
        }
        assert Meter.objects.count() == 0

    def test_rollup_properties_are_kept_shown_and_changed(self, api: KeyedClient) -> None:
        # Given a meter created with properties kept in its rollups
        response = api.client.post(
            METERS, {**TOKENS_METER, "rollup_properties": ["model", "region"]}, format="json"
        )
        assert response.status_code == 201
        assert response.json()["rollup_properties"] == ["model", "region"]
        meter = Meter.objects.get()
        assert meter.rollup_properties == ["model", "region"]
        # When the list is changed
        response = api.client.put(
            f"{METERS}/{meter.pk}", {"rollup_properties": ["region"]}, format="json"
        )
        # Then the meter keeps the new list and shows it
        assert response.status_code == 200
        assert response.json()["rollup_properties"] == ["region"]
        meter.refresh_from_db()
        assert meter.rollup_properties == ["region"]
        assert api.client.get(METERS).json()["items"][0]["rollup_properties"] == ["region"]

    def test_a_meter_without_rollup_properties_shows_an_empty_list(self, api: KeyedClient) -> None:
        response = api.client.post(METERS, TOKENS_METER, format="json")
        assert response.json()["rollup_properties"] == []

    def test_invalid_rollup_properties_are_400_and_change_nothing(self, api: KeyedClient) -> None:
        meter = MeterFactory(environment=api.environment, rollup_properties=["model"])
        response = api.client.put(
            f"{METERS}/{meter.pk}", {"rollup_properties": ["model", "1st"]}, format="json"
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "rollup_properties": "“1st” can't be kept in rollups. Use a letter or _ first, then "
            "letters, digits, _, - and . (up to 64 characters)."
        }
        meter.refresh_from_db()
        assert meter.rollup_properties == ["model"]

    def test_put_replaces_the_aggregation_and_keeps_the_rest(self, api: KeyedClient) -> None:
        meter = MeterFactory(environment=api.environment, name="Calls", event_name="api")
        response = api.client.put(
            f"{METERS}/{meter.pk}",
            {"aggregation": {"type": "COUNT_UNIQUE", "field": "user_id"}},
            format="json",
        )
        assert response.status_code == 200
        meter.refresh_from_db()
        assert (meter.name, meter.event_name, meter.aggregation_type, meter.aggregation_field) == (
            "Calls",
            "api",
            "COUNT_UNIQUE",
            "user_id",
        )

    def test_get_and_delete(self, api: KeyedClient) -> None:
        meter = MeterFactory(environment=api.environment)
        assert api.client.get(f"{METERS}/{meter.pk}").json()["id"] == meter.pk
        response = api.client.delete(f"{METERS}/{meter.pk}")
        assert response.json() == {"message": f"Meter {meter.pk} deleted."}
        meter.refresh_from_db()
        assert meter.status == Status.DELETED
        assert_error(api.client.get(f"{METERS}/{meter.pk}"), status=404, code="not_found")

    def test_a_meter_in_use_is_not_deleted(self, api: KeyedClient) -> None:
        feature = FeatureFactory(environment=api.environment)
        body = assert_error(
            api.client.delete(f"{METERS}/{feature.meter_id}"), status=400, code="invalid_operation"
        )
        assert body["details"] == {"meter": feature.meter_id}
        assert Meter.objects.get(pk=feature.meter_id).status == Status.PUBLISHED

    def test_another_tenants_meter_is_a_404(self, api: KeyedClient, other_api: KeyedClient) -> None:
        foreign = MeterFactory(environment=other_api.environment)
        assert_error(api.client.get(f"{METERS}/{foreign.pk}"), status=404, code="not_found")
        assert_error(api.client.delete(f"{METERS}/{foreign.pk}"), status=404, code="not_found")
        assert ids_of(api.client.get(METERS)) == []
        foreign.refresh_from_db()
        assert foreign.status == Status.PUBLISHED

    def test_list_filters(self, api: KeyedClient) -> None:
        calls = MeterFactory(environment=api.environment, name="Calls", event_name="api")
        tokens = MeterFactory(
            environment=api.environment,
            name="Tokens",
            event_name="llm",
            aggregation_type="SUM",
            aggregation_field="tokens",
        )
        assert ids_of(api.client.get(METERS, {"event_name": "api"})) == [calls.pk]
        assert ids_of(api.client.get(METERS, {"aggregation_type": "SUM"})) == [tokens.pk]
        assert ids_of(api.client.get(METERS, {"name": "TOK"})) == [tokens.pk]

    @pytest.mark.parametrize("rows", [1, 20])
    def test_list_query_budget(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries, rows: int
    ) -> None:
        MeterFactory.create_batch(rows, environment=api.environment)
        with django_assert_num_queries(4):
            response = api.client.get(METERS)
        assert response.json()["pagination"]["total"] == rows


class TestFeatures:
    def test_create_with_an_existing_meter_shows_it(self, api: KeyedClient) -> None:
        meter = MeterFactory(environment=api.environment)
        response = api.client.post(
            FEATURES,
            {
                "name": "API calls",
                "type": "metered",
                "lookup_key": "api-calls",
                "meter_id": meter.pk,
                "unit_singular": "call",
                "unit_plural": "calls",
                "reporting_unit": {
                    "unit_singular": "thousand calls",
                    "unit_plural": "thousand calls",
                    "conversion_rate": "0.001",
                },
            },
            format="json",
        )
        body = response.json()
        assert response.status_code == 201
        assert body["id"].startswith("feat_")
        assert (body["type"], body["meter_id"], body["meter"]["id"]) == (
            "metered",
            meter.pk,
            meter.pk,
        )
        assert body["reporting_unit"] == {
            "unit_singular": "thousand calls",
            "unit_plural": "thousand calls",
            "conversion_rate": "0.001",
        }
        assert Feature.objects.get().reporting_unit_conversion_rate == Decimal("0.001")

    def test_create_with_a_new_meter_creates_both(self, api: KeyedClient) -> None:
        response = api.client.post(
            FEATURES,
            {"name": "Input tokens", "type": "metered", "meter": TOKENS_METER},
            format="json",
        )
        body = response.json()
        meter = Meter.objects.get()
        assert response.status_code == 201
        assert body["meter_id"] == meter.pk
        assert body["meter"]["aggregation"]["field"] == "input_tokens"
        assert body["meter"]["filters"] == TOKENS_METER["filters"]
        assert Feature.objects.get().meter_id == meter.pk

    def test_an_invalid_new_meter_creates_nothing(self, api: KeyedClient) -> None:
        response = api.client.post(
            FEATURES,
            {
                "name": "Tokens",
                "type": "metered",
                "meter": {**TOKENS_METER, "aggregation": {"type": "AVG"}},
            },
            format="json",
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "meter.aggregation.field": "AVG needs a field (the event property to aggregate) or "
            "an expression."
        }
        assert (Feature.objects.count(), Meter.objects.count()) == (0, 0)

    def test_a_metered_feature_needs_a_meter(self, api: KeyedClient) -> None:
        body = assert_error(
            api.client.post(FEATURES, {"name": "X", "type": "metered"}, format="json"), status=400
        )
        assert body["details"] == {"meter_id": "A metered feature needs a meter."}
        assert Feature.objects.count() == 0

    def test_meter_id_and_meter_together_are_refused(self, api: KeyedClient) -> None:
        meter = MeterFactory(environment=api.environment)
        response = api.client.post(
            FEATURES,
            {"name": "X", "type": "metered", "meter_id": meter.pk, "meter": TOKENS_METER},
            format="json",
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "meter": ["Give meter_id (an existing meter) or meter (a new one), not both."]
        }
        assert (Feature.objects.count(), Meter.objects.count()) == (0, 1)

    def test_another_tenants_meter_is_refused_like_a_missing_one(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        foreign = MeterFactory(environment=other_api.environment)
        response = api.client.post(
            FEATURES, {"name": "X", "type": "metered", "meter_id": foreign.pk}, format="json"
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "meter_id": [f"There is no meter {foreign.pk} in this environment."]
        }
        assert Feature.objects.count() == 0

    def test_a_reporting_unit_rate_must_be_above_zero(self, api: KeyedClient) -> None:
        response = api.client.post(
            FEATURES,
            {"name": "Flag", "type": "boolean", "reporting_unit": {"conversion_rate": "0"}},
            format="json",
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "reporting_unit.conversion_rate": "The reporting unit's conversion rate is 0; it "
            "must be above 0."
        }

    def test_put_changes_names_and_removes_the_reporting_unit(self, api: KeyedClient) -> None:
        feature = FeatureFactory(
            environment=api.environment,
            reporting_unit_singular="minute",
            reporting_unit_plural="minutes",
            reporting_unit_conversion_rate=Decimal("0.0166"),
        )
        response = api.client.put(
            f"{FEATURES}/{feature.pk}",
            {"name": "Compute", "reporting_unit": None},
            format="json",
        )
        body = response.json()
        assert response.status_code == 200
        assert (body["name"], body["reporting_unit"]) == ("Compute", None)
        feature.refresh_from_db()
        assert (feature.name, feature.reporting_unit_conversion_rate) == ("Compute", None)

    def test_put_refuses_meter_filters(self, api: KeyedClient) -> None:
        feature = FeatureFactory(environment=api.environment)
        response = api.client.put(
            f"{FEATURES}/{feature.pk}", {"filters": [{"key": "a", "values": ["b"]}]}, format="json"
        )
        body = assert_error(response, status=400)
        assert body["details"] == {
            "filters": [
                "A feature's filters are its meter's: change them with PUT /v1/meters/{id}."
            ]
        }

    def test_put_refuses_a_new_type_or_meter(self, api: KeyedClient) -> None:
        feature = FeatureFactory(environment=api.environment)
        original_meter_id = feature.meter_id
        other_meter = MeterFactory(environment=api.environment)
        response = api.client.put(
            f"{FEATURES}/{feature.pk}",
            {"type": "boolean", "meter_id": other_meter.pk},
            format="json",
        )
        message = "A feature's type and meter are fixed once it exists; create a new feature."
        assert assert_error(response, status=400)["details"] == {
            "type": [message],
            "meter_id": [message],
        }
        feature.refresh_from_db()
        assert (feature.type, feature.meter_id) == ("metered", original_meter_id)

    def test_delete_and_isolation(self, api: KeyedClient, other_api: KeyedClient) -> None:
        feature = FeatureFactory(environment=api.environment)
        foreign = FeatureFactory(environment=other_api.environment)
        assert_error(api.client.get(f"{FEATURES}/{foreign.pk}"), status=404, code="not_found")
        response = api.client.delete(f"{FEATURES}/{feature.pk}")
        assert response.json() == {"message": f"Feature {feature.pk} deleted."}
        feature.refresh_from_db()
        assert feature.status == Status.DELETED
        assert ids_of(api.client.get(FEATURES)) == []
        assert ids_of(api.client.get(FEATURES, {"status": "deleted"})) == [feature.pk]

    def test_list_filters(self, api: KeyedClient) -> None:
        metered = FeatureFactory(environment=api.environment, lookup_key="calls")
        flag = FeatureFactory(environment=api.environment, type="boolean", meter=None)
        assert ids_of(api.client.get(FEATURES, {"type": "boolean"})) == [flag.pk]
        assert ids_of(api.client.get(FEATURES, {"lookup_key": "calls"})) == [metered.pk]
        assert ids_of(api.client.get(FEATURES, {"meter_id": metered.meter_id})) == [metered.pk]

    @pytest.mark.parametrize("rows", [1, 20])
    def test_list_query_budget(
        self, api: KeyedClient, django_assert_num_queries: DjangoAssertNumQueries, rows: int
    ) -> None:
        for _ in range(rows):
            PriceFactory(environment=api.environment)  # unrelated rows must not add queries
            FeatureFactory(environment=api.environment)
        # key lookup, last-used update, count, page with meters joined
        with django_assert_num_queries(4):
            response = api.client.get(FEATURES)
        assert response.json()["pagination"]["total"] == rows
