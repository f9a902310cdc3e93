"""Statistics over the anonymous event counts: counts and durations per week or month.

What is at rest is already a count (``storage.models.EventCountRow``): one row per day,
kind and cell, where a cell holds the values of one of the GROUP BYs of :data:`COUNTS`
(:func:`counter_rows` makes them when an event is recorded). Every figure comes from a
SQL GROUP BY summing those counts (or a window over them), so Python only sees grouped
rows (at most a few hundred per period). County and role are stored only as a monthly
keyed tag (:class:`Tagger`), which the export turns back into values by computing the
tag of every possible (role, county) of each month. The same expressions run on
SQLite and PostgreSQL; only the period bucket differs by dialect.

Periods are ISO weeks (``2026-W47``) or calendar months (``2026-11``) of the
UTC day an event was counted in. ``since`` and ``until`` (inclusive dates) are
widened to whole periods: a period is always counted in full, so two exports
can never be subtracted to expose a few days (see ``flows.disclosure``).

Durations are kept only rounded up to a step of :data:`DURATION_STEPS`, and summarised
by the nearest-rank percentile over those steps: the median is the step at rank
ceil(n/2) of the sorted durations, p90 at rank ceil(0.9 n) ("half were accepted within
15 minutes"). The ranks are found in SQL with a running sum over each group's steps, so
only two rows per group reach Python.

:func:`published_statistics` is the one entry point for anything that leaves
the service: it applies :func:`flows.disclosure.suppress`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import BigInteger, Date, Select, cast, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from flows.disclosure import COUNT, MEDIAN, P90, TOTAL, UNKNOWN, Cell, Published, suppress
from flows.domain import NO_COUNTY, Barrier, ContactMode, Pathway, Role, Seeker, Support
from flows.events import Event, EventKind
from flows.periods import Period, label_start, next_period, period_label, period_labels, period_start
from storage.models import EventCountRow


@dataclass(frozen=True)
class Dimension:
    """A way to split a measure: a counter column and the values it can take."""

    name: str
    column: InstrumentedAttribute[Any] | None
    """None for a dimension kept only inside a tag (county, role)."""
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


PATHWAY = Dimension("pathway", EventCountRow.pathway, _codes(Pathway))
SEEKER = Dimension("seeker", EventCountRow.seeker, _codes(Seeker))
URGENT = Dimension("urgent", EventCountRow.urgent, ("true", "false"))
CONTACT = Dimension("contact", EventCountRow.contact, _codes(ContactMode))
ROLE = Dimension("role", None, _codes(Role))
COUNTY = Dimension("county", None, (NO_COUNTY,))
SUPPORT = Dimension("support", EventCountRow.support_mask, _codes(Support), bits=Support)
BARRIER = Dimension("barrier", EventCountRow.barrier_mask, _codes(Barrier), bits=Barrier)
STEP = Dimension("step", EventCountRow.step)
ACTOR = Dimension("actor", EventCountRow.actor, ("doctor", "counsellor", "system"))
SCORE = Dimension("score", EventCountRow.score, ("1", "2", "3", "4", "5"))
DURATION = Dimension("duration", EventCountRow.duration_s)

MULTI_SELECT = frozenset(d.name for d in (SUPPORT, BARRIER))
TAGGED = (ROLE, COUNTY)
"""Counted only together, and stored only as a tag: what could single a doctor out."""

COUNTS: dict[EventKind, tuple[tuple[Dimension, ...], ...]] = {
    # Each inner tuple is one GROUP BY, and one counter row per day and combination of
    # its values: dimensions are kept at rest only in the combinations published.
    EventKind.TRIAGE_STARTED: ((),),
    EventKind.STEP_ABANDONED: ((STEP,),),
    EventKind.PATHWAY_CHOSEN: ((PATHWAY,),),
    EventKind.SAFETY_SHOWN: ((),),
    EventKind.CASE_OPENED: ((PATHWAY, SEEKER, URGENT, CONTACT), TAGGED, (SUPPORT, BARRIER)),
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
    EventKind.CASE_ACCEPTED: (None, PATHWAY, URGENT),  # from opened to accepted
    EventKind.CASE_CLOSED: (None, ACTOR),  # case length
}
"""Kinds whose durations are summarised (median, p90); None = all events. Each dimension
is one of the kind's first GROUP BY, which also keeps the duration step."""

DURATION_STEPS = tuple(
    int(step.total_seconds())
    for step in (
        *(timedelta(minutes=m) for m in (1, 5, 15, 30)),
        *(timedelta(hours=h) for h in (1, 2, 4, 8, 12)),
        *(timedelta(days=d) for d in (1, 2, 3, 5)),
        *(timedelta(weeks=w) for w in (1, 2, 3, 4, 6, 8, 12, 26, 52)),
    )
)
"""The only durations kept: each is rounded up to the next step (or the last)."""


def duration_step(seconds: int) -> int:
    """``seconds`` rounded up to a step of :data:`DURATION_STEPS`."""
    return next((step for step in DURATION_STEPS if seconds <= step), DURATION_STEPS[-1])


def families(kind: EventKind) -> tuple[tuple[Dimension, ...], ...]:
    """The counter rows one event of ``kind`` adds to: its GROUP BYs, the first with the duration."""
    scans = COUNTS[kind]
    if kind in DURATIONS:
        return ((*scans[0], DURATION), *scans[1:])
    return scans


class Tagger(Protocol):
    def statistics_tag(self, text: str) -> str: ...


class _Untagged:
    def statistics_tag(self, text: str) -> str:
        raise LookupError("tagged counts are read with the service's statistics key")


_NO_TAGS = _Untagged()


def tag_of(tagger: Tagger, day: date, values: Sequence[str]) -> str:
    """The cell of a tagged combination in ``day``'s month: the same all month, another the next."""
    return "t:" + tagger.statistics_tag(f"{day:%Y-%m}|" + "|".join(values))


_FIELDS = {
    PATHWAY.name: "pathway", SEEKER.name: "seeker", URGENT.name: "urgent", CONTACT.name: "contact",
    ROLE.name: "role", COUNTY.name: "county", SUPPORT.name: "support_mask", BARRIER.name: "barrier_mask",
    STEP.name: "step", ACTOR.name: "actor", SCORE.name: "score", DURATION.name: "duration_s",
}  # fmt: skip
"""Which ``flows.events.Event`` field each dimension reads."""


def family_of(dims: Sequence[Dimension]) -> str:
    """The name of a GROUP BY's counter rows: its dimensions' names ("*" for none)."""
    return ",".join(d.name for d in dims) or "*"


def counter_rows(event: Event, day: date, tagger: Tagger) -> list[dict[str, Any]]:
    """The counter rows (without their count) one event adds 1 to."""
    rows = []
    for dims in families(event.kind):
        family = family_of(dims)
        values = {d.name: getattr(event, _FIELDS[d.name]) for d in dims}
        if DURATION.name in values and values[DURATION.name] is not None:
            values[DURATION.name] = duration_step(max(0, int(values[DURATION.name])))
        if dims == TAGGED:
            cell = tag_of(tagger, day, [str(values[d.name] or UNKNOWN) for d in dims])
            rows.append({"day": day, "kind": str(event.kind), "family": family, "cell": cell})
            continue
        cell = "|".join(f"{name}={'' if value is None else value}" for name, value in values.items())
        columns = {_FIELDS[name]: value for name, value in values.items()}
        rows.append({"day": day, "kind": str(event.kind), "family": family, "cell": cell or "*", **columns})
    return rows


# --- periods in SQL (the date arithmetic is flows.periods) ----------------------


def _bucket(session: AsyncSession, period: Period) -> Any:
    """SQL for the period of an event, as text (SQLite) or a date (PostgreSQL).

    Constants are literals, not bound parameters, so the expression in SELECT
    and in GROUP BY is the same text (PostgreSQL insists).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # Stored as 'YYYY-MM-DD': the month is its first 7 characters,
        # and date(..., 'weekday 0', '-6 days') is the Monday of its week.
        if period is Period.MONTH:
            return func.substr(EventCountRow.day, literal_column("1"), literal_column("7"))
        return func.date(EventCountRow.day, literal_column("'weekday 0'"), literal_column("'-6 days'"))
    if dialect == "postgresql":
        return cast(func.date_trunc(literal_column(f"'{period.value}'"), EventCountRow.day), Date)
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
    """The days counted: whole periods from ``start`` up to (not including) ``end``."""

    start: date | None
    end: date | None

    @classmethod
    def of(cls, period: Period, since: date | None, until: date | None) -> Window:
        start = period_start(since, period) if since else None
        end = next_period(period_start(until, period), period) if until else None
        return cls(start, end)

    def where(self, query: Select[Any], kind: EventKind) -> Select[Any]:
        query = query.where(EventCountRow.kind == kind.value)
        if self.start is not None:
            query = query.where(EventCountRow.day >= self.start)
        if self.end is not None:
            query = query.where(EventCountRow.day < self.end)
        return query


class Tags:
    """Reads tagged cells back: the tag of every possible combination, month by month."""

    def __init__(self, tagger: Tagger, counties: Sequence[str]) -> None:
        self.tagger = tagger
        self.values = [
            (role, county) for role in (*ROLE.domain, UNKNOWN) for county in dict.fromkeys((*counties, NO_COUNTY, UNKNOWN))
        ]
        self.known: dict[str, tuple[str, ...]] = {}
        self.months: set[str] = set()

    def decode(self, day: date, cell: str, default: tuple[str, ...] | None = (UNKNOWN,) * len(TAGGED)) -> tuple[str, ...] | None:
        """The (role, county) a cell of ``day``'s month was tagged for; ``default`` if none."""
        month = f"{day:%Y-%m}"
        if month not in self.months:
            self.months.add(month)
            for values in self.values:
                self.known[tag_of(self.tagger, day, values)] = values
        return self.known.get(cell, default)


async def _counts(
    session: AsyncSession, bucket: Any, window: Window, kind: EventKind, dims: tuple[Dimension, ...], period: Period, tags: Tags
) -> list[tuple[str, tuple[Any, ...], int]]:
    if dims == TAGGED:
        # One row per day and tag: the month a tag belongs to is needed to read it.
        sums: Any = select(EventCountRow.day, EventCountRow.cell, func.sum(EventCountRow.count))
        sums = sums.where(EventCountRow.family == family_of(dims))
        tagged = window.where(sums, kind).group_by(EventCountRow.day, EventCountRow.cell)
        summed: dict[tuple[str, tuple[Any, ...]], int] = defaultdict(int)
        for day, cell, n in await session.execute(tagged):
            day = date.fromisoformat(day) if isinstance(day, str) else day
            values = tags.decode(day, cell) or (UNKNOWN,) * len(TAGGED)
            summed[(period_label(period_start(day, period), period), values)] += int(n)
        return [(label, values, n) for (label, values), n in summed.items()]
    columns = [d.column for d in dims if d.column is not None]
    # Each GROUP BY reads its own rows: of one kind's rows, exactly one family has each event.
    family = family_of(families(kind)[0]) if dims == COUNTS[kind][0] else family_of(dims)
    query = window.where(select(bucket, *columns, func.sum(EventCountRow.count)), kind)
    query = query.where(EventCountRow.family == family).group_by(bucket, *columns)
    result = await session.execute(query)
    return [(_label(row[0], period), tuple(row[1:-1]), int(row[-1])) for row in result]


async def _percentiles(
    session: AsyncSession, bucket: Any, window: Window, kind: EventKind, dim: Dimension | None, period: Period
) -> list[tuple[str, Any, str, int, int]]:
    """(period, raw value, statistic, seconds, n) at the median and p90 ranks.

    Each group's duration steps are summed first; a running sum of their counts then finds
    the step where the ranks ceil(n/2) and ceil(0.9 n) fall.
    """
    parts = [bucket] if dim is None else [bucket, dim.column]
    steps = (
        window.where(
            select(
                *[p.label(f"k{i}") for i, p in enumerate(parts)],
                EventCountRow.duration_s.label("seconds"),
                func.sum(EventCountRow.count).label("many"),
            ),
            kind,
        )
        .where(EventCountRow.family == family_of(families(kind)[0]), EventCountRow.duration_s.is_not(None))
        .group_by(*parts, EventCountRow.duration_s)
        .subquery()
    )
    keys = [steps.c[f"k{i}"] for i in range(len(parts))]
    ranked = select(
        *keys,
        steps.c.seconds,
        steps.c.many,
        # Integers on both dialects: PostgreSQL sums a bigint to a numeric, whose // would not truncate.
        cast(func.sum(steps.c.many).over(partition_by=keys, order_by=steps.c.seconds), BigInteger).label("upto"),
        cast(func.sum(steps.c.many).over(partition_by=keys), BigInteger).label("n"),
    ).subquery()
    median_rank = (ranked.c.n * 50 + 99) // 100  # ceil(n/2) in integer arithmetic, on both dialects
    p90_rank = (ranked.c.n * 90 + 99) // 100
    keys = [ranked.c[f"k{i}"] for i in range(len(parts))]
    reached = ranked.c.upto - ranked.c.many  # durations before this step
    query = select(*keys, ranked.c.seconds, ranked.c.n, median_rank, p90_rank, reached, ranked.c.upto).where(
        or_(
            (reached < median_rank) & (ranked.c.upto >= median_rank),
            (reached < p90_rank) & (ranked.c.upto >= p90_rank),
        )
    )
    found = []
    for row in await session.execute(query):
        label, value = _label(row[0], period), (row[1] if dim is not None else TOTAL)
        seconds, n, at_median, at_p90, before, upto = (int(x) for x in row[-6:])
        if before < at_median <= upto:
            found.append((label, value, MEDIAN, seconds, n))
        if before < at_p90 <= upto:
            found.append((label, value, P90, seconds, n))
    return found


async def collect(
    session: AsyncSession,
    period: Period,
    since: date | None = None,
    until: date | None = None,
    counties: Sequence[str] = (),
    tagger: Tagger | None = None,
) -> list[Cell]:
    """Every raw figure for whole periods between ``since`` and ``until`` (inclusive).

    Not for publishing: use :func:`published_statistics`. ``counties`` are the
    configured county codes, listed (as 0) even in periods without events.
    Without ``since``/``until`` the periods run from the first to the last event.
    """
    window = Window.of(period, since, until)
    bucket = _bucket(session, period)
    tags = Tags(tagger or _NO_TAGS, counties)
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    periods: set[str] = set()
    for kind, scans in COUNTS.items():
        for index, dims in enumerate(scans):
            for label, raw, n in await _counts(session, bucket, window, kind, dims, period, tags):
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
    first = window.start if window.start else min(starts)
    last = (window.end - timedelta(days=1)) if window.end else max(starts)
    return period_labels(first, last, period)


async def published_statistics(
    session: AsyncSession,
    period: Period,
    min_cell: int,
    since: date | None = None,
    until: date | None = None,
    counties: Sequence[str] = (),
    tagger: Tagger | None = None,
) -> list[Published]:
    """What may leave the service: :func:`collect` after small-cell suppression."""
    cells = await collect(session, period, since, until, counties, tagger)
    return suppress(cells, min_cell, multi_select=MULTI_SELECT)
