"""Roster queries: counsellors, coordinators and one-time invites.

Counsellors' and coordinators' Telegram ids live here because the bot must
reach them; anonymous events name counsellors only by ``pseudonym``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CoordinatorRow, CounsellorRow, InviteRow

INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class RosterError(Exception):
    """A roster change that cannot be made, with a sentence saying why."""


@dataclass(frozen=True)
class CounsellorEntry:
    alias: str
    telegram_id: int
    home_county: str
    serves: list[str]
    languages: list[str]
    pathways: list[str]
    capacity: int
    available: bool
    active: bool


def new_invite_code() -> str:
    raw = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


async def add_counsellor(
    session: AsyncSession,
    *,
    telegram_id: int,
    alias: str,
    pseudonym: str,
    county: str,
    serves: list[str],
    pathways: list[str],
    languages: list[str],
    capacity: int,
) -> None:
    taken = await session.scalar(
        select(CounsellorRow).where((CounsellorRow.alias == alias) | (CounsellorRow.telegram_id == telegram_id))
    )
    if taken is not None and taken.alias == alias:
        raise RosterError(f"the alias {alias!r} is already on the roster")
    if taken is not None:
        # The same person again: update them (and reactivate) rather than fail.
        taken.alias, taken.home_county, taken.serves = alias, county, serves
        taken.pathways, taken.languages, taken.capacity = pathways, languages, capacity
        taken.active, taken.enrolling = True, None
        return
    session.add(
        CounsellorRow(
            alias=alias,
            telegram_id=telegram_id,
            pseudonym=pseudonym,
            home_county=county,
            serves=serves,
            languages=languages,
            pathways=pathways,
            capacity=capacity,
            available=True,
            active=True,
        )
    )


async def list_counsellors(session: AsyncSession) -> list[CounsellorEntry]:
    rows = (await session.scalars(select(CounsellorRow).order_by(CounsellorRow.alias))).all()
    return [
        CounsellorEntry(r.alias, r.telegram_id, r.home_county, list(r.serves), list(r.languages), list(r.pathways),
                        r.capacity, r.available, r.active)
        for r in rows
    ]  # fmt: skip


async def deactivate_counsellor(session: AsyncSession, alias: str) -> None:
    result = await session.execute(update(CounsellorRow).where(CounsellorRow.alias == alias).values(active=False))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise RosterError(f"no counsellor with the alias {alias!r}")


async def add_coordinator(session: AsyncSession, telegram_id: int) -> None:
    if await session.scalar(select(CoordinatorRow).where(CoordinatorRow.telegram_id == telegram_id)) is None:
        try:
            # A savepoint: a clash undoes this insert only, never the caller's unit of work.
            async with session.begin_nested():
                session.add(CoordinatorRow(telegram_id=telegram_id))
        except IntegrityError:  # added at the same moment by another process
            pass


async def list_coordinators(session: AsyncSession) -> list[int]:
    return list((await session.scalars(select(CoordinatorRow.telegram_id).order_by(CoordinatorRow.id))).all())


async def create_invite(session: AsyncSession, role: str, code_hash: str, expires_at: datetime) -> None:
    session.add(InviteRow(code_hash=code_hash, role=role, expires_at=expires_at))


async def redeem_invite(session: AsyncSession, code_hash: str, now: datetime) -> str | None:
    invite = await session.get(InviteRow, code_hash)
    if invite is None:
        return None
    await session.execute(delete(InviteRow).where(InviteRow.code_hash == code_hash))
    return invite.role if invite.expires_at > now else None
