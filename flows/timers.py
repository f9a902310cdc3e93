"""Timers that survive a restart: run whatever fell due, one transaction each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from flows.ports import Store, Tx
from flows.replies import Outbound

TimerHandler = Callable[[Tx, str, str], Awaitable[list[Outbound]]]


async def run_due(store: Store, handlers: Mapping[str, TimerHandler], now: datetime, limit: int = 200) -> list[Outbound]:
    """Handle up to ``limit`` due timers; return the messages they produce.

    Each timer is taken and handled in its own transaction, so one failing
    timer rolls back alone and is retried on the next tick.
    """
    outbound: list[Outbound] = []
    for _ in range(limit):
        async with store.transaction() as tx:
            due = await tx.next_due(now)
            if due is None:
                break
            handler = handlers.get(due.kind)
            if handler is not None:
                outbound.extend(await handler(tx, due.kind, due.subject))
    return outbound
