"""Drawing a flow's statistics chart: a PNG from a :class:`flows.replies.Chart`."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Callable
from datetime import date
from typing import Any

from flows.catalogue import render
from flows.disclosure import COUNT
from flows.domain import Pathway
from flows.events import EventKind
from flows.periods import Period
from flows.replies import Chart, Dated, Reply, Text


async def with_picture(reply: Reply) -> Reply:
    """``reply`` with its chart drawn into ``picture`` (off the event loop's thread); others unchanged."""
    if reply.chart is None:
        return reply
    picture = await asyncio.to_thread(draw_chart, reply.chart)
    return dataclasses.replace(reply, picture=picture, chart=None)


def draw_chart(chart: Chart) -> bytes:
    """PNG: cases opened per period, stacked by pathway; suppressed cells are left out and the bar marked ``*``."""
    # Agg through the object API: no pyplot, no global backend switch, safe off the event loop's thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    def say(key: str, **params: Any) -> str:
        return render(Text(key, params), chart.language)

    figures, labels, period = chart.figures, chart.labels, chart.period
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
    axes.set_xticks(positions, [_tick(start, period, say) for start in chart.starts], rotation=45, ha="right")
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
    return say("stats.chart.month_tick", month=Dated(start, "LLL y"))
