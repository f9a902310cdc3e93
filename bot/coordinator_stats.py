"""What a coordinator gets on asking for statistics: a summary, the CSV and a chart.

Everything shown passes through ``storage.statistics.published_statistics``,
so small numbers are suppressed here exactly as in ``kollega stats export``,
and the document is the same CSV schema (docs/statistics.md).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flows.catalogue import render
from flows.disclosure import COUNT, MEDIAN, P90, TOTAL, Published, write_csv
from flows.domain import Pathway
from flows.events import EventKind
from flows.periods import Period, period_label, period_start, previous_period
from flows.replies import ParamValue, Reply, Text
from storage.statistics import published_statistics

HISTORY = 12
"""Periods in the chart and the document, the current one included."""

_Key = tuple[str, str, str, str, str]


async def stats_reply(
    session: AsyncSession,
    period: str,
    min_cell: int,
    now: datetime,
    language: str = "nb",
    *,
    history: int = HISTORY,
    counties: Sequence[str] = (),
) -> list[Reply]:
    """Summary of this period against the last, the CSV of the last ``history`` periods, a chart.

    ``period`` is ``week`` or ``month``; ``language`` is the coordinator's,
    used for the chart (the adapter renders the texts in it too).
    """
    kind = Period(period)
    today = (now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now).date()
    starts = [period_start(today, kind)]
    while len(starts) < max(history, 2):
        starts.insert(0, previous_period(starts[0], kind))
    rows = await published_statistics(session, kind, min_cell, since=starts[0], until=today, counties=counties)
    figures: dict[_Key, int | None] = {(r.period, r.measure, r.dimension, r.value, r.statistic): r.result for r in rows}
    labels = [period_label(start, kind) for start in starts]

    summary = Reply(_summary(figures, labels[-1], labels[-2], starts[-1], starts[-2], kind, min_cell))
    document = Reply(
        Text("stats.document", {"first": labels[0], "last": labels[-1]}),
        document=(f"kollega-stats-{labels[-1]}.csv", _csv(rows)),
    )
    picture = await asyncio.to_thread(draw_chart, figures, labels, starts, kind, language)
    chart = Reply(Text("stats.chart_caption", {"unit": Text(f"stats.unit.{kind.value}")}), picture=picture)
    return [summary, document, chart]


def _csv(rows: Sequence[Published]) -> bytes:
    out = io.StringIO(newline="")
    write_csv(rows, out)
    return out.getvalue().encode("utf-8")


def _count(
    figures: Mapping[_Key, int | None], label: str, measure: EventKind, dimension: str = TOTAL, value: str = TOTAL
) -> ParamValue:
    key = (label, measure.value, dimension, value, COUNT)
    if key not in figures:
        return Text("stats.no_value")
    found = figures[key]
    return Text("stats.hidden") if found is None else found


def _duration(figures: Mapping[_Key, int | None], label: str, statistic: str) -> ParamValue:
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


def period_name(start: date, period: Period) -> Text:
    """The period in words: "uke 47 2026", "november 2026"."""
    if period is Period.WEEK:
        year, week, _ = start.isocalendar()
        return Text("stats.week", {"week": week, "year": year})
    return Text("stats.month", {"month": Text(f"stats.month_name.{start.month}"), "year": start.year})


def _summary(
    figures: Mapping[_Key, int | None], now: str, before: str, start: date, previous: date, period: Period, min_cell: int
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


def draw_chart(
    figures: Mapping[_Key, int | None], labels: Sequence[str], starts: Sequence[date], period: Period, language: str
) -> bytes:
    """PNG: cases opened per period, stacked by pathway; suppressed cells are left out and the bar marked ``*``."""
    # Agg through the object API: no pyplot, no global backend switch, safe off the event loop's thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    def say(key: str, **params: Any) -> str:
        return render(Text(key, params), language)

    figure = Figure(figsize=(9, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    bottoms = [0] * len(labels)
    marked = [False] * len(labels)
    colours = ("#4C78A8", "#E45756", "#54A24B")
    for pathway, colour in zip(Pathway, colours, strict=True):
        heights = []
        for i, label in enumerate(labels):
            value = figures.get((label, EventKind.CASE_OPENED.value, "pathway", pathway.value, COUNT), 0)
            marked[i] |= value is None
            heights.append(value or 0)
        axes.bar(positions, heights, bottom=bottoms, color=colour, label=say(f"pathway.{pathway.value}"))
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    top = max(bottoms, default=0)
    for i in positions:
        if marked[i]:
            axes.annotate("*", (i, bottoms[i]), ha="center", va="bottom", fontsize=14, fontweight="bold")
    if top == 0 and not any(marked):
        axes.text(0.5, 0.5, say("stats.chart.no_data"), transform=axes.transAxes, ha="center", va="center", color="grey")
    axes.set_ylim(0, max(top * 1.15, 5))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xticks(positions, [_tick(start, period, say) for start in starts], rotation=45, ha="right")
    axes.set_ylabel(say("stats.chart.axis"))
    axes.set_title(say(f"stats.chart.title_{period.value}"))
    axes.spines[["top", "right"]].set_visible(False)
    figure.legend(loc="outside lower center", ncols=len(colours), fontsize="small", frameon=False)
    if any(marked):
        axes.set_xlabel(say("stats.chart.hidden_note"), fontsize="small", color="dimgrey")
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _tick(start: date, period: Period, say: Callable[..., str]) -> str:
    if period is Period.WEEK:
        return say("stats.chart.week_tick", week=start.isocalendar()[1])
    return say("stats.chart.month_tick", month=say(f"stats.month_short.{start.month}"), year=start.year)
