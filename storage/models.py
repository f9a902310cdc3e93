"""The schema. Nothing here may hold a doctor's identity or words.

- Doctors appear only as an HMAC ``pseudonym`` (drafts, open cases) and a
  random case ``code``. The chat id needed to reach them is ``sealed_reach``
  (AES-GCM, key outside the database), destroyed when the case closes.
- Counsellors and coordinators are on a roster with their Telegram id (the
  bot must reach them); events name counsellors by pseudonym only.
- Events carry codes, hour-truncated times and durations as numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
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
    """A triage in progress, keyed by the doctor's pseudonym."""

    __tablename__ = "drafts"

    pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    answers: Mapped[dict[str, Any]]
    sealed_reach: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime]


class CaseRow(Base):
    """A confirmed request for a counsellor."""

    __tablename__ = "cases"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    pseudonym: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    seeker: Mapped[str] = mapped_column(String(16))
    pathway: Mapped[str] = mapped_column(String(24))
    urgent: Mapped[bool]
    support: Mapped[list[str]]
    barriers: Mapped[list[str]]
    role: Mapped[str] = mapped_column(String(16))
    county: Mapped[str] = mapped_column(String(32))
    outside_county: Mapped[bool]
    contact: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    reader_language: Mapped[str] = mapped_column(String(8))
    sealed_reach: Mapped[bytes | None] = mapped_column(LargeBinary)
    opened_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(16))
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"), index=True)
    last_activity_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    silent_prompted: Mapped[bool] = mapped_column(default=False)
    feedback_given: Mapped[bool] = mapped_column(default=False)
    followup: Mapped[bool] = mapped_column(default=False)
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
    last_offer_at: Mapped[datetime | None]
    focus_case: Mapped[str | None] = mapped_column(String(16))
    """The case a counsellor's plain messages go to (set by /case CODE or on accepting)."""
    enrolling: Mapped[str | None] = mapped_column(String(16))
    """The enrolment step of a counsellor who joined by invite and is not done yet."""


class CoordinatorRow(Base):
    __tablename__ = "coordinators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)


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


class EventRow(Base):
    """One anonymous event (docs/design.md section 8).

    ``hour`` is the event time truncated to the hour. Multi-select answers
    are bit masks in the order of ``flows.domain.Support`` / ``Barrier``.
    """

    __tablename__ = "events"
    # Statistics read one kind over a range of hours; purge reads by hour alone.
    __table_args__ = (Index("ix_events_kind_hour", "kind", "hour"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    hour: Mapped[datetime] = mapped_column(index=True)
    pathway: Mapped[str | None] = mapped_column(String(24))
    seeker: Mapped[str | None] = mapped_column(String(16))
    county: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[str | None] = mapped_column(String(16))
    urgent: Mapped[bool | None]
    contact: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    support_mask: Mapped[int | None]
    barrier_mask: Mapped[int | None]
    step: Mapped[str | None] = mapped_column(String(24))
    actor: Mapped[str | None] = mapped_column(String(16))
    counsellor: Mapped[str | None] = mapped_column(String(64))
    """The counsellor's pseudonym, never their alias or Telegram id."""
    duration_s: Mapped[int | None]
    score: Mapped[int | None]
