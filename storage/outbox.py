"""The outbox: every message the bot owes someone, as rows written in the deciding transaction.

A flow decides, in one transaction, what changes and what is to be said; the saying is
a row here, committed with the change. A sender delivers the rows after the commit and
deletes each once Telegram accepted it, so a crash between deciding and sending loses
nothing: the row is still there when the process comes back.

What a row holds is never what anyone typed. Bot texts are rendered from the catalogues;
a relayed message is named by its source chat (sealed) and message id and delivered with
copyMessage. Every chat id is sealed under the service key (the column name is the
associated data, so a sealed value moved to another column does not open); ``lane`` is
an HMAC of the recipient, so one chat's messages keep their order without naming the chat.

These are query functions in the style of the rest of ``storage``: they take the session
first and never end the caller's unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxRow
from storage.sealing import Keyring

LEASE = timedelta(seconds=30)
"""How long a sender holds rows it is delivering; it renews the lease while it still holds them."""


class Method(StrEnum):
    """How an outbox row is delivered."""

    SEND = "send"
    """sendMessage with rendered text and buttons."""
    EDIT = "edit"
    """editMessageText of an earlier bot message; ``fallback`` sends it anew if that fails."""
    COPY = "copy"
    """copyMessage of a message someone wrote (a relay), with a button naming its case."""
    DOCUMENT = "document"
    PHOTO = "photo"
    LEAVE = "leave"
    """Say why the bot cannot stay in a group, then leave it."""


@dataclass
class Outgoing:
    """One message to deliver, as the sender holds it in memory (chat ids in the clear)."""

    to: int
    method: Method
    payload: dict[str, Any] = field(default_factory=dict)
    content: bytes | None = None
    copy_from: int | None = None
    notify: int | None = None
    """Who is told (``payload["notice"]``) when this cannot be delivered: a relay's sender."""
    track: str = ""
    """Report the delivered message's id to the flows (``offer:<id>``, ``relay:<code>:<id>``)."""
    id: int = 0
    lane: str = ""
    attempts: int = 0


def lane_of(keyring: Keyring, chat: int) -> str:
    return keyring.tag(f"outbox-lane:{chat}")[:32]


def to_row(keyring: Keyring, message: Outgoing, now: datetime) -> OutboxRow:
    """The row for a message about to be handed to this process's sender (leased to it)."""
    message.lane = lane_of(keyring, message.to)
    return OutboxRow(
        lane=message.lane,
        sealed_to=keyring.seal(message.to, "outbox:to"),
        method=str(message.method),
        payload=message.payload,
        content=message.content,
        sealed_from=None if message.copy_from is None else keyring.seal(message.copy_from, "outbox:from"),
        sealed_notify=None if message.notify is None else keyring.seal(message.notify, "outbox:notify"),
        track=message.track or None,
        attempts=0,
        due_at=now,
        leased_until=now + LEASE,
    )


def from_row(keyring: Keyring, row: OutboxRow) -> Outgoing:
    return Outgoing(
        to=keyring.unseal(row.sealed_to, "outbox:to"),
        method=Method(row.method),
        payload=dict(row.payload),
        content=row.content,
        copy_from=None if row.sealed_from is None else keyring.unseal(row.sealed_from, "outbox:from"),
        notify=None if row.sealed_notify is None else keyring.unseal(row.sealed_notify, "outbox:notify"),
        track=row.track or "",
        id=row.id,
        lane=row.lane,
        attempts=row.attempts,
    )


async def acknowledge(session: AsyncSession, ids: Sequence[int]) -> None:
    """Telegram accepted these (or refused them for good): they are owed no more."""
    if ids:
        await session.execute(delete(OutboxRow).where(OutboxRow.id.in_(list(ids))))


async def take_unleased(session: AsyncSession, now: datetime, held: Sequence[int], limit: int = 200) -> list[OutboxRow]:
    """Rows no live sender holds, oldest first, leased to the caller; ``held`` ones get a new lease.

    Whole lanes only: a chat with a row that someone else holds is left alone, so the
    caller never overtakes a message to the same chat.
    """
    if held:
        await session.execute(update(OutboxRow).where(OutboxRow.id.in_(list(held))).values(leased_until=now + LEASE))
    # A chat is busy while a live sender holds one of its rows, or while one is set aside
    # (waiting out a run of failures): its later messages wait behind it.
    busy_lanes = select(OutboxRow.lane).where(or_(OutboxRow.leased_until >= now, OutboxRow.due_at > now))
    query = (
        select(OutboxRow)
        .where(or_(OutboxRow.leased_until.is_(None), OutboxRow.leased_until < now), OutboxRow.lane.not_in(busy_lanes))
        .order_by(OutboxRow.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list((await session.scalars(query)).all())
    if rows:
        await session.execute(update(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows])).values(leased_until=now + LEASE))
    return rows


async def set_aside(session: AsyncSession, row_id: int, attempts: int, due_at: datetime) -> None:
    """A run of tries failed: the row waits until ``due_at``, free for any sender to take then."""
    await session.execute(
        update(OutboxRow).where(OutboxRow.id == row_id).values(attempts=attempts, due_at=due_at, leased_until=None)
    )


async def release(session: AsyncSession, ids: Sequence[int]) -> None:
    """Hand rows back: no sender holds them any more."""
    if ids:
        await session.execute(update(OutboxRow).where(OutboxRow.id.in_(list(ids))).values(leased_until=None))


async def release_all(session: AsyncSession) -> int:
    """Free every lease: for a start-up on SQLite, where no other sender can be alive."""
    result = await session.execute(update(OutboxRow).where(OutboxRow.leased_until.is_not(None)).values(leased_until=None))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def pending(session: AsyncSession) -> int:
    """How many messages are still owed (for /queue and the tests)."""
    return int(await session.scalar(select(func.count()).select_from(OutboxRow)) or 0)
