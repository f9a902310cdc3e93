"""The repositories of one unit of work: ``flows.ports`` in SQL.

Each repository works on the unit's one session and returns plain frozen views
(``flows.domain``), never live ORM objects. None of them commits or rolls back: that
is the unit's alone (``storage.store``); a clash that must not undo the caller's work
is kept to a savepoint.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.disclosure import Published
from flows.domain import (
    OPEN_CASE,
    Actor,
    CaseStatus,
    CaseView,
    ContactMode,
    CounsellorView,
    Due,
    OfferStatus,
    OfferView,
    Pathway,
    Role,
    Seeker,
    StaffRole,
)
from flows.events import Event
from flows.periods import Period
from flows.triage import Draft
from storage import roster
from storage.models import CaseRow, CounsellorRow, DraftRow, EventRow, OfferRow, OutboxRow, RelayRow, TimerRow
from storage.outbox import lane_of
from storage.sealing import Keyring
from storage.statistics import published_statistics

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely
OPEN_STATUSES = tuple(str(status) for status in OPEN_CASE)
TIMER_ATTEMPTS = 6
"""A timer that failed this often is parked (shown in /queue) instead of retried."""
INTEGER_MAX = 2**31 - 1
"""The largest value an ``Integer`` column holds on every database (PostgreSQL's ``integer``)."""
NO_COUNTY = "none"


def new_case_code() -> str:
    return "K-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _changed(result: Any) -> bool:
    """Whether a conditional UPDATE or DELETE touched a row."""
    assert isinstance(result, CursorResult)
    return bool(result.rowcount)


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
    return OfferView(row.id, row.case_code, row.counsellor_id, OfferStatus(row.status), row.deadline, row.message_id)


def case_view(row: CaseRow, alias: str | None = None) -> CaseView:
    return CaseView(
        code=row.code,
        status=CaseStatus(row.status),
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


class SqlDrafts:
    def __init__(self, session: AsyncSession, keyring: Keyring, erasing: Callable[[], None]) -> None:
        self.session = session
        self.keyring = keyring
        self.erasing = erasing
        """Called when this unit deletes something naming a doctor (the disk is scrubbed after)."""
        self._rows: dict[str, DraftRow] = {}
        """Draft rows read in this unit: the session holds them only weakly."""

    async def get(self, pseudonym: str) -> Draft | None:
        row = await self.session.get(DraftRow, pseudonym)
        if row is None:
            return None
        self._rows[pseudonym] = row
        return Draft.from_dict(row.answers)

    async def put(self, pseudonym: str, draft: Draft, reach: int | None, now: datetime) -> None:
        row = self._rows.get(pseudonym) or await self.session.get(DraftRow, pseudonym)
        if row is None:
            row = DraftRow(pseudonym=pseudonym, answers={}, updated_at=now)
            self.session.add(row)
        row.answers = {k: (str(v) if k == "state" else v) for k, v in draft.to_dict().items()}
        row.updated_at = now
        if reach is not None and row.sealed_reach is None:
            # Sealed once per draft: a private chat's id never changes, and every sealing
            # would leave one more copy in the WAL until the next scrub.
            row.sealed_reach = self.keyring.seal(reach, pseudonym)

    async def delete(self, pseudonym: str) -> None:
        self.erasing()
        self._rows.pop(pseudonym, None)
        await self.session.execute(delete(DraftRow).where(DraftRow.pseudonym == pseudonym))

    async def reach(self, pseudonym: str) -> int | None:
        row = await self.session.get(DraftRow, pseudonym)
        if row is None or row.sealed_reach is None:
            return None
        return self.keyring.unseal(row.sealed_reach, pseudonym)

    def forgotten(self, pseudonym: str) -> None:
        self._rows.pop(pseudonym, None)


class SqlCases:
    def __init__(self, session: AsyncSession, keyring: Keyring, drafts: SqlDrafts, erasing: Callable[[], None]) -> None:
        self.session = session
        self.keyring = keyring
        self.drafts = drafts
        self.erasing = erasing

    async def open(self, pseudonym: str, draft: Draft, reach: int, now: datetime) -> CaseView:
        code = new_case_code()
        while await self.session.get(CaseRow, code) is not None:
            code = new_case_code()
        row = CaseRow(
            code=code,
            pseudonym=pseudonym,
            status=CaseStatus.QUEUED,
            seeker=draft.seeker or Seeker.SELF,
            pathway=draft.pathway or Pathway.ADVICE,
            urgent=draft.urgent,
            support=list(draft.support),
            barriers=list(draft.barriers),
            role=draft.role or Role.OTHER,
            county=draft.county or NO_COUNTY,
            outside_county=draft.outside_county,
            contact=draft.contact or ContactMode.CHAT,
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

    def _with_alias(self) -> Any:
        return select(CaseRow, CounsellorRow.alias).outerjoin(CounsellorRow, CaseRow.counsellor_id == CounsellorRow.id)

    async def get(self, code: str) -> CaseView | None:
        found = (await self.session.execute(self._with_alias().where(CaseRow.code == code))).first()
        return case_view(found[0], found[1]) if found else None

    async def of_doctor(self, pseudonym: str) -> CaseView | None:
        query = (
            self._with_alias()
            .where(CaseRow.pseudonym == pseudonym, CaseRow.status.in_(OPEN_STATUSES))
            .order_by(CaseRow.opened_at.desc())
            .limit(1)
        )
        found = (await self.session.execute(query)).first()
        return case_view(found[0], found[1]) if found else None

    async def reach(self, code: str) -> int | None:
        row = await self.session.get(CaseRow, code)
        if row is None or row.sealed_reach is None or row.pseudonym is None:
            return None
        return self.keyring.unseal(row.sealed_reach, row.pseudonym)

    async def pseudonym(self, code: str) -> str | None:
        return await self.session.scalar(select(CaseRow.pseudonym).where(CaseRow.code == code))

    # No row locks in the routing reads, on purpose. Casework.dispatch reads the queue (queued)
    # and every counsellor's load (SqlRoster.counsellors), then writes offers (SqlOffers.create);
    # with two processes, the queue and the loads must not change between that read and the
    # commit, or a case is offered twice and a capacity exceeded. Both databases guarantee it
    # for the whole transaction: SQLite by BEGIN IMMEDIATE, PostgreSQL by the advisory lock
    # every transaction takes first (storage.db.create_engine, which says why row locks taken
    # here would deadlock).
    async def queued(self) -> list[CaseView]:
        rows = (await self.session.scalars(select(CaseRow).where(CaseRow.status == CaseStatus.QUEUED))).all()
        return [case_view(row) for row in rows]

    async def all_open(self) -> list[CaseView]:
        query = select(CaseRow).where(CaseRow.status.in_(OPEN_STATUSES)).order_by(CaseRow.opened_at)
        return [case_view(row) for row in (await self.session.scalars(query)).all()]

    async def active_for(self, counsellor_id: int) -> list[CaseView]:
        query = (
            select(CaseRow)
            .where(CaseRow.counsellor_id == counsellor_id, CaseRow.status == CaseStatus.ACTIVE)
            .order_by(CaseRow.accepted_at)
        )
        return [case_view(row) for row in (await self.session.scalars(query)).all()]

    async def mark_urgent(self, code: str) -> None:
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(urgent=True))

    async def set_reader_language(self, code: str, language: str) -> None:
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(reader_language=language))

    async def accept(self, offer: OfferView, now: datetime) -> bool:
        # The offer is settled only while it is pending and its case still offered, in one
        # conditional UPDATE: of two presses at once exactly one wins, and a case that moved
        # on leaves the offer as it was. Units of work run one at a time (storage.db), so the
        # case is still offered for the UPDATE that activates it.
        still_offered = select(CaseRow.code).where(CaseRow.code == offer.case_code, CaseRow.status == CaseStatus.OFFERED).exists()
        settled = await self.session.execute(
            update(OfferRow)
            .where(OfferRow.id == offer.id, OfferRow.status == OfferStatus.PENDING, still_offered)
            .values(status=OfferStatus.ACCEPTED)
        )
        if not _changed(settled):
            return False
        await self.session.execute(
            update(CaseRow)
            .where(CaseRow.code == offer.case_code)
            .values(status=CaseStatus.ACTIVE, counsellor_id=offer.counsellor_id, accepted_at=now, last_activity_at=now)
        )
        await self.session.execute(
            update(CounsellorRow).where(CounsellorRow.id == offer.counsellor_id).values(focus_case=offer.case_code)
        )
        return True

    async def escalate(self, code: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(CaseRow).where(CaseRow.code == code, CaseRow.escalated_at.is_(None)).values(escalated_at=now)
        )
        return _changed(result)

    async def relayed(self, code: str, now: datetime) -> None:
        await self.session.execute(
            update(CaseRow).where(CaseRow.code == code).values(last_activity_at=now, silent_prompted=False)
        )

    async def prompted_silent(self, code: str) -> None:
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(silent_prompted=True))

    async def withdraw(self, code: str, now: datetime) -> None:
        await self._end(code, CaseStatus.CANCELLED, Actor.DOCTOR, now)

    async def close(self, code: str, by: Actor, now: datetime) -> None:
        await self._end(code, CaseStatus.CLOSED, by, now)
        # Which message belonged to which case is of no use once the case is closed.
        await self.session.execute(delete(RelayRow).where(RelayRow.case_code == code))

    async def _end(self, code: str, status: CaseStatus, by: Actor, now: datetime) -> None:
        self.erasing()
        values = {"status": status, "closed_at": now, "closed_by": by, "sealed_reach": None, "pseudonym": None}
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(**values))
        await self.session.execute(delete(TimerRow).where(TimerRow.subject == code))

    async def forget(self, pseudonym: str, reach: int) -> None:
        self.erasing()
        codes = (await self.session.scalars(select(CaseRow.code).where(CaseRow.pseudonym == pseudonym))).all()
        self.drafts.forgotten(pseudonym)
        await self.session.execute(delete(DraftRow).where(DraftRow.pseudonym == pseudonym))
        await self.session.execute(delete(TimerRow).where(TimerRow.subject.in_([pseudonym, *codes])))
        # Without relying on the dialect to cascade: which copy was which case's, and the offers.
        await self.session.execute(delete(RelayRow).where(RelayRow.case_code.in_(codes)))
        await self.session.execute(delete(OfferRow).where(OfferRow.case_code.in_(codes)))
        await self.session.execute(delete(CaseRow).where(CaseRow.pseudonym == pseudonym))
        # Messages still owed to the doctor (a reply not yet delivered) go too: nothing is
        # to reach them after this but the answer to /forget itself, posted after.
        await self.session.execute(delete(OutboxRow).where(OutboxRow.lane == lane_of(self.keyring, reach)))

    async def take_feedback(self, code: str) -> bool:
        result = await self.session.execute(
            update(CaseRow).where(CaseRow.code == code, CaseRow.feedback_given.is_(False)).values(feedback_given=True)
        )
        return _changed(result)

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
        self.erasing()
        values = {"followup": False, "sealed_reach": None, "pseudonym": None}
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(**values))

    async def remember_copy(self, counsellor_id: int, message_id: int, code: str) -> None:
        self.session.add(RelayRow(counsellor_id=counsellor_id, message_id=message_id, case_code=code))

    async def of_copy(self, counsellor_id: int, message_id: int) -> str | None:
        query = select(RelayRow.case_code).where(RelayRow.counsellor_id == counsellor_id, RelayRow.message_id == message_id)
        return await self.session.scalar(query.limit(1))


class SqlOffers:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, code: str, counsellor_id: int, now: datetime, deadline: datetime) -> OfferView:
        row = OfferRow(case_code=code, counsellor_id=counsellor_id, status=OfferStatus.PENDING, offered_at=now, deadline=deadline)
        self.session.add(row)
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(status=CaseStatus.OFFERED))
        await self.session.execute(update(CounsellorRow).where(CounsellorRow.id == counsellor_id).values(last_offer_at=now))
        await self.session.flush()
        return offer_view(row)

    async def get(self, offer_id: int) -> OfferView | None:
        # offers.id is an INTEGER column: 64-bit in SQLite but 32-bit in PostgreSQL, where a
        # forged id from a button past 2**31 makes the driver raise instead of finding nothing.
        if not 0 < offer_id <= INTEGER_MAX:
            return None
        row = await self.session.get(OfferRow, offer_id)
        return offer_view(row) if row else None

    async def pending_for(self, code: str) -> OfferView | None:
        query = select(OfferRow).where(OfferRow.case_code == code, OfferRow.status == OfferStatus.PENDING)
        row = await self.session.scalar(query)
        return offer_view(row) if row else None

    async def declined_by(self, code: str) -> set[int]:
        query = select(OfferRow.counsellor_id).where(OfferRow.case_code == code, OfferRow.status == OfferStatus.DECLINED)
        return set((await self.session.scalars(query)).all())

    async def _settle(self, offer: OfferView, status: OfferStatus) -> bool:
        result = await self.session.execute(
            update(OfferRow).where(OfferRow.id == offer.id, OfferRow.status == OfferStatus.PENDING).values(status=status)
        )
        return _changed(result)

    async def _requeue(self, code: str) -> None:
        offered = (CaseRow.code == code) & (CaseRow.status == CaseStatus.OFFERED)
        await self.session.execute(update(CaseRow).where(offered).values(status=CaseStatus.QUEUED))

    async def decline(self, offer: OfferView) -> bool:
        if not await self._settle(offer, OfferStatus.DECLINED):
            return False
        await self._requeue(offer.case_code)
        return True

    async def expire(self, offer: OfferView) -> bool:
        if not await self._settle(offer, OfferStatus.EXPIRED):
            return False
        await self._requeue(offer.case_code)
        return True

    async def withdraw(self, offer: OfferView) -> bool:
        return await self._settle(offer, OfferStatus.WITHDRAWN)

    async def shown(self, offer_id: int, message_id: int) -> None:
        await self.session.execute(update(OfferRow).where(OfferRow.id == offer_id).values(message_id=message_id))


class SqlRoster:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def counsellors(self) -> list[CounsellorView]:
        load = await self._open_load()
        rows = (await self.session.scalars(select(CounsellorRow).where(CounsellorRow.active))).all()
        return [counsellor_view(row, load.get(row.id, 0)) for row in rows]

    async def counsellor(self, counsellor_id: int) -> CounsellorView | None:
        row = await self.session.get(CounsellorRow, counsellor_id)
        return counsellor_view(row, (await self._open_load(counsellor_id)).get(counsellor_id, 0)) if row else None

    async def by_telegram(self, telegram_id: int) -> CounsellorView | None:
        row = await self.session.scalar(select(CounsellorRow).where(CounsellorRow.telegram_id == telegram_id))
        return counsellor_view(row, (await self._open_load(row.id)).get(row.id, 0)) if row else None

    async def _open_load(self, counsellor_id: int | None = None) -> dict[int, int]:
        """Cases each counsellor holds (active) or is being offered (pending)."""
        held = (
            select(CaseRow.counsellor_id, func.count()).where(CaseRow.status == CaseStatus.ACTIVE).group_by(CaseRow.counsellor_id)
        )
        offered = (
            select(OfferRow.counsellor_id, func.count())
            .where(OfferRow.status == OfferStatus.PENDING)
            .group_by(OfferRow.counsellor_id)
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

    async def coordinators(self) -> list[int]:
        return await roster.list_coordinators(self.session)

    async def is_coordinator(self, telegram_id: int) -> bool:
        return telegram_id in await self.coordinators()

    async def redeem_invite(self, code_hash: str, now: datetime) -> StaffRole | None:
        role = await roster.redeem_invite(self.session, code_hash, now)
        return StaffRole(role) if role else None

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

    async def set_available(self, counsellor_id: int) -> None:
        await self._availability(counsellor_id, True, None)

    async def set_away(self, counsellor_id: int, until: datetime | None) -> None:
        await self._availability(counsellor_id, False, until)

    async def _availability(self, counsellor_id: int, available: bool, away_until: datetime | None) -> None:
        await self.session.execute(
            update(CounsellorRow).where(CounsellorRow.id == counsellor_id).values(available=available, away_until=away_until)
        )

    async def focus(self, counsellor_id: int, code: str | None) -> None:
        await self.session.execute(update(CounsellorRow).where(CounsellorRow.id == counsellor_id).values(focus_case=code))


class SqlTimers:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.locking = session.bind.dialect.name == "postgresql" if session.bind else False

    async def set(self, kind: str, subject: str, due_at: datetime) -> None:
        # Armed anew: a timer that had failed (or was parked) starts over with a clean slate.
        moved = await self.session.execute(
            update(TimerRow)
            .where(TimerRow.kind == kind, TimerRow.subject == subject)
            .values(due_at=due_at, attempts=0, parked=False)
        )
        if not _changed(moved):
            self.session.add(TimerRow(kind=kind, subject=subject, due_at=due_at))
            await self.session.flush()

    async def clear(self, kind: str, subject: str) -> None:
        await self.session.execute(delete(TimerRow).where(TimerRow.kind == kind, TimerRow.subject == subject))

    async def clear_all(self, subject: str) -> None:
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

    async def failed(self, due: Due, now: datetime) -> bool:
        row = await self.session.scalar(select(TimerRow).where(TimerRow.kind == due.kind, TimerRow.subject == due.subject))
        if row is None:
            return False
        row.attempts += 1
        row.parked = row.attempts >= TIMER_ATTEMPTS
        row.due_at = now + timedelta(seconds=min(30 * 2**row.attempts, 3600))
        return row.parked

    async def parked(self) -> list[Due]:
        rows = (await self.session.scalars(select(TimerRow).where(TimerRow.parked.is_(True)).order_by(TimerRow.id))).all()
        return [Due(row.kind, row.subject, row.due_at) for row in rows]


class SqlEvents:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, event: Event, now: datetime) -> None:
        fields = {k: v for k, v in event.__dict__.items() if k != "kind"}
        self.session.add(EventRow(kind=str(event.kind), hour=hour_of(now), **fields))


class SqlStatistics:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def published(
        self, period: Period, min_cell: int, since: date, until: date, counties: Sequence[str]
    ) -> list[Published]:
        return await published_statistics(self.session, period, min_cell, since=since, until=until, counties=counties)
