"""Statistics periods: ISO weeks and calendar months, as plain dates.

A period is named by its first day (a Monday, or the 1st of a month) and
labelled ``2026-W47`` or ``2026-11`` in every export. Pure date arithmetic:
storage buckets events with it and the coordinators' views step through it.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"


def period_start(day: date, period: Period) -> date:
    """The first day of the week (Monday) or month that ``day`` falls in."""
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(start: date, period: Period) -> date:
    if period is Period.WEEK:
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def previous_period(start: date, period: Period) -> date:
    if period is Period.WEEK:
        return start - timedelta(days=7)
    return date(start.year - (start.month == 1), (start.month - 2) % 12 + 1, 1)


def period_label(start: date, period: Period) -> str:
    """``2026-W47`` (ISO week) or ``2026-11``."""
    if period is Period.WEEK:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def label_start(label: str, period: Period) -> date:
    """The first day of the period a :func:`period_label` names."""
    if period is Period.WEEK:
        year, week = label.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    return date.fromisoformat(label + "-01")


def period_labels(first: date, last: date, period: Period) -> list[str]:
    """Every period from the one holding ``first`` to the one holding ``last``."""
    labels = []
    start = period_start(first, period)
    while start <= last:
        labels.append(period_label(start, period))
        start = next_period(start, period)
    return labels
