"""Statistics over the anonymous events: counts and durations per week or month.

Every figure comes from a SQL GROUP BY (or a window over one kind of event),
so the work is done by the database and Python only sees grouped rows (at
most a few hundred per period), never one row per event. The same expressions run on
SQLite and PostgreSQL; only the period bucket differs by dialect.

Periods are ISO weeks (``2026-W47``) or calendar months (``2026-11``) of the
hour-truncated UTC event time. ``since`` and ``until`` (inclusive dates) are
widened to whole periods: a period is always counted in full, so two exports
can never be subtracted to expose a few days (see ``flows.disclosure``).

Durations are summarised by the nearest-rank percentile: the median is the
value at rank ceil(n/2) of the sorted durations, p90 at rank ceil(0.9 n).
The ranks are picked in SQL with ``row_number()`` over each group, so only
two rows per group reach Python.

:func:`published_statistics` is the one entry point for anything that leaves
the service: it applies :func:`flows.disclosure.suppress`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, Select, cast, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from flows.disclosure import COUNT, MEDIAN, P90, TOTAL, UNKNOWN, Cell, Published, suppress
from flows.domain import NO_COUNTY, Barrier, ContactMode, Pathway, Role, Seeker, Support
from flows.events import EventKind
from flows.periods import Period, label_start, next_period, period_label, period_labels, period_start
from storage.models import EventRow


@dataclass(frozen=True)
class Dimension:
    """A way to split a measure: an event column and the values it can take."""

    name: str
    column: InstrumentedAttribute[Any]
    domain: tuple[str, ...] = ()
    """Values always listed (as 0 when absent), so every period has the same rows."""
    bits: type[StrEnum] | None = None
    """Set for multi-select answers stored as a bit mask over this enum."""

    def values(self, raw: Any) -> list[str]:
        """The cell(s) one grouped value counts in."""
        if self.bits is not None:
            return [m.value for i, m in enumerate(self.bits) if raw is not None and raw & (1 << i)]
        if raw is None:
            return [UNKNOWN]
        if isinstance(raw, bool):
            return ["true" if raw else "false"]
        return [str(raw)]


def _codes(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


PATHWAY = Dimension("pathway", EventRow.pathway, _codes(Pathway))
SEEKER = Dimension("seeker", EventRow.seeker, _codes(Seeker))
URGENT = Dimension("urgent", EventRow.urgent, ("true", "false"))
CONTACT = Dimension("contact", EventRow.contact, _codes(ContactMode))
ROLE = Dimension("role", EventRow.role, _codes(Role))
COUNTY = Dimension("county", EventRow.county, (NO_COUNTY,))
SUPPORT = Dimension("support", EventRow.support_mask, _codes(Support), bits=Support)
BARRIER = Dimension("barrier", EventRow.barrier_mask, _codes(Barrier), bits=Barrier)
STEP = Dimension("step", EventRow.step)
ACTOR = Dimension("actor", EventRow.actor, ("doctor", "counsellor", "system"))
SCORE = Dimension("score", EventRow.score, ("1", "2", "3", "4", "5"))

MULTI_SELECT = frozenset(d.name for d in (SUPPORT, BARRIER))

COUNTS: dict[EventKind, tuple[tuple[Dimension, ...], ...]] = {
    # Each inner tuple is one GROUP BY; dimensions that share a query keep the
    # number of combinations small (at most a few hundred per period).
    EventKind.TRIAGE_STARTED: ((),),
    EventKind.STEP_ABANDONED: ((STEP,),),
    EventKind.PATHWAY_CHOSEN: ((PATHWAY,),),
    EventKind.SAFETY_SHOWN: ((),),
    EventKind.CASE_OPENED: ((PATHWAY, SEEKER, URGENT, CONTACT), (ROLE, COUNTY), (SUPPORT, BARRIER)),
    EventKind.CASE_OFFERED: ((),),
    EventKind.OFFER_DECLINED: ((),),
    EventKind.OFFER_TIMED_OUT: ((),),
    EventKind.CASE_ACCEPTED: ((PATHWAY, URGENT),),
    EventKind.CASE_ESCALATED: ((),),
    EventKind.CASE_WITHDRAWN: ((),),
    EventKind.CASE_CLOSED: ((ACTOR,),),
    EventKind.FEEDBACK: ((SCORE,),),
    EventKind.FORGET_REQUESTED: ((),),
}
"""What is counted: every kind of event, split by the dimensions listed."""

DURATIONS: dict[EventKind, tuple[Dimension | None, ...]] = {
    EventKind.CASE_ACCEPTED: (None, PATHWAY, URGENT),  # seconds from opened to accepted
    EventKind.CASE_CLOSED: (None, ACTOR),  # case length
}
"""Kinds whose ``duration_s`` is summarised (median, p90); None = all events."""


# --- periods in SQL (the date arithmetic is flows.periods) ----------------------


def _bucket(session: AsyncSession, period: Period) -> Any:
    """SQL for the period of an event, as text (SQLite) or a date (PostgreSQL).

    Constants are literals, not bound parameters, so the expression in SELECT
    and in GROUP BY is the same text (PostgreSQL insists).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # Stored as 'YYYY-MM-DD HH:MM:SS...': the month is its first 7 characters,
        # and date(..., 'weekday 0', '-6 days') is the Monday of its week.
        if period is Period.MONTH:
            return func.substr(EventRow.hour, literal_column("1"), literal_column("7"))
        return func.date(EventRow.hour, literal_column("'weekday 0'"), literal_column("'-6 days'"))
    if dialect == "postgresql":
        return cast(func.date_trunc(literal_column(f"'{period.value}'"), EventRow.hour), Date)
    raise NotImplementedError(f"statistics: no period bucket for the {dialect} dialect")


def _label(bucket: Any, period: Period) -> str:
    if isinstance(bucket, str):
        if len(bucket) == 7:  # 'YYYY-MM' already
            return bucket
        bucket = date.fromisoformat(bucket[:10])
    if isinstance(bucket, datetime):
        bucket = bucket.date()
    return period_label(period_start(bucket, period), period)


# --- queries -------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The hours counted: whole periods from ``start`` up to (not including) ``end``."""

    start: datetime | None
    end: datetime | None

    @classmethod
    def of(cls, period: Period, since: date | None, until: date | None) -> Window:
        start = datetime.combine(period_start(since, period), datetime.min.time()) if since else None
        end = datetime.combine(next_period(period_start(until, period), period), datetime.min.time()) if until else None
        return cls(start, end)

    def where(self, query: Select[Any], kind: EventKind) -> Select[Any]:
        query = query.where(EventRow.kind == kind.value)
        if self.start is not None:
            query = query.where(EventRow.hour >= self.start)
        if self.end is not None:
            query = query.where(EventRow.hour < self.end)
        return query


async def _counts(
    session: AsyncSession, bucket: Any, window: Window, kind: EventKind, dims: tuple[Dimension, ...], period: Period
) -> list[tuple[str, tuple[Any, ...], int]]:
    columns = [d.column for d in dims]
    query = window.where(select(bucket, *columns, func.count()), kind).group_by(bucket, *columns)
    result = await session.execute(query)
    return [(_label(row[0], period), tuple(row[1:-1]), int(row[-1])) for row in result]


async def _percentiles(
    session: AsyncSession, bucket: Any, window: Window, kind: EventKind, dim: Dimension | None, period: Period
) -> list[tuple[str, Any, str, int, int]]:
    """(period, raw value, statistic, seconds, n) at the median and p90 ranks."""
    parts = [bucket] if dim is None else [bucket, dim.column]
    ranked = (
        window.where(
            select(
                *[p.label(f"k{i}") for i, p in enumerate(parts)],
                EventRow.duration_s.label("seconds"),
                func.row_number().over(partition_by=parts, order_by=EventRow.duration_s).label("position"),
                func.count().over(partition_by=parts).label("n"),
            ),
            kind,
        )
        .where(EventRow.duration_s.is_not(None))
        .subquery()
    )
    median_rank = (ranked.c.n * 50 + 99) // 100  # ceil(n/2) in integer arithmetic, on both dialects
    p90_rank = (ranked.c.n * 90 + 99) // 100
    keys = [ranked.c[f"k{i}"] for i in range(len(parts))]
    query = select(*keys, ranked.c.seconds, ranked.c.position, ranked.c.n, median_rank, p90_rank).where(
        or_(ranked.c.position == median_rank, ranked.c.position == p90_rank)
    )
    found = []
    for row in await session.execute(query):
        label, value = _label(row[0], period), (row[1] if dim is not None else TOTAL)
        seconds, rank, n, at_median, at_p90 = (int(x) for x in row[-5:])
        if rank == at_median:
            found.append((label, value, MEDIAN, seconds, n))
        if rank == at_p90:
            found.append((label, value, P90, seconds, n))
    return found


async def collect(
    session: AsyncSession,
    period: Period,
    since: date | None = None,
    until: date | None = None,
    counties: Sequence[str] = (),
) -> list[Cell]:
    """Every raw figure for whole periods between ``since`` and ``until`` (inclusive).

    Not for publishing: use :func:`published_statistics`. ``counties`` are the
    configured county codes, listed (as 0) even in periods without events.
    Without ``since``/``until`` the periods run from the first to the last event.
    """
    window = Window.of(period, since, until)
    bucket = _bucket(session, period)
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    periods: set[str] = set()
    for kind, scans in COUNTS.items():
        for index, dims in enumerate(scans):
            for label, raw, n in await _counts(session, bucket, window, kind, dims, period):
                periods.add(label)
                if index == 0:  # every scan covers all events; count the total once
                    counts[(label, kind.value, TOTAL, TOTAL)] += n
                for dim, value in zip(dims, raw, strict=True):
                    for cell in dim.values(value):
                        counts[(label, kind.value, dim.name, cell)] += n
                        seen[(kind.value, dim.name)].add(cell)

    durations: dict[tuple[str, str, str], list[tuple[str, str, int, int]]] = defaultdict(list)
    for kind, dims_or_all in DURATIONS.items():
        for maybe_dim in dims_or_all:
            name = TOTAL if maybe_dim is None else maybe_dim.name
            for label, raw, statistic, seconds, n in await _percentiles(session, bucket, window, kind, maybe_dim, period):
                value = TOTAL if maybe_dim is None else maybe_dim.values(raw)[0]
                durations[(label, kind.value, name)].append((value, statistic, seconds, n))

    cells: list[Cell] = []
    for label in _all_periods(periods, window, period):
        for kind, scans in COUNTS.items():
            measure = kind.value
            total = counts.get((label, measure, TOTAL, TOTAL), 0)
            cells.append(Cell(label, measure, TOTAL, TOTAL, COUNT, total, total))
            order: dict[str, list[str]] = {TOTAL: [TOTAL]}
            for dim in (d for dims in scans for d in dims):
                domain = tuple(counties) + dim.domain if dim is COUNTY else dim.domain
                order[dim.name] = list(dict.fromkeys(domain)) + sorted(seen[(measure, dim.name)] - set(domain))
                for value in order[dim.name]:
                    n = counts.get((label, measure, dim.name, value), 0)
                    cells.append(Cell(label, measure, dim.name, value, COUNT, n, n))
            for maybe_dim in DURATIONS.get(kind, ()):
                name = TOTAL if maybe_dim is None else maybe_dim.name
                rank = {value: i for i, value in enumerate(order[name])}
                found = sorted(
                    durations.get((label, measure, name), []), key=lambda f: (rank.get(f[0], len(rank)), f[1] != MEDIAN)
                )
                cells.extend(Cell(label, measure, name, value, statistic, seconds, n) for value, statistic, seconds, n in found)
    return cells


def _all_periods(found: set[str], window: Window, period: Period) -> list[str]:
    """Periods with events, plus empty ones between them and the window's ends."""
    starts = [label_start(label, period) for label in found]
    if not starts and (window.start is None or window.end is None):
        return []
    first = window.start.date() if window.start else min(starts)
    last = (window.end.date() - timedelta(days=1)) if window.end else max(starts)
    return period_labels(first, last, period)


async def published_statistics(
    session: AsyncSession,
    period: Period,
    min_cell: int,
    since: date | None = None,
    until: date | None = None,
    counties: Sequence[str] = (),
) -> list[Published]:
    """What may leave the service: :func:`collect` after small-cell suppression."""
    cells = await collect(session, period, since, until, counties)
    return suppress(cells, min_cell, multi_select=MULTI_SELECT)
