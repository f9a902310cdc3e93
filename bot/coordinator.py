"""Temporary shim: /queue and /stats answered by ``flows.coordination``, read as before.

The views are pure flows now; this only reads the store, draws the chart and
hands back a ``Result`` so ``bot.handlers`` needs no change. To be replaced
when the store's unit of work serves the statistics read.
"""

from __future__ import annotations

from bot.chart import with_picture
from bot.context import Services
from flows.coordination import queue_replies, stats_period, stats_replies, stats_window
from flows.intake import Result
from storage.statistics import published_statistics


async def command(services: Services, name: str, argument: str) -> Result:
    """/queue, or /stats [week|month]."""
    language, now, min_cell = services.config.flow.default_language, services.clock(), services.config.min_cell
    async with services.store.transaction() as tx:
        if name == "queue":
            return Result(language, queue_replies(await tx.open_cases(), await tx.parked_timers(), now))
        period = stats_period(argument)
        starts = stats_window(now, period)
        counties = [c.code for c in services.config.flow.counties]
        rows = await published_statistics(tx.session, period, min_cell, since=starts[0], until=starts[-1], counties=counties)
    return Result(language, [await with_picture(reply) for reply in stats_replies(rows, starts, period, min_cell, language)])
