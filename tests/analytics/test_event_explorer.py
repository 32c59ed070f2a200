"""The admin's event explorer: filters, tenant isolation, read-only, and no full counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.contrib.auth.models import Permission
from django.test import Client

from analytics.admin.events import COUNT_CAP, CappedCountPaginator
from analytics.models import Event
from flexprice_site.models import Environment, User
from flexprice_site.services import environment_get_or_create

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


@pytest.fixture
def superuser(db: None) -> Client:
    user = User.objects.create_superuser(username="root", password="pw-123456!")
    client = Client()
    client.force_login(user)
    return client


def interleaved(environment: Environment, other: Environment, count: int) -> None:
    """`count` events in each tenant, a minute apart, the other tenant's half a minute later."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    for tenant_environment, prefix, offset in ((environment, "a", 0), (other, "g", 30)):
        Event.objects.bulk_create(
            Event(
                tenant_id=tenant_environment.tenant_id,
                environment=tenant_environment,
                event_id=f"{prefix}{number:03d}",
                event_name="llm_call",
                external_customer_id="acme-1" if number % 2 else "acme-2",
                timestamp=start + timedelta(minutes=number, seconds=offset),
            )
            for number in range(count)
        )


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

    def test_the_environment_filter_offers_only_the_tenants_environments(
        self, environment: Environment, other_environment: Environment, staff: Client
    ) -> None:
        sandbox = environment_get_or_create(tenant_name="Acme", environment_name="sandbox")
        make_event(environment, "live")
        make_event(sandbox, "test")

        response = staff.get(URL, {"environment__id__exact": sandbox.pk})

        environment_filter = next(
            spec for spec in response.context["cl"].filter_specs if spec.title == "environment"
        )
        assert environment_filter.lookup_choices == [
            (environment.pk, "Acme / production"),
            (sandbox.pk, "Acme / sandbox"),
        ]
        assert "Globex" not in response.content.decode()
        assert listed_ids(response) == ["test"]

    def test_an_event_shows_its_json_and_cannot_be_edited(
        self, environment: Environment, staff: Client
    ) -> None:
        stored = make_event(environment, "one", properties={"model": "gpt-4", "tokens": 10})

        page = staff.get(f"{URL}{stored.pk}/change/").content.decode()
        posted = staff.post(f"{URL}{stored.pk}/change/", {"event_name": "changed"})

        assert "&quot;model&quot;: &quot;gpt-4&quot;" in page
        assert posted.status_code == 403
        assert Event.objects.get(pk=stored.pk).event_name == "llm_call"

    def test_only_the_time_column_sorts(self, environment: Environment, staff: Client) -> None:
        make_event(
            environment, "b", external_customer_id="y", timestamp=datetime(2026, 1, 1, tzinfo=UTC)
        )
        make_event(
            environment, "a", external_customer_id="z", timestamp=datetime(2026, 1, 2, tzinfo=UTC)
        )

        # the address of a page sorted by customer (column 2), which no header offers any more
        by_customer = staff.get(URL, {"o": "2"})
        oldest_first = staff.get(URL, {"o": "0"})

        assert listed_ids(by_customer) == ["a", "b"]
        assert listed_ids(oldest_first) == ["b", "a"]
        headers = result_headers(by_customer.context["cl"])
        assert [header["text"] for header in headers if header["sortable"]] == ["timestamp"]

    def test_the_search_box_finds_one_exact_event_id(
        self, environment: Environment, staff: Client
    ) -> None:
        make_event(environment, "req-1")
        make_event(environment, "REQ-1")
        make_event(environment, "req-10")

        assert listed_ids(staff.get(URL, {"q": "req-1"})) == ["req-1"]
        assert listed_ids(staff.get(URL, {"q": "REQ-1"})) == ["REQ-1"]

    @pytest.mark.parametrize("query", [{}, {"customer": "acme-1"}], ids=["default", "customer"])
    def test_query_count_does_not_grow_with_rows(
        self,
        environment: Environment,
        other_environment: Environment,
        staff: Client,
        django_assert_num_queries,
        query: dict[str, str],
    ) -> None:
        for number in range(60):
            make_event(environment, f"e{number}")
            make_event(other_environment, f"o{number}")
        # session, user, the user's and its groups' permissions, the user's tenant, the
        # environment filter's choices, the capped count, the page
        with django_assert_num_queries(8):
            response = staff.get(URL, query)
        assert len(listed_ids(response)) == 50


class TestSuperuser:
    def test_pages_merge_every_tenant_newest_first(
        self, environment: Environment, other_environment: Environment, superuser: Client
    ) -> None:
        # given two tenants' events, interleaved in time
        interleaved(environment, other_environment, 40)

        # when a superuser opens the first two pages
        first, second = superuser.get(URL), superuser.get(URL, {"p": "2"})

        # then the pages hold both tenants' events, newest first across them
        assert listed_ids(first) == [
            f"{prefix}{number:03d}" for number in range(39, 14, -1) for prefix in ("g", "a")
        ]
        assert listed_ids(second) == [
            f"{prefix}{number:03d}" for number in range(14, -1, -1) for prefix in ("g", "a")
        ]
        assert first.context["cl"].result_count == 80

    def test_filters_apply_to_every_tenant(
        self, environment: Environment, other_environment: Environment, superuser: Client
    ) -> None:
        interleaved(environment, other_environment, 6)

        response = superuser.get(URL, {"customer": "acme-1"})

        assert listed_ids(response) == ["g005", "a005", "g003", "a003", "g001", "a001"]

    def test_a_tenant_without_events_and_oldest_first(
        self, environment: Environment, other_environment: Environment, superuser: Client
    ) -> None:
        interleaved(environment, other_environment, 3)
        environment_get_or_create(tenant_name="Initech", environment_name="production")

        response = superuser.get(URL, {"o": "0"})

        assert listed_ids(response) == ["a000", "g000", "a001", "g001", "a002", "g002"]

    def test_query_count(
        self,
        environment: Environment,
        other_environment: Environment,
        superuser: Client,
        django_assert_num_queries,
    ) -> None:
        interleaved(environment, other_environment, 40)
        # session, user, the tenant and environment filters' choices, the tenants to merge,
        # the capped count, the page
        with django_assert_num_queries(7):
            response = superuser.get(URL)
        assert len(listed_ids(response)) == 50


def events_bulk_create(environment: Environment, count: int) -> None:
    Event.objects.bulk_create(
        Event(
            tenant_id=environment.tenant_id,
            environment=environment,
            event_id=f"e{number}",
            event_name="x",
            external_customer_id="c",
        )
        for number in range(count)
    )


def test_the_paginator_counts_no_further_than_its_cap(db: None, environment: Environment) -> None:
    events_bulk_create(environment, COUNT_CAP + 5)
    paginator = CappedCountPaginator(Event.objects.order_by("-timestamp"), 50)
    assert paginator.count == COUNT_CAP + 1


def test_across_tenants_the_paginator_counts_no_further_than_its_cap(
    db: None, environment: Environment, other_environment: Environment
) -> None:
    events_bulk_create(environment, COUNT_CAP // 2 + 3)
    events_bulk_create(other_environment, COUNT_CAP // 2 + 3)
    tenant_ids = [environment.tenant_id, other_environment.tenant_id]
    paginator = CappedCountPaginator(
        Event.objects.order_by("-timestamp", "-id"), 50, tenant_ids=tenant_ids
    )
    assert paginator.count == COUNT_CAP + 1
    assert CappedCountPaginator(Event.objects.order_by("id"), 50, tenant_ids=[]).count == 0
