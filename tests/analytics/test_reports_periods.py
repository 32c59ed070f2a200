"""Report periods: which day, week or month just closed, in the schedule's time zone (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from analytics.reports.periods import (
    DAILY,
    MONTHLY,
    WEEKLY,
    Period,
    last_closed_period,
    next_send_time,
    period_before,
    period_containing,
    period_label,
    send_time,
    window_starts,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_week_runs_monday_to_monday_in_the_local_zone() -> None:
    # Wednesday 7 Jan 2026, 12:00 UTC; Paris is UTC+1 in winter.
    period = period_containing(WEEKLY, utc(2026, 1, 7, 12), PARIS)

    assert period == Period(start=utc(2026, 1, 4, 23), end=utc(2026, 1, 11, 23))
    assert period_label(WEEKLY, period, PARIS) == "5 Jan – 11 Jan 2026"


def test_a_week_across_new_year_names_both_years() -> None:
    period = period_containing(WEEKLY, utc(2026, 1, 1, 12), UTC_ZONE)

    assert period == Period(start=utc(2025, 12, 29), end=utc(2026, 1, 5))
    assert period_label(WEEKLY, period, UTC_ZONE) == "29 Dec 2025 – 4 Jan 2026"


def test_before_the_send_hour_the_last_closed_week_is_the_one_before() -> None:
    # Monday 12 Jan 2026 07:30 Paris (06:30 UTC): the week of 5 Jan closed, but its send hour
    # (08:00) has not come, so the last period due is the week of 29 Dec.
    before = last_closed_period(WEEKLY, zone=PARIS, send_hour=8, now=utc(2026, 1, 12, 6, 30))
    at = last_closed_period(WEEKLY, zone=PARIS, send_hour=8, now=utc(2026, 1, 12, 7))

    assert before == Period(start=utc(2025, 12, 28, 23), end=utc(2026, 1, 4, 23))
    assert at == Period(start=utc(2026, 1, 4, 23), end=utc(2026, 1, 11, 23))


def test_the_next_send_time_is_the_send_hour_of_the_day_the_next_period_closes() -> None:
    now = utc(2026, 1, 12, 7)  # exactly 08:00 in Paris on a Monday: this week's report is due

    assert next_send_time(WEEKLY, zone=PARIS, send_hour=8, now=now) == utc(2026, 1, 19, 7)
    assert next_send_time(DAILY, zone=PARIS, send_hour=8, now=now) == utc(2026, 1, 13, 7)
    assert next_send_time(MONTHLY, zone=PARIS, send_hour=8, now=now) == utc(2026, 2, 1, 7)
    assert next_send_time(MONTHLY, zone=PARIS, send_hour=0, now=now) == utc(2026, 1, 31, 23)


def test_a_month_has_its_calendar_length_and_the_previous_one_too() -> None:
    march = period_containing(MONTHLY, utc(2026, 3, 15), NEW_YORK)
    february = period_before(MONTHLY, march, NEW_YORK)

    # New York moves from UTC-5 to UTC-4 on 8 March 2026.
    assert march == Period(start=utc(2026, 3, 1, 5), end=utc(2026, 4, 1, 4))
    assert february == Period(start=utc(2026, 2, 1, 5), end=utc(2026, 3, 1, 5))
    assert period_label(MONTHLY, february, NEW_YORK) == "February 2026"
    assert len(window_starts(MONTHLY, february, NEW_YORK)) == 28


def test_a_day_of_the_spring_dst_change_has_23_hourly_windows() -> None:
    # 29 March 2026: Paris skips the hour from 02:00 to 03:00.
    day = period_containing(DAILY, utc(2026, 3, 29, 12), PARIS)
    starts = window_starts(DAILY, day, PARIS)

    assert day == Period(start=utc(2026, 3, 28, 23), end=utc(2026, 3, 29, 22))
    assert len(starts) == 23
    assert (starts[0], starts[-1]) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 21))
    assert period_label(DAILY, day, PARIS) == "Sun 29 Mar 2026"


def test_daily_send_time_is_local_across_the_autumn_dst_change() -> None:
    # 25 Oct 2026: Paris goes from UTC+2 back to UTC+1; 08:00 local moves from 06:00 to 07:00 UTC.
    saturday = period_containing(DAILY, utc(2026, 10, 24, 12), PARIS)
    sunday = period_containing(DAILY, utc(2026, 10, 25, 12), PARIS)

    assert send_time(saturday, send_hour=8, zone=PARIS) == utc(2026, 10, 25, 7)
    assert send_time(sunday, send_hour=8, zone=PARIS) == utc(2026, 10, 26, 7)
    assert len(window_starts(DAILY, sunday, PARIS)) == 25


def test_weekly_windows_are_the_seven_local_days() -> None:
    week = period_containing(WEEKLY, utc(2026, 1, 7), PARIS)

    assert window_starts(WEEKLY, week, PARIS) == [utc(2026, 1, day, 23) for day in range(4, 11)]


def test_a_send_hour_outside_the_day_and_an_unknown_cadence_are_refused() -> None:
    week = period_containing(WEEKLY, utc(2026, 1, 7), PARIS)

    with pytest.raises(ValueError, match="send_hour must be 0–23, not 24"):
        send_time(week, send_hour=24, zone=PARIS)
    with pytest.raises(ValueError, match="'yearly' is not a cadence"):
        period_containing("yearly", utc(2026, 1, 7), PARIS)
