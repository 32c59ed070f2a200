"""The metering engine over raw events: every aggregation, windows, groups and filters (SPEC §3).

Events are stored through the real ingestion path; every expected number is worked out by hand
in the comments next to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from analytics.metering import (
    Bucket,
    UsagePoint,
    UsageQuery,
    UsageSeries,
    meter_usage,
    shared_answers,
)
from analytics.metering.numbers import plain
from analytics.metering.sql import SqlParams, canonical_text_sql
from analytics.metering.statements import bounds_sql
from analytics.models import Event
from analytics.services import Outcome, events_ingest
from costsheets.models import Meter
from flexprice_site.models import Environment
from tests.factories import MeterFactory

pytestmark = pytest.mark.django_db

INGESTED = datetime(2026, 6, 1, tzinfo=UTC)
START, END = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 7, tzinfo=UTC)
JAN_5, JAN_6 = START, datetime(2026, 1, 6, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def ingest(environment: Environment, *events: dict[str, Any], now: datetime = INGESTED) -> None:
    payloads = []
    for number, event in enumerate(events):
        payload = {"event_id": f"evt-{now:%Y%m%d%H%M%S}-{number}", "event_name": "llm_call"}
        payload["external_customer_id"] = "acme"
        payload.update(event)
        if isinstance(payload["timestamp"], datetime):
            payload["timestamp"] = payload["timestamp"].isoformat()
        payloads.append(payload)
    report = events_ingest(environment=environment, payloads=payloads, now=now)
    assert report.count(Outcome.ACCEPTED) == len(payloads)


def usage(environment: Environment, meter: Meter, **query: Any) -> list[UsageSeries]:
    query.setdefault("start", START)
    query.setdefault("end", END)
    return meter_usage(UsageQuery(environment_id=environment.pk, meters=(meter,), **query))


def meter(environment: Environment, kind: str, field: str = "tokens", **fields: Any) -> Meter:
    return MeterFactory(
        environment=environment,
        event_name="llm_call",
        aggregation_type=kind,
        aggregation_field="" if kind == "COUNT" or "aggregation_expression" in fields else field,
        **fields,
    )


def summary(series: list[UsageSeries]) -> list[tuple]:
    """(group, total, event_count, [(window start, value, events), …]) per series."""
    return [
        (
            dict(item.group),
            item.total,
            item.event_count,
            [(point.timestamp, point.value, point.event_count) for point in item.points],
        )
        for item in series
    ]


def dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


@pytest.fixture
def two_days(environment: Environment, other_environment: Environment) -> Environment:
    """Five events of `llm_call` in [Jan 5, Jan 7), three with a value, and four that never count.

    e1 Jan 5 06:00 api tokens 10 · e2 Jan 5 18:00 web tokens "2.5" · e3 Jan 6 12:00 api tokens 4
    · e4 Jan 6 18:00 api no tokens · e5 Jan 6 00:00 web tokens "abc" (not a number).
    """
    ingest(
        environment,
        {
            "timestamp": utc(2026, 1, 5, 6),
            "source": "api",
            "properties": {"tokens": 10, "model": "gpt-4o"},
        },
        {
            "timestamp": utc(2026, 1, 5, 18),
            "source": "web",
            "properties": {"tokens": "2.5", "model": "gpt-4o"},
        },
        {
            "timestamp": utc(2026, 1, 6, 12),
            "source": "api",
            "properties": {"tokens": 4, "model": "mini"},
        },
        {"timestamp": utc(2026, 1, 6, 18), "source": "api", "properties": {"model": "mini"}},
        {
            "timestamp": utc(2026, 1, 6),
            "source": "web",
            "properties": {"tokens": "abc", "model": "gpt-4o"},
        },
        # Outside the range on either side, another event name: never counted.
        {"timestamp": utc(2026, 1, 4, 23, 59, 59), "properties": {"tokens": 1000}},
        {"timestamp": END, "properties": {"tokens": 1000}},
        {"timestamp": utc(2026, 1, 5, 12), "event_name": "other", "properties": {"tokens": 1000}},
    )
    # Another tenant's event, same name and time.
    ingest(other_environment, {"timestamp": utc(2026, 1, 5, 12), "properties": {"tokens": 1000}})
    return environment


class TestAggregationsOverTheRange:
    @pytest.mark.parametrize(
        ("kind", "fields", "total"),
        [
            ("COUNT", {}, "5"),
            ("SUM", {}, "16.5"),  # 10 + 2.5 + 4
            ("SUM_WITH_MULTIPLIER", {"aggregation_multiplier": Decimal("3")}, "49.5"),
            ("AVG", {}, "5.5"),  # 16.5 / 3 events with a value
            ("MAX", {}, "10"),
            ("LATEST", {}, "4"),  # e3; the later e4 carries no value
            ("COUNT_UNIQUE", {"field": "model"}, "2"),  # gpt-4o, mini
            # Σ q * (e - t) / (e - s) over 48 h: 10 * 42/48 + 2.5 * 30/48 + 4 * 12/48
            ("WEIGHTED_SUM", {}, "11.3125"),
        ],
    )
    def test_total_and_event_count(
        self, two_days: Environment, kind: str, fields: dict[str, Any], total: str
    ) -> None:
        series = usage(two_days, meter(two_days, kind, **fields))
        assert summary(series) == [({}, Decimal(total), 5, [])]

    def test_a_meter_whose_events_carry_no_value_has_no_total(self, two_days: Environment) -> None:
        series = usage(two_days, meter(two_days, "SUM", field="cost"))
        assert summary(series) == [({}, None, 5, [])]

    def test_count_unique_without_the_field_anywhere_is_zero(self, two_days: Environment) -> None:
        series = usage(two_days, meter(two_days, "COUNT_UNIQUE", field="cost"))
        assert summary(series) == [({}, Decimal(0), 5, [])]

    def test_no_events_no_series(self, two_days: Environment) -> None:
        later = {"start": utc(2026, 3, 1), "end": utc(2026, 3, 2), "window_size": "DAY"}
        assert usage(two_days, meter(two_days, "SUM"), **later) == []


class TestDailyWindows:
    @pytest.mark.parametrize(
        ("kind", "fields", "jan_5", "jan_6"),
        [
            ("COUNT", {}, "2", "3"),
            ("SUM", {}, "12.5", "4"),
            ("SUM_WITH_MULTIPLIER", {"aggregation_multiplier": Decimal("3")}, "37.5", "12"),
            ("AVG", {}, "6.25", "4"),
            ("MAX", {}, "10", "4"),
            ("LATEST", {}, "2.5", "4"),
            ("COUNT_UNIQUE", {"field": "model"}, "1", "2"),
            # Jan 5 over 24 h: 10 * 18/24 + 2.5 * 6/24 = 7.5 + 0.625; Jan 6: 4 * 12/24
            ("WEIGHTED_SUM", {}, "8.125", "2"),
        ],
    )
    def test_points_per_day(
        self, two_days: Environment, kind: str, fields: dict[str, Any], jan_5: str, jan_6: str
    ) -> None:
        [series] = usage(two_days, meter(two_days, kind, **fields), window_size="DAY")
        assert [(p.timestamp, p.value, p.event_count) for p in series.points] == [
            (JAN_5, Decimal(jan_5), 2),
            (JAN_6, Decimal(jan_6), 3),
        ]
        assert series.event_count == 5

    def test_only_windows_with_events_have_points(self, two_days: Environment) -> None:
        [series] = usage(two_days, meter(two_days, "COUNT"), window_size="6HOUR")
        assert [(p.timestamp, p.event_count) for p in series.points] == [
            (utc(2026, 1, 5, 6), 1),
            (utc(2026, 1, 5, 18), 1),
            (utc(2026, 1, 6, 0), 1),
            (utc(2026, 1, 6, 12), 1),
            (utc(2026, 1, 6, 18), 1),
        ]

    def test_a_window_whose_events_carry_no_value_has_a_point_without_value(
        self, two_days: Environment
    ) -> None:
        [series] = usage(two_days, meter(two_days, "SUM"), window_size="6HOUR")
        assert [(p.timestamp, p.value) for p in series.points] == [
            (utc(2026, 1, 5, 6), Decimal(10)),
            (utc(2026, 1, 5, 18), Decimal("2.5")),
            (utc(2026, 1, 6, 0), None),  # e5: "abc"
            (utc(2026, 1, 6, 12), Decimal(4)),
            (utc(2026, 1, 6, 18), None),  # e4: no tokens
        ]

    def test_weighted_sum_clips_windows_to_the_range(self, two_days: Environment) -> None:
        # Range [Jan 5 12:00, Jan 7): the Jan 5 window counts from 12:00, 12 hours long.
        # e2 (18:00): 2.5 * 6/12 = 1.25. Total over 36 h: (2.5 * 30 + 4 * 12) / 36 = 123/36.
        [series] = usage(
            two_days, meter(two_days, "WEIGHTED_SUM"), start=utc(2026, 1, 5, 12), window_size="DAY"
        )
        assert series.total == Decimal("3.4166666666666667")
        assert [(p.timestamp, p.value) for p in series.points] == [
            (JAN_5, Decimal("1.25")),
            (JAN_6, Decimal("2")),
        ]


class TestGroupBy:
    @pytest.mark.parametrize(
        ("kind", "fields", "api", "web"),
        [
            # api: e1 Jan 5 (10), e3 Jan 6 (4), e4 Jan 6 (—); web: e2 Jan 5 (2.5), e5 Jan 6 (—)
            ("COUNT", {}, ("3", "1", "2"), ("2", "1", "1")),
            ("SUM", {}, ("14", "10", "4"), ("2.5", "2.5", None)),
            (
                "SUM_WITH_MULTIPLIER",
                {"aggregation_multiplier": Decimal("3")},
                ("42", "30", "12"),
                ("7.5", "7.5", None),
            ),
            ("AVG", {}, ("7", "10", "4"), ("2.5", "2.5", None)),
            ("MAX", {}, ("10", "10", "4"), ("2.5", "2.5", None)),
            ("LATEST", {}, ("4", "10", "4"), ("2.5", "2.5", None)),
            ("COUNT_UNIQUE", {"field": "model"}, ("2", "1", "1"), ("1", "1", "1")),
            # api: 10 * 42/48 + 4 * 12/48 = 9.75; points 10 * 18/24 and 4 * 12/24
            # web: 2.5 * 30/48 = 1.5625; point 2.5 * 6/24
            ("WEIGHTED_SUM", {}, ("9.75", "7.5", "2"), ("1.5625", "0.625", None)),
        ],
    )
    def test_by_source_with_daily_windows(
        self,
        two_days: Environment,
        kind: str,
        fields: dict[str, Any],
        api: tuple[str, str | None, str | None],
        web: tuple[str, str | None, str | None],
    ) -> None:
        series = usage(
            two_days, meter(two_days, kind, **fields), window_size="DAY", group_by=("source",)
        )
        assert summary(series) == [
            (
                {"source": "api"},
                dec(api[0]),
                3,
                [(JAN_5, dec(api[1]), 1), (JAN_6, dec(api[2]), 2)],
            ),
            (
                {"source": "web"},
                dec(web[0]),
                2,
                [(JAN_5, dec(web[1]), 1), (JAN_6, dec(web[2]), 1)],
            ),
        ]

    def test_by_property_with_a_missing_property_as_none(self, environment: Environment) -> None:
        ingest(
            environment,
            {"timestamp": utc(2026, 1, 5, 1), "properties": {"tokens": 1, "region": "eu"}},
            {"timestamp": utc(2026, 1, 5, 2), "properties": {"tokens": 2, "region": "us"}},
            {"timestamp": utc(2026, 1, 5, 3), "properties": {"tokens": 4, "region": "eu"}},
            {"timestamp": utc(2026, 1, 5, 4), "properties": {"tokens": 8}},
            {"timestamp": utc(2026, 1, 5, 5), "properties": {"tokens": 16, "region": None}},
        )
        series = usage(environment, meter(environment, "SUM"), group_by=("properties.region",))
        assert summary(series) == [
            ({"properties.region": None}, Decimal(24), 2, []),
            ({"properties.region": "eu"}, Decimal(5), 2, []),
            ({"properties.region": "us"}, Decimal(2), 1, []),
        ]

    def test_by_customer_and_a_numeric_property_in_canonical_form(
        self, environment: Environment
    ) -> None:
        ingest(
            environment,
            {
                "timestamp": utc(2026, 1, 5, 1),
                "external_customer_id": "a",
                "properties": {"tier": 1.50},
            },
            {
                "timestamp": utc(2026, 1, 5, 2),
                "external_customer_id": "a",
                "properties": {"tier": "1.5"},
            },
            {
                "timestamp": utc(2026, 1, 5, 3),
                "external_customer_id": "b",
                "properties": {"tier": 100},
            },
        )
        series = usage(
            environment, meter(environment, "COUNT"), group_by=("customer", "properties.tier")
        )
        assert summary(series) == [
            ({"customer": "a", "properties.tier": "1.5"}, Decimal(2), 2, []),
            ({"customer": "b", "properties.tier": "100"}, Decimal(1), 1, []),
        ]


class TestFilters:
    @pytest.fixture
    def tiers(self, environment: Environment) -> Environment:
        ingest(
            environment,
            {
                "timestamp": utc(2026, 1, 5, 1),
                "source": "api",
                "properties": {"tier": 100, "tokens": 1},
            },
            {
                "timestamp": utc(2026, 1, 5, 2),
                "source": "api",
                "properties": {"tier": "100", "tokens": 2},
            },
            # A JSON number arrives as a float: 1.50 is stored as 1.5, 100.0 as 100.0.
            {
                "timestamp": utc(2026, 1, 5, 3),
                "source": "web",
                "properties": {"tier": 1.50, "tokens": 4},
            },
            {
                "timestamp": utc(2026, 1, 5, 4),
                "source": "web",
                "properties": {"tier": "1.5", "tokens": 8},
            },
            {
                "timestamp": utc(2026, 1, 5, 5),
                "source": "api",
                "properties": {"tier": "1.50", "tokens": 16},
            },
            {
                "timestamp": utc(2026, 1, 5, 6),
                "source": "api",
                "properties": {"tier": True, "tokens": 32},
            },
            {
                "timestamp": utc(2026, 1, 5, 7),
                "source": "web",
                "properties": {"tier": "true", "tokens": 64},
            },
            {"timestamp": utc(2026, 1, 5, 8), "source": "web", "properties": {"tokens": 128}},
            {
                "timestamp": utc(2026, 1, 5, 9),
                "external_customer_id": "globex",
                "properties": {"tier": 100, "tokens": 256},
            },
            {
                "timestamp": utc(2026, 1, 5, 10),
                "source": "web",
                "properties": {"tier": 100.0, "tokens": 512},
            },
        )
        return environment

    @pytest.mark.parametrize(
        ("values", "total"),
        [
            (["100"], "771"),  # 100, "100", 100.0 (and globex's 100): 1 + 2 + 512 + 256
            (["1.5"], "12"),  # 1.50 and "1.5", not the string "1.50": 4 + 8
            (["1.50"], "16"),  # only the string "1.50"
            (["true"], "96"),  # true and "true": 32 + 64
            (["100", "true"], "867"),  # OR across a filter's values: 771 + 96
            (["missing"], None),
        ],
    )
    def test_meter_filters_compare_canonical_strings(
        self, tiers: Environment, values: list[str], total: str | None
    ) -> None:
        tokens = meter(tiers, "SUM", filters=[{"key": "tier", "values": values}])
        series = usage(tiers, tokens)
        assert [item.total for item in series] == ([] if total is None else [Decimal(total)])

    def test_a_missing_key_fails_the_filter_and_filters_are_anded(self, tiers: Environment) -> None:
        tokens = meter(
            tiers,
            "SUM",
            filters=[
                {"key": "tier", "values": ["100", "1.5"]},
                {"key": "tokens", "values": ["2", "4"]},
            ],
        )
        assert summary(usage(tiers, tokens)) == [({}, Decimal(6), 2, [])]

    def test_request_property_filters_customers_and_sources(self, tiers: Environment) -> None:
        tokens = meter(tiers, "SUM", filters=[{"key": "tier", "values": ["100", "1.5"]}])
        # Meter: 1 + 2 + 4 + 8 + 256 + 512. Source api: 1 + 2; globex's has source "".
        assert usage(tiers, tokens, sources=("api",))[0].total == Decimal(3)
        assert usage(tiers, tokens, sources=("api", ""))[0].total == Decimal(259)
        assert usage(tiers, tokens, external_customer_ids=("globex",))[0].total == Decimal(256)
        assert usage(tiers, tokens, property_filters={"tier": ["1.5"]})[0].total == Decimal(12)
        assert usage(tiers, tokens, property_filters={"tier": ["true"]}) == []
        assert usage(tiers, tokens, external_customer_ids=()) == []

    @pytest.mark.parametrize(
        ("properties", "expected"),
        [
            ('{"p": 1.50}', "1.5"),
            ('{"p": 100}', "100"),
            ('{"p": 100.000}', "100"),
            ('{"p": 1e2}', "100"),
            ('{"p": -0.0}', "0"),
            ('{"p": "1.50"}', "1.50"),
            ('{"p": true}', "true"),
            ('{"p": false}', "false"),
            ('{"p": null}', None),
            ('{"p": [1]}', None),
            ('{"p": {"q": 1}}', None),
            ("{}", None),
        ],
    )
    def test_canonical_strings(self, properties: str, expected: str | None) -> None:
        params = SqlParams()
        sql = canonical_text_sql("p", params)
        event = params.add(properties)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {sql} FROM (SELECT {event}::jsonb AS properties) AS e",  # noqa: S608
                params.values,
            )
            assert cursor.fetchone()[0] == expected

    def test_property_names_with_quotes_are_parameters(self, environment: Environment) -> None:
        ingest(
            environment,
            {"timestamp": utc(2026, 1, 5, 1), "properties": {"it's": "x", "to'kens": 5}},
            {"timestamp": utc(2026, 1, 5, 2), "properties": {"it's": "y", "to'kens": 7}},
        )
        tokens = meter(
            environment, "SUM", field="to'kens", filters=[{"key": "it's", "values": ["x"]}]
        )
        assert summary(usage(environment, tokens)) == [({}, Decimal(5), 1, [])]


class TestExpressions:
    def test_expression_with_missing_and_non_numeric_identifiers(
        self, environment: Environment
    ) -> None:
        ingest(
            environment,
            {
                "timestamp": utc(2026, 1, 5, 1),
                "properties": {"input_tokens": 10, "output_tokens": 5},
            },
            {"timestamp": utc(2026, 1, 5, 2), "properties": {"input_tokens": 3}},
            {
                "timestamp": utc(2026, 1, 5, 3),
                "properties": {"input_tokens": "x", "output_tokens": 1},
            },
        )
        expression = {"aggregation_expression": "input_tokens * 2 + output_tokens"}
        # 10 * 2 + 5 = 25; 3 * 2 + 0 = 6; "x" → no value (still an event).
        assert summary(usage(environment, meter(environment, "SUM", **expression))) == [
            ({}, Decimal(31), 3, [])
        ]
        assert usage(environment, meter(environment, "AVG", **expression))[0].total == Decimal(
            "15.5"
        )
        assert usage(environment, meter(environment, "MAX", **expression))[0].total == Decimal(25)
        assert usage(environment, meter(environment, "COUNT"))[0].total == Decimal(3)

    def test_division_by_zero_means_no_value(self, environment: Environment) -> None:
        ingest(
            environment,
            {"timestamp": utc(2026, 1, 5, 1), "properties": {"a": 1, "b": 0}},
            {"timestamp": utc(2026, 1, 5, 2), "properties": {"a": 3, "b": 2}},
        )
        ratio = meter(environment, "SUM", aggregation_expression="a / b")
        assert summary(usage(environment, ratio, window_size="HOUR")) == [
            (
                {},
                Decimal("1.5"),
                2,
                [(utc(2026, 1, 5, 1), None, 1), (utc(2026, 1, 5, 2), Decimal("1.5"), 1)],
            )
        ]

    def test_the_multiplier_applies_to_expressions_too(self, environment: Environment) -> None:
        ingest(environment, {"timestamp": utc(2026, 1, 5, 1), "properties": {"a": 2}})
        doubled = meter(
            environment,
            "SUM",
            aggregation_expression="a + 1",
            aggregation_multiplier=Decimal("0.5"),
        )
        assert usage(environment, doubled)[0].total == Decimal("1.5")


class TestLatest:
    def test_ties_go_to_the_latest_ingested_then_the_latest_stored(
        self, environment: Environment
    ) -> None:
        moment = utc(2026, 1, 5, 12)
        ingest(environment, {"timestamp": moment, "properties": {"tokens": 1}}, now=INGESTED)
        later = INGESTED + timedelta(hours=1)
        ingest(
            environment,
            {"timestamp": moment, "properties": {"tokens": 3}},
            {"timestamp": moment, "properties": {"tokens": 2}},
            {"timestamp": moment, "properties": {}},  # latest of all, but carries no value
            now=later,
        )
        stored = list(Event.objects.filter(ingested_at=later).order_by("id"))
        assert [event.properties.get("tokens") for event in stored] == [3, 2, None]
        # Same timestamp; batch 2 was ingested later; within it the second row was stored last.
        [series] = usage(environment, meter(environment, "LATEST"), window_size="DAY")
        assert series.total == Decimal(2)
        assert series.points == (UsagePoint(JAN_5, Decimal(2), 4),)

    def test_a_later_timestamp_beats_a_later_ingestion(self, environment: Environment) -> None:
        ingest(environment, {"timestamp": utc(2026, 1, 5, 13), "properties": {"tokens": 7}})
        ingest(
            environment,
            {"timestamp": utc(2026, 1, 5, 12), "properties": {"tokens": 9}},
            now=INGESTED + timedelta(days=1),
        )
        assert usage(environment, meter(environment, "LATEST"))[0].total == Decimal(7)


class TestTimeZonesAndCalendar:
    def test_days_in_new_york_across_the_november_clock_change(
        self, environment: Environment
    ) -> None:
        ingest(
            environment,
            {"timestamp": utc(2025, 11, 2, 3, 30), "properties": {"tokens": 1}},  # Nov 1, 23:30 EDT
            {"timestamp": utc(2025, 11, 2, 4, 30), "properties": {"tokens": 2}},  # Nov 2, 00:30 EDT
            {"timestamp": utc(2025, 11, 3, 4, 30), "properties": {"tokens": 4}},  # Nov 2, 23:30 EST
            {"timestamp": utc(2025, 11, 3, 5, 30), "properties": {"tokens": 8}},  # Nov 3, 00:30 EST
        )
        [series] = usage(
            environment,
            meter(environment, "SUM"),
            start=utc(2025, 11, 1),
            end=utc(2025, 11, 4),
            window_size="DAY",
            time_zone="America/New_York",
        )
        assert [(p.timestamp, p.value) for p in series.points] == [
            (utc(2025, 11, 1, 4), Decimal(1)),
            (utc(2025, 11, 2, 4), Decimal(6)),  # a 25-hour day
            (utc(2025, 11, 3, 5), Decimal(8)),
        ]
        assert series.total == Decimal(15)

    def test_weeks_start_on_monday(self, environment: Environment) -> None:
        ingest(
            environment,
            {"timestamp": utc(2026, 1, 11, 23), "properties": {"tokens": 1}},  # Sunday
            {"timestamp": utc(2026, 1, 12, 1), "properties": {"tokens": 2}},  # Monday
            {"timestamp": utc(2026, 1, 18, 23), "properties": {"tokens": 4}},  # Sunday
        )
        [series] = usage(
            environment,
            meter(environment, "SUM"),
            start=utc(2026, 1, 8),
            end=utc(2026, 1, 20),
            window_size="WEEK",
        )
        assert [(p.timestamp, p.value) for p in series.points] == [
            (utc(2026, 1, 5), Decimal(1)),
            (utc(2026, 1, 12), Decimal(6)),
        ]

    def test_months_from_an_anchor_on_the_31st(self, environment: Environment) -> None:
        ingest(
            environment,
            {"timestamp": utc(2026, 2, 27), "properties": {"tokens": 1}},
            {"timestamp": utc(2026, 2, 28, 10), "properties": {"tokens": 2}},
            {"timestamp": utc(2026, 3, 30), "properties": {"tokens": 4}},
            {"timestamp": utc(2026, 3, 31, 1), "properties": {"tokens": 8}},
        )
        [series] = usage(
            environment,
            meter(environment, "SUM"),
            start=utc(2026, 2, 1),
            end=utc(2026, 4, 1),
            window_size="MONTH",
            billing_anchor=utc(2025, 12, 31),
        )
        # Periods start Jan 31, Feb 28 (clamped), Mar 31.
        assert [(p.timestamp, p.value) for p in series.points] == [
            (utc(2026, 1, 31), Decimal(1)),
            (utc(2026, 2, 28), Decimal(6)),
            (utc(2026, 3, 31), Decimal(8)),
        ]


class TestBucketedMeters:
    @pytest.fixture
    def calls(self, environment: Environment) -> Environment:
        ingest(
            environment,
            {"timestamp": utc(2026, 1, 5, 10, 5), "properties": {"tokens": 5, "model": "gpt"}},
            {"timestamp": utc(2026, 1, 5, 10, 20), "properties": {"tokens": 7, "model": "gpt"}},
            {"timestamp": utc(2026, 1, 5, 10, 30), "properties": {"tokens": 3, "model": "mini"}},
            {"timestamp": utc(2026, 1, 5, 10, 45), "properties": {"tokens": 9, "model": "gpt"}},
            {"timestamp": utc(2026, 1, 5, 11, 10), "properties": {"tokens": 2, "model": "gpt"}},
            {"timestamp": utc(2026, 1, 5, 11, 50), "properties": {"tokens": 4, "model": "mini"}},
            {"timestamp": utc(2026, 1, 5, 11, 55), "properties": {"model": "mini"}},
            {"timestamp": utc(2026, 1, 5, 12, 0), "properties": {"tokens": 6}},
        )
        return environment

    def test_max_per_bucket_and_group_value_summed(self, calls: Environment) -> None:
        peak = meter(calls, "MAX", bucket_size="HOUR", aggregation_group_by="model")
        [series] = usage(calls, peak)
        # (10:00, gpt) 9 + (10:00, mini) 3 + (11:00, gpt) 2 + (11:00, mini) 4 + (12:00, —) 6
        assert series.total == Decimal(24)
        assert series.event_count == 8
        assert series.buckets == (
            Bucket(utc(2026, 1, 5, 10), "gpt", Decimal(9)),
            Bucket(utc(2026, 1, 5, 10), "mini", Decimal(3)),
            Bucket(utc(2026, 1, 5, 11), "gpt", Decimal(2)),
            Bucket(utc(2026, 1, 5, 11), "mini", Decimal(4)),
            Bucket(utc(2026, 1, 5, 12), None, Decimal(6)),
        )
        assert series.points == ()

    def test_max_per_bucket_without_group_by(self, calls: Environment) -> None:
        peak = meter(calls, "MAX", bucket_size="HOUR")
        [series] = usage(calls, peak, window_size="DAY")
        # 10:00 → 9, 11:00 → 4, 12:00 → 6
        assert series.total == Decimal(19)
        assert series.points == (
            UsagePoint(
                JAN_5,
                Decimal(19),
                8,
                (
                    Bucket(utc(2026, 1, 5, 10), None, Decimal(9)),
                    Bucket(utc(2026, 1, 5, 11), None, Decimal(4)),
                    Bucket(utc(2026, 1, 5, 12), None, Decimal(6)),
                ),
            ),
        )

    def test_windows_shorter_than_buckets_split_them(self, calls: Environment) -> None:
        peak = meter(calls, "MAX", bucket_size="HOUR", aggregation_group_by="model")
        [series] = usage(calls, peak, window_size="30MIN", group_by=("source",))
        assert series.group == {"source": ""}
        # Each point: Σ over (bucket, model) of the MAX within the half hour.
        assert series.points == (
            UsagePoint(
                utc(2026, 1, 5, 10),
                Decimal(7),
                2,
                (Bucket(utc(2026, 1, 5, 10), "gpt", Decimal(7)),),
            ),
            UsagePoint(
                utc(2026, 1, 5, 10, 30),
                Decimal(12),
                2,
                (
                    Bucket(utc(2026, 1, 5, 10), "gpt", Decimal(9)),
                    Bucket(utc(2026, 1, 5, 10), "mini", Decimal(3)),
                ),
            ),
            UsagePoint(
                utc(2026, 1, 5, 11),
                Decimal(2),
                1,
                (Bucket(utc(2026, 1, 5, 11), "gpt", Decimal(2)),),
            ),
            UsagePoint(
                utc(2026, 1, 5, 11, 30),
                Decimal(4),
                2,
                (Bucket(utc(2026, 1, 5, 11), "mini", Decimal(4)),),
            ),
            UsagePoint(
                utc(2026, 1, 5, 12), Decimal(6), 1, (Bucket(utc(2026, 1, 5, 12), None, Decimal(6)),)
            ),
        )
        # The total stays Σ of whole buckets' MAX (9 + 3 + 2 + 4 + 6), not Σ of points (31).
        assert series.total == Decimal(24)

    def test_bucketed_sum_equals_the_sum(self, calls: Environment) -> None:
        per_hour = meter(calls, "SUM", bucket_size="HOUR")
        [series] = usage(calls, per_hour, window_size="DAY")
        assert series.total == Decimal(36)  # 5 + 7 + 3 + 9 + 2 + 4 + 6
        assert [bucket.value for bucket in series.buckets] == [Decimal(24), Decimal(6), Decimal(6)]
        assert series.points[0].value == Decimal(36)

    def test_buckets_align_in_the_time_zone(self, calls: Environment) -> None:
        # Kolkata is UTC+5:30: local hours start at :30 UTC.
        per_hour = meter(calls, "SUM", bucket_size="HOUR")
        [series] = usage(calls, per_hour, time_zone="Asia/Kolkata")
        assert series.buckets == (
            Bucket(utc(2026, 1, 5, 9, 30), None, Decimal(12)),  # 10:05, 10:20
            Bucket(utc(2026, 1, 5, 10, 30), None, Decimal(14)),  # 10:30, 10:45, 11:10
            Bucket(utc(2026, 1, 5, 11, 30), None, Decimal(10)),  # 11:50, 12:00
        )


class TestLongRanges:
    def test_many_even_windows_and_buckets_give_the_same_placement(
        self, environment: Environment
    ) -> None:
        # 180 minute windows (181 boundaries) are generated by the server instead of sent.
        ingest(
            environment,
            {"timestamp": utc(2026, 1, 5, 10, 5, 30), "properties": {"tokens": 1}},
            {"timestamp": utc(2026, 1, 5, 10, 5, 59), "properties": {"tokens": 2}},
            {"timestamp": utc(2026, 1, 5, 12, 59, 59), "properties": {"tokens": 4}},
        )
        per_minute = meter(environment, "SUM", bucket_size="MINUTE")
        [series] = usage(
            environment,
            per_minute,
            start=utc(2026, 1, 5, 10),
            end=utc(2026, 1, 5, 13),
            window_size="MINUTE",
        )
        assert series.points == (
            UsagePoint(
                utc(2026, 1, 5, 10, 5),
                Decimal(3),
                2,
                (Bucket(utc(2026, 1, 5, 10, 5), None, Decimal(3)),),
            ),
            UsagePoint(
                utc(2026, 1, 5, 12, 59),
                Decimal(4),
                1,
                (Bucket(utc(2026, 1, 5, 12, 59), None, Decimal(4)),),
            ),
        )

    def test_evenly_spaced_boundaries_are_generated_in_seconds(self) -> None:
        hours = tuple(utc(2026, 1, 1) + timedelta(hours=index) for index in range(101))
        params = SqlParams()
        assert bounds_sql(hours, params) == (
            "ARRAY(SELECT generate_series(%(p0)s::timestamptz, %(p1)s::timestamptz, "
            "make_interval(secs => %(p2)s)))"
        )
        assert params.values == {"p0": hours[0], "p1": hours[-1], "p2": 3600}
        few = SqlParams()
        assert bounds_sql(hours[:100], few) == "%(p0)s::timestamptz[]"
        assert few.values == {"p0": list(hours[:100])}


class TestQueries:
    def test_one_statement_per_meter(
        self, two_days: Environment, django_assert_num_queries: Any
    ) -> None:
        meters = (meter(two_days, "SUM"), meter(two_days, "COUNT"))
        query = UsageQuery(
            environment_id=two_days.pk,
            meters=meters,
            start=START,
            end=END,
            window_size="DAY",
            group_by=("source", "properties.model"),
        )
        with django_assert_num_queries(2):
            series = meter_usage(query)
        assert [(item.meter_id, dict(item.group), item.total) for item in series] == [
            (meters[0].pk, {"source": "api", "properties.model": "gpt-4o"}, Decimal(10)),
            (meters[0].pk, {"source": "api", "properties.model": "mini"}, Decimal(4)),
            (meters[0].pk, {"source": "web", "properties.model": "gpt-4o"}, Decimal("2.5")),
            (meters[1].pk, {"source": "api", "properties.model": "gpt-4o"}, Decimal(1)),
            (meters[1].pk, {"source": "api", "properties.model": "mini"}, Decimal(2)),
            (meters[1].pk, {"source": "web", "properties.model": "gpt-4o"}, Decimal(2)),
        ]

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"group_by": ("feature_id",)}, "'feature_id' can't be grouped by"),
            ({"group_by": ("properties.a b",)}, "can't be grouped by"),
            ({"group_by": ("properties." + "x" * 65,)}, "can't be grouped by"),
            ({"group_by": ("source", "source")}, "group_by names a key twice"),
            ({"window_size": "YEAR"}, "'YEAR' is not a window size"),
            ({"time_zone": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
            ({"end": START}, "start must be before end"),
            ({"start": datetime(2026, 1, 1)}, "start and end must be aware"),
            ({"property_filters": {"a'; --": ["x"]}}, "is not a usable property name"),
            ({"property_filters": {"tier": []}}, "needs at least one value"),
            ({"property_filters": {"tier": "100"}}, "must be a list of strings"),
            ({"sources": [1]}, "sources must be a list of strings"),
            ({"cumulative": True}, "a cumulative query needs a window_size"),
        ],
    )
    def test_bad_queries_are_refused_before_any_sql(
        self,
        environment: Environment,
        django_assert_num_queries: Any,
        fields: dict[str, Any],
        message: str,
    ) -> None:
        tokens = meter(environment, "SUM")
        arguments = {
            "environment_id": environment.pk,
            "meters": (tokens,),
            "start": START,
            "end": END,
        }
        with django_assert_num_queries(0), pytest.raises(ValueError, match=message):
            meter_usage(UsageQuery(**{**arguments, **fields}))

    def test_cumulative_points_hold_the_usage_from_the_start(self, two_days: Environment) -> None:
        tokens = meter(two_days, "SUM")
        largest = meter(two_days, "MAX")
        daily = {"window_size": "DAY", "cumulative": True}
        # Jan 5: 10 + 2.5 (2 events); by the end of Jan 6: + 4 (5 events, 3 of them on Jan 6).
        assert summary(usage(two_days, tokens, **daily)) == [
            ({}, dec("16.5"), 5, [(JAN_5, dec("12.5"), 2), (JAN_6, dec("16.5"), 5)])
        ]
        # Jan 6's own maximum is 4; the maximum so far stays 10. Asked in the same block as the
        # windows' own values, each is answered on its own.
        with shared_answers():
            own = usage(two_days, largest, window_size="DAY")
            so_far = usage(two_days, largest, **daily)
        assert [point.value for point in own[0].points] == [dec("10"), dec("4")]
        assert [point.value for point in so_far[0].points] == [dec("10"), dec("10")]

    def test_a_meter_of_another_environment_is_refused(
        self, environment: Environment, other_environment: Environment
    ) -> None:
        theirs = meter(other_environment, "SUM")
        with pytest.raises(ValueError, match="belongs to another environment"):
            UsageQuery(environment_id=environment.pk, meters=(theirs,), start=START, end=END)


class TestPlainNumbers:
    """Values come back in their plain form (no trailing zeros, no exponent) on every path:
    trimmed by the statement for SUM, MAX, LATEST and bucket values, rewritten in Python for
    quotients and sums of buckets."""

    @pytest.mark.parametrize(
        ("kind", "fields", "total", "points"),
        [
            ("SUM", {}, "3", ["1.5", "1.5"]),
            ("MAX", {}, "1.5", ["1.5", "1.25"]),
            ("LATEST", {}, "1.25", ["1.5", "1.25"]),
            ("AVG", {}, "1", ["1.5", "0.75"]),
            ("SUM", {"bucket_size": "HOUR"}, "3", ["1.5", "1.5"]),
            ("MAX", {"bucket_size": "HOUR"}, "3", ["1.5", "1.5"]),
        ],
    )
    def test_values_have_no_trailing_zeros(
        self,
        environment: Environment,
        kind: str,
        fields: dict[str, Any],
        total: str,
        points: list[str],
    ) -> None:
        # Given numeric strings written with trailing zeros, one a multiple of 100
        ingest(
            environment,
            {"timestamp": utc(2026, 1, 5, 10), "properties": {"tokens": "1.500"}},
            {"timestamp": utc(2026, 1, 6, 9), "properties": {"tokens": "1.2500"}},
            {"timestamp": utc(2026, 1, 6, 8), "properties": {"tokens": "0.2500"}},
        )
        # When the usage is read per day
        (series,) = usage(environment, meter(environment, kind, **fields), window_size="DAY")
        # Then each value is written in its plain form
        assert str(series.total) == total
        assert [str(point.value) for point in series.points] == points

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("1.50", "1.5"),
            ("1.5", "1.5"),
            ("100", "100"),
            ("1E+2", "100"),
            ("100.000", "100"),
            ("0.000", "0"),
            ("-0", "0"),
            ("-0.00", "0"),
            ("0", "0"),
            ("-2.50", "-2.5"),
            ("0.0001000", "0.0001"),
            ("12345678901234567890123456789012.10", "12345678901234567890123456789012.1"),
        ],
    )
    def test_plain(self, value: str, expected: str) -> None:
        assert str(plain(Decimal(value))) == expected
