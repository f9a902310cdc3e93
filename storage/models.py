"""The schema. Nothing here may hold a doctor's identity or words.

- Doctors appear only as an HMAC ``pseudonym`` (drafts, open cases) and a
  random case ``code``. The chat id needed to reach them is ``sealed_reach``
  (AES-GCM, key outside the database), destroyed when the case closes.
- Counsellors and coordinators are on a roster with their Telegram id (the
  bot must reach them); events name counsellors by pseudonym only.
- Statistics are counts per day (``EventCountRow``), never one row per event.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON, datetime: DateTime()}


class DraftRow(Base):
    """A triage in progress, keyed by the doctor's pseudonym.

    The answers are sealed (bound to the pseudonym), and so is the chat, once; the time is
    the hour of the last step, for the purge.
    """

    __tablename__ = "drafts"

    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed_answers: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_reach: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


class CaseRow(Base):
    """A confirmed request for a counsellor.

    In the clear only what the database must select by: the random code, the doctor's
    pseudonym (while linked), the status and the counsellor. What the doctor answered, the
    language and the exact times are ``sealed_details`` (bound to the code); the chat is
    ``sealed_reach``. Both go when the case ends, but for a follow-up's chat and language;
    an ended case keeps only the day it ended, for the purge.
    """

    __tablename__ = "cases"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    pseudonym: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"), index=True)
    sealed_details: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_reach: Mapped[bytes | None] = mapped_column(LargeBinary)
    closed_on: Mapped[date | None] = mapped_column(Date)
    escalated: Mapped[bool] = mapped_column(default=False)
    silent_prompted: Mapped[bool] = mapped_column(default=False)
    feedback_given: Mapped[bool] = mapped_column(default=False)
    followup: Mapped[bool] = mapped_column(default=False)
    offered: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Offered at least once: the doctor has been told it went to a peer supporter."""
    """The doctor opted into a check-in; the sealed chat id is kept until then."""


class CounsellorRow(Base):
    __tablename__ = "counsellors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), unique=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    pseudonym: Mapped[str] = mapped_column(String(64))
    home_county: Mapped[str] = mapped_column(String(32))
    serves: Mapped[list[str]]
    languages: Mapped[list[str]]
    pathways: Mapped[list[str]]
    capacity: Mapped[int] = mapped_column(default=2)
    available: Mapped[bool] = mapped_column(default=True)
    away_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    last_offer_turn: Mapped[int | None]
    """Which offer, counted over the whole roster, was this counsellor's latest: the next goes to
    whoever waited longest, without keeping when."""
    focus_case: Mapped[str | None] = mapped_column(String(16))
    reader_language: Mapped[str | None] = mapped_column(String(8))
    """The language the bot writes to them in, once they chose one (/language)."""
    """The case a counsellor's plain messages go to (set by /case CODE or on accepting)."""
    enrolling: Mapped[str | None] = mapped_column(String(16))
    """The enrolment step of a counsellor who joined by invite and is not done yet."""


class CoordinatorRow(Base):
    __tablename__ = "coordinators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    reader_language: Mapped[str | None] = mapped_column(String(8))
    """The language the bot writes to them in, once they chose one (/language)."""


class InviteRow(Base):
    """A one-time enrolment code; only its hash is kept."""

    __tablename__ = "invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime]


class OfferRow(Base):
    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_code: Mapped[str] = mapped_column(ForeignKey("cases.code", ondelete="CASCADE"), index=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    offered_at: Mapped[datetime]
    deadline: Mapped[datetime]
    message_id: Mapped[int | None] = mapped_column(BigInteger)


class TimerRow(Base):
    """Something due later: reminders, expiries, offer deadlines, follow-ups.

    Timers live in the database so they survive a restart.
    """

    __tablename__ = "timers"
    __table_args__ = (UniqueConstraint("kind", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    """A pseudonym (drafts) or a case code (cases); never an identity."""
    due_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    """Failed runs so far: each failure moves ``due_at`` on (backoff), alone in its transaction."""
    parked: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Failed too often: no longer run, shown to coordinators in /queue."""


class OutboxRow(Base):
    """A message the bot owes someone, written in the transaction that decided to send it.

    Delivered after that commit and deleted once Telegram accepted it, so a crash loses
    none. Never what anyone typed: bot texts are rendered from the catalogues, and a
    relayed message is named by its source chat (sealed) and message id and delivered
    with copyMessage. Recipients are sealed; ``lane`` (an HMAC of the chat) keeps each
    chat's messages in order without naming the chat.
    """

    __tablename__ = "outbox"
    # Ids are never reused (SQLite would reuse a deleted row's id without AUTOINCREMENT): the
    # sender knows rows by id, and a delivered row's id must never come back as a new message.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lane: Mapped[str] = mapped_column(String(32), index=True)
    sealed_to: Mapped[bytes] = mapped_column(LargeBinary)
    method: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    """Rendered bot text, buttons and the message ids the method needs (never typed text)."""
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    """A document or picture for coordinators (anonymous statistics)."""
    sealed_from: Mapped[bytes | None] = mapped_column(LargeBinary)
    """For a relay: the chat the message is copied from."""
    sealed_notify: Mapped[bytes | None] = mapped_column(LargeBinary)
    """For a relay: who to tell when it cannot be delivered."""
    track: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(index=True)
    leased_until: Mapped[datetime | None]
    """A sender is delivering it until then; after that any sender may take it."""


class RelayRow(Base):
    """Which case a message in a counsellor's chat belongs to (for replies)."""

    __tablename__ = "relay_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"), index=True)
    message_id: Mapped[int] = mapped_column(BigInteger, index=True)
    case_code: Mapped[str] = mapped_column(ForeignKey("cases.code", ondelete="CASCADE"))


class ProcessedUpdateRow(Base):
    """Update ids whose effects are committed, so a redelivered update is handled once.

    The row is written in the update's own transaction: it exists exactly when that
    update's state changes, events and outbox rows do.
    """

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)


class EventCountRow(Base):
    """Anonymous statistics: how many events of one kind fell on one day in one cell
    (docs/design.md section 8, docs/threat-model.md).

    No row per event, so nothing orders one doctor's events or ties them together: a row
    is a count, keyed by day, kind and ``cell`` (the values of the few dimensions that
    statistic is split by, as text), and has no other identity (no rowid on SQLite).
    Durations are kept rounded up to a step of ``storage.statistics.DURATION_STEPS``.
    County and role are never stored: their counts are under ``cell`` as a tag, an HMAC
    of (month, role, county) under the statistics key, which only the export reads back.
    """

    __tablename__ = "event_counts"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    family: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Which of the kind's GROUP BYs this row counts in (its dimensions' names)."""
    cell: Mapped[str] = mapped_column(String(200), primary_key=True)
    pathway: Mapped[str | None] = mapped_column(String(24))
    seeker: Mapped[str | None] = mapped_column(String(16))
    urgent: Mapped[bool | None]
    contact: Mapped[str | None] = mapped_column(String(16))
    support_mask: Mapped[int | None]
    barrier_mask: Mapped[int | None]
    step: Mapped[str | None] = mapped_column(String(24))
    actor: Mapped[str | None] = mapped_column(String(16))
    duration_s: Mapped[int | None]
    """Rounded up to the next duration step: "accepted within 15 minutes"."""
    score: Mapped[int | None]
    count: Mapped[int]
