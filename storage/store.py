"""The SQL implementation of ``flows.ports.Store``: units of work, one per update or timer.

A unit is a :class:`SqlTx` (the repositories of ``storage.repositories`` on one session)
and commits, or rolls back, as a whole. Operations the adapter needs on the outbox (take
what is owed, acknowledge, set aside, give up) and the daily purge are units of their own,
opened here, so nothing outside storage opens a transaction except through the flows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import outbox
from storage.db import ERASED_TABLES, scrub, sessionmaker
from storage.models import OutboxRow, ProcessedUpdateRow
from storage.outbox import Outgoing
from storage.rekey import under_retired
from storage.repositories import (
    SqlCases,
    SqlDrafts,
    SqlEvents,
    SqlOffers,
    SqlRoster,
    SqlStatistics,
    SqlTimers,
    hour_of,
    upsert_insert,
)
from storage.retention import PurgeReport, RetentionPolicy, purge
from storage.sealing import Keyring, SealBroken

log = logging.getLogger(__name__)


class SqlTx:
    """``flows.ports.Tx``: one SQLAlchemy session inside one transaction, as named repositories."""

    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.drafts = SqlDrafts(session, keyring, self._erasing)
        self.cases = SqlCases(session, keyring, self.drafts, self._erasing)
        self.offers = SqlOffers(session)
        self.roster = SqlRoster(session)
        self.timers = SqlTimers(session)
        self.events = SqlEvents(session, keyring)
        self.statistics = SqlStatistics(session, keyring)
        self.posted: list[tuple[Outgoing, OutboxRow]] = []
        self.erased = False
        """Something naming a doctor was deleted: once committed, the store scrubs the disk."""
        self.acknowledged: list[int] = []
        """Outbox rows this unit deleted as delivered or given up (besides SqlStore.delivered)."""

    def _erasing(self) -> None:
        self.erased = True

    # --- the outbox -----------------------------------------------------------
    async def post(self, message: Outgoing, now: datetime) -> None:
        """Owe ``message``: written with this unit of work, delivered after it commits."""
        row = outbox.to_row(self.keyring, message, now)
        self.session.add(row)
        self.posted.append((message, row))

    async def flush_posted(self) -> None:
        """Give the posted messages their row ids (the sender needs them to acknowledge)."""
        if self.posted:
            await self.session.flush()
            for message, row in self.posted:
                message.id = row.id


class SqlStore:
    """``flows.ports.Store`` over an async sessionmaker: one unit of work at a time per task.

    A unit opened while another is open in the same task joins it (``transaction``), so
    everything one update causes, across the flows it passes through, commits together.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keyring: Keyring, engine: AsyncEngine | None = None) -> None:
        self.sessions = sessions
        self.keyring = keyring
        self.engine = engine
        """Scrubbed after a unit that erased something (``storage.db.scrub``); None: never."""
        self.scrubs = 0
        """Scrubs that finished, for the tests and the benchmarks."""
        self._scrub_owed = False
        self.inline_scrub = False
        """Scrub inside the unit's own task, before it returns (tests that dispose engines at will)."""
        self._scrub_wanted = False
        self._scrub_tables: set[str] = set()
        self._scrubbing: asyncio.Task[None] | None = None
        self._erasing_notices: set[int] = set()
        """Outbox rows posted by a unit that erased something (telling a counsellor that a case
        was erased names its code): the unit that deletes them once delivered scrubs too."""
        self.on_commit: Callable[[list[Outgoing]], None] | None = None
        """Hands the messages a unit posted to the sender, once they are committed."""
        self.delivered: set[int] = set()
        """Outbox rows Telegram accepted that are still to be deleted: the next unit of work
        (whatever it is for) deletes them first, so delivery costs no transaction of its own."""

    @classmethod
    def on(cls, engine: AsyncEngine, keyring: Keyring) -> SqlStore:
        """The store of one engine's database."""
        return cls(sessionmaker(engine), keyring, engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTx]:
        """A unit of work: the one already open in this task, or a new one."""
        current = _CURRENT.get()
        if current is not None:
            yield current
            return
        async with self._unit() as tx:
            yield tx

    @asynccontextmanager
    async def update(self, update_id: int, now: datetime) -> AsyncIterator[SqlTx | None]:
        """The one unit of work of an update, claimed by its id first.

        Yields None when that update's effects are already committed (a redelivery): the
        claim is a row written in this same transaction, so it exists exactly when the
        update's effects do, and an update whose handling died with its process is
        handled again when Telegram redelivers it.
        """
        async with self._unit() as tx:
            claimed = await tx.session.scalar(_claim(tx.session, update_id, now))
            yield tx if claimed is not None else None

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[SqlTx]:
        acknowledged = list(self.delivered)
        async with self.sessions.begin() as session:
            tx = SqlTx(session, self.keyring)
            token = _CURRENT.set(tx)
            try:
                await outbox.acknowledge(session, acknowledged)
                yield tx
                await tx.flush_posted()
            finally:
                _CURRENT.reset(token)
        self.delivered.difference_update(acknowledged)
        notices = self._erasing_notices.intersection((*acknowledged, *tx.acknowledged))
        self._erasing_notices.difference_update(notices)
        if tx.erased:
            self._erasing_notices.update(message.id for message, _ in tx.posted)
        if tx.posted and self.on_commit is not None:
            self.on_commit([message for message, _ in tx.posted])
        if tx.erased or notices or self._scrub_owed:
            self.scrub_soon()
            if self.inline_scrub:
                await self._scrub_while_wanted()

    def scrub_soon(self, tables: Sequence[str] = ERASED_TABLES) -> None:
        """Erase on disk what committed units deleted (``storage.db.scrub``), in the background.

        Off the update's path: the unit is committed and answered first. One scrub at a time;
        requests while one runs are folded into one more run after it. One that cannot finish
        now (a reader mid-snapshot, a table lock) is owed, and asked for again after the next
        unit of work, or by :meth:`settle`.
        """
        if self.engine is None:
            return
        self._scrub_wanted = True
        self._scrub_tables.update(tables)
        if self.inline_scrub:
            return
        if self._scrubbing is None or self._scrubbing.done():
            self._scrubbing = asyncio.create_task(self._scrub_while_wanted(), name="scrub")

    async def _scrub_while_wanted(self) -> None:
        assert self.engine is not None
        while self._scrub_wanted:
            self._scrub_wanted = False
            tables, self._scrub_tables = sorted(self._scrub_tables | set(ERASED_TABLES)), set()
            try:
                done = await scrub(self.engine, tables)
            except Exception as error:  # the units are committed: a failed scrub must not fail them
                log.warning("could not scrub the database files (%s); trying again later", type(error).__name__)
                done = False
            self._scrub_owed = not done
            self.scrubs += done
            if not done:
                self._scrub_tables.update(tables)  # owed, with every table it was asked for
                return

    async def settle(self, tries: int = 50) -> bool:
        """Wait until no scrub is running or owed (shutdown, tests); True if all were done."""
        for attempt in range(tries):
            if self._scrubbing is not None:
                await asyncio.gather(self._scrubbing, return_exceptions=True)
            if not self._scrub_owed:
                return True
            await asyncio.sleep(min(0.01 * 2**attempt, 0.5))
            self.scrub_soon()
            if self.inline_scrub:
                await self._scrub_while_wanted()
        return False

    async def post(self, messages: Sequence[Outgoing], now: datetime) -> None:
        """Owe ``messages`` in the unit of work open in this task (delivered once it commits)."""
        tx = _CURRENT.get()
        if tx is None:
            raise RuntimeError("messages are posted inside a unit of work")
        for message in messages:
            await tx.post(message, now)

    # --- units of the outbox's own (the sender's bookkeeping) -----------------------------
    async def take_owed(self, now: datetime, held: Sequence[int], *, release_leases: bool = False) -> list[Outgoing]:
        """Lease the owed messages no live sender holds (left by a crash, or by another process)."""
        taken: list[Outgoing] = []
        async with self.transaction() as tx:
            if release_leases:
                await outbox.release_all(tx.session)
            for row in await outbox.take_unleased(tx.session, now, held):
                try:
                    taken.append(outbox.from_row(self.keyring, row))
                except SealBroken:
                    log.error("dropped an outbox row whose seal does not open")
                    await tx.session.delete(row)
        return taken

    async def sent(self, message: Outgoing, then: Callable[[SqlTx], Awaitable[None]]) -> None:
        """A tracked message was delivered: its row goes in the same unit as ``then`` (which
        tells the flows the message's id)."""
        async with self.transaction() as tx:
            await outbox.acknowledge(tx.session, [message.id])
            tx.acknowledged.append(message.id)
            await then(tx)

    async def set_aside(
        self, message: Outgoing, attempts: int, until: datetime, notice: Outgoing | None, release: Sequence[int], now: datetime
    ) -> None:
        """Leave a chat's messages to the database until ``until``; ``notice`` tells the writer."""
        async with self.transaction() as tx:
            await outbox.set_aside(tx.session, message.id, attempts, until)
            if notice is not None:
                await tx.post(notice, now)
            await outbox.release(tx.session, release)

    async def give_up(self, message: Outgoing, notice: Outgoing | None, now: datetime) -> None:
        """Not deliverable: the row goes, and ``notice`` (if any) is owed to whoever wrote it."""
        async with self.transaction() as tx:
            await outbox.acknowledge(tx.session, [message.id])
            tx.acknowledged.append(message.id)
            if notice is not None:
                await tx.post(notice, now)

    async def flush_delivered(self) -> None:
        """Delete the rows of delivered messages now, rather than with the next unit of work."""
        if self.delivered:
            async with self.transaction():
                pass  # a unit of work deletes the delivered rows first

    async def under_retired(self) -> int:
        """How many sealed values are still under a retired key (a rotation that did not finish)."""
        async with self.transaction() as tx:
            return await under_retired(tx.session, self.keyring)

    async def purge(self, now: datetime, policy: RetentionPolicy) -> PurgeReport:
        """Apply the retention rules (storage.retention) in one unit of work."""
        async with self.transaction() as tx:
            report = await purge(tx.session, now, policy)
            tx.erased = report.erased
        # Daily, the counts too: on PostgreSQL every increment left an old version of its row.
        self.scrub_soon((*ERASED_TABLES, "event_counts"))
        if self.inline_scrub:
            await self._scrub_while_wanted()
        return report


_CURRENT: ContextVar[SqlTx | None] = ContextVar("kollega_unit_of_work", default=None)


def _claim(session: AsyncSession, update_id: int, now: datetime) -> Any:
    """INSERT the update's claim unless it exists; RETURNING tells which happened."""
    return (
        upsert_insert(session)(ProcessedUpdateRow)
        .values(update_id=update_id, at=hour_of(now))
        .on_conflict_do_nothing(index_elements=[ProcessedUpdateRow.update_id])
        .returning(ProcessedUpdateRow.update_id)
    )
