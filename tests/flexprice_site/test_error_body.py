"""Every error the API can give comes in the SPEC §1 body, and nothing internal leaks."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from flexprice_site.rendering import MoneyField, UtcDateTimeField, format_decimal
from flexprice_site.throttling import ApiKeyRateThrottle
from flexprice_site.urls import urlpatterns as site_urlpatterns
from tests.conftest import KeyedClient
from tests.flexprice_site.test_api_conventions import assert_error_body


class AmountSerializer(serializers.Serializer):
    amount = MoneyField()
    at = UtcDateTimeField()


class EchoView(APIView):
    def post(self, request: Request) -> Response:
        serializer = AmountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            {**AmountSerializer(serializer.validated_data).data, "raw": Decimal("0.00")}
        )


class BoomView(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("password=hunter2 in SELECT * FROM secrets")


urlpatterns = [
    path("v1/test/echo", EchoView.as_view()),
    path("v1/test/boom", BoomView.as_view()),
    *site_urlpatterns,
]

pytestmark = pytest.mark.urls(__name__)


def post_json(api: KeyedClient, url: str, body: str) -> object:
    return api.client.generic("POST", url, body, content_type="application/json")


class TestErrorBody:
    def test_malformed_json_is_400(self, api: KeyedClient) -> None:
        response = post_json(api, "/v1/test/echo", '{"amount": ')
        assert_error_body(response, status=400, code="validation_error")

    def test_a_field_error_names_the_field(self, api: KeyedClient) -> None:
        response = post_json(api, "/v1/test/echo", json.dumps({"amount": "ten", "at": "x"}))
        body = assert_error_body(response, status=400, code="validation_error")
        assert set(body["details"]) == {"amount", "at"}
        assert body["message"].startswith("amount: ")

    def test_naive_timestamps_are_refused(self, api: KeyedClient) -> None:
        response = post_json(
            api, "/v1/test/echo", json.dumps({"amount": "1", "at": "2026-01-05T09:00:00"})
        )
        body = assert_error_body(response, status=400, code="validation_error")
        assert "time zone" in body["details"]["at"][0]

    @pytest.mark.parametrize("method", ["get", "post", "delete"])
    def test_unknown_route_is_404(self, api: KeyedClient, method: str) -> None:
        response = getattr(api.client, method)("/v1/no/such/route")
        assert_error_body(response, status=404, code="not_found")

    def test_unknown_route_without_a_key_is_404_too(self, client) -> None:
        response = client.get("/v1/nothing-here")
        assert_error_body(response, status=404, code="not_found")

    def test_wrong_method_is_405(self, api: KeyedClient) -> None:
        response = api.client.delete("/v1/secrets/api/keys")
        assert_error_body(response, status=405, code="invalid_operation")
        assert response["Allow"] == "GET, HEAD, OPTIONS"

    @override_settings(API_MAX_BODY_BYTES=100)
    def test_oversized_body_is_413_before_it_is_read(self, api: KeyedClient) -> None:
        response = post_json(api, "/v1/test/echo", json.dumps({"amount": "1" * 200}))
        body = assert_error_body(response, status=413, code="validation_error")
        assert "limit is 100 bytes" in body["message"]

    def test_too_many_requests_is_429_with_retry_after(
        self, api: KeyedClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cache.clear()
        monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
        statuses = [api.client.get("/v1/secrets/api/keys").status_code for _ in range(3)]
        response = api.client.get("/v1/secrets/api/keys")
        assert statuses == [200, 200, 429]
        body = assert_error_body(response, status=429, code="too_many_requests")
        assert 0 < int(response["Retry-After"]) <= 60
        assert body["details"]["retry_after_seconds"] == int(response["Retry-After"])

    def test_an_unexpected_exception_is_500_without_leaking(self, api: KeyedClient) -> None:
        response = api.client.get("/v1/test/boom")
        body = assert_error_body(response, status=500, code="internal_error")
        text = response.content.decode()
        assert "hunter2" not in text and "SELECT" not in text and "RuntimeError" not in text
        assert body["message"] == "An unexpected error occurred."


class TestDecimalRendering:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (Decimal("10.50"), "10.5"),
            (Decimal("0"), "0"),
            (Decimal("0.000"), "0"),
            (Decimal("-0.00"), "0"),
            (Decimal("10"), "10"),
            (Decimal("1E+2"), "100"),
            (Decimal("100.000"), "100"),
            (Decimal("0.0001000"), "0.0001"),
            (Decimal("-12.340"), "-12.34"),
            (Decimal("66.6666666666666700"), "66.66666666666667"),
        ],
    )
    def test_format_decimal(self, value: Decimal, text: str) -> None:
        assert format_decimal(value) == text

    def test_decimals_and_times_in_a_response(self, api: KeyedClient) -> None:
        response = post_json(
            api, "/v1/test/echo", json.dumps({"amount": "10.50", "at": "2026-01-05T10:00:00+01:00"})
        )
        assert response.status_code == 200
        assert response.json() == {"amount": "10.5", "at": "2026-01-05T09:00:00Z", "raw": "0"}
