"""Ingesting usage events: validation, idempotency, unknown customers, batches, and races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.models import ProtectedError

from analytics.models import Event
from flexprice_site.models import Environment
from tests.conftest import KeyedClient, keyed_client
from tests.factories import CustomerFactory

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def event(event_id: str | None = "evt-1", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_name": "llm_call",
        "external_customer_id": "acme-1",
        "timestamp": "2026-01-10T09:30:00+01:00",
        "source": "api",
        "properties": {"model": "gpt-4", "tokens": 120, "cached": True},
    }
    if event_id is not None:
        body["event_id"] = event_id
    body.update(overrides)
    return body


def post_written_batch(api: KeyedClient, body: str) -> Any:
    """A batch exactly as written (escapes and numbers an encoder would not write), answered
    with every event's result."""
    return api.client.post(
        "/v1/events/bulk",
        body,
        content_type="application/json",
        HTTP_PREFER="return=representation",
    )


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


class TestOneEvent:
    def test_an_event_is_stored_as_sent(self, api: KeyedClient) -> None:
        response = api.client.post("/v1/events", event(), format="json")

        assert response.status_code == 202
        assert response.json() == {
            "event_id": "evt-1",
            "status": "accepted",
            "message": "Event accepted for processing.",
        }
        stored = Event.objects.get()
        assert (stored.tenant, stored.environment) == (api.tenant, api.environment)
        assert (stored.event_name, stored.external_customer_id, stored.source) == (
            "llm_call",
            "acme-1",
            "api",
        )
        assert stored.timestamp == datetime(2026, 1, 10, 8, 30, tzinfo=UTC)
        assert stored.properties == {"model": "gpt-4", "tokens": 120, "cached": True}
        assert stored.ingested_at == NOW

    def test_without_an_id_or_timestamp_one_is_made_and_now_is_used(self, api: KeyedClient) -> None:
        body = event(event_id=None)
        del body["timestamp"]
        response = api.client.post("/v1/events", body, format="json")

        event_id = response.json()["event_id"]
        assert event_id.startswith("event_")
        assert Event.objects.get(event_id=event_id).timestamp == NOW

    def test_id_is_accepted_as_the_event_id_too(self, api: KeyedClient) -> None:
        body = event(event_id=None, id="from-id-field")
        api.client.post("/v1/events", body, format="json")
        assert list(Event.objects.values_list("event_id", flat=True)) == ["from-id-field"]

    def test_a_resent_event_is_a_duplicate_and_stored_once(self, api: KeyedClient) -> None:
        api.client.post("/v1/events", event(), format="json")
        response = api.client.post("/v1/events", event(properties={"tokens": 999}), format="json")

        assert response.status_code == 202
        assert response.json()["status"] == "duplicate"
        assert Event.objects.count() == 1
        assert Event.objects.get().properties["tokens"] == 120

    def test_the_same_id_in_another_tenant_is_a_different_event(
        self, api: KeyedClient, other_api: KeyedClient
    ) -> None:
        api.client.post("/v1/events", event(), format="json")
        response = other_api.client.post("/v1/events", event(), format="json")

        assert response.json()["status"] == "accepted"
        assert Event.objects.filter(event_id="evt-1").count() == 2

    def test_a_known_customer_is_resolved_and_an_unknown_one_is_kept(
        self, api: KeyedClient, environment: Environment
    ) -> None:
        customer = CustomerFactory(environment=environment, external_customer_id="acme-1")
        api.client.post("/v1/events", event("a"), format="json")
        api.client.post("/v1/events", event("b", external_customer_id="later-1"), format="json")

        stored = dict(Event.objects.values_list("event_id", "customer_id"))
        assert stored == {"a": customer.id, "b": ""}

    def test_a_deleted_customer_is_not_resolved_but_its_live_successor_is(
        self, api: KeyedClient, environment: Environment, other_environment: Environment
    ) -> None:
        CustomerFactory(environment=environment, external_customer_id="gone", status="deleted")
        CustomerFactory(environment=environment, external_customer_id="back", status="deleted")
        live = CustomerFactory(environment=environment, external_customer_id="back")
        CustomerFactory(environment=other_environment, external_customer_id="elsewhere")
        batch = [
            event("a", external_customer_id="gone"),
            event("b", external_customer_id="back"),
            event("c", external_customer_id="elsewhere"),
            event("d", external_customer_id="back"),
        ]

        api.client.post("/v1/events/bulk", {"events": batch}, format="json")

        stored = dict(Event.objects.values_list("event_id", "customer_id"))
        assert stored == {"a": "", "b": live.id, "c": "", "d": live.id}

    @pytest.mark.parametrize(
        ("overrides", "field", "reason"),
        [
            ({"event_name": ""}, "event_name", "event_name is required."),
            (
                {"external_customer_id": None},
                "external_customer_id",
                "external_customer_id is required.",
            ),
            ({"event_name": 7}, "event_name", "event_name must be a string."),
            ({"properties": ["x"]}, "properties", "properties must be a JSON object."),
            (
                {"timestamp": "2026-01-10T09:30:00"},
                "timestamp",
                "timestamp must include a time zone offset (RFC 3339), e.g. 2026-01-05T09:00:00Z.",
            ),
            (
                {"timestamp": "yesterday"},
                "timestamp",
                "timestamp 'yesterday' is not RFC 3339 (e.g. 2026-01-05T09:00:00Z).",
            ),
            (
                {"timestamp": "2026-01-11T12:00:01Z"},
                "timestamp",
                "timestamp is more than 24 hours in the future.",
            ),
            (
                {"properties": {"note": "a\u0000b"}},
                "properties",
                "properties: Text can't contain the NUL character (\\u0000).",
            ),
            ({"source": "x" * 256}, "source", "source is longer than 255 characters."),
        ],
    )
    def test_an_invalid_event_is_400_naming_the_field_and_nothing_is_stored(
        self, api: KeyedClient, overrides: dict, field: str, reason: str
    ) -> None:
        response = api.client.post("/v1/events", event(**overrides), format="json")

        body = response.json()
        assert response.status_code == 400
        assert body["code"] == "validation_error"
        assert body["message"] == reason
        assert body["details"] == {field: [reason]}
        assert Event.objects.count() == 0

    def test_exactly_24_hours_ahead_is_still_accepted(self, api: KeyedClient) -> None:
        response = api.client.post(
            "/v1/events", event(timestamp="2026-01-11T12:00:00Z"), format="json"
        )
        assert response.json()["status"] == "accepted"

    def test_a_body_that_is_not_an_object_is_400(self, api: KeyedClient) -> None:
        response = api.client.post("/v1/events", [event()], format="json")
        assert response.status_code == 400
        assert Event.objects.count() == 0


class TestBulk:
    def test_each_event_is_reported_in_order_and_good_ones_are_stored(
        self, api: KeyedClient
    ) -> None:
        api.client.post("/v1/events", event("already-here"), format="json")
        batch = [
            event("new-1"),
            event("bad", event_name=""),
            event("new-1"),  # repeated inside the batch
            event("already-here"),
            event("new-2"),
        ]

        response = api.client.post(
            "/v1/events/bulk",
            {"events": batch},
            format="json",
            HTTP_PREFER="return=representation",
        )

        assert response.status_code == 202
        assert response["Preference-Applied"] == "return=representation"
        assert response.json() == {
            "message": "2 accepted, 2 duplicate (not counted again), 1 rejected.",
            "accepted": 2,
            "duplicates": 2,
            "rejected": 1,
            "results": [
                {"index": 0, "event_id": "new-1", "status": "accepted"},
                {
                    "index": 1,
                    "event_id": None,
                    "status": "rejected",
                    "field": "event_name",
                    "reason": "event_name is required.",
                },
                {"index": 2, "event_id": "new-1", "status": "duplicate"},
                {"index": 3, "event_id": "already-here", "status": "duplicate"},
                {"index": 4, "event_id": "new-2", "status": "accepted"},
            ],
        }
        assert sorted(Event.objects.values_list("event_id", flat=True)) == [
            "already-here",
            "new-1",
            "new-2",
        ]

    def test_a_batch_of_1000_is_accepted(self, api: KeyedClient) -> None:
        batch = [event(f"evt-{number}") for number in range(1000)]
        response = api.client.post("/v1/events/bulk", {"events": batch}, format="json")
        assert response.json()["accepted"] == "1000"
        assert Event.objects.count() == 1000

    @pytest.mark.parametrize(
        "body", [{"events": []}, {"events": "x"}, {}, {"events": [event()] * 1001}]
    )
    def test_a_malformed_or_oversized_batch_is_400_and_stores_nothing(
        self, api: KeyedClient, body: dict
    ) -> None:
        response = api.client.post("/v1/events/bulk", body, format="json")
        assert response.status_code == 400
        assert response.json()["details"]["events"]
        assert Event.objects.count() == 0

    def test_a_batch_with_only_bad_events_is_400(self, api: KeyedClient) -> None:
        batch = [event("a", event_name=""), event("b", properties="x")]
        response = api.client.post("/v1/events/bulk", {"events": batch}, format="json")

        body = response.json()
        assert response.status_code == 400
        assert [result["field"] for result in body["details"]["results"]] == [
            "event_name",
            "properties",
        ]
        assert Event.objects.count() == 0

    def test_a_batch_costs_a_fixed_number_of_queries(
        self, api: KeyedClient, django_assert_max_num_queries
    ) -> None:
        batch = [
            event(f"evt-{number}", external_customer_id=f"c-{number}") for number in range(200)
        ]
        api.client.post("/v1/events", event("warm-up"), format="json")
        # key lookup, then one insert that also resolves customers (last-used is fresh)
        with django_assert_max_num_queries(2):
            api.client.post("/v1/events/bulk", {"events": batch}, format="json")
        assert Event.objects.count() == 201


@pytest.mark.django_db(transaction=True)
def test_identical_batches_racing_store_each_event_once(environment: Environment) -> None:
    batch = {"events": [event(f"race-{number}") for number in range(300)]}
    clients = [keyed_client(environment) for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    accepted: list[int] = []
    errors: list[BaseException] = []

    def post(client: KeyedClient) -> None:
        try:
            barrier.wait()
            response = client.client.post("/v1/events/bulk", batch, format="json")
            accepted.append(int(response.json()["accepted"]))
        except BaseException as error:  # surfaced below; a thread can't fail the test itself
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(accepted) == 300
    assert Event.objects.filter(environment=environment).count() == 300
    assert Event.objects.values("event_id").distinct().count() == 300


class TestBulkAnswer:
    """SPEC §2: by default a map of strings, what Flexprice's SDK parses; every event's result
    for a client that asks with `Prefer: return=representation` (RFC 7240)."""

    def test_the_default_answer_is_counts_as_strings(self, api: KeyedClient) -> None:
        batch = {"events": [event("a"), event("a"), event("b")]}

        response = api.client.post("/v1/events/bulk", batch, format="json")

        assert response.status_code == 202
        assert response.json() == {
            "message": "2 accepted, 1 duplicate (not counted again), 0 rejected.",
            "accepted": "2",
            "duplicates": "1",
            "rejected": "0",
        }
        assert "Preference-Applied" not in response

    def test_with_rejections_the_message_names_the_first_and_how_to_see_all(
        self, api: KeyedClient
    ) -> None:
        batch = {
            "events": [event("a"), event("a"), event("b", event_name=""), event("c", source=7)]
        }

        response = api.client.post(
            "/v1/events/bulk", batch, format="json", HTTP_PREFER="return=minimal"
        )

        assert response.status_code == 202
        assert response["Preference-Applied"] == "return=minimal"
        assert response.json() == {
            "message": "1 accepted, 1 duplicate (not counted again), 2 rejected. The first "
            "rejected is events.2: event_name is required. Send `Prefer: return=representation` "
            "for every event's result.",
            "accepted": "1",
            "duplicates": "1",
            "rejected": "2",
        }
        assert list(Event.objects.values_list("event_id", flat=True)) == ["a"]

    @pytest.mark.parametrize(
        "prefer",
        [
            "return=representation",
            'respond-async, RETURN="representation"; x=1',
            "wait=5, return=representation",
        ],
    )
    def test_prefer_return_representation_answers_every_event(
        self, api: KeyedClient, prefer: str
    ) -> None:
        batch = {"events": [event("a"), event("b", event_name="")]}

        response = api.client.post("/v1/events/bulk", batch, format="json", HTTP_PREFER=prefer)

        assert response["Preference-Applied"] == "return=representation"
        assert response.json() == {
            "message": "1 accepted, 0 duplicate (not counted again), 1 rejected.",
            "accepted": 1,
            "duplicates": 0,
            "rejected": 1,
            "results": [
                {"index": 0, "event_id": "a", "status": "accepted"},
                {
                    "index": 1,
                    "event_id": None,
                    "status": "rejected",
                    "field": "event_name",
                    "reason": "event_name is required.",
                },
            ],
        }


class TestBulkValidationEdgeCases:
    """The bulk path validates each event by hand (no serializer per event) and sends the
    columns to PostgreSQL as binary arrays: these pin what that must keep exact."""

    def test_text_that_array_literals_would_escape_is_stored_exactly(
        self, api: KeyedClient
    ) -> None:
        awkward = ["a,b", "{x}", "NULL", 'say "hi"', "back\\slash", "é 漢字 🚀", " padded "]
        batch = [
            event(
                text,
                event_name=f"name {text}",
                external_customer_id=f"cust {text}",
                source=f"src {text}",
                properties={text: text, "nested": {"list": [text, None, 1.5, False]}},
            )
            for text in awkward
        ]

        response = api.client.post("/v1/events/bulk", {"events": batch}, format="json")

        assert response.json()["accepted"] == str(len(awkward))
        stored = {
            row[0]: row[1:]
            for row in Event.objects.values_list(
                "event_id", "event_name", "external_customer_id", "source", "properties"
            )
        }
        assert stored == {
            text: (
                f"name {text}",
                f"cust {text}",
                f"src {text}",
                {text: text, "nested": {"list": [text, None, 1.5, False]}},
            )
            for text in awkward
        }

    def test_timestamps_keep_their_instant_whatever_the_offset(self, api: KeyedClient) -> None:
        batch = [
            event("utc", timestamp="2026-01-10T08:30:00Z"),
            event("minus", timestamp="2026-01-10T03:30:00.250-05:00"),
            event("micro", timestamp="2026-01-10T09:30:00.000001+01:00"),
            event("no-timestamp", timestamp=None),
        ]

        api.client.post("/v1/events/bulk", {"events": batch}, format="json")

        assert dict(Event.objects.values_list("event_id", "timestamp")) == {
            "utc": datetime(2026, 1, 10, 8, 30, tzinfo=UTC),
            "minus": datetime(2026, 1, 10, 8, 30, 0, 250000, tzinfo=UTC),
            "micro": datetime(2026, 1, 10, 8, 30, 0, 1, tzinfo=UTC),
            "no-timestamp": NOW,
        }

    def test_every_kind_of_bad_event_is_reported_and_the_good_ones_stored(
        self, api: KeyedClient
    ) -> None:
        batch = [
            event("good-1"),
            "not an object",
            event("no-customer", external_customer_id=""),
            event("x" * 256),
            event("y" * 255),
            event("bad-time", timestamp=1736500000),
            event("future", timestamp="2026-01-11T12:00:00.000001Z"),
            event("props", properties="tokens=1"),
            event("nul", event_name="a\u0000b"),
            event("good-1"),
        ]

        response = api.client.post(
            "/v1/events/bulk",
            {"events": batch},
            format="json",
            HTTP_PREFER="return=representation",
        )

        body = response.json()
        assert response.status_code == 202
        assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 7)
        assert [(r["status"], r.get("field"), r.get("reason")) for r in body["results"]] == [
            ("accepted", None, None),
            ("rejected", "event", "Each event must be a JSON object."),
            ("rejected", "external_customer_id", "external_customer_id is required."),
            ("rejected", "event_id", "event_id is longer than 255 characters."),
            ("accepted", None, None),
            ("rejected", "timestamp", "timestamp must be an RFC 3339 string."),
            ("rejected", "timestamp", "timestamp is more than 24 hours in the future."),
            ("rejected", "properties", "properties must be a JSON object."),
            (
                "rejected",
                "event_name",
                "event_name: Text can't contain the NUL character (\\u0000).",
            ),
            ("duplicate", None, None),
        ]
        assert sorted(Event.objects.values_list("event_id", flat=True)) == ["good-1", "y" * 255]

    def test_text_and_times_the_database_cant_store_refuse_only_their_event(
        self, api: KeyedClient
    ) -> None:
        """Issue 14: these were 500s for the whole batch; each is now its event's rejection."""
        body = (
            '{"events": ['
            '{"event_id": "offset", "event_name": "llm_call", "external_customer_id": "acme-1",'
            ' "timestamp": "2026-01-10T09:30:00-18:47"},'
            '{"event_id": "year-0", "event_name": "llm_call", "external_customer_id": "acme-1",'
            ' "timestamp": "0001-01-01T00:00:00+01:00"},'
            '{"event_id": "surrogate", "event_name": "llm_call", "external_customer_id": "acme-1",'
            ' "source": "\\ud800"},'
            '{"event_id": "key", "event_name": "llm_call", "external_customer_id": "acme-1",'
            ' "properties": {"\\udfff": 1}},'
            '{"event_id": "fine", "event_name": "llm_call", "external_customer_id": "acme-1",'
            ' "properties": {"path": "C:\\\\u0000"}}'
            "]}"
        )

        response = post_written_batch(api, body)

        assert response.status_code == 202
        assert [
            (r["status"], r.get("field"), r.get("reason")) for r in response.json()["results"]
        ] == [
            (
                "rejected",
                "timestamp",
                "timestamp '2026-01-10T09:30:00-18:47': The UTC offset must be between -15:59 "
                "and +15:59.",
            ),
            (
                "rejected",
                "timestamp",
                "timestamp '0001-01-01T00:00:00+01:00': Timestamps must be from "
                "1900-01-01T00:00:00Z up to (not including) 9000-01-01T00:00:00Z.",
            ),
            (
                "rejected",
                "source",
                "source: Text can't contain an unpaired surrogate (\\ud800-\\udfff).",
            ),
            (
                "rejected",
                "properties",
                "properties: Text can't contain an unpaired surrogate (\\ud800-\\udfff).",
            ),
            ("accepted", None, None),
        ]
        assert Event.objects.get().properties == {"path": "C:\\u0000"}

    def test_a_batch_nested_too_deep_is_400_and_stores_nothing(self, api: KeyedClient) -> None:
        """Issue 14: 2,000 levels of nesting were a RecursionError (500)."""
        deep = "[" * 2000 + "]" * 2000
        body = (
            '{"events": [{"event_id": "a", "event_name": "llm_call", '
            f'"external_customer_id": "acme-1", "properties": {{"x": {deep}}}}}]}}'
        )

        response = api.client.post("/v1/events/bulk", body, content_type="application/json")

        field = "events.0.properties.x" + ".0" * 60
        assert response.status_code == 400
        assert response.json() == {
            "code": "validation_error",
            "message": f"{field}: JSON can be nested at most 64 levels deep.",
            "http_status_code": 400,
            "details": {field: ["JSON can be nested at most 64 levels deep."]},
        }
        assert Event.objects.count() == 0

    def test_a_number_too_large_for_a_double_is_refused_not_a_500(self, api: KeyedClient) -> None:
        body = (
            '{"events": [{"event_id": "huge", "event_name": "llm_call", '
            '"external_customer_id": "acme-1", "properties": {"tokens": 1e400}}, '
            '{"event_id": "fine", "event_name": "llm_call", "external_customer_id": "acme-1", '
            '"properties": {"tokens": 123456789012345678901234567890}}]}'
        )

        response = post_written_batch(api, body)

        assert response.status_code == 202
        assert response.json()["results"] == [
            {
                "index": 0,
                "event_id": None,
                "status": "rejected",
                "field": "properties",
                "reason": "properties contain a number out of range (Infinity).",
            },
            {"index": 1, "event_id": "fine", "status": "accepted"},
        ]
        assert Event.objects.get().properties == {"tokens": 123456789012345678901234567890}


def test_an_environment_or_tenant_with_events_cannot_be_deleted(api: KeyedClient) -> None:
    """The database has no foreign keys on events (they cost a check per row); Django's PROTECT
    is what keeps events from pointing at nothing."""
    api.client.post("/v1/events", event(), format="json")

    stored = Event.objects.get()

    with pytest.raises(ProtectedError) as environment_delete:
        api.environment.delete()
    with pytest.raises(ProtectedError) as tenant_delete:
        api.tenant.delete()

    assert stored in environment_delete.value.protected_objects
    assert stored in tenant_delete.value.protected_objects
    assert Event.objects.filter(environment=api.environment).count() == 1
    assert Environment.objects.filter(pk=api.environment.pk).exists()
