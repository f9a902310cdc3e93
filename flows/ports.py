"""What the flows need from the world outside, as protocols (storage and the adapter implement them).

Flows stay free of SQL and Telegram. One unit of work (:class:`Tx`) is a set of named
repositories, one per thing kept (drafts, cases, offers, the roster, timers, events,
statistics), whose operations are the use cases the flows need (``cases.accept``,
``offers.decline``), not column setters. They take and return plain data: the views
in :mod:`flows.domain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Protocol

from flows.disclosure import Published
from flows.domain import Actor, CaseView, CounsellorView, Due, OfferView, StaffRole
from flows.events import Event
from flows.inbound import Incoming, Result
from flows.periods import Period
from flows.replies import Text
from flows.triage import Draft


class Drafts(Protocol):
    """Triages in progress, by the doctor's pseudonym."""

    async def get(self, pseudonym: str) -> Draft | None: ...
    async def put(self, pseudonym: str, draft: Draft, reach: int | None, now: datetime) -> None:
        """Save the answers; ``reach`` (the chat to answer in) is sealed, when given."""
        ...

    async def delete(self, pseudonym: str) -> None: ...
    async def reach(self, pseudonym: str) -> int | None: ...


class Cases(Protocol):
    async def open(self, pseudonym: str, draft: Draft, reach: int, now: datetime) -> CaseView:
        """A new queued case from a confirmed draft, under a fresh random code."""
        ...

    async def get(self, code: str) -> CaseView | None: ...
    async def of_doctor(self, pseudonym: str) -> CaseView | None:
        """The doctor's open case, if any."""
        ...

    async def reach(self, code: str) -> int | None:
        """The doctor's chat, unsealed in memory, while the case is open."""
        ...

    async def pseudonym(self, code: str) -> str | None: ...
    async def queued(self) -> list[CaseView]: ...
    async def all_open(self) -> list[CaseView]:
        """Every case queued, offered or active: for the coordinators' queue view."""
        ...

    async def active_for(self, counsellor_id: int) -> list[CaseView]: ...
    async def mark_urgent(self, code: str) -> None: ...
    async def set_reader_language(self, code: str, language: str) -> None: ...
    async def accept(self, offer: OfferView, now: datetime) -> bool:
        """The offer accepted and the case active for its counsellor, who now writes to it (their
        focus case), atomically; False when the offer or the case had moved on."""
        ...

    async def escalate(self, code: str, now: datetime) -> bool:
        """True the first time a case is escalated (coordinators are alerted once)."""
        ...

    async def relayed(self, code: str, now: datetime) -> None:
        """A message went through: the case is not silent."""
        ...

    async def prompted_silent(self, code: str) -> None: ...
    async def withdraw(self, code: str, now: datetime) -> None:
        """Ended at the doctor's wish before anyone accepted: the sealed chat goes at once."""
        ...

    async def close(self, code: str, by: Actor, now: datetime) -> None:
        """Ended: the sealed chat and details, the link to the doctor and the counsellor, its timers,
        offers and relay links go; the code, status and day stay."""
        ...

    async def forget(self, pseudonym: str, reach: int) -> None:
        """Everything linkable to this pseudonym goes at once: draft, cases, their timers, offers and
        relay links, and the messages still owed to ``reach`` (the chat the doctor wrote from)."""
        ...

    async def take_feedback(self, code: str) -> bool:
        """True the first time feedback is given for a closed case."""
        ...

    async def keep_for_followup(self, code: str, reach: int, pseudonym: str) -> None:
        """Keep the chat sealed until the follow-up; linked to the doctor again so /forget finds it."""
        ...

    async def followup_reach(self, code: str) -> int | None: ...
    async def drop_followup(self, code: str) -> None: ...
    async def remember_copy(self, counsellor_id: int, message_id: int, code: str) -> None:
        """A relayed copy in a counsellor's chat belongs to this case (so a reply to it goes there)."""
        ...

    async def of_copy(self, counsellor_id: int, message_id: int) -> str | None: ...


class Offers(Protocol):
    async def create(self, code: str, counsellor_id: int, now: datetime, deadline: datetime) -> OfferView:
        """Ask one counsellor: the case is offered, their last offer is now."""
        ...

    async def get(self, offer_id: int) -> OfferView | None: ...
    async def pending_for(self, code: str) -> OfferView | None: ...
    async def declined_by(self, code: str) -> set[int]: ...
    async def decline(self, offer: OfferView) -> bool:
        """Pending -> declined and the case back in the queue; False when no longer pending."""
        ...

    async def expire(self, offer: OfferView) -> bool:
        """Pending -> expired (nobody answered) and the case back in the queue; False when no longer pending."""
        ...

    async def withdraw(self, offer: OfferView) -> bool: ...
    async def shown(self, offer_id: int, message_id: int) -> None:
        """The offer card's message id, so it can be edited when the offer ends."""
        ...


class Roster(Protocol):
    async def counsellors(self) -> list[CounsellorView]:
        """Every active counsellor with their load."""
        ...

    async def counsellor(self, counsellor_id: int) -> CounsellorView | None: ...
    async def by_telegram(self, telegram_id: int) -> CounsellorView | None: ...
    async def coordinators(self) -> list[int]: ...
    async def is_coordinator(self, telegram_id: int) -> bool: ...
    async def coordinator_languages(self) -> dict[int, str | None]:
        """Every coordinator's Telegram id, with the language they chose (None: not chosen)."""
        ...

    async def set_language(self, telegram_id: int, language: str) -> None:
        """The language the bot writes to this staff member in, as counsellor and as coordinator."""
        ...

    async def redeem_invite(self, code_hash: str, now: datetime) -> StaffRole | None:
        """The role a valid, unexpired invite grants; the invite is used up."""
        ...

    async def add_coordinator(self, telegram_id: int) -> None: ...
    async def start_enrolment(self, telegram_id: int, pseudonym: str) -> CounsellorView: ...
    async def save_enrolment(
        self, counsellor_id: int, step: str, county: str, languages: list[str], pathways: list[str], alias: str
    ) -> None: ...
    async def alias_taken(self, alias: str, counsellor_id: int) -> bool: ...
    async def set_available(self, counsellor_id: int) -> None: ...
    async def set_away(self, counsellor_id: int, until: datetime | None) -> None:
        """Away until ``until`` (None: until they say /available)."""
        ...

    async def focus(self, counsellor_id: int, code: str | None) -> None:
        """The case a counsellor's next messages go to."""
        ...


class Timers(Protocol):
    async def set(self, kind: str, subject: str, due_at: datetime) -> None:
        """Arm (or re-arm, with a clean slate) one timer."""
        ...

    async def clear(self, kind: str, subject: str) -> None: ...
    async def clear_all(self, subject: str) -> None: ...
    async def next_due(self, now: datetime) -> Due | None:
        """The earliest due timer that is not parked, removed from the store (locked against other workers)."""
        ...

    async def failed(self, due: Due, now: datetime) -> bool:
        """Move a failed timer later (backoff), or park it after repeated failures; True if parked."""
        ...

    async def parked(self) -> list[Due]: ...


class Events(Protocol):
    async def record(self, event: Event, now: datetime) -> None:
        """One anonymous event, counted in its day (storage keeps no row of its own for it)."""
        ...


class Statistics(Protocol):
    async def published(
        self, period: Period, min_cell: int, since: date, until: date, counties: Sequence[str]
    ) -> list[Published]:
        """The anonymous statistics, small numbers suppressed (flows.disclosure)."""
        ...


class Tx(Protocol):
    """One unit of work: everything done through it commits together, or not at all."""

    @property
    def drafts(self) -> Drafts: ...
    @property
    def cases(self) -> Cases: ...
    @property
    def offers(self) -> Offers: ...
    @property
    def roster(self) -> Roster: ...
    @property
    def timers(self) -> Timers: ...
    @property
    def events(self) -> Events: ...
    @property
    def statistics(self) -> Statistics: ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A unit of work: the one already open in this task, or a new one."""
        ...

    def update(self, update_id: int, now: datetime) -> AbstractAsyncContextManager[Tx | None]:
        """The unit of work of one inbound update, claimed by its id: None when it was handled already."""
        ...


class Channel(Protocol):
    """How the flows' answers reach people: the adapter (Telegram, the terminal, a test)."""

    async def deliver(self, event: Incoming | None, result: Result) -> None:
        """Owe everything ``result`` says, inside the unit of work open now (the outbox): it is
        sent once that unit commits. ``event`` is what it answers (None for a timer)."""
        ...

    async def send_contact(self, to: int, phone: str, header: Text, language: str) -> int | None:
        """Send a shared phone number now, bare, with a header: its message id, or None if it did not go.

        The one thing sent during a unit of work instead of after it, because the number is
        never written anywhere, the outbox included.
        """
        ...
