"""Bring everything sealed or keyed to the current key, in one transaction (``kollega keys rotate``).

After a rotation the keyring's current key is new and the old one is retired (it only
opens what it sealed). :func:`rekey` then, in the caller's transaction:

- re-seals every sealed value (drafts, cases, outbox) under the current key;
- recomputes every pseudonym under the current key: a doctor's from the chat id sealed
  with their draft or case (in a private chat the chat id is the user id), a
  counsellor's from their Telegram id; timers follow their draft's pseudonym, and each
  outbox row's lane follows its chat;
- re-tags the statistics cells kept only as a tag (county and role) under the current key;
- voids unused invite codes (only a keyed hash of each is kept, so none can be re-keyed).

:func:`under_retired` counts what is still sealed under a retired key: ``kollega run``
refuses to start while anything is (a rotation that did not finish), and the rotation
drops the retired key from the config once nothing is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CaseRow, CounsellorRow, DraftRow, EventCountRow, InviteRow, OutboxRow, TimerRow
from storage.outbox import lane_of
from storage.sealing import Keyring
from storage.statistics import TAGGED, Tags, tag_of

SEALED_COLUMNS = (
    (DraftRow, ("sealed_answers", "sealed_reach")),
    (CaseRow, ("sealed_details", "sealed_reach")),
    (OutboxRow, ("sealed_to", "sealed_from", "sealed_notify")),
)


@dataclass(frozen=True)
class Rekeyed:
    """What one re-keying changed (counts only)."""

    drafts: int
    cases: int
    counsellors: int
    outbox: int
    statistics_cells: int
    invites_voided: int
    dropped: int
    """Drafts and ended cases that held no chat to re-key their pseudonym from: deleted."""


async def under_retired(session: AsyncSession, keyring: Keyring) -> int:
    """How many sealed values are not sealed under the current key."""
    current = keyring.current.id
    count = 0
    for model, columns in SEALED_COLUMNS:
        for row in (await session.execute(select(*(getattr(model, c) for c in columns)))).all():
            count += sum(1 for value in row if value is not None and keyring.sealed_under(value) != current)
    return count


async def rekey(session: AsyncSession, keyring: Keyring, counties: Sequence[str]) -> Rekeyed:
    """Everything to ``keyring.current``, reading with whichever key sealed it."""
    renamed: dict[str, str] = {}
    dropped = 0
    kept_drafts = 0

    drafts = (await session.scalars(select(DraftRow))).all()
    for draft in drafts:
        old = draft.pseudonym
        if draft.sealed_reach is None:
            await session.delete(draft)
            dropped += 1
            continue
        reach = keyring.unseal(draft.sealed_reach, old)
        answers = keyring.unseal_bytes(draft.sealed_answers, f"draft:{old}")
        new = keyring.pseudonym(reach)
        renamed[old] = new
        kept_drafts += 1
        await session.execute(
            update(DraftRow)
            .execution_options(synchronize_session=False)
            .where(DraftRow.pseudonym == old)
            .values(
                pseudonym=new,
                sealed_answers=keyring.seal_bytes(answers, f"draft:{new}"),
                sealed_reach=keyring.seal(reach, new),
            )
        )

    cases = (await session.scalars(select(CaseRow))).all()
    for case in cases:
        values: dict[str, Any] = {}
        if case.sealed_details is not None:
            details_bound = f"case:{case.code}"
            values["sealed_details"] = keyring.seal_bytes(keyring.unseal_bytes(case.sealed_details, details_bound), details_bound)
        if case.sealed_reach is not None:
            # An open case's chat is bound to the doctor's pseudonym, a follow-up's to its code.
            bound: str | None = case.code if case.followup and case.closed_on is not None else case.pseudonym
            if bound is None:
                values["sealed_reach"] = None
            else:
                reach = keyring.unseal(case.sealed_reach, bound)
                pseudonym = keyring.pseudonym(reach)
                if case.pseudonym is not None:
                    renamed[case.pseudonym] = pseudonym
                    values["pseudonym"] = pseudonym
                values["sealed_reach"] = keyring.seal(reach, case.code if bound == case.code else pseudonym)
        elif case.pseudonym is not None:
            values["pseudonym"] = None  # nothing to re-key it from: the link goes
            dropped += 1
        if values:
            await session.execute(
                update(CaseRow).execution_options(synchronize_session=False).where(CaseRow.code == case.code).values(**values)
            )

    for old, new in renamed.items():
        await session.execute(
            update(TimerRow).execution_options(synchronize_session=False).where(TimerRow.subject == old).values(subject=new)
        )

    counsellors = (await session.scalars(select(CounsellorRow))).all()
    for counsellor in counsellors:
        counsellor.pseudonym = keyring.pseudonym(counsellor.telegram_id)

    outbox = (await session.scalars(select(OutboxRow))).all()
    for row in outbox:
        to = keyring.unseal(row.sealed_to, "outbox:to")
        row.sealed_to = keyring.seal(to, "outbox:to")
        row.lane = lane_of(keyring, to)
        if row.sealed_from is not None:
            row.sealed_from = keyring.seal(keyring.unseal(row.sealed_from, "outbox:from"), "outbox:from")
        if row.sealed_notify is not None:
            row.sealed_notify = keyring.seal(keyring.unseal(row.sealed_notify, "outbox:notify"), "outbox:notify")

    cells = await _retag(session, keyring, counties)
    voided = len((await session.scalars(select(InviteRow.code_hash))).all())
    await session.execute(delete(InviteRow))
    await session.flush()
    return Rekeyed(
        drafts=kept_drafts,
        cases=len(cases),
        counsellors=len(counsellors),
        outbox=len(outbox),
        statistics_cells=cells,
        invites_voided=voided,
        dropped=dropped,
    )


async def _retag(session: AsyncSession, keyring: Keyring, counties: Sequence[str]) -> int:
    """Read every tagged cell with the key that made it, and tag it again with the current one."""
    readers = [Tags(_Retired(key), counties) for key in (*keyring.retired, keyring.current)]
    tagged = (await session.scalars(select(EventCountRow).where(EventCountRow.cell.like("t:%")))).all()
    moved: Counter[tuple[Any, str, str, str]] = Counter()
    for row in tagged:
        values = next((found for reader in readers if (found := reader.decode(row.day, row.cell, None)) is not None), None)
        if values is None:
            values = ("unknown",) * len(TAGGED)  # no key reads it: kept, counted as unknown
        moved[(row.day, row.kind, row.family, tag_of(keyring, row.day, values))] += row.count
        await session.delete(row)
    await session.flush()
    for (day, kind, family, cell), count in moved.items():
        session.add(EventCountRow(day=day, kind=kind, family=family, cell=cell, count=count))
    return len(tagged)


class _Retired:
    """A key's statistics tags, as a ``storage.statistics.Tagger``."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def statistics_tag(self, text: str) -> str:
        return Keyring.tag_with(self.key, text)
