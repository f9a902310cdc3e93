"""Small-cell suppression: nothing from 1 to k-1 can be read or worked out from a publication."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.disclosure import COUNT, MEDIAN, P90, TOTAL, Cell, Published, suppress, write_csv

MULTI = frozenset({"support"})


def count(period: str, measure: str, dimension: str, value: str, result: int) -> Cell:
    return Cell(period, measure, dimension, value, COUNT, result, result)


def one_period(total_and_cells: dict[str, dict[str, int]], multi: dict[str, int] | None = None) -> list[Cell]:
    """One period of case_opened: additive dimensions given, total = their common sum."""
    totals = {sum(cells.values()) for cells in total_and_cells.values()}
    assert len(totals) == 1
    cells = [count("2026-11", "case_opened", TOTAL, TOTAL, totals.pop())]
    for dimension, values in total_and_cells.items():
        cells += [count("2026-11", "case_opened", dimension, v, n) for v, n in values.items()]
    for value, n in (multi or {}).items():
        cells.append(count("2026-11", "case_opened", "support", value, n))
    return cells


def shown(rows: Sequence[Published], dimension: str) -> dict[str, int | None]:
    return {r.value: r.result for r in rows if r.dimension == dimension and r.statistic == COUNT}


# --- examples -----------------------------------------------------------------


def test_a_count_under_k_is_hidden_and_so_is_the_next_smallest_in_its_group() -> None:
    rows = suppress(one_period({"county": {"oslo": 30, "finnmark": 2, "troms": 7, "agder": 9}}), 5, MULTI)
    assert shown(rows, "county") == {"oslo": 30, "finnmark": None, "troms": None, "agder": 9}
    assert shown(rows, TOTAL) == {TOTAL: 48}


def test_zero_is_published_and_never_used_to_cover_a_small_count() -> None:
    rows = suppress(one_period({"county": {"oslo": 30, "finnmark": 0, "troms": 3, "agder": 12}}), 5, MULTI)
    assert shown(rows, "county") == {"oslo": 30, "finnmark": 0, "troms": None, "agder": None}


def test_a_small_period_hides_its_total_and_every_non_zero_cell() -> None:
    rows = suppress(one_period({"pathway": {"advice": 3, "not_coping": 0, "way_back_or_out": 1}}), 5, MULTI)
    assert shown(rows, TOTAL) == {TOTAL: None}
    assert shown(rows, "pathway") == {"advice": None, "not_coping": 0, "way_back_or_out": None}


def test_a_dimension_without_small_numbers_stays_whole_beside_one_that_has_them() -> None:
    rows = suppress(
        one_period({"urgent": {"true": 6, "false": 0}, "pathway": {"advice": 3, "not_coping": 3, "way_back_or_out": 0}}),
        5,
        MULTI,
    )
    assert shown(rows, "urgent") == {"true": 6, "false": 0}
    assert shown(rows, "pathway") == {"advice": None, "not_coping": None, "way_back_or_out": 0}
    assert shown(rows, TOTAL) == {TOTAL: 6}


def test_a_small_total_hides_the_non_zero_cells_of_every_dimension_sharing_it() -> None:
    cells = one_period({"pathway": {"advice": 3, "not_coping": 1, "way_back_or_out": 0}, "seeker": {"self": 4, "colleague": 0}})
    rows = suppress(cells, 5, MULTI)
    assert shown(rows, TOTAL) == {TOTAL: None}
    assert shown(rows, "seeker") == {"self": None, "colleague": 0}
    assert shown(rows, "pathway") == {"advice": None, "not_coping": None, "way_back_or_out": 0}


def test_multi_select_cells_hide_small_counts_and_small_complements_only() -> None:
    cells = one_period(
        {"pathway": {"advice": 40, "not_coping": 0, "way_back_or_out": 0}}, {"emotional": 38, "advice": 3, "workload": 20}
    )
    rows = suppress(cells, 5, MULTI)
    # 38 of 40 chose emotional support: "2 did not" would be a small number.
    assert shown(rows, "support") == {"emotional": None, "advice": None, "workload": 20}
    assert shown(rows, TOTAL) == {TOTAL: 40}


def test_in_a_small_period_a_kind_of_support_nobody_chose_is_still_published_as_zero() -> None:
    rows = suppress(one_period({"pathway": {"advice": 3, "not_coping": 0}}, {"emotional": 3, "advice": 0}), 5, MULTI)
    assert shown(rows, "support") == {"emotional": None, "advice": 0}
    assert shown(rows, TOTAL) == {TOTAL: None}


def test_durations_behind_fewer_than_k_cases_or_a_hidden_count_are_hidden() -> None:
    cells = [
        count("2026-11", "case_accepted", TOTAL, TOTAL, 12),
        count("2026-11", "case_accepted", "urgent", "true", 3),
        count("2026-11", "case_accepted", "urgent", "false", 9),
        Cell("2026-11", "case_accepted", TOTAL, TOTAL, MEDIAN, 600, 12),
        Cell("2026-11", "case_accepted", "urgent", "true", MEDIAN, 60, 3),
        Cell("2026-11", "case_accepted", "urgent", "false", P90, 4000, 9),
    ]
    rows = {(r.dimension, r.value, r.statistic): r.result for r in suppress(cells, 5, MULTI)}
    assert rows[(TOTAL, TOTAL, MEDIAN)] == 600
    assert rows[("urgent", "true", MEDIAN)] is None
    assert rows[("urgent", "false", P90)] is None, "9 cases, but their count is hidden to protect the 3"


def test_the_threshold_follows_the_configured_min_cell() -> None:
    cells = one_period({"pathway": {"advice": 8, "not_coping": 12, "way_back_or_out": 30}})
    assert shown(suppress(cells, 5, MULTI), "pathway")["advice"] == 8
    assert shown(suppress(cells, 10, MULTI), "pathway")["advice"] is None
    with pytest.raises(ValueError):
        suppress(cells, 1, MULTI)


def test_the_csv_shows_a_hidden_figure_as_an_empty_result() -> None:
    out = io.StringIO(newline="")
    write_csv(suppress(one_period({"pathway": {"advice": 2, "not_coping": 9, "way_back_or_out": 0}}), 5, MULTI), out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "period,measure,dimension,value,statistic,result,suppressed"
    assert "2026-11,case_opened,pathway,advice,count,,true" in lines
    assert "2026-11,case_opened,pathway,way_back_or_out,count,0,false" in lines


# --- properties -----------------------------------------------------------------


def groups(cells: Sequence[Cell]) -> dict[tuple[str, str], dict[str, list[int]]]:
    """Indices of count cells per (period, measure) and additive dimension (TOTAL alone)."""
    found: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, cell in enumerate(cells):
        if cell.statistic == COUNT and cell.dimension not in MULTI:
            found[(cell.period, cell.measure)][cell.dimension].append(i)
    return found


def derivable(cells: Sequence[Cell], rows: Sequence[Published]) -> list[Cell]:
    """Hidden counts that the published counts and totals pin down exactly (linear algebra).

    For one period and measure the unknowns are the hidden cells; each additive
    dimension says sum(cells) - total = 0. A hidden cell is pinned when its unit
    vector lies in the row space of that system.
    """
    pinned = []
    for dimensions in groups(cells).values():
        (total,) = dimensions[TOTAL]
        unknown = [i for d in dimensions.values() for i in d if rows[i].suppressed]
        if not unknown:
            continue
        column = {i: j for j, i in enumerate(unknown)}
        equations = []
        for dimension, members in dimensions.items():
            if dimension == TOTAL:
                continue
            equation = np.zeros(len(unknown))
            for i in members:
                if i in column:
                    equation[column[i]] += 1
            if total in column:
                equation[column[total]] -= 1
            equations.append(equation)
        system = np.array(equations) if equations else np.zeros((0, len(unknown)))
        rank = np.linalg.matrix_rank(system) if len(system) else 0
        for i, j in column.items():
            unit = np.zeros(len(unknown))
            unit[j] = 1
            if np.linalg.matrix_rank(np.vstack([system, unit])) == rank:
                pinned.append(cells[i])
    return pinned


def check_publication(cells: Sequence[Cell], k: int) -> None:
    rows = suppress(cells, k, MULTI)
    assert len(rows) == len(cells)
    totals = {(c.period, c.measure): c.result for c in cells if c.dimension == TOTAL and c.statistic == COUNT}
    published_totals = {(r.period, r.measure): r.result for r in rows if r.dimension == TOTAL and r.statistic == COUNT}
    for cell, row in zip(cells, rows, strict=True):
        assert (row.period, row.measure, row.dimension, row.value, row.statistic) == (
            cell.period, cell.measure, cell.dimension, cell.value, cell.statistic
        )  # fmt: skip
        if row.suppressed:
            continue
        assert row.result == cell.result, "published figures are never altered"
        if cell.statistic == COUNT:
            assert row.result == 0 or row.result >= k
            total = published_totals[(cell.period, cell.measure)]
            if cell.dimension in MULTI and total is not None:
                assert not 0 < totals[(cell.period, cell.measure)] - cell.result < k, "small complement"
        else:
            assert cell.n >= k
    # Every additive group with a hidden member has at least two (the test the brief asks for).
    for dimensions in groups(cells).values():
        (total,) = dimensions[TOTAL]
        for dimension, members in dimensions.items():
            if dimension != TOTAL:
                hidden = sum(rows[i].suppressed for i in [*members, total])
                assert hidden != 1, (dimension, [cells[i] for i in members])
    # And the stronger one: no combination of the published equations pins a hidden count.
    assert derivable(cells, rows) == []


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[Cell], int]:
    """Random publications: periods x measures, additive dimensions sharing a total, a multi-select one."""
    k = draw(st.integers(2, 10))
    small = st.integers(0, 3 * k)
    cells: list[Cell] = []
    for period in ("2026-10", "2026-11")[: draw(st.integers(1, 2))]:
        for measure in ("case_opened", "feedback")[: draw(st.integers(1, 2))]:
            first = draw(st.lists(small, min_size=1, max_size=6))
            total = sum(first)
            cells.append(count(period, measure, TOTAL, TOTAL, total))
            cells += [count(period, measure, "pathway", f"v{i}", n) for i, n in enumerate(first)]
            for d in range(draw(st.integers(0, 3))):
                # Another split of the same total: random cut points.
                cuts = sorted(draw(st.lists(st.integers(0, total), max_size=5)))
                parts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
                cells += [count(period, measure, f"d{d}", f"v{i}", n) for i, n in enumerate(parts)]
            for i in range(draw(st.integers(0, 3))):
                cells.append(count(period, measure, "support", f"s{i}", draw(st.integers(0, total))))
            if measure == "case_opened" and total:
                n = draw(st.integers(1, total))
                cells.append(Cell(period, measure, "pathway", "v0", MEDIAN, draw(st.integers(0, 10**5)), min(n, first[0])))
    return cells, k


@settings(max_examples=400, deadline=None)
@given(tables())
def test_no_hidden_count_can_be_read_or_recomputed_from_a_random_table(table: tuple[list[Cell], int]) -> None:
    cells, k = table
    check_publication(cells, k)


PATHWAYS = ("advice", "not_coping", "way_back_or_out")
COUNTIES = ("oslo", "finnmark", "troms", "agder", "none")
SUPPORT = ("emotional", "advice", "workload")

events = st.lists(
    st.tuples(
        st.sampled_from(("2026-W46", "2026-W47", "2026-W48")),
        st.sampled_from(PATHWAYS),
        st.sampled_from(COUNTIES),
        st.booleans(),
        st.frozensets(st.sampled_from(SUPPORT)),
    ),
    max_size=120,
)


def aggregate(happened: list[tuple[str, str, str, bool, frozenset[str]]]) -> list[Cell]:
    """What storage.statistics would produce for these case_opened events (zeros included)."""
    by: Counter[tuple[str, str, str]] = Counter()
    for period, pathway, county, urgent, support in happened:
        by[(period, TOTAL, TOTAL)] += 1
        by[(period, "pathway", pathway)] += 1
        by[(period, "county", county)] += 1
        by[(period, "urgent", str(urgent).lower())] += 1
        for kind in support:
            by[(period, "support", kind)] += 1
    cells = []
    for period in sorted({e[0] for e in happened}):
        cells.append(count(period, "case_opened", TOTAL, TOTAL, by[(period, TOTAL, TOTAL)]))
        for dimension, values in (
            ("pathway", PATHWAYS),
            ("county", COUNTIES),
            ("urgent", ("true", "false")),
            ("support", SUPPORT),
        ):
            cells += [count(period, "case_opened", dimension, v, by[(period, dimension, v)]) for v in values]
    return cells


@settings(max_examples=300, deadline=None)
@given(events, st.integers(2, 6))
def test_no_hidden_count_can_be_read_or_recomputed_from_random_cases(happened, k: int) -> None:
    check_publication(aggregate(happened), k)


@settings(max_examples=100, deadline=None)
@given(events)
def test_the_same_data_always_gives_the_same_publication(happened) -> None:
    cells = aggregate(happened)
    assert suppress(cells, 5, MULTI) == suppress(list(cells), 5, MULTI)


def test_cells_that_do_not_add_up_are_refused_rather_than_published() -> None:
    cells = [count("2026-11", "case_opened", TOTAL, TOTAL, 10), count("2026-11", "case_opened", "pathway", "advice", 7)]
    with pytest.raises(ValueError, match="pathway cells do not add up"):
        suppress(cells, 5, MULTI)
