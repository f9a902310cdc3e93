"""The SQL implementation of ``flows.ports.Store``: one transaction per action."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flows.events import Event
from flows.ports import CaseView, CounsellorView, Due, OfferView
from flows.triage import Draft
from storage import outbox, roster
from storage.models import (
    CaseRow,
    CoordinatorRow,
    CounsellorRow,
    DraftRow,
    EventRow,
    OfferRow,
    OutboxRow,
    ProcessedUpdateRow,
    RelayRow,
    TimerRow,
)
from storage.outbox import Outgoing
from storage.sealing import Keyring

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely
OPEN_STATUSES = ("queued", "offered", "active")
TIMER_ATTEMPTS = 6
"""A timer that failed this often is parked (shown in /queue) instead of retried."""
INTEGER_MAX = 2**31 - 1
"""The largest value an ``Integer`` column holds on every database (PostgreSQL's ``integer``)."""


def new_case_code() -> str:
    return "K-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def counsellor_view(row: CounsellorRow, open_cases: int = 0) -> CounsellorView:
    return CounsellorView(
        id=row.id,
        alias=row.alias,
        telegram_id=row.telegram_id,
        pseudonym=row.pseudonym,
        home_county=row.home_county,
        serves=tuple(row.serves),
        languages=tuple(row.languages),
        pathways=tuple(row.pathways),
        capacity=row.capacity,
        available=row.available,
        away_until=row.away_until,
        active=row.active,
        last_offer_at=row.last_offer_at,
        open_cases=open_cases,
        focus_case=row.focus_case,
        enrolling=row.enrolling,
    )


def offer_view(row: OfferRow) -> OfferView:
    return OfferView(row.id, row.case_code, row.counsellor_id, row.status, row.deadline, row.message_id)


def case_view(row: CaseRow, alias: str | None = None) -> CaseView:
    return CaseView(
        code=row.code,
        status=row.status,
        pathway=row.pathway,
        urgent=row.urgent,
        seeker=row.seeker,
        support=tuple(row.support),
        barriers=tuple(row.barriers),
        role=row.role,
        county=row.county,
        outside_county=row.outside_county,
        contact=row.contact,
        language=row.language,
        reader_language=row.reader_language,
        opened_at=row.opened_at,
        accepted_at=row.accepted_at,
        counsellor_id=row.counsellor_id,
        counsellor_alias=alias,
        followup=row.followup,
        silent_prompted=row.silent_prompted,
        escalated=row.escalated_at is not None,
        pseudonym=row.pseudonym,
    )


class SqlTx:
    """``flows.ports.Tx`` on one SQLAlchemy session inside one transaction."""

    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self._drafts: dict[str, DraftRow] = {}
        """Draft rows read in this transaction: the session holds them only weakly."""
        self.locking = session.bind.dialect.name == "postgresql" if session.bind else False
        self.posted: list[tuple[Outgoing, OutboxRow]] = []
        self.failure: BaseException | None = None
        """Set when a handler failed: the unit is then rolled back instead of committed."""

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

    # --- drafts -------------------------------------------------------------
    async def get_draft(self, pseudonym: str) -> Draft | None:
        row = await self.session.get(DraftRow, pseudonym)
        if row is None:
            return None
        self._drafts[pseudonym] = row
        return Draft.from_dict(row.answers)

    async def put_draft(self, pseudonym: str, draft: Draft, reach: int | None, now: datetime) -> None:
        row = self._drafts.get(pseudonym) or await self.session.get(DraftRow, pseudonym)
        if row is None:
            row = DraftRow(pseudonym=pseudonym, answers={}, updated_at=now)
            self.session.add(row)
        row.answers = {k: (str(v) if k == "state" else v) for k, v in draft.to_dict().items()}
        row.updated_at = now
        if reach is not None:
            row.sealed_reach = self.keyring.seal(reach, pseudonym)

    async def delete_draft(self, pseudonym: str) -> None:
        self._drafts.pop(pseudonym, None)
        await self.session.execute(delete(DraftRow).where(DraftRow.pseudonym == pseudonym))

    async def reach_of_draft(self, pseudonym: str) -> int | None:
        row = await self.session.get(DraftRow, pseudonym)
        if row is None or row.sealed_reach is None:
            return None
        return self.keyring.unseal(row.sealed_reach, pseudonym)

    # --- cases ----------------------------------------------------------------
    async def open_case(self, pseudonym: str, draft: Draft, reach: int, now: datetime) -> CaseView:
        code = new_case_code()
        while await self.session.get(CaseRow, code) is not None:
            code = new_case_code()
        row = CaseRow(
            code=code,
            pseudonym=pseudonym,
            status="queued",
            seeker=draft.seeker or "self",
            pathway=draft.pathway or "advice",
            urgent=draft.urgent,
            support=list(draft.support),
            barriers=list(draft.barriers),
            role=draft.role or "other",
            county=draft.county or "none",
            outside_county=draft.outside_county,
            contact=draft.contact or "chat",
            language=draft.case_language or draft.language,
            reader_language=draft.language,
            sealed_reach=self.keyring.seal(reach, pseudonym),
            opened_at=now,
            last_activity_at=now,
            followup=False,
        )
        self.session.add(row)
        await self.session.flush()
        return case_view(row)

    async def case_of(self, pseudonym: str) -> CaseView | None:
        query = (
            select(CaseRow, CounsellorRow.alias)
            .outerjoin(CounsellorRow, CaseRow.counsellor_id == CounsellorRow.id)
            .where(CaseRow.pseudonym == pseudonym, CaseRow.status.in_(OPEN_STATUSES))
            .order_by(CaseRow.opened_at.desc())
            .limit(1)
        )
        found = (await self.session.execute(query)).first()
        return case_view(found[0], found[1]) if found else None

    async def case(self, code: str) -> CaseView | None:
        query = (
            select(CaseRow, CounsellorRow.alias)
            .outerjoin(CounsellorRow, CaseRow.counsellor_id == CounsellorRow.id)
            .where(CaseRow.code == code)
        )
        found = (await self.session.execute(query)).first()
        return case_view(found[0], found[1]) if found else None

    async def reach_of_case(self, code: str) -> int | None:
        row = await self.session.get(CaseRow, code)
        if row is None or row.sealed_reach is None or row.pseudonym is None:
            return None
        return self.keyring.unseal(row.sealed_reach, row.pseudonym)

    async def mark_case_urgent(self, code: str) -> None:
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(urgent=True))

    async def set_reader_language(self, code: str, language: str) -> None:
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(reader_language=language))

    async def withdraw_case(self, code: str, now: datetime) -> None:
        """Close a case at the doctor's wish: the sealed contact goes at once."""
        await self.end_case(code, "cancelled", "doctor", now)

    async def end_case(self, code: str, status: str, by: str, now: datetime, keep_reach: bool = False) -> None:
        values: dict[str, Any] = {"status": status, "closed_at": now, "closed_by": by}
        if not keep_reach:
            values |= {"sealed_reach": None, "pseudonym": None}
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(**values))
        await self.session.execute(delete(TimerRow).where(TimerRow.subject == code))

    async def forget(self, pseudonym: str) -> None:
        """Remove everything linkable to this pseudonym, at once (a booked follow-up too)."""
        codes = (await self.session.scalars(select(CaseRow.code).where(CaseRow.pseudonym == pseudonym))).all()
        self._drafts.pop(pseudonym, None)
        await self.session.execute(delete(DraftRow).where(DraftRow.pseudonym == pseudonym))
        await self.session.execute(delete(TimerRow).where(TimerRow.subject.in_([pseudonym, *codes])))
        await self.session.execute(delete(CaseRow).where(CaseRow.pseudonym == pseudonym))

    # --- events ---------------------------------------------------------------
    async def record(self, event: Event, now: datetime) -> None:
        fields = {k: v for k, v in event.__dict__.items() if k != "kind"}
        self.session.add(EventRow(kind=str(event.kind), hour=hour_of(now), **fields))

    # --- timers -----------------------------------------------------------------
    async def set_timer(self, kind: str, subject: str, due_at: datetime) -> None:
        # Armed anew: a timer that had failed (or was parked) starts over with a clean slate.
        moved = await self.session.execute(
            update(TimerRow)
            .where(TimerRow.kind == kind, TimerRow.subject == subject)
            .values(due_at=due_at, attempts=0, parked=False)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            self.session.add(TimerRow(kind=kind, subject=subject, due_at=due_at))
            await self.session.flush()

    async def clear_timer(self, kind: str, subject: str) -> None:
        await self.session.execute(delete(TimerRow).where(TimerRow.kind == kind, TimerRow.subject == subject))

    async def clear_timers(self, subject: str) -> None:
        await self.session.execute(delete(TimerRow).where(TimerRow.subject == subject))

    async def next_due(self, now: datetime) -> Due | None:
        query = (
            select(TimerRow)
            .where(TimerRow.due_at <= now, TimerRow.parked.is_(False))
            .order_by(TimerRow.due_at, TimerRow.id)
            .limit(1)
        )
        # Transactions already run one at a time (storage.db); SKIP LOCKED keeps two timer
        # workers from taking the same row even on a connection made without that lock.
        if self.locking:
            query = query.with_for_update(skip_locked=True)
        row = await self.session.scalar(query)
        if row is None:
            return None
        due = Due(row.kind, row.subject, row.due_at)
        await self.session.delete(row)
        await self.session.flush()
        return due

    async def timer_failed(self, due: Due, now: datetime) -> bool:
        """A timer's run failed (and was rolled back): try again later, or park it; True if parked."""
        row = await self.session.scalar(select(TimerRow).where(TimerRow.kind == due.kind, TimerRow.subject == due.subject))
        if row is None:
            return False
        row.attempts += 1
        row.parked = row.attempts >= TIMER_ATTEMPTS
        row.due_at = now + timedelta(seconds=min(30 * 2**row.attempts, 3600))
        return row.parked

    async def parked_timers(self) -> list[Due]:
        rows = (await self.session.scalars(select(TimerRow).where(TimerRow.parked.is_(True)).order_by(TimerRow.id))).all()
        return [Due(row.kind, row.subject, row.due_at) for row in rows]

    async def pseudonym_of_case(self, code: str) -> str | None:
        return await self.session.scalar(select(CaseRow.pseudonym).where(CaseRow.code == code))

    # --- roster -----------------------------------------------------------------
    async def counsellors(self) -> list[CounsellorView]:
        load = await self._open_load()
        rows = (await self.session.scalars(select(CounsellorRow).where(CounsellorRow.active))).all()
        return [counsellor_view(row, load.get(row.id, 0)) for row in rows]

    async def counsellor(self, counsellor_id: int) -> CounsellorView | None:
        row = await self.session.get(CounsellorRow, counsellor_id)
        return counsellor_view(row, (await self._open_load(counsellor_id)).get(counsellor_id, 0)) if row else None

    async def counsellor_by_telegram(self, telegram_id: int) -> CounsellorView | None:
        row = await self.session.scalar(select(CounsellorRow).where(CounsellorRow.telegram_id == telegram_id))
        return counsellor_view(row, (await self._open_load(row.id)).get(row.id, 0)) if row else None

    async def _open_load(self, counsellor_id: int | None = None) -> dict[int, int]:
        """Cases each counsellor holds (active) or is being offered (pending)."""
        held = select(CaseRow.counsellor_id, func.count()).where(CaseRow.status == "active").group_by(CaseRow.counsellor_id)
        offered = (
            select(OfferRow.counsellor_id, func.count()).where(OfferRow.status == "pending").group_by(OfferRow.counsellor_id)
        )
        if counsellor_id is not None:
            held = held.where(CaseRow.counsellor_id == counsellor_id)
            offered = offered.where(OfferRow.counsellor_id == counsellor_id)
        load: dict[int, int] = {}
        for query in (held, offered):
            for who, count in (await self.session.execute(query)).all():
                if who is not None:
                    load[who] = load.get(who, 0) + count
        return load

    async def coordinator_ids(self) -> list[int]:
        return list((await self.session.scalars(select(CoordinatorRow.telegram_id))).all())

    async def set_availability(self, counsellor_id: int, available: bool, away_until: datetime | None) -> None:
        await self.session.execute(
            update(CounsellorRow).where(CounsellorRow.id == counsellor_id).values(available=available, away_until=away_until)
        )

    async def set_focus(self, counsellor_id: int, code: str | None) -> None:
        await self.session.execute(update(CounsellorRow).where(CounsellorRow.id == counsellor_id).values(focus_case=code))

    # --- routing ----------------------------------------------------------------
    # No row locks here, on purpose. Casework.dispatch reads the queue (queued_cases) and every
    # counsellor's load (counsellors/_open_load), then writes offers (create_offer); with two
    # processes, the queue and the loads must not change between that read and the commit, or a
    # case is offered twice and a capacity exceeded. Both databases guarantee it for the whole
    # transaction: SQLite by BEGIN IMMEDIATE, PostgreSQL by the advisory lock every transaction
    # takes first (storage.db.create_engine, which says why row locks taken here would deadlock).
    async def queued_cases(self) -> list[CaseView]:
        rows = (await self.session.scalars(select(CaseRow).where(CaseRow.status == "queued"))).all()
        return [case_view(row) for row in rows]

    async def open_cases(self) -> list[CaseView]:
        query = select(CaseRow).where(CaseRow.status.in_(OPEN_STATUSES)).order_by(CaseRow.opened_at)
        return [case_view(row) for row in (await self.session.scalars(query)).all()]

    async def declined_by(self, code: str) -> set[int]:
        query = select(OfferRow.counsellor_id).where(OfferRow.case_code == code, OfferRow.status == "declined")
        return set((await self.session.scalars(query)).all())

    async def create_offer(self, code: str, counsellor_id: int, now: datetime, deadline: datetime) -> OfferView:
        row = OfferRow(case_code=code, counsellor_id=counsellor_id, status="pending", offered_at=now, deadline=deadline)
        self.session.add(row)
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(status="offered"))
        await self.session.execute(update(CounsellorRow).where(CounsellorRow.id == counsellor_id).values(last_offer_at=now))
        await self.session.flush()
        return offer_view(row)

    async def offer(self, offer_id: int) -> OfferView | None:
        # offers.id is an INTEGER column: 64-bit in SQLite but 32-bit in PostgreSQL, where a
        # forged id from a button past 2**31 makes the driver raise instead of finding nothing.
        if not 0 < offer_id <= INTEGER_MAX:
            return None
        row = await self.session.get(OfferRow, offer_id)
        return offer_view(row) if row else None

    async def pending_offer(self, code: str) -> OfferView | None:
        row = await self.session.scalar(select(OfferRow).where(OfferRow.case_code == code, OfferRow.status == "pending"))
        return offer_view(row) if row else None

    async def settle_offer(self, offer_id: int, status: str) -> bool:
        result = await self.session.execute(
            update(OfferRow).where(OfferRow.id == offer_id, OfferRow.status == "pending").values(status=status)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_offer_message(self, offer_id: int, message_id: int) -> None:
        await self.session.execute(update(OfferRow).where(OfferRow.id == offer_id).values(message_id=message_id))

    async def activate_case(self, code: str, counsellor_id: int, now: datetime) -> bool:
        result = await self.session.execute(
            update(CaseRow)
            .where(CaseRow.code == code, CaseRow.status == "offered")
            .values(status="active", counsellor_id=counsellor_id, accepted_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def requeue_case(self, code: str) -> None:
        offered = (CaseRow.code == code) & (CaseRow.status == "offered")
        await self.session.execute(update(CaseRow).where(offered).values(status="queued"))

    async def mark_escalated(self, code: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(CaseRow).where(CaseRow.code == code, CaseRow.escalated_at.is_(None)).values(escalated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def active_cases(self, counsellor_id: int) -> list[CaseView]:
        query = (
            select(CaseRow)
            .where(CaseRow.counsellor_id == counsellor_id, CaseRow.status == "active")
            .order_by(CaseRow.accepted_at)
        )
        return [case_view(row) for row in (await self.session.scalars(query)).all()]

    async def remember_message(self, counsellor_id: int, message_id: int, code: str) -> None:
        self.session.add(RelayRow(counsellor_id=counsellor_id, message_id=message_id, case_code=code))

    async def case_of_message(self, counsellor_id: int, message_id: int) -> str | None:
        query = select(RelayRow.case_code).where(RelayRow.counsellor_id == counsellor_id, RelayRow.message_id == message_id)
        return await self.session.scalar(query.limit(1))

    async def touch_case(self, code: str, now: datetime) -> None:
        await self.session.execute(
            update(CaseRow).where(CaseRow.code == code).values(last_activity_at=now, silent_prompted=False)
        )

    async def set_silent_prompted(self, code: str) -> None:
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(silent_prompted=True))

    async def close_case(self, code: str, by: str, now: datetime) -> None:
        await self.end_case(code, "closed", by, now)
        # Which message belonged to which case is of no use once the case is closed.
        await self.session.execute(delete(RelayRow).where(RelayRow.case_code == code))

    async def take_feedback(self, code: str) -> bool:
        result = await self.session.execute(
            update(CaseRow).where(CaseRow.code == code, CaseRow.feedback_given.is_(False)).values(feedback_given=True)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def keep_for_followup(self, code: str, reach: int, pseudonym: str) -> None:
        # Sealed under the case code, and linked to the pseudonym again until the check-in,
        # so that /forget finds and removes it like everything else.
        sealed = self.keyring.seal(reach, code)
        await self.session.execute(
            update(CaseRow).where(CaseRow.code == code).values(followup=True, sealed_reach=sealed, pseudonym=pseudonym)
        )

    async def followup_reach(self, code: str) -> int | None:
        row = await self.session.get(CaseRow, code)
        if row is None or not row.followup or row.sealed_reach is None:
            return None
        return self.keyring.unseal(row.sealed_reach, code)

    async def drop_followup(self, code: str) -> None:
        values = {"followup": False, "sealed_reach": None, "pseudonym": None}
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(**values))

    # --- joining ------------------------------------------------------------------
    async def redeem_invite(self, code_hash: str, now: datetime) -> str | None:
        return await roster.redeem_invite(self.session, code_hash, now)

    async def add_coordinator(self, telegram_id: int) -> None:
        await roster.add_coordinator(self.session, telegram_id)

    async def start_enrolment(self, telegram_id: int, pseudonym: str) -> CounsellorView:
        row = await self.session.scalar(select(CounsellorRow).where(CounsellorRow.telegram_id == telegram_id))
        if row is None:
            row = CounsellorRow(
                alias=f"~{secrets.token_hex(6)}",  # replaced by the alias they type at the end
                telegram_id=telegram_id,
                pseudonym=pseudonym,
                home_county="",
                serves=[],
                languages=[],
                pathways=[],
                capacity=2,
                available=True,
                active=True,
            )
            self.session.add(row)
        row.enrolling = "county"
        row.active = True
        await self.session.flush()
        return counsellor_view(row)

    async def save_enrolment(
        self, counsellor_id: int, step: str, county: str, languages: list[str], pathways: list[str], alias: str
    ) -> None:
        values: dict[str, Any] = {
            "enrolling": None if step == "done" else step,
            "home_county": county,
            "languages": languages,
            "pathways": pathways,
        }
        if alias:
            values["alias"] = alias
        await self.session.execute(update(CounsellorRow).where(CounsellorRow.id == counsellor_id).values(**values))

    async def alias_taken(self, alias: str, counsellor_id: int) -> bool:
        query = select(CounsellorRow.id).where(CounsellorRow.alias == alias, CounsellorRow.id != counsellor_id)
        return await self.session.scalar(query) is not None


class SqlStore:
    """``flows.ports.Store`` over an async sessionmaker: one unit of work at a time per task.

    A unit opened while another is open in the same task joins it (``transaction``), so
    everything one update causes, across the flows it passes through, commits together.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keyring: Keyring) -> None:
        self.sessions = sessions
        self.keyring = keyring
        self.on_commit: Callable[[list[Outgoing]], None] | None = None
        """Hands the messages a unit posted to the sender, once they are committed."""
        self.delivered: set[int] = set()
        """Outbox rows Telegram accepted that are still to be deleted: the next unit of work
        (whatever it is for) deletes them first, so delivery costs no transaction of its own."""

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
        if tx.posted and self.on_commit is not None:
            self.on_commit([message for message, _ in tx.posted])

    @staticmethod
    def current() -> SqlTx | None:
        """The unit of work open in this task, if any."""
        return _CURRENT.get()


_CURRENT: ContextVar[SqlTx | None] = ContextVar("kollega_unit_of_work", default=None)


def _claim(session: AsyncSession, update_id: int, now: datetime) -> Any:
    """INSERT the update's claim unless it exists; RETURNING tells which happened."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(ProcessedUpdateRow)
        .values(update_id=update_id, at=hour_of(now))
        .on_conflict_do_nothing(index_elements=[ProcessedUpdateRow.update_id])
        .returning(ProcessedUpdateRow.update_id)
    )
