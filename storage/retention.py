"""Retention (docs/design.md section 9): delete what is no longer needed, daily.

- Anonymous events older than the retention period go. The cut is at the
  start of a calendar month, so the oldest month kept is always whole and
  monthly statistics never show a half-purged month.
- Drafts left silent past the reminder and the expiry go, with their timers:
  normally the expiry timer deletes them; this catches those it missed
  (the bot was down, a timer was lost).
- Ended cases keep no sealed contact data and no pseudonym, unless a
  follow-up check-in is still scheduled for them (the doctor opted in).
- Ended cases older than the follow-up period plus 30 days go entirely, with
  their offers, relayed-message links and timers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, exists, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CaseRow, DraftRow, EventCountRow, OfferRow, ProcessedUpdateRow, RelayRow, TimerRow
from storage.repositories import OPEN_STATUSES

UPDATE_MEMORY = timedelta(days=2)
"""Update ids are kept this long to spot a redelivery (Telegram retries within minutes)."""
CASE_GRACE = timedelta(days=30)
"""How long an ended case row stays after its follow-up period, for the coordinators' questions."""


@dataclass(frozen=True)
class RetentionPolicy:
    """The lifetimes purge needs, taken from the configuration."""

    retention_months: int
    draft_lifetime: timedelta
    """Reminder delay plus expiry delay: a draft silent this long is dead."""
    followup: timedelta


@dataclass(frozen=True)
class PurgeReport:
    """How many rows of each kind one purge removed or cleared (counts only)."""

    events_before: date
    events: int
    drafts: int
    cases_cleared: int
    """Ended cases whose sealed contact data and pseudonym were erased."""
    cases: int
    timers: int

    @property
    def erased(self) -> bool:
        """Whether anything naming a doctor went (so the disk is scrubbed after)."""
        return bool(self.drafts or self.cases_cleared or self.cases or self.timers)


def events_cutoff(now: datetime, retention_months: int) -> date:
    """First day of the month ``retention_months`` before ``now``'s month."""
    months = now.year * 12 + now.month - 1 - retention_months
    return date(months // 12, months % 12 + 1, 1)


async def _rows(session: AsyncSession, statement: Any) -> int:
    """Run a bulk DELETE/UPDATE (no ORM objects are loaded); how many rows it hit."""
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def purge(session: AsyncSession, now: datetime, policy: RetentionPolicy) -> PurgeReport:
    """Delete expired rows in the caller's transaction; return how many."""
    cutoff = events_cutoff(now, policy.retention_months)
    events = await _rows(session, delete(EventCountRow).where(EventCountRow.day < cutoff))

    silent = DraftRow.updated_at < now - policy.draft_lifetime
    timers = await _rows(session, delete(TimerRow).where(TimerRow.subject.in_(select(DraftRow.pseudonym).where(silent))))
    drafts = await _rows(session, delete(DraftRow).where(silent))

    ended = and_(CaseRow.status.not_in(OPEN_STATUSES), CaseRow.closed_on.is_not(None))
    followup_pending = and_(CaseRow.followup, exists().where(TimerRow.subject == CaseRow.code))
    linkable = or_(CaseRow.sealed_reach.is_not(None), CaseRow.pseudonym.is_not(None))
    cleared = await _rows(
        session, update(CaseRow).where(ended, linkable, not_(followup_pending)).values(sealed_reach=None, pseudonym=None)
    )

    old = and_(ended, CaseRow.closed_on < (now - policy.followup - CASE_GRACE).date())
    old_codes = select(CaseRow.code).where(old)
    timers += await _rows(session, delete(TimerRow).where(TimerRow.subject.in_(old_codes)))
    # The schema cascades these; deleting them here does not depend on the
    # dialect enforcing foreign keys.
    await _rows(session, delete(RelayRow).where(RelayRow.case_code.in_(old_codes)))
    await _rows(session, delete(OfferRow).where(OfferRow.case_code.in_(old_codes)))
    cases = await _rows(session, delete(CaseRow).where(old))
    await _rows(session, delete(ProcessedUpdateRow).where(ProcessedUpdateRow.at < now - UPDATE_MEMORY))
    return PurgeReport(events_before=cutoff, events=events, drafts=drafts, cases_cleared=cleared, cases=cases, timers=timers)
