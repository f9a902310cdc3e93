"""Statistics from the event counts: what a coordinator's export counts, per week or month."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from flows.disclosure import COUNT, MEDIAN, P90, TOTAL, Cell
from flows.domain import Barrier, Support, mask
from flows.events import Event, EventKind
from flows.periods import Period
from storage.db import create_engine, sessionmaker, upgrade
from storage.repositories import SqlEvents
from storage.sealing import Keyring
from storage.statistics import MULTI_SELECT, collect, duration_step, published_statistics

POSTGRES_URL = os.environ.get("KOLLEGA_TEST_POSTGRES_URL", "")
"""Set (postgresql+asyncpg://...) to run these tests on PostgreSQL too; its public schema is wiped."""
DIALECTS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
KEYRING = Keyring("Zq3v-9XkP2mT7wYc_L5rN8bJ4hF6dS1aE0uGxQ")
"""The service's keys: county and role are counted only under a tag made with them."""


async def fresh_engine(dialect: str, sqlite_url: str) -> AsyncEngine:
    """A migrated, empty database of the given dialect."""
    if dialect == "sqlite":
        engine = create_engine(sqlite_url)
    else:
        engine = create_engine(POSTGRES_URL)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    return engine


@pytest.fixture(params=DIALECTS)
async def sessions(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = await fresh_engine(request.param, database_url)
    yield sessionmaker(engine)
    await engine.dispose()


async def add(sessions: async_sessionmaker[AsyncSession], *events: dict[str, Any]) -> None:
    """Record each event (its ``kind``, its time ``hour`` and its fields) as the service does."""
    async with sessions.begin() as session:
        recorder = SqlEvents(session, KEYRING)
        for event in events:
            fields = {k: v for k, v in event.items() if k not in ("kind", "hour")}
            await recorder.record(Event(EventKind(event["kind"]), **fields), event["hour"])


def opened(hour: datetime, **fields: Any) -> dict[str, Any]:
    """A case_opened event with ordinary answers, overridable per test."""
    base: dict[str, Any] = {
        "kind": "case_opened",
        "hour": hour,
        "pathway": "advice",
        "seeker": "self",
        "county": "oslo",
        "role": "locum",
        "urgent": False,
        "contact": "chat",
        "language": "nb",
        "support_mask": 0,
        "barrier_mask": 0,
    }
    return base | fields


def table(cells: list[Cell]) -> dict[tuple[str, str, str, str, str], int]:
    return {(c.period, c.measure, c.dimension, c.value, c.statistic): c.result for c in cells}


def nearest_rank(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1]


async def collected(sessions: async_sessionmaker[AsyncSession], period: Period, **kwargs: Any) -> list[Cell]:
    async with sessions() as session:
        return await collect(session, period, tagger=KEYRING, **kwargs)


NOV = datetime(2026, 11, 10, 14)


async def test_cases_opened_are_counted_per_month_by_pathway_county_role_and_answers(sessions) -> None:
    await add(
        sessions,
        *[opened(NOV, pathway="advice", county="oslo", role="locum") for _ in range(3)],
        opened(NOV, pathway="not_coping", county="finnmark", role="hospital", urgent=True, seeker="colleague"),
        opened(NOV, pathway="way_back_or_out", county="none", role="training", contact="phone"),
    )
    found = table(await collected(sessions, Period.MONTH, counties=["oslo", "finnmark", "agder"]))

    assert found[("2026-11", "case_opened", TOTAL, TOTAL, COUNT)] == 5
    assert found[("2026-11", "case_opened", "pathway", "advice", COUNT)] == 3
    assert found[("2026-11", "case_opened", "pathway", "not_coping", COUNT)] == 1
    assert found[("2026-11", "case_opened", "county", "finnmark", COUNT)] == 1
    assert found[("2026-11", "case_opened", "county", "none", COUNT)] == 1
    assert found[("2026-11", "case_opened", "county", "agder", COUNT)] == 0, "configured counties are listed as 0"
    assert found[("2026-11", "case_opened", "role", "hospital", COUNT)] == 1
    assert found[("2026-11", "case_opened", "urgent", "true", COUNT)] == 1
    assert found[("2026-11", "case_opened", "seeker", "colleague", COUNT)] == 1
    assert found[("2026-11", "case_opened", "contact", "phone", COUNT)] == 1


async def test_each_kind_of_support_and_barrier_chosen_counts_once_per_case(sessions) -> None:
    await add(
        sessions,
        opened(NOV, support_mask=mask({"emotional", "workload"}, Support), barrier_mask=mask({"workplace"}, Barrier)),
        opened(NOV, support_mask=mask({"emotional"}, Support), barrier_mask=mask({"workplace", "occupation"}, Barrier)),
        opened(NOV, support_mask=mask(set(), Support), barrier_mask=None),
    )
    found = table(await collected(sessions, Period.MONTH))

    support = {value: found[("2026-11", "case_opened", "support", value, COUNT)] for value in Support}
    barrier = {value: found[("2026-11", "case_opened", "barrier", value, COUNT)] for value in Barrier}
    assert support == {"emotional": 2, "advice": 0, "workload": 1, "mentorship": 0, "personal": 0}
    assert barrier == {"individual": 0, "relationships": 0, "workplace": 2, "occupation": 1}
    assert MULTI_SELECT == {"support", "barrier"}


async def test_additive_dimensions_sum_to_the_total_even_when_an_answer_is_missing(sessions) -> None:
    await add(sessions, opened(NOV), opened(NOV, pathway=None), opened(NOV, county=None))
    cells = await collected(sessions, Period.MONTH)
    found = table(cells)

    assert found[("2026-11", "case_opened", "pathway", "unknown", COUNT)] == 1
    for dimension in ("pathway", "county", "role", "seeker", "urgent", "contact"):
        parts = [c.result for c in cells if c.measure == "case_opened" and c.dimension == dimension]
        assert sum(parts) == 3, dimension


def test_durations_are_kept_rounded_up_to_a_step() -> None:
    assert [duration_step(s) for s in (0, 45, 60, 61, 90, 600, 2400, 86400)] == [60, 60, 60, 300, 300, 900, 3600, 86400]
    assert duration_step(10**9) == 52 * 7 * 86400, "anything longer is kept as the last step"


async def test_time_to_acceptance_and_case_length_are_nearest_rank_median_and_p90_of_the_steps(sessions) -> None:
    waits = [600, 60, 3600, 900, 120, 7200, 300, 1800, 2400, 45]
    lengths = [86400, 3600, 7200]
    steps = [duration_step(wait) for wait in waits]
    await add(
        sessions,
        *[
            {"kind": "case_accepted", "hour": NOV, "pathway": "advice", "urgent": i < 2, "duration_s": wait}
            for i, wait in enumerate(waits)
        ],
        *[{"kind": "case_closed", "hour": NOV, "actor": "doctor", "duration_s": length} for length in lengths],
        {"kind": "case_closed", "hour": NOV, "actor": "system", "duration_s": None},
    )
    found = table(await collected(sessions, Period.MONTH))

    # Upper bounds: "half were accepted within 15 minutes" (the exact median wait was 600 s).
    assert found[("2026-11", "case_accepted", TOTAL, TOTAL, MEDIAN)] == nearest_rank(steps, 0.5) == 900
    assert found[("2026-11", "case_accepted", TOTAL, TOTAL, P90)] == nearest_rank(steps, 0.9) == 3600
    assert found[("2026-11", "case_accepted", "urgent", "true", MEDIAN)] == 60
    assert found[("2026-11", "case_accepted", "urgent", "false", P90)] == nearest_rank(steps[2:], 0.9) == 7200
    assert found[("2026-11", "case_accepted", "pathway", "advice", MEDIAN)] == 900
    assert found[("2026-11", "case_closed", TOTAL, TOTAL, MEDIAN)] == 7200
    assert found[("2026-11", "case_closed", TOTAL, TOTAL, COUNT)] == 4, "a close without a length still counts"
    assert found[("2026-11", "case_closed", "actor", "system", COUNT)] == 1
    assert ("2026-11", "case_closed", "actor", "system", MEDIAN) not in found, "no durations, no median"


async def test_offers_escalations_feedback_safety_and_abandoned_steps_are_counted(sessions) -> None:
    await add(
        sessions,
        *[{"kind": "offer_declined", "hour": NOV} for _ in range(2)],
        {"kind": "offer_timed_out", "hour": NOV},
        {"kind": "case_escalated", "hour": NOV},
        {"kind": "safety_shown", "hour": NOV, "actor": "answer"},
        *[{"kind": "feedback", "hour": NOV, "score": score} for score in (5, 5, 4, 1)],
        *[{"kind": "step_abandoned", "hour": NOV, "step": step, "actor": "cancel"} for step in ("support", "support", "county")],
    )
    found = table(await collected(sessions, Period.MONTH))

    assert found[("2026-11", "offer_declined", TOTAL, TOTAL, COUNT)] == 2
    assert found[("2026-11", "offer_timed_out", TOTAL, TOTAL, COUNT)] == 1
    assert found[("2026-11", "case_escalated", TOTAL, TOTAL, COUNT)] == 1
    assert found[("2026-11", "safety_shown", TOTAL, TOTAL, COUNT)] == 1
    assert [found[("2026-11", "feedback", "score", s, COUNT)] for s in "12345"] == [1, 0, 0, 1, 2]
    assert found[("2026-11", "step_abandoned", "step", "support", COUNT)] == 2
    assert found[("2026-11", "step_abandoned", "step", "county", COUNT)] == 1


async def test_weeks_are_iso_weeks_and_months_are_calendar_months(sessions) -> None:
    await add(
        sessions,
        opened(datetime(2026, 11, 29, 23)),  # Sunday: last day of week 48
        opened(datetime(2026, 11, 30, 0)),  # Monday: week 49, still November
        opened(datetime(2027, 1, 1, 12)),  # Friday: ISO week 53 of 2026, month January 2027
    )
    weeks = table(await collected(sessions, Period.WEEK))
    months = table(await collected(sessions, Period.MONTH))

    def total(found: dict[Any, int], label: str) -> int:
        return found[(label, "case_opened", TOTAL, TOTAL, COUNT)]

    assert total(weeks, "2026-W48") == 1
    assert total(weeks, "2026-W49") == 1
    assert total(weeks, "2026-W53") == 1
    assert total(weeks, "2026-W50") == 0, "empty weeks between events are listed"
    assert total(months, "2026-11") == 2
    assert total(months, "2026-12") == 0
    assert total(months, "2027-01") == 1


async def test_since_and_until_count_whole_periods_only(sessions) -> None:
    await add(
        sessions,
        opened(datetime(2026, 10, 31, 23)),
        opened(datetime(2026, 11, 1, 0)),
        opened(datetime(2026, 11, 30, 23)),
        opened(datetime(2026, 12, 1, 0)),
    )
    cells = await collected(sessions, Period.MONTH, since=date(2026, 11, 15), until=date(2026, 11, 20))
    assert {c.period for c in cells} == {"2026-11"}
    assert table(cells)[("2026-11", "case_opened", TOTAL, TOTAL, COUNT)] == 2

    later = await collected(sessions, Period.MONTH, since=date(2026, 11, 2))
    assert {c.period for c in later} == {"2026-11", "2026-12"}

    earlier = await collected(sessions, Period.WEEK, until=date(2026, 10, 31))
    assert {c.period for c in earlier} == {"2026-W44"}, "Saturday 31 October widens to its whole week"
    assert table(earlier)[("2026-W44", "case_opened", TOTAL, TOTAL, COUNT)] == 2


async def test_an_empty_database_exports_no_periods_unless_asked_for_a_range(sessions) -> None:
    assert await collected(sessions, Period.MONTH) == []
    cells = await collected(sessions, Period.MONTH, since=date(2026, 1, 1), until=date(2026, 3, 31))
    assert {c.period for c in cells} == {"2026-01", "2026-02", "2026-03"}
    assert all(c.result == 0 for c in cells)


async def test_published_statistics_hide_a_lone_doctor_from_a_small_county(sessions) -> None:
    await add(
        sessions,
        *[opened(NOV, county="oslo") for _ in range(20)],
        opened(NOV, county="finnmark"),
        *[opened(NOV, county="troms") for _ in range(6)],
    )
    async with sessions() as session:
        rows = await published_statistics(
            session, Period.MONTH, 5, counties=["oslo", "finnmark", "troms", "agder"], tagger=KEYRING
        )
    county = {r.value: r.result for r in rows if r.measure == "case_opened" and r.dimension == "county"}

    assert county["finnmark"] is None
    assert county["troms"] is None, "the next smallest county is hidden too, or Finnmark = total - the rest"
    assert county["oslo"] == 20
    assert county["agder"] == 0
    total = next(r for r in rows if r.measure == "case_opened" and r.dimension == TOTAL)
    assert total.result == 27
