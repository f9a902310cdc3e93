"""The repositories of one unit of work: ``flows.ports`` in SQL.

Each repository works on the unit's one session and returns plain frozen views
(``flows.domain``), never live ORM objects. None of them commits or rolls back: that
is the unit's alone (``storage.store``); a clash that must not undo the caller's work
is kept to a savepoint.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
from storage.models import (
    CaseRow,
    CoordinatorRow,
    CounsellorRow,
    DraftRow,
    EventCountRow,
    OfferRow,
    OutboxRow,
    RelayRow,
    TimerRow,
)
from storage.outbox import lane_of
from storage.sealing import Keyring
from storage.statistics import counter_rows, published_statistics

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely
OPEN_STATUSES = tuple(str(status) for status in OPEN_CASE)
TIMER_ATTEMPTS = 6
"""A timer that failed this often is parked (shown in /queue) instead of retried."""
INTEGER_MAX = 2**31 - 1
"""The largest value an ``Integer`` column holds on every database (PostgreSQL's ``integer``)."""
NO_COUNTY = "none"


def new_case_code() -> str:
    return "K-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def upsert_insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    return postgresql_insert if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite_insert


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
        last_offer_turn=row.last_offer_turn,
        open_cases=open_cases,
        focus_case=row.focus_case,
        enrolling=row.enrolling,
        reader_language=row.reader_language,
    )


def offer_view(row: OfferRow) -> OfferView:
    return OfferView(row.id, row.case_code, row.counsellor_id, OfferStatus(row.status), row.deadline, row.message_id)


def _sealed_json(keyring: Keyring, data: dict[str, Any], bound_to: str) -> bytes:
    return keyring.seal_bytes(json.dumps(data, separators=(",", ":"), default=_iso).encode(), bound_to)


def _opened_json(keyring: Keyring, sealed: bytes, bound_to: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(keyring.unseal_bytes(sealed, bound_to))
    return data


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot seal {type(value).__name__}")


def _case_bound(code: str) -> str:
    return f"case:{code}"


def _draft_bound(pseudonym: str) -> str:
    return f"draft:{pseudonym}"


def case_view(keyring: Keyring, row: CaseRow, alias: str | None = None) -> CaseView:
    details = _opened_json(keyring, row.sealed_details, _case_bound(row.code)) if row.sealed_details else {}

    def moment(name: str) -> datetime | None:
        value = details.get(name)
        return datetime.fromisoformat(value) if value else None

    return CaseView(
        code=row.code,
        status=CaseStatus(row.status),
        pathway=details.get("pathway", ""),
        urgent=bool(details.get("urgent", False)),
        seeker=details.get("seeker", ""),
        support=tuple(details.get("support", ())),
        barriers=tuple(details.get("barriers", ())),
        role=details.get("role", ""),
        county=details.get("county", ""),
        outside_county=bool(details.get("outside_county", False)),
        contact=details.get("contact", ""),
        language=details.get("language", ""),
        reader_language=details.get("reader_language", ""),
        opened_at=moment("opened_at") or datetime.min,
        accepted_at=moment("accepted_at"),
        counsellor_id=row.counsellor_id,
        counsellor_alias=alias,
        followup=row.followup,
        silent_prompted=row.silent_prompted,
        escalated=row.escalated,
        offered_before=row.offered,
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
        return Draft.from_dict(_opened_json(self.keyring, row.sealed_answers, _draft_bound(pseudonym)))

    async def put(self, pseudonym: str, draft: Draft, reach: int | None, now: datetime) -> None:
        row = self._rows.get(pseudonym) or await self.session.get(DraftRow, pseudonym)
        answers = {k: (str(v) if k == "state" else v) for k, v in draft.to_dict().items()}
        sealed = _sealed_json(self.keyring, answers, _draft_bound(pseudonym))
        if row is None:
            row = DraftRow(pseudonym=pseudonym, sealed_answers=sealed, updated_at=hour_of(now))
            self.session.add(row)
            self._rows[pseudonym] = row
        row.sealed_answers = sealed
        row.updated_at = hour_of(now)
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

    def _view(self, row: CaseRow, alias: str | None = None) -> CaseView:
        return case_view(self.keyring, row, alias)

    async def _reseal(self, code: str, **changes: Any) -> CaseRow | None:
        """Change sealed details of an open case (opened, changed, sealed again)."""
        row = await self.session.get(CaseRow, code)
        if row is None or row.sealed_details is None:
            return row
        details = _opened_json(self.keyring, row.sealed_details, _case_bound(code))
        details.update(changes)
        row.sealed_details = _sealed_json(self.keyring, details, _case_bound(code))
        return row

    async def open(self, pseudonym: str, draft: Draft, reach: int, now: datetime) -> CaseView:
        code = new_case_code()
        while await self.session.get(CaseRow, code) is not None:
            code = new_case_code()
        details = {
            "seeker": draft.seeker or Seeker.SELF,
            "pathway": draft.pathway or Pathway.ADVICE,
            "urgent": draft.urgent,
            "support": list(draft.support),
            "barriers": list(draft.barriers),
            "role": draft.role or Role.OTHER,
            "county": draft.county or NO_COUNTY,
            "outside_county": draft.outside_county,
            "contact": draft.contact or ContactMode.CHAT,
            "language": draft.case_language or draft.language,
            "reader_language": draft.language,
            "opened_at": now,
            "accepted_at": None,
        }
        row = CaseRow(
            code=code,
            pseudonym=pseudonym,
            status=CaseStatus.QUEUED,
            sealed_details=_sealed_json(
                self.keyring, {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in details.items()}, _case_bound(code)
            ),
            sealed_reach=self.keyring.seal(reach, pseudonym),
            followup=False,
        )
        self.session.add(row)
        await self.session.flush()
        return self._view(row)

    def _with_alias(self) -> Any:
        return select(CaseRow, CounsellorRow.alias).outerjoin(CounsellorRow, CaseRow.counsellor_id == CounsellorRow.id)

    async def get(self, code: str) -> CaseView | None:
        found = (await self.session.execute(self._with_alias().where(CaseRow.code == code))).first()
        return self._view(found[0], found[1]) if found else None

    async def of_doctor(self, pseudonym: str) -> CaseView | None:
        query = self._with_alias().where(CaseRow.pseudonym == pseudonym, CaseRow.status.in_(OPEN_STATUSES))
        found = [self._view(row, alias) for row, alias in (await self.session.execute(query)).all()]
        return max(found, key=lambda case: case.opened_at, default=None)

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
        return [self._view(row) for row in rows]

    async def all_open(self) -> list[CaseView]:
        query = select(CaseRow).where(CaseRow.status.in_(OPEN_STATUSES))
        # Opening times are sealed: ordered here, not by the database.
        return sorted((self._view(row) for row in (await self.session.scalars(query)).all()), key=lambda c: (c.opened_at, c.code))

    async def active_for(self, counsellor_id: int) -> list[CaseView]:
        query = select(CaseRow).where(CaseRow.counsellor_id == counsellor_id, CaseRow.status == CaseStatus.ACTIVE)
        cases = [self._view(row) for row in (await self.session.scalars(query)).all()]
        return sorted(cases, key=lambda c: (c.accepted_at or datetime.min, c.code))

    async def mark_urgent(self, code: str) -> None:
        await self._reseal(code, urgent=True)

    async def set_reader_language(self, code: str, language: str) -> None:
        await self._reseal(code, reader_language=language)

    async def accept(self, offer: OfferView, now: datetime) -> bool:
        # The offer is settled only while it is pending and its case still offered, in one
        # conditional UPDATE: of two presses at once exactly one wins, and a case that moved
        # on leaves the offer as it was. Units of work run one at a time (storage.db), so the
        # case is still offered when it is activated below.
        still_offered = select(CaseRow.code).where(CaseRow.code == offer.case_code, CaseRow.status == CaseStatus.OFFERED).exists()
        settled = await self.session.execute(
            update(OfferRow)
            .where(OfferRow.id == offer.id, OfferRow.status == OfferStatus.PENDING, still_offered)
            .values(status=OfferStatus.ACCEPTED)
        )
        if not _changed(settled):
            return False
        row = await self._reseal(offer.case_code, accepted_at=now)
        if row is not None:
            row.status = CaseStatus.ACTIVE
            row.counsellor_id = offer.counsellor_id
        await self.session.execute(
            update(CounsellorRow).where(CounsellorRow.id == offer.counsellor_id).values(focus_case=offer.case_code)
        )
        return True

    async def escalate(self, code: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(CaseRow).where(CaseRow.code == code, CaseRow.escalated.is_(False)).values(escalated=True)
        )
        return _changed(result)

    async def relayed(self, code: str, now: datetime) -> None:
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(silent_prompted=False))

    async def prompted_silent(self, code: str) -> None:
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(silent_prompted=True))

    async def withdraw(self, code: str, now: datetime) -> None:
        await self._end(code, CaseStatus.CANCELLED, now)

    async def close(self, code: str, by: Actor, now: datetime) -> None:
        await self._end(code, CaseStatus.CLOSED, now)

    async def _end(self, code: str, status: CaseStatus, now: datetime) -> None:
        """What an ended case keeps: its code, status, the day, and sealed only the language a
        follow-up check-in would be written in. Its offers go, and with them the counsellor."""
        self.erasing()
        row = await self.session.get(CaseRow, code)
        if row is None:
            return
        language = self._view(row).reader_language
        row.status = status
        row.closed_on = now.date()
        row.sealed_details = _sealed_json(self.keyring, {"reader_language": language}, _case_bound(code))
        row.sealed_reach = None
        row.pseudonym = None
        row.counsellor_id = None
        await self.session.execute(delete(OfferRow).where(OfferRow.case_code == code))
        await self.session.execute(delete(TimerRow).where(TimerRow.subject == code))
        await self.session.execute(update(CounsellorRow).where(CounsellorRow.focus_case == code).values(focus_case=None))
        # Which message belonged to which case is of no use once the case has ended.
        await self.session.execute(delete(RelayRow).where(RelayRow.case_code == code))

    async def forget(self, pseudonym: str, reach: int) -> None:
        self.erasing()
        codes = (await self.session.scalars(select(CaseRow.code).where(CaseRow.pseudonym == pseudonym))).all()
        self.drafts.forgotten(pseudonym)
        await self.session.execute(delete(DraftRow).where(DraftRow.pseudonym == pseudonym))
        await self.session.execute(delete(TimerRow).where(TimerRow.subject.in_([pseudonym, *codes])))
        # Without relying on the dialect to cascade: which copy was which case's, and the offers.
        await self.session.execute(delete(RelayRow).where(RelayRow.case_code.in_(codes)))
        await self.session.execute(delete(OfferRow).where(OfferRow.case_code.in_(codes)))
        await self.session.execute(update(CounsellorRow).where(CounsellorRow.focus_case.in_(codes)).values(focus_case=None))
        await self.session.execute(delete(CaseRow).where(CaseRow.pseudonym == pseudonym))
        # Messages still owed to the doctor (a reply not yet delivered) go too: nothing is
        # to reach them after this but the answer to /forget itself, posted after. So do their
        # own messages still on the way to a counsellor (each holds their chat, sealed).
        await self.session.execute(delete(OutboxRow).where(OutboxRow.lane == lane_of(self.keyring, reach)))
        for code in codes:
            await self.session.execute(delete(OutboxRow).where(OutboxRow.track.like(f"relay:{code}:%")))

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
        values = {"followup": False, "sealed_reach": None, "pseudonym": None, "sealed_details": None}
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(**values))

    async def remember_copy(self, counsellor_id: int, message_id: int, code: str) -> None:
        # Only while the case is active: a copy delivered after it ended (or was erased) links nothing.
        active = await self.session.scalar(select(CaseRow.code).where(CaseRow.code == code, CaseRow.status == CaseStatus.ACTIVE))
        if active is not None:
            self.session.add(RelayRow(counsellor_id=counsellor_id, message_id=message_id, case_code=code))

    async def of_copy(self, counsellor_id: int, message_id: int) -> str | None:
        query = select(RelayRow.case_code).where(RelayRow.counsellor_id == counsellor_id, RelayRow.message_id == message_id)
        return await self.session.scalar(query.limit(1))


class SqlOffers:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, code: str, counsellor_id: int, now: datetime, deadline: datetime) -> OfferView:
        row = OfferRow(
            case_code=code, counsellor_id=counsellor_id, status=OfferStatus.PENDING, offered_at=hour_of(now), deadline=deadline
        )
        self.session.add(row)
        await self.session.execute(update(CaseRow).where(CaseRow.code == code).values(status=CaseStatus.OFFERED, offered=True))
        await self.session.execute(
            update(CounsellorRow)
            .where(CounsellorRow.id == counsellor_id)
            .values(last_offer_turn=select(func.coalesce(func.max(CounsellorRow.last_offer_turn), 0) + 1).scalar_subquery())
        )
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

    async def coordinator_languages(self) -> dict[int, str | None]:
        query = select(CoordinatorRow.telegram_id, CoordinatorRow.reader_language).order_by(CoordinatorRow.id)
        rows = await self.session.execute(query)
        return {telegram_id: language for telegram_id, language in rows.all()}

    async def set_language(self, telegram_id: int, language: str) -> None:
        await self.session.execute(
            update(CounsellorRow).where(CounsellorRow.telegram_id == telegram_id).values(reader_language=language)
        )
        await self.session.execute(
            update(CoordinatorRow).where(CoordinatorRow.telegram_id == telegram_id).values(reader_language=language)
        )

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
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def record(self, event: Event, now: datetime) -> None:
        """Add 1 to the day's counters this event falls in (no row of its own: storage.statistics)."""
        insert = upsert_insert(self.session)
        for row in counter_rows(event, now.date(), self.keyring):
            statement = insert(EventCountRow).values(**row, count=1)
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[EventCountRow.day, EventCountRow.kind, EventCountRow.family, EventCountRow.cell],
                    set_={"count": EventCountRow.count + 1},
                )
            )


class SqlStatistics:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def published(
        self, period: Period, min_cell: int, since: date, until: date, counties: Sequence[str]
    ) -> list[Published]:
        return await published_statistics(
            self.session, period, min_cell, since=since, until=until, counties=counties, tagger=self.keyring
        )
