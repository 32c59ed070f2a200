"""Report periods: the day, week or month that just closed in a schedule's time zone (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAILY = "daily"
WEEKLY = "weekly"
MONTHLY = "monthly"
CADENCES = (DAILY, WEEKLY, MONTHLY)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A half-open range `[start, end)` of local midnights, held as UTC instants."""

    start: datetime
    end: datetime

    def local_dates(self, zone: ZoneInfo) -> tuple[date, date]:
        """The first and the last local day of the period (both inclusive)."""
        return self.start.astimezone(zone).date(), (self.end.astimezone(zone) - DAY).date()


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant `day` begins in `zone`, in UTC. Where midnight is skipped by a DST change the
    wall time is read with the offset in force before it (zoneinfo's fold=0), which lands on the
    first instant of the day."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _first_day(cadence: str, day: date) -> date:
    if cadence == DAILY:
        return day
    if cadence == WEEKLY:
        # Weeks start on Monday (ISO 8601).
        return day - timedelta(days=day.weekday())
    if cadence == MONTHLY:
        return day.replace(day=1)
    raise ValueError(f"{cadence!r} is not a cadence; use one of {', '.join(CADENCES)}")


def _next_first_day(cadence: str, first: date) -> date:
    if cadence == DAILY:
        return first + DAY
    if cadence == WEEKLY:
        return first + timedelta(days=7)
    if cadence == MONTHLY:
        return (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    raise ValueError(f"{cadence!r} is not a cadence; use one of {', '.join(CADENCES)}")


def _period_from(cadence: str, first: date, zone: ZoneInfo) -> Period:
    return Period(
        start=local_midnight(first, zone),
        end=local_midnight(_next_first_day(cadence, first), zone),
    )


def period_containing(cadence: str, moment: datetime, zone: ZoneInfo) -> Period:
    """The day, ISO week or calendar month of `zone` that `moment` falls in."""
    return _period_from(cadence, _first_day(cadence, moment.astimezone(zone).date()), zone)


def period_before(cadence: str, period: Period, zone: ZoneInfo) -> Period:
    """The period just before `period` (for the change against the previous period)."""
    return period_containing(cadence, period.start - timedelta(seconds=1), zone)


def period_after(cadence: str, period: Period, zone: ZoneInfo) -> Period:
    return period_containing(cadence, period.end, zone)


def send_time(period: Period, *, send_hour: int, zone: ZoneInfo) -> datetime:
    """When the report of `period` is due: `send_hour` o'clock local on the day it closes."""
    if not 0 <= send_hour <= 23:
        raise ValueError(f"send_hour must be 0–23, not {send_hour}")
    closing_day = period.end.astimezone(zone).date()
    return datetime.combine(closing_day, time(send_hour), tzinfo=zone).astimezone(UTC)


def last_closed_period(cadence: str, *, zone: ZoneInfo, send_hour: int, now: datetime) -> Period:
    """The latest period whose report is due at `now`: the one before the current period once
    its send hour has come, else the one before that."""
    previous = period_before(cadence, period_containing(cadence, now, zone), zone)
    if send_time(previous, send_hour=send_hour, zone=zone) <= now:
        return previous
    return period_before(cadence, previous, zone)


def next_send_time(cadence: str, *, zone: ZoneInfo, send_hour: int, now: datetime) -> datetime:
    """The first send time after `now`: when the period after the last closed one is due."""
    closed = last_closed_period(cadence, zone=zone, send_hour=send_hour, now=now)
    return send_time(period_after(cadence, closed, zone), send_hour=send_hour, zone=zone)


def window_size_for(cadence: str) -> str:
    """The chart's window: hours of a day, days of a week or month."""
    return "HOUR" if cadence == DAILY else "DAY"


def window_starts(cadence: str, period: Period, zone: ZoneInfo) -> list[datetime]:
    """Every window start of the period's chart, in UTC, so windows without usage show as 0."""
    if window_size_for(cadence) == "HOUR":
        # Hours are absolute: a 23- or 25-hour DST day has 23 or 25 of them.
        count = int((period.end - period.start).total_seconds() // 3600)
        return [period.start + timedelta(hours=hour) for hour in range(count)]
    first, last = period.local_dates(zone)
    return [local_midnight(first + DAY * offset, zone) for offset in range((last - first).days + 1)]


def period_label(cadence: str, period: Period, zone: ZoneInfo) -> str:
    """A period as people read it: a day, the first and last day of a week, or a month."""
    first, last = period.local_dates(zone)
    if cadence == DAILY:
        return f"{first:%a} {first.day} {first:%b %Y}"
    if cadence == MONTHLY:
        return f"{first:%B %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"
