"""Window and bucket boundaries, aligned in a time zone (pure: no database, no clock).

A window of `HOUR`, `DAY`, … starts where a wall clock in the time zone shows a round time:
a DAY runs from one local midnight to the next (23 or 25 hours across a DST change), a WEEK
from Monday 00:00, a MONTH from the 1st 00:00 or from a billing anchor's day and time of day
(clamped to the month's last day). Boundaries are returned as aware UTC datetimes.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

# Sub-day sizes in minutes; each divides a day, so every local midnight is also a boundary.
MINUTES = {
    "MINUTE": 1,
    "15MIN": 15,
    "30MIN": 30,
    "HOUR": 60,
    "3HOUR": 180,
    "6HOUR": 360,
    "12HOUR": 720,
}
WINDOW_SIZES = (*MINUTES, "DAY", "WEEK", "MONTH")

# More boundaries than this is a request no chart or price needs (a year of 3-minute steps).
MAX_BOUNDARIES = 200_000


class TooManyWindows(ValueError):
    """The range holds more windows (or buckets) than one query may compute."""


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a local wall time names; the first of two after a fall-back, and the
    moment the clock jumps when it names a time a spring-forward skips."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _instants_of_wall_time(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every instant a local wall time names: none in a spring-forward gap, two in a
    fall-back overlap."""
    instants = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            instants.append(instant)
    return sorted(set(instants))


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _check_count(count: int, size: str) -> None:
    if count > MAX_BOUNDARIES:
        raise TooManyWindows(
            f"The range holds more than {MAX_BOUNDARIES} windows of {size}; "
            "use a larger window size or a shorter range."
        )


def _sub_day(
    minutes: int, start: datetime, end: datetime, zone: ZoneInfo, size: str
) -> list[datetime]:
    per_day = 24 * 60 // minutes
    first_day = _local_date(start, zone) - timedelta(days=1)
    last_day = _local_date(end, zone) + timedelta(days=1)
    _check_count(((last_day - first_day).days + 1) * per_day, size)
    step = timedelta(minutes=minutes)
    offsets = [step * index for index in range(per_day)]
    boundaries: list[datetime] = []
    day = first_day
    while day <= last_day:
        midnight = datetime.combine(day, time())
        next_midnight = datetime.combine(day + timedelta(days=1), time())
        day_start, day_end = _instant(midnight, zone), _instant(next_midnight, zone)
        if day_end - day_start == timedelta(days=1) and (
            day_start.astimezone(zone).utcoffset() == day_end.astimezone(zone).utcoffset()
        ):
            # No clock change today: the round wall times are evenly spaced instants.
            boundaries.extend([day_start + offset for offset in offsets])
        else:
            for offset in offsets:
                boundaries.extend(_instants_of_wall_time(midnight + offset, zone))
        day += timedelta(days=1)
    return boundaries


def _days(
    start: datetime, end: datetime, zone: ZoneInfo, every: int, monday: bool
) -> list[datetime]:
    first_day = _local_date(start, zone)
    if monday:
        first_day -= timedelta(days=first_day.weekday())
    last_day = _local_date(end, zone) + timedelta(days=every)
    _check_count((last_day - first_day).days // every + 1, "DAY" if every == 1 else "WEEK")
    boundaries = []
    day = first_day
    while day <= last_day:
        boundaries.append(_instant(datetime.combine(day, time()), zone))
        day += timedelta(days=every)
    return boundaries


def _month_start(year: int, month: int, anchor: datetime | None) -> datetime:
    """The wall time a MONTH window starts in that month: the 1st at midnight, or the anchor's
    day (clamped to the month's last day) at the anchor's time of day."""
    if anchor is None:
        return datetime(year, month, 1)
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return datetime.combine(date(year, month, day), anchor.time())


def _months(
    start: datetime, end: datetime, zone: ZoneInfo, billing_anchor: datetime | None
) -> list[datetime]:
    anchor = billing_anchor.astimezone(zone).replace(tzinfo=None) if billing_anchor else None
    local_start = start.astimezone(zone)
    year, month = local_start.year, local_start.month
    if _instant(_month_start(year, month, anchor), zone) > start:
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    boundaries = [_instant(_month_start(year, month, anchor), zone)]
    while boundaries[-1] < end:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        boundaries.append(_instant(_month_start(year, month, anchor), zone))
        _check_count(len(boundaries), "MONTH")
    return boundaries


def window_boundaries(
    size: str,
    *,
    start: datetime,
    end: datetime,
    time_zone: ZoneInfo,
    billing_anchor: datetime | None = None,
) -> tuple[datetime, ...]:
    """Boundaries `b0 < b1 < … < bn` (aware, UTC) of the windows covering `[start, end)`.

    `b0 <= start` is the start of the window holding `start`, `bn >= end`; window `i` is
    `[b_i, b_i+1)`. `billing_anchor` only moves MONTH windows.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if not start < end:
        raise ValueError("start must be before end")
    if size in MINUTES:
        candidates = _sub_day(MINUTES[size], start, end, time_zone, size)
    elif size == "DAY":
        candidates = _days(start, end, time_zone, every=1, monday=False)
    elif size == "WEEK":
        candidates = _days(start, end, time_zone, every=7, monday=True)
    elif size == "MONTH":
        candidates = _months(start, end, time_zone, billing_anchor)
    else:
        raise ValueError(f"{size!r} is not a window size; use one of {', '.join(WINDOW_SIZES)}")
    ordered = sorted(set(candidates))
    first = bisect_right(ordered, start) - 1
    last = bisect_left(ordered, end)
    return tuple(ordered[first : last + 1])


def uniform_step(boundaries: tuple[datetime, ...]) -> timedelta | None:
    """The common length of all windows, when they are all equally long (else None)."""
    if len(boundaries) < 2:
        return None
    step = boundaries[1] - boundaries[0]
    for earlier, later in pairwise(boundaries):
        if later - earlier != step:
            return None
    return step
