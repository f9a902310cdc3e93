"""Retention: what a daily purge leaves behind, and that nothing linkable to a doctor stays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flows.events import Event, EventKind
from storage.db import sessionmaker
from storage.models import CaseRow, CounsellorRow, DraftRow, EventCountRow, OfferRow, RelayRow, TimerRow
from storage.repositories import SqlEvents, _sealed_json, case_view
from storage.retention import PurgeReport, RetentionPolicy, events_cutoff, purge
from storage.sealing import Keyring
from tests.test_stats_storage import DIALECTS, fresh_engine

NOW = datetime(2026, 11, 23, 3, 0)
POLICY = RetentionPolicy(retention_months=24, draft_lifetime=timedelta(hours=72), followup=timedelta(weeks=4))
KEYRING = Keyring("Zq3v-9XkP2mT7wYc_L5rN8bJ4hF6dS1aE0uGxQ")


@pytest.fixture(params=DIALECTS)
async def sessions(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = await fresh_engine(request.param, database_url)
    yield sessionmaker(engine)
    await engine.dispose()


def case(code: str, status: str, closed_days_ago: float | None, followup: bool = False) -> CaseRow:
    """A case row as storage leaves it: an ended one keeps only its day and its reading language."""
    closed = None if closed_days_ago is None else NOW - timedelta(days=closed_days_ago)
    details: dict[str, Any] = {"reader_language": "nb"}
    if closed is None:
        details |= {
            "seeker": "self", "pathway": "advice", "urgent": False, "support": ["emotional"], "barriers": [],
            "role": "locum", "county": "oslo", "outside_county": False, "contact": "chat", "language": "nb",
            "opened_at": NOW - timedelta(days=90), "accepted_at": None,
        }  # fmt: skip
    return CaseRow(
        code=code, pseudonym=f"pseudonym-of-{code}", status=status, sealed_details=_sealed_json(KEYRING, details, f"case:{code}"),
        sealed_reach=b"sealed-" + code.encode(), closed_on=None if closed is None else closed.date(), followup=followup,
    )  # fmt: skip


async def record(session: AsyncSession, event: Event, at: datetime) -> None:
    await SqlEvents(session, KEYRING).record(event, at)


async def run(sessions: async_sessionmaker[AsyncSession], policy: RetentionPolicy = POLICY) -> PurgeReport:
    async with sessions.begin() as session:
        return await purge(session, NOW, policy)


async def rows(sessions: async_sessionmaker[AsyncSession], model: Any) -> list[Any]:
    async with sessions() as session:
        return list((await session.scalars(select(model))).all())


async def test_events_older_than_the_retention_months_go_and_the_oldest_month_kept_is_whole(sessions) -> None:
    async with sessions.begin() as session:
        for hour in (datetime(2024, 10, 31, 23), datetime(2024, 11, 1, 0), datetime(2026, 11, 23, 2)):
            await record(session, Event(EventKind.TRIAGE_STARTED), hour)  # one counter row each

    report = await run(sessions)

    assert report.events == 1
    assert report.events_before == date(2024, 11, 1)
    assert sorted(e.day for e in await rows(sessions, EventCountRow)) == [date(2024, 11, 1), date(2026, 11, 23)]


def test_the_event_cutoff_counts_back_whole_months_across_years() -> None:
    assert events_cutoff(datetime(2026, 1, 15), 1) == date(2025, 12, 1)
    assert events_cutoff(datetime(2026, 11, 23), 24) == date(2024, 11, 1)
    assert events_cutoff(datetime(2026, 3, 31), 14) == date(2025, 1, 1)


async def test_silent_drafts_go_with_their_timers_and_active_ones_stay(sessions) -> None:
    async with sessions.begin() as session:
        session.add(DraftRow(pseudonym="silent", sealed_answers=b"a", sealed_reach=b"x", updated_at=NOW - timedelta(hours=73)))
        session.add(DraftRow(pseudonym="typing", sealed_answers=b"b", sealed_reach=b"y", updated_at=NOW - timedelta(hours=2)))
        session.add(TimerRow(kind="draft_expire", subject="silent", due_at=NOW - timedelta(hours=1)))
        session.add(TimerRow(kind="draft_remind", subject="typing", due_at=NOW + timedelta(hours=20)))

    report = await run(sessions)

    assert (report.drafts, report.timers) == (1, 1)
    assert [d.pseudonym for d in await rows(sessions, DraftRow)] == ["typing"]
    assert [t.subject for t in await rows(sessions, TimerRow)] == ["typing"]


async def test_ended_cases_lose_contact_data_unless_a_follow_up_is_still_due(sessions) -> None:
    async with sessions.begin() as session:
        session.add_all(
            [
                case("K-OPEN01", "active", None),
                case("K-CLOSED", "closed", 1),
                case("K-CANCEL", "cancelled", 0.5),
                case("K-FOLLOW", "closed", 3, followup=True),
                case("K-FOLDUE", "closed", 40, followup=True),  # check-in done, timer gone
            ]
        )
        session.add(TimerRow(kind="followup", subject="K-FOLLOW", due_at=NOW + timedelta(weeks=3)))

    report = await run(sessions)

    assert report.cases_cleared == 3
    left = {c.code: c for c in await rows(sessions, CaseRow)}
    assert left["K-OPEN01"].sealed_reach is not None and left["K-OPEN01"].pseudonym, "open cases are untouched"
    assert left["K-FOLLOW"].sealed_reach is not None, "the follow-up still needs to reach the doctor"
    for code in ("K-CLOSED", "K-CANCEL", "K-FOLDUE"):
        assert (left[code].sealed_reach, left[code].pseudonym) == (None, None), code
    kept = case_view(KEYRING, left["K-CLOSED"])
    assert (kept.status, kept.reader_language) == ("closed", "nb"), "the case itself stays for the follow-up period"
    assert left["K-CLOSED"].closed_on == (NOW - timedelta(days=1)).date()


async def test_old_ended_cases_go_entirely_with_offers_relay_links_and_timers(sessions) -> None:
    async with sessions.begin() as session:
        session.add(CounsellorRow(id=1, alias="Anne", telegram_id=1001, pseudonym="c-1", home_county="oslo",
                                  serves=["oslo"], languages=["nb"], pathways=["advice"]))  # fmt: skip
        session.add_all([case("K-OLD001", "closed", 4 * 7 + 31), case("K-RECENT", "closed", 4 * 7 + 29)])
        await session.flush()
        for code in ("K-OLD001", "K-RECENT"):
            session.add(OfferRow(case_code=code, counsellor_id=1, status="accepted", offered_at=NOW, deadline=NOW))
            session.add(RelayRow(counsellor_id=1, message_id=77, case_code=code))
            session.add(TimerRow(kind="followup", subject=code, due_at=NOW))

    report = await run(sessions)

    assert report.cases == 1
    assert [c.code for c in await rows(sessions, CaseRow)] == ["K-RECENT"]
    assert {o.case_code for o in await rows(sessions, OfferRow)} == {"K-RECENT"}
    assert {r.case_code for r in await rows(sessions, RelayRow)} == {"K-RECENT"}
    assert {t.subject for t in await rows(sessions, TimerRow)} == {"K-RECENT"}


async def test_after_a_purge_nothing_ended_or_expired_can_be_linked_to_a_doctor(sessions) -> None:
    async with sessions.begin() as session:
        session.add_all([case("K-A00001", "closed", 2), case("K-B00002", "cancelled", 200), case("K-C00003", "queued", None)])
        session.add(DraftRow(pseudonym="gone", sealed_answers=b"sealed", sealed_reach=b"z", updated_at=NOW - timedelta(days=9)))
        await record(session, Event(EventKind.CASE_OPENED, pathway="advice", county="finnmark"), datetime(2023, 5, 1, 10))

    await run(sessions)

    async with sessions() as session:
        linkable = await session.scalar(
            select(func.count())
            .select_from(CaseRow)
            .where(CaseRow.status.in_(("closed", "cancelled")), CaseRow.pseudonym.is_not(None))
        )
        sealed = await session.scalar(select(func.count()).select_from(CaseRow).where(CaseRow.sealed_reach.is_not(None)))
        drafts = await session.scalar(select(func.count()).select_from(DraftRow))
        events = await session.scalar(select(func.count()).select_from(EventCountRow))
    assert (linkable, sealed, drafts, events) == (0, 1, 0, 0), "only the open case keeps its sealed contact"


async def test_purging_twice_finds_nothing_the_second_time(sessions) -> None:
    async with sessions.begin() as session:
        session.add(case("K-TWICE1", "closed", 100))
        await record(session, Event(EventKind.FEEDBACK, score=5), datetime(2020, 1, 1))  # one counter row
    first = await run(sessions)
    second = await run(sessions)
    assert (first.events, first.cases) == (1, 1)
    assert (second.events, second.drafts, second.cases_cleared, second.cases, second.timers) == (0, 0, 0, 0, 0)
