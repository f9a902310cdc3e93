"""Timers that survive a restart: run whatever fell due, each alone in its transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from flows.domain import Due
from flows.ports import Store, Tx
from flows.replies import Outbound

log = logging.getLogger(__name__)

TimerHandler = Callable[[Tx, str, str], Awaitable[list[Outbound]]]
Post = Callable[[Tx, list[Outbound]], Awaitable[None]]
"""Writes a timer's messages into the timer's own transaction (the outbox)."""


@dataclass(frozen=True)
class TimerRun:
    ran: int
    failed: int


async def run_due(store: Store, handlers: Mapping[str, TimerHandler], now: datetime, post: Post, limit: int = 200) -> TimerRun:
    """Handle up to ``limit`` due timers.

    Each timer is taken, handled and its messages posted in one transaction, so what it
    says is committed with what it did. One that fails rolls back alone: a fresh
    transaction moves it later (backoff) or parks it after repeated failures, and the
    timers behind it run as usual. A failure to even take a timer (the database is down)
    is raised, for the caller to back off.
    """
    ran = failed = 0
    for _ in range(limit):
        due: Due | None = None
        try:
            async with store.transaction() as tx:
                due = await tx.timers.next_due(now)
                if due is None:
                    break
                handler = handlers.get(due.kind)
                if handler is not None:
                    await post(tx, await handler(tx, due.kind, due.subject))
            ran += 1
        except Exception as error:
            if due is None:
                raise
            failed += 1
            log.error("timer %s failed: %s", due.kind, type(error).__name__)
            async with store.transaction() as tx:
                if await tx.timers.failed(due, now):
                    log.error("timer %s parked after repeated failures (see /queue)", due.kind)
    return TimerRun(ran, failed)
