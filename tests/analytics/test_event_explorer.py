"""The admin's event explorer: filters, tenant isolation, read-only, and no full counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from analytics.admin.events import COUNT_CAP, CappedCountPaginator
from analytics.models import Event
from flexprice_site.models import Environment, User

URL = "/admin/analytics/event/"


def make_event(environment: Environment, event_id: str, **fields: object) -> Event:
    values: dict[str, object] = {
        "event_name": "llm_call",
        "external_customer_id": "acme-1",
        "timestamp": datetime(2026, 1, 5, 9, tzinfo=UTC),
        "source": "api",
        "properties": {"tokens": 10},
    }
    values.update(fields)
    return Event.objects.create(
        tenant_id=environment.tenant_id, environment=environment, event_id=event_id, **values
    )


@pytest.fixture
def staff(environment: Environment) -> Client:
    user = User.objects.create_user(
        username="ops", password="pw-123456!", is_staff=True, tenant=environment.tenant
    )
    user.user_permissions.set(Permission.objects.filter(codename="view_event"))
    client = Client()
    client.force_login(user)
    return client


def listed_ids(response) -> list[str]:
    return [event.event_id for event in response.context["cl"].result_list]


class TestExplorer:
    def test_filters_by_customer_name_source_and_time(
        self, environment: Environment, staff: Client
    ) -> None:
        make_event(environment, "match")
        make_event(environment, "other-customer", external_customer_id="acme-2")
        make_event(environment, "other-name", event_name="storage")
        make_event(environment, "other-source", source="batch")
        make_event(environment, "too-late", timestamp=datetime(2026, 1, 6, 9, tzinfo=UTC))

        response = staff.get(
            URL,
            {
                "customer": "acme-1",
                "event_name": "llm_call",
                "source": "api",
                "timestamp__range__gte_0": "2026-01-05",
                "timestamp__range__gte_1": "00:00:00",
                "timestamp__range__lte_0": "2026-01-05",
                "timestamp__range__lte_1": "23:59:59",
            },
        )

        assert response.status_code == 200
        assert listed_ids(response) == ["match"]

    def test_newest_first_and_other_tenants_invisible(
        self, environment: Environment, other_environment: Environment, staff: Client
    ) -> None:
        make_event(environment, "old", timestamp=datetime(2026, 1, 1, tzinfo=UTC))
        make_event(environment, "new", timestamp=datetime(2026, 1, 2, tzinfo=UTC))
        secret = make_event(other_environment, "other-tenant")

        response = staff.get(URL)

        assert listed_ids(response) == ["new", "old"]
        assert staff.get(f"{URL}{secret.pk}/change/").status_code == 302

    def test_an_event_shows_its_json_and_cannot_be_edited(
        self, environment: Environment, staff: Client
    ) -> None:
        stored = make_event(environment, "one", properties={"model": "gpt-4", "tokens": 10})

        page = staff.get(f"{URL}{stored.pk}/change/").content.decode()
        posted = staff.post(f"{URL}{stored.pk}/change/", {"event_name": "changed"})

        assert "&quot;model&quot;: &quot;gpt-4&quot;" in page
        assert posted.status_code == 403
        assert Event.objects.get(pk=stored.pk).event_name == "llm_call"

    def test_query_count_does_not_grow_with_rows(
        self, environment: Environment, staff: Client, django_assert_max_num_queries
    ) -> None:
        for number in range(30):
            make_event(environment, f"e{number}")
        with django_assert_max_num_queries(10):
            response = staff.get(URL)
        assert len(listed_ids(response)) == 30


def test_the_paginator_counts_no_further_than_its_cap(db: None, environment: Environment) -> None:
    Event.objects.bulk_create(
        Event(
            tenant_id=environment.tenant_id,
            environment=environment,
            event_id=f"e{number}",
            event_name="x",
            external_customer_id="c",
        )
        for number in range(COUNT_CAP + 5)
    )
    paginator = CappedCountPaginator(Event.objects.order_by("-timestamp"), 50)
    assert paginator.count == COUNT_CAP + 1
