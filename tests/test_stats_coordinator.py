"""What a coordinator receives on asking for statistics: summary, CSV document, chart."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chart import draw_chart, with_picture
from flows.catalogue import render
from flows.coordination import HISTORY, stats_period, stats_replies, stats_window
from flows.disclosure import EXPORT_COLUMNS
from flows.events import Event, EventKind
from flows.periods import Period
from flows.replies import Chart, Reply
from storage.db import create_engine, sessionmaker, upgrade
from storage.repositories import SqlEvents
from storage.sealing import Keyring
from storage.statistics import duration_step, published_statistics

NOW = datetime(2026, 11, 23, 10, 30)
PNG = b"\x89PNG\r\n\x1a\n"
KEYRING = Keyring("Zq3v-9XkP2mT7wYc_L5rN8bJ4hF6dS1aE0uGxQ")
WAITS = (600, 1200, 1800, 2400, 9000, 3000)
"""November's times to acceptance, in seconds; kept as steps: 15 min, 30 min, 30 min, 1 h, 4 h, 1 h."""


async def _stats(
    sessions: async_sessionmaker[AsyncSession],
    period: str,
    min_cell: int,
    now: datetime,
    language: str = "nb",
    *,
    history: int = HISTORY,
    counties: Sequence[str] = (),
) -> list[Reply]:
    """What /stats sends: the published rows of the window, the flow's replies, the chart drawn."""
    kind = Period(period)
    starts = stats_window(now, kind, history)
    async with sessions() as session:
        rows = await published_statistics(
            session, kind, min_cell, since=starts[0], until=starts[-1], counties=counties, tagger=KEYRING
        )
    return [await with_picture(reply) for reply in stats_replies(rows, starts, kind, min_cell, language)]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """November so far: 9 advice cases (1 urgent), 6 not coping, 2 way back or out; October: 7 advice cases."""
    engine = create_engine(database_url)
    await upgrade(engine)
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        events = SqlEvents(session, KEYRING)

        def opened(pathway: str, urgent: bool = False) -> Event:
            return Event(EventKind.CASE_OPENED, pathway=pathway, seeker="self", county="oslo", role="locum",
                         urgent=urgent, contact="chat", support_mask=1, barrier_mask=0)  # fmt: skip

        november, october = datetime(2026, 11, 10, 9), datetime(2026, 10, 5, 9)
        recorded = [(november, opened("advice", urgent=i == 0)) for i in range(9)]
        recorded += [(november, opened("not_coping")) for _ in range(6)]
        recorded += [(november, opened("way_back_or_out")) for _ in range(2)]
        recorded += [(october, opened("advice")) for _ in range(7)]
        recorded += [
            (november, Event(EventKind.CASE_ACCEPTED, pathway="advice", urgent=False, duration_s=seconds)) for seconds in WAITS
        ]
        for at, event in recorded:
            await events.record(event, at)
    yield sessions
    await engine.dispose()


@pytest.mark.parametrize("language", ["nb", "en"])
async def test_a_coordinator_gets_a_summary_a_csv_and_a_chart(sessions, language: str) -> None:
    summary, document, chart = await _stats(sessions, "month", 5, NOW, language)

    text = render(summary.text, language)
    assert ("november 2026" if language == "nb" else "November 2026") in text
    assert "17 (7)" in text, "cases this month against last month"
    assert ("• Råd i en krevende situasjon: 9 (7)" if language == "nb" else "• Advice in a demanding situation: 9 (7)") in text
    steps = sorted(duration_step(wait) for wait in WAITS)
    assert (steps[2], steps[5]) == (30 * 60, 4 * 3600)
    p90 = "innen 4 t 0 min" if language == "nb" else "within 4 h 0 min"
    half = "halvparten innen 30 min, " if language == "nb" else "half within 30 min, "
    assert half in text and p90 in text, "6 waits, as steps: the 3rd (30 min) and the 6th (4 h)"

    assert document.document is not None
    name, content = document.document
    assert name == "kollega-stats-2026-11.csv"
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert {row[0] for row in rows[1:]} == {"2025-12"} | {f"2026-{m:02d}" for m in range(1, 12)}, "the last 12 months"
    assert render(document.text, language)

    assert chart.picture is not None and chart.picture.startswith(PNG)
    assert render(chart.text, language)


@pytest.mark.parametrize(("language", "hidden"), [("nb", "skjult"), ("en", "hidden")])
async def test_small_numbers_are_shown_as_hidden_never_as_the_number(sessions, language: str, hidden: str) -> None:
    summary, document, _ = await _stats(sessions, "month", 5, NOW, language)
    text = render(summary.text, language)

    way_back = render(summary.text.params["way_back_or_out"], language)  # type: ignore[arg-type]
    assert way_back.endswith(f": {hidden} (0)"), "2 cases are hidden; last month's 0 is shown"
    not_coping = render(summary.text.params["not_coping"], language)  # type: ignore[arg-type]
    assert f": {hidden} (0)" in not_coping, "6 is hidden too, or 2 = 17 - 9 - 6"
    assert ": 1 (" not in text and ": 2 (" not in text
    assert "5" in render(summary.text.params["note"], language)  # type: ignore[arg-type]

    assert document.document is not None
    rows = list(csv.DictReader(io.StringIO(document.document[1].decode("utf-8"), newline="")))
    november_urgent = next(r for r in rows if (r["period"], r["dimension"], r["value"]) == ("2026-11", "urgent", "true"))
    assert (november_urgent["result"], november_urgent["suppressed"]) == ("", "true")


async def test_weekly_statistics_name_the_current_iso_week(sessions) -> None:
    summary, document, chart = await _stats(sessions, "week", 5, NOW, "en", history=6)
    assert "week 48 2026" in render(summary.text, "en")
    assert document.document is not None and document.document[0] == "kollega-stats-2026-W48.csv"
    assert chart.picture is not None and chart.picture.startswith(PNG)


async def test_an_empty_database_still_gives_a_readable_summary_and_an_empty_chart(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        summary, _, chart = await _stats(sessionmaker(engine), "month", 5, NOW, "nb")
    finally:
        await engine.dispose()
    text = render(summary.text, "nb")
    assert "Nye saker: 0 (0)" in text
    assert "halvparten innen –" in text
    assert chart.picture is not None and chart.picture.startswith(PNG)


def test_the_chart_is_drawn_in_the_coordinators_language() -> None:
    starts = (datetime(2026, 10, 1).date(), datetime(2026, 11, 1).date())
    figures = {("2026-11", "case_opened", "pathway", "advice", "count"): 12}
    nb = draw_chart(Chart(figures, ("2026-10", "2026-11"), starts, Period.MONTH, "nb"))
    en = draw_chart(Chart(figures, ("2026-10", "2026-11"), starts, Period.MONTH, "en"))
    assert nb.startswith(PNG) and en.startswith(PNG)
    assert nb != en
    assert draw_chart(Chart(figures, ("2026-10", "2026-11"), starts, Period.MONTH, "nb")) == nb, "same figures, same picture"


async def test_an_unknown_period_is_refused(sessions) -> None:
    with pytest.raises(ValueError):
        await _stats(sessions, "fortnight", 5, NOW)


PERIOD_WORDS = [("week", Period.WEEK), ("Uke", Period.WEEK), ("veke", Period.WEEK),
                ("month", Period.MONTH), ("måned", Period.MONTH), ("månad", Period.MONTH)]  # fmt: skip


@pytest.mark.parametrize(("argument", "period"), PERIOD_WORDS)
def test_the_period_words_of_each_language_in_coordinator_help_are_understood(argument: str, period: Period) -> None:
    assert stats_period(argument) is period
