"""Listed expiry dates: third-Friday monthlies and Friday weeklies, moved to Thursday on a holiday."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

FRIDAY = 4


def third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(FRIDAY - first.weekday()) % 7 + 14)


def _before_holiday(day: dt.date, holidays: set[dt.date]) -> dt.date:
    """An expiry that falls on an exchange holiday moves to the trading day before it."""
    while day in holidays or day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def monthly_expiry(year: int, month: int, holidays: Iterable[dt.date] = ()) -> dt.date:
    """Standard monthly expiry: the third Friday, or the Thursday before when that Friday is a holiday."""
    return _before_holiday(third_friday(year, month), set(holidays))


def listed_expiries(as_of: dt.date, weeklies: int, monthlies: int, holidays: Iterable[dt.date] = ()) -> list[dt.date]:
    """The next ``monthlies`` monthly and ``weeklies`` weekly expiries on or after ``as_of``, sorted.

    Weeklies are the Fridays of the coming weeks that are not already a monthly expiry.
    """
    hol = set(holidays)
    months: list[dt.date] = []
    year, month = as_of.year, as_of.month
    while len(months) < monthlies:
        day = monthly_expiry(year, month, hol)
        if day >= as_of:
            months.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    monthly_weeks = {d.isocalendar()[:2] for d in months}
    weeks: list[dt.date] = []
    friday = as_of + dt.timedelta(days=(FRIDAY - as_of.weekday()) % 7)
    while len(weeks) < weeklies:
        if friday.isocalendar()[:2] not in monthly_weeks and (day := _before_holiday(friday, hol)) >= as_of:
            weeks.append(day)
        friday += dt.timedelta(days=7)
    return sorted(set(months) | set(weeks))
