"""Window and bucket boundaries in a time zone: DST, weeks from Monday, months from an anchor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from analytics.metering.windows import (
    MAX_BOUNDARIES,
    TooManyWindows,
    uniform_step,
    window_boundaries,
)

NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def boundaries(size: str, start: datetime, end: datetime, zone: str = "UTC", **kwargs: object):
    return window_boundaries(size, start=start, end=end, time_zone=ZoneInfo(zone), **kwargs)


class TestFixedSizes:
    def test_days_in_utc_start_at_midnight_and_cover_the_range(self) -> None:
        assert boundaries("DAY", utc(2026, 1, 5, 10), utc(2026, 1, 7, 1)) == (
            utc(2026, 1, 5),
            utc(2026, 1, 6),
            utc(2026, 1, 7),
            utc(2026, 1, 8),
        )

    def test_a_range_on_boundaries_starts_and_ends_on_them(self) -> None:
        assert boundaries("HOUR", utc(2026, 1, 5, 10), utc(2026, 1, 5, 12)) == (
            utc(2026, 1, 5, 10),
            utc(2026, 1, 5, 11),
            utc(2026, 1, 5, 12),
        )

    @pytest.mark.parametrize(
        ("size", "expected"),
        [
            ("MINUTE", [utc(2026, 1, 5, 10, 7), utc(2026, 1, 5, 10, 8), utc(2026, 1, 5, 10, 9)]),
            ("15MIN", [utc(2026, 1, 5, 10, 0), utc(2026, 1, 5, 10, 15)]),
            ("30MIN", [utc(2026, 1, 5, 10, 0), utc(2026, 1, 5, 10, 30)]),
            ("3HOUR", [utc(2026, 1, 5, 9), utc(2026, 1, 5, 12)]),
            ("6HOUR", [utc(2026, 1, 5, 6), utc(2026, 1, 5, 12)]),
            ("12HOUR", [utc(2026, 1, 5, 0), utc(2026, 1, 5, 12)]),
        ],
    )
    def test_sub_day_sizes_align_to_round_clock_times(
        self, size: str, expected: list[datetime]
    ) -> None:
        start, end = utc(2026, 1, 5, 10, 7, 30), utc(2026, 1, 5, 10, 8, 30)
        assert list(boundaries(size, start, end)) == expected

    def test_hours_align_to_the_local_clock_of_a_half_hour_zone(self) -> None:
        # Kolkata is UTC+5:30: local 16:00 is 10:30 UTC.
        assert boundaries(
            "HOUR", utc(2026, 1, 5, 10, 40), utc(2026, 1, 5, 11, 10), "Asia/Kolkata"
        ) == (
            utc(2026, 1, 5, 10, 30),
            utc(2026, 1, 5, 11, 30),
        )


class TestDaylightSaving:
    def test_the_day_clocks_fall_back_is_25_hours_long(self) -> None:
        # 2025-11-02: New York goes from EDT (UTC-4) to EST (UTC-5).
        assert boundaries(
            "DAY", utc(2025, 11, 1, 12), utc(2025, 11, 3, 12), "America/New_York"
        ) == (
            utc(2025, 11, 1, 4),
            utc(2025, 11, 2, 4),
            utc(2025, 11, 3, 5),
            utc(2025, 11, 4, 5),
        )

    def test_the_repeated_hour_is_two_windows(self) -> None:
        result = boundaries("HOUR", utc(2025, 11, 2, 4), utc(2025, 11, 2, 8), "America/New_York")
        assert result == (
            utc(2025, 11, 2, 4),  # 00:00 EDT
            utc(2025, 11, 2, 5),  # 01:00 EDT
            utc(2025, 11, 2, 6),  # 01:00 EST, the second time
            utc(2025, 11, 2, 7),  # 02:00 EST
            utc(2025, 11, 2, 8),
        )

    def test_the_skipped_hour_has_no_window(self) -> None:
        # 2025-03-09: 02:00 EST jumps to 03:00 EDT.
        result = boundaries("HOUR", utc(2025, 3, 9, 6), utc(2025, 3, 9, 8), "America/New_York")
        assert [moment.astimezone(NEW_YORK).hour for moment in result] == [1, 3, 4]
        assert result == (utc(2025, 3, 9, 6), utc(2025, 3, 9, 7), utc(2025, 3, 9, 8))

    def test_three_hour_windows_follow_the_wall_clock_across_spring_forward(self) -> None:
        result = boundaries("3HOUR", utc(2025, 3, 9, 5), utc(2025, 3, 9, 10), "America/New_York")
        # 00:00 EST, 03:00 EDT (2 hours later), 06:00 EDT.
        assert result == (utc(2025, 3, 9, 5), utc(2025, 3, 9, 7), utc(2025, 3, 9, 10))


class TestWeeksAndMonths:
    def test_weeks_start_on_monday(self) -> None:
        # 2026-01-15 is a Thursday; its week began on Monday the 12th.
        assert boundaries("WEEK", utc(2026, 1, 15), utc(2026, 1, 20)) == (
            utc(2026, 1, 12),
            utc(2026, 1, 19),
            utc(2026, 1, 26),
        )

    def test_weeks_start_on_the_local_monday(self) -> None:
        # Monday 2026-01-12 00:30 in Tokyo is still Sunday in UTC.
        result = boundaries("WEEK", utc(2026, 1, 11, 16), utc(2026, 1, 12), "Asia/Tokyo")
        assert result == (utc(2026, 1, 11, 15), utc(2026, 1, 18, 15))

    def test_calendar_months_start_on_the_first_at_local_midnight(self) -> None:
        result = boundaries("MONTH", utc(2026, 2, 10), utc(2026, 3, 20), "America/New_York")
        assert result == (utc(2026, 2, 1, 5), utc(2026, 3, 1, 5), utc(2026, 4, 1, 4))

    def test_months_from_an_anchor_on_the_31st_clamp_to_the_month_end(self) -> None:
        anchor = utc(2025, 10, 31, 9)
        result = boundaries("MONTH", utc(2026, 1, 15), utc(2026, 5, 1), billing_anchor=anchor)
        assert result == (
            utc(2025, 12, 31, 9),
            utc(2026, 1, 31, 9),
            utc(2026, 2, 28, 9),
            utc(2026, 3, 31, 9),
            utc(2026, 4, 30, 9),
            utc(2026, 5, 31, 9),
        )

    def test_an_anchor_on_the_31st_gives_february_29_in_a_leap_year(self) -> None:
        result = boundaries(
            "MONTH", utc(2028, 2, 1), utc(2028, 3, 1), billing_anchor=utc(2028, 1, 31)
        )
        assert result == (utc(2028, 1, 31), utc(2028, 2, 29), utc(2028, 3, 31))

    def test_the_anchor_day_and_time_are_read_in_the_time_zone(self) -> None:
        # 2026-01-31 02:00 UTC is January 30, 21:00 in New York.
        anchor = utc(2026, 1, 31, 2)
        result = boundaries(
            "MONTH", utc(2026, 3, 5), utc(2026, 3, 6), "America/New_York", billing_anchor=anchor
        )
        # February: the 28th, 21:00 EST; March: the 30th, 21:00 EDT.
        assert result == (utc(2026, 3, 1, 2), utc(2026, 3, 31, 1))


class TestLimitsAndHelpers:
    def test_uniform_step_is_the_common_length(self) -> None:
        assert uniform_step(boundaries("HOUR", utc(2026, 1, 5), utc(2026, 1, 6))) == timedelta(
            hours=1
        )
        months = boundaries("MONTH", utc(2026, 1, 5), utc(2026, 3, 6))
        assert uniform_step(months) is None

    def test_too_many_windows_are_refused(self) -> None:
        with pytest.raises(TooManyWindows, match=f"more than {MAX_BOUNDARIES} windows of MINUTE"):
            boundaries("MINUTE", utc(2026, 1, 1), utc(2026, 12, 31))

    @pytest.mark.parametrize(
        ("size", "start", "end", "message"),
        [
            ("YEAR", utc(2026, 1, 1), utc(2026, 1, 2), "'YEAR' is not a window size"),
            ("DAY", utc(2026, 1, 2), utc(2026, 1, 1), "start must be before end"),
            ("DAY", datetime(2026, 1, 1), utc(2026, 1, 2), "must be aware"),
        ],
    )
    def test_bad_arguments_are_refused(
        self, size: str, start: datetime, end: datetime, message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            boundaries(size, start, end)
