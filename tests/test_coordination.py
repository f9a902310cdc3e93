"""The coordinators' views as pure flows: no database, no Telegram, no drawing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from flows.catalogue import render
from flows.coordination import queue_replies, stats_period, stats_replies, stats_window
from flows.disclosure import COUNT, TOTAL, Published
from flows.domain import CaseStatus
from flows.periods import Period
from flows.ports import CaseView, Due

NOW = datetime(2026, 11, 23, 10, 30)


def _case(code: str, *, urgent: bool = False, waited: timedelta, status: CaseStatus = CaseStatus.QUEUED) -> CaseView:
    return CaseView(
        code=code, status=status.value, pathway="advice", urgent=urgent, seeker="self", support=(), barriers=(),
        role="locum", county="oslo", outside_county=False, contact="chat", language="nb", reader_language="nb",
        opened_at=NOW - waited,
    )  # fmt: skip


def _codes(text: str) -> list[str]:
    return [word for word in text.split() if word.startswith("K-")]


def test_the_queue_shows_urgent_cases_first_then_the_oldest_with_the_code_breaking_ties() -> None:
    cases = [
        _case("K-NEWAAA", waited=timedelta(minutes=5)),
        _case("K-OLDBBB", waited=timedelta(hours=5), status=CaseStatus.ACTIVE),
        _case("K-URGNEW", urgent=True, waited=timedelta(minutes=1), status=CaseStatus.OFFERED),
        _case("K-TIEZZZ", waited=timedelta(hours=3)),
        _case("K-TIEAAA", waited=timedelta(hours=3)),
        _case("K-URGOLD", urgent=True, waited=timedelta(days=3)),
    ]
    (queue,) = queue_replies(cases, [], NOW)
    text = render(queue.text, "nb")
    assert _codes(text) == ["K-URGOLD", "K-URGNEW", "K-OLDBBB", "K-TIEAAA", "K-TIEZZZ", "K-NEWAAA"]
    (backwards,) = queue_replies(list(reversed(cases)), [], NOW)
    assert _codes(render(backwards.text, "nb")) == _codes(text), "the order given is irrelevant"
    lines = text.splitlines()[1:]
    assert "🔴" in lines[0] and "3 d" in lines[0] and "i kø" in lines[0]
    assert "tilbudt" in lines[1] and "1 min" in lines[1]
    assert "pågår" in lines[2] and "5 t" in lines[2] and "🔴" not in lines[2]


def test_an_empty_queue_says_so_and_parked_timers_show_a_case_code_or_nothing() -> None:
    (empty,) = queue_replies([], [], NOW)
    assert empty.text.key == "coordinator.queue_empty"
    _, parked = queue_replies([], [Due("offer_deadline", "17", NOW), Due("silent_case", "K-ABCDEF", NOW)], NOW)
    text = render(parked.text, "en")
    assert "offer_deadline · –" in text and "silent_case · K-ABCDEF" in text
    assert "17" not in text


@pytest.mark.parametrize(
    ("argument", "period"),
    [("", Period.MONTH), ("week", Period.WEEK), (" Uke ", Period.WEEK), ("måned", Period.MONTH), ("MONTH", Period.MONTH),
     ("fortnight", Period.MONTH)],
)  # fmt: skip
def test_stats_takes_week_or_month_in_either_language_and_defaults_to_month(argument: str, period: Period) -> None:
    assert stats_period(argument) is period


def test_the_window_is_the_last_periods_oldest_first_in_utc() -> None:
    assert stats_window(NOW, Period.MONTH, 3) == [date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]
    assert stats_window(datetime(2027, 1, 4, 9), Period.WEEK, 2) == [date(2026, 12, 28), date(2027, 1, 4)]
    assert len(stats_window(NOW, Period.WEEK, 1)) == 2, "always this period and the last, for the summary"
    december_in_oslo = datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert stats_window(december_in_oslo, Period.MONTH, 2)[-1] == date(2026, 11, 1), "still November in UTC"


def test_the_chart_is_left_to_the_adapter_as_data() -> None:
    rows = [
        Published("2026-11", "case_opened", TOTAL, TOTAL, COUNT, 12),
        Published("2026-11", "case_opened", "pathway", "advice", COUNT, None),
    ]
    starts = stats_window(NOW, Period.MONTH, 2)
    summary, document, chart = stats_replies(rows, starts, Period.MONTH, 5, "en")
    assert "New cases: 12 (–)" in render(summary.text, "en")
    assert document.document is not None and document.document[0] == "kollega-stats-2026-11.csv"
    assert chart.picture is None and chart.chart is not None
    assert chart.chart.labels == ("2026-10", "2026-11") and chart.chart.starts == tuple(starts)
    assert chart.chart.period is Period.MONTH and chart.chart.language == "en"
    assert chart.chart.figures[("2026-11", "case_opened", "pathway", "advice", COUNT)] is None
