"""The SQL implementation of ``flows.ports.Store``: one transaction per action."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flows.events import Event
from flows.ports import CaseView, Due
from flows.triage import Draft
from storage.models import CaseRow, CounsellorRow, DraftRow, EventRow, TimerRow
from storage.sealing import Keyring

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely
OPEN_STATUSES = ("queued", "offered", "active")


def new_case_code() -> str:
    return "K-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


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
    )


class SqlTx:
    """``flows.ports.Tx`` on one SQLAlchemy session inside one transaction."""

    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.locking = session.bind.dialect.name == "postgresql" if session.bind else False

    # --- drafts -------------------------------------------------------------
    async def get_draft(self, pseudonym: str) -> Draft | None:
        row = await self.session.get(DraftRow, pseudonym)
        return Draft.from_dict(row.answers) if row else None

    async def put_draft(self, pseudonym: str, draft: Draft, reach: int | None, now: datetime) -> None:
        row = await self.session.get(DraftRow, pseudonym)
        if row is None:
            row = DraftRow(pseudonym=pseudonym, answers={}, updated_at=now)
            self.session.add(row)
        row.answers = {k: (str(v) if k == "state" else v) for k, v in draft.to_dict().items()}
        row.updated_at = now
        if reach is not None:
            row.sealed_reach = self.keyring.seal(reach, pseudonym)

    async def delete_draft(self, pseudonym: str) -> None:
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
        """Remove everything linkable to this pseudonym, at once."""
        codes = (await self.session.scalars(select(CaseRow.code).where(CaseRow.pseudonym == pseudonym))).all()
        await self.session.execute(delete(DraftRow).where(DraftRow.pseudonym == pseudonym))
        await self.session.execute(delete(TimerRow).where(TimerRow.subject.in_([pseudonym, *codes])))
        await self.session.execute(delete(CaseRow).where(CaseRow.pseudonym == pseudonym))

    # --- events ---------------------------------------------------------------
    async def record(self, event: Event, now: datetime) -> None:
        fields = {k: v for k, v in event.__dict__.items() if k != "kind"}
        self.session.add(EventRow(kind=str(event.kind), hour=hour_of(now), **fields))

    # --- timers -----------------------------------------------------------------
    async def set_timer(self, kind: str, subject: str, due_at: datetime) -> None:
        found = await self.session.scalar(select(TimerRow).where(TimerRow.kind == kind, TimerRow.subject == subject))
        if found is None:
            self.session.add(TimerRow(kind=kind, subject=subject, due_at=due_at))
        else:
            found.due_at = due_at
        await self.session.flush()

    async def clear_timer(self, kind: str, subject: str) -> None:
        await self.session.execute(delete(TimerRow).where(TimerRow.kind == kind, TimerRow.subject == subject))

    async def clear_timers(self, subject: str) -> None:
        await self.session.execute(delete(TimerRow).where(TimerRow.subject == subject))

    async def next_due(self, now: datetime) -> Due | None:
        query = select(TimerRow).where(TimerRow.due_at <= now).order_by(TimerRow.due_at, TimerRow.id).limit(1)
        if self.locking:
            query = query.with_for_update(skip_locked=True)
        row = await self.session.scalar(query)
        if row is None:
            return None
        due = Due(row.kind, row.subject, row.due_at)
        await self.session.delete(row)
        await self.session.flush()
        return due


class SqlStore:
    """``flows.ports.Store`` over an async sessionmaker."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keyring: Keyring) -> None:
        self.sessions = sessions
        self.keyring = keyring

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTx]:
        async with self.sessions.begin() as session:
            yield SqlTx(session, self.keyring)
