"""What coordinators see: /queue (the queue's health) and /stats (anonymous statistics).

Neither shows anything about who anyone is: case codes, pathways, urgency and
waiting times only, and statistics with small counts suppressed. The figures
come in already published (``flows.disclosure.suppress`` has run), so what is
shown here is exactly what ``kollega stats export`` writes, in the same CSV
schema (docs/statistics.md). Pure functions: the caller reads the store, and
the adapter draws the chart from its :class:`flows.replies.Chart`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from flows.casework import queue_order
from flows.disclosure import COUNT, MEDIAN, P90, TOTAL, Published, write_csv
from flows.domain import CaseStatus, CaseView, Due, Pathway
from flows.events import EventKind
from flows.periods import Period, period_label, period_start, previous_period
from flows.replies import Chart, Dated, FigureKey, Lines, ParamValue, Reply, Text

HISTORY = 12
"""Periods in the chart and the document, the current one included."""

_PERIODS = {
    "week": Period.WEEK, "uke": Period.WEEK, "veke": Period.WEEK,
    "month": Period.MONTH, "måned": Period.MONTH, "månad": Period.MONTH,
}  # fmt: skip


# --- /queue -------------------------------------------------------------------


def queue_replies(cases: Sequence[CaseView], parked: Sequence[Due], now: datetime) -> list[Reply]:
    """Open cases by urgency and age, then any timers set aside after failing too often."""
    replies = [_queue(cases, now)]
    if parked:
        replies.append(Reply(Text("coordinator.parked", {"lines": Lines(_parked_lines(parked))})))
    return replies


def _queue(cases: Sequence[CaseView], now: datetime) -> Reply:
    if not cases:
        return Reply(Text("coordinator.queue_empty"))
    lines = [
        Text(
            "coordinator.queue_line",
            {
                "code": c.code,
                "pathway": Text(f"pathway.{c.pathway}"),
                "urgent": Text("coordinator.queue_urgent") if c.urgent else "",
                "status": Text(f"coordinator.queue_status_{CaseStatus(c.status).value}"),
                "age": _age(now - c.opened_at),
            },
        )
        for c in queue_order(cases)
    ]
    return Reply(Text("coordinator.queue", {"lines": Lines(lines)}))


def _parked_lines(parked: Sequence[Due]) -> list[Text]:
    """Each timer's kind, and the case code where there is one (never a pseudonym)."""
    return [
        Text("coordinator.parked_line", {"kind": due.kind, "subject": due.subject if due.subject.startswith("K-") else "–"})
        for due in parked
    ]


def _age(delta: timedelta) -> Text:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return Text("coordinator.age_minutes", {"n": minutes})
    if minutes < 48 * 60:
        return Text("coordinator.age_hours", {"n": minutes // 60})
    return Text("coordinator.age_days", {"n": minutes // (24 * 60)})


# --- /stats -------------------------------------------------------------------


def stats_period(argument: str) -> Period:
    """``/stats week`` or ``/stats month`` (also ``uke``/``veke``, ``måned``/``månad``); anything else is a month."""
    return _PERIODS.get(argument.strip().lower(), Period.MONTH)


def stats_window(now: datetime, period: Period, history: int = HISTORY) -> list[date]:
    """The first days of the last ``history`` periods (at least two), oldest first, ``now``'s (UTC) last.

    The statistics to read run from the first of them to the last (whole periods).
    """
    today = (now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now).date()
    starts = [period_start(today, period)]
    while len(starts) < max(history, 2):
        starts.insert(0, previous_period(starts[0], period))
    return starts


def stats_replies(rows: Sequence[Published], starts: Sequence[date], period: Period, min_cell: int, language: str) -> list[Reply]:
    """Summary of this period against the last, the CSV of every period in ``starts``, a chart.

    ``rows`` are the published statistics for ``starts`` (:func:`stats_window`);
    ``language`` is the coordinator's, for the chart (the adapter renders the texts in it too).
    """
    figures: dict[FigureKey, int | None] = {(r.period, r.measure, r.dimension, r.value, r.statistic): r.result for r in rows}
    labels = [period_label(start, period) for start in starts]

    summary = Reply(_summary(figures, labels[-1], labels[-2], starts[-1], starts[-2], period, min_cell))
    document = Reply(
        Text("stats.document", {"first": labels[0], "last": labels[-1]}),
        document=(f"kollega-stats-{labels[-1]}.csv", _csv(rows)),
    )
    chart = Reply(
        Text("stats.chart_caption", {"unit": Text(f"stats.unit.{period.value}")}),
        chart=Chart(figures, tuple(labels), tuple(starts), period, language),
    )
    return [summary, document, chart]


def period_name(start: date, period: Period) -> Text:
    """The period in words: "uke 47 2026", "november 2026"."""
    if period is Period.WEEK:
        year, week, _ = start.isocalendar()
        return Text("stats.week", {"week": week, "year": year})
    return Text("stats.month", {"month": Dated(start, "LLLL y")})


def _csv(rows: Sequence[Published]) -> bytes:
    out = io.StringIO(newline="")
    write_csv(rows, out)
    return out.getvalue().encode("utf-8")


def _count(
    figures: Mapping[FigureKey, int | None], label: str, measure: EventKind, dimension: str = TOTAL, value: str = TOTAL
) -> ParamValue:
    key = (label, measure.value, dimension, value, COUNT)
    if key not in figures:
        return Text("stats.no_value")
    found = figures[key]
    return Text("stats.hidden") if found is None else found


def _duration(figures: Mapping[FigureKey, int | None], label: str, statistic: str) -> ParamValue:
    key = (label, EventKind.CASE_ACCEPTED.value, TOTAL, TOTAL, statistic)
    if key not in figures:
        return Text("stats.no_value")  # no case accepted in the period
    seconds = figures[key]
    if seconds is None:
        return Text("stats.hidden")
    minutes = round(seconds / 60)
    if minutes < 60:
        return Text("stats.minutes", {"minutes": minutes})
    if minutes < 48 * 60:
        return Text("stats.hours", {"hours": minutes // 60, "minutes": minutes % 60})
    return Text("stats.days", {"days": minutes // (24 * 60), "hours": minutes // 60 % 24})


def _summary(
    figures: Mapping[FigureKey, int | None], now: str, before: str, start: date, previous: date, period: Period, min_cell: int
) -> Text:
    opened = EventKind.CASE_OPENED
    params: dict[str, ParamValue] = {
        "period": period_name(start, period),
        "previous": period_name(previous, period),
        "opened": _count(figures, now, opened),
        "opened_previous": _count(figures, before, opened),
        "urgent": _count(figures, now, opened, "urgent", "true"),
        "urgent_previous": _count(figures, before, opened, "urgent", "true"),
        "median": _duration(figures, now, MEDIAN),
        "p90": _duration(figures, now, P90),
        "declined": _count(figures, now, EventKind.OFFER_DECLINED),
        "timed_out": _count(figures, now, EventKind.OFFER_TIMED_OUT),
        "escalated": _count(figures, now, EventKind.CASE_ESCALATED),
        "note": Text("stats.note", {"k": min_cell}),
    }
    for pathway in Pathway:
        params[pathway.value] = Text(
            "stats.pathway_line",
            {
                "name": Text(f"pathway.{pathway.value}"),
                "current": _count(figures, now, opened, "pathway", pathway.value),
                "previous": _count(figures, before, opened, "pathway", pathway.value),
            },
        )
    return Text("stats.summary", params)
