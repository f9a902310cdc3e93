"""Coordinators' commands: /queue (queue health) and /stats (anonymous statistics).

Neither shows anything about who anyone is: case codes, pathways, urgency and
waiting times only, and statistics with small counts suppressed.
"""

from __future__ import annotations

from datetime import datetime

from bot.context import Services
from bot.coordinator_stats import stats_reply
from flows.intake import Result
from flows.ports import CaseView, Due
from flows.replies import Lines, Reply, Text


async def command(services: Services, name: str, argument: str) -> Result:
    """/queue, or /stats [week|month]."""
    language = services.config.flow.default_language
    async with services.store.transaction() as tx:
        if name == "queue":
            replies = [queue_reply(await tx.open_cases(), services.clock())]
            parked = await tx.parked_timers()
            if parked:
                replies.append(Reply(Text("coordinator.parked", {"lines": Lines(_parked_lines(parked))})))
            return Result(language, replies)
        period = argument.strip().lower() or "month"
        if period not in ("week", "month", "uke", "måned"):
            period = "month"
        period = {"uke": "week", "måned": "month"}.get(period, period)
        replies = await stats_reply(
            tx.session, period, services.config.min_cell, services.clock(), language,
            counties=[c.code for c in services.config.flow.counties],
        )  # fmt: skip
        return Result(language, replies)


def _parked_lines(parked: list[Due]) -> list[Text]:
    """Timers that failed too often: their kind, and the case code where there is one (never a pseudonym)."""
    return [
        Text("coordinator.parked_line", {"kind": due.kind, "subject": due.subject if due.subject.startswith("K-") else "–"})
        for due in parked
    ]


def queue_reply(cases: list[CaseView], now: datetime) -> Reply:
    """Open cases by urgency and age: what a coordinator needs to see the queue's health."""
    if not cases:
        return Reply(Text("coordinator.queue_empty"))
    ordered = sorted(cases, key=lambda c: (not c.urgent, c.opened_at))
    lines = [
        Text(
            "coordinator.queue_line",
            {
                "code": c.code,
                "pathway": Text(f"pathway.{c.pathway}"),
                "urgent": Text("coordinator.queue_urgent") if c.urgent else "",
                "status": Text(f"coordinator.queue_status_{c.status}"),
                "age": _age(now - c.opened_at),
            },
        )
        for c in ordered
    ]
    return Reply(Text("coordinator.queue", {"lines": Lines(lines)}))


def _age(delta: object) -> Text:
    minutes = int(delta.total_seconds() // 60)  # type: ignore[attr-defined]
    if minutes < 120:
        return Text("coordinator.age_minutes", {"n": minutes})
    if minutes < 48 * 60:
        return Text("coordinator.age_hours", {"n": minutes // 60})
    return Text("coordinator.age_days", {"n": minutes // (24 * 60)})
