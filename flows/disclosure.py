"""What may be published from the anonymous statistics, and in what shape.

Small numbers identify people: "one locum from Finnmark asked for help with a
way out this month" is a person. So figures pass through :func:`suppress`
before they leave the service (CLI export, coordinator chart and document).

The rule (k = ``privacy.min_cell``, 5 by default):

1. **Primary.** A count from 1 to k-1 is suppressed. Zero is published: it
   says nobody, and that protects no one.
2. **Secondary, additive dimensions.** Within one period and measure, the
   cells of an additive dimension (pathway, county, role, seeker, urgent,
   contact, actor, score, step) sum to the published total of that measure
   (dimension ``all``); every event falls in exactly one cell, an unknown
   value in the cell ``unknown``. Cells and total form one group. If a group
   has exactly one suppressed member it could be recomputed as
   total - published cells, so the smallest non-zero published member is
   suppressed too (a cell before the total), and this repeats over all
   groups until every group has none or at least two suppressed members.
   The total is shared by every dimension of the measure, so suppressing it
   in one group re-checks the others.
3. **Multi-select dimensions** (kinds of support, barriers). One case counts
   in several cells, so the cells have no additive total and no cell can be
   recomputed from the others: there is no secondary suppression. Each cell
   is instead a yes/no split of the total: "chose emotional support" and,
   implied, "did not" (total - cell). A cell is suppressed when it is from 1
   to k-1, or when the total is published and total - cell is.
4. **Durations** (median, p90 in seconds) are suppressed when fewer than k
   values lie behind them, or when the count of their group is suppressed
   (publishing the median would tell that the hidden count is at least k).

What is not published, and why the rule is enough for it:

- No totals across periods. Each period's table stands alone, so summing
  periods in a spreadsheet gives a sum of published cells, never a hidden one.
- No exact relation holds between different measures (an acceptance is
  counted in the period it happened, not the period the case opened in).
- Exports snap ``since``/``until`` to whole periods (see
  ``storage.statistics``), so two exports of the same data publish the same
  cells and cannot be subtracted to expose a few days.

Known limits, stated in docs/statistics.md: a period still running changes
between two exports, and the weekly and monthly tables of the same data are
protected each on its own; share only one of them, of completed periods,
outside the coordinators.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

TOTAL = "all"
"""Dimension and value of the row that counts every event of a measure."""
UNKNOWN = "unknown"
"""Value of events that lack the dimension (kept so cells sum to the total)."""

COUNT = "count"
MEDIAN = "median_seconds"
P90 = "p90_seconds"

EXPORT_COLUMNS = ("period", "measure", "dimension", "value", "statistic", "result", "suppressed")
"""The published table, one row per period x measure x dimension x value x statistic.

Documented in docs/statistics.md; a change here is a change of that schema.
"""
EXPORT_VERSION = 1


@dataclass(frozen=True)
class Cell:
    """One raw figure, before disclosure control; never leaves the service."""

    period: str
    measure: str
    dimension: str
    value: str
    statistic: str
    result: int
    n: int
    """How many events lie behind the figure (the count itself for counts)."""


@dataclass(frozen=True)
class Published:
    """One figure as it may be shown: ``result`` is None when suppressed."""

    period: str
    measure: str
    dimension: str
    value: str
    statistic: str
    result: int | None

    @property
    def suppressed(self) -> bool:
        return self.result is None

    def as_dict(self) -> dict[str, Any]:
        """The row under the export's column names, in their order."""
        return {column: getattr(self, column) for column in EXPORT_COLUMNS}


def suppress(cells: Iterable[Cell], min_cell: int, multi_select: Collection[str]) -> list[Published]:
    """Apply the rule in the module docstring; the order of ``cells`` is kept.

    ``multi_select`` names the dimensions where one event counts in several
    cells. It has no default on purpose: treating a multi-select dimension
    as additive would skip the yes/no rule.
    """
    if min_cell < 2:
        raise ValueError(f"min_cell must be at least 2, got {min_cell}")
    table = list(cells)
    totals: dict[tuple[str, str], int] = {}
    by_key: dict[tuple[str, str, str, str], int] = {}
    for i, cell in enumerate(table):
        if cell.statistic == COUNT:
            by_key[(cell.period, cell.measure, cell.dimension, cell.value)] = i
            if cell.dimension == TOTAL:
                totals[(cell.period, cell.measure)] = i

    hidden: set[int] = set()
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, cell in enumerate(table):
        if cell.statistic != COUNT:
            continue
        if 0 < cell.result < min_cell:
            hidden.add(i)
        if cell.dimension == TOTAL:
            continue
        if (cell.period, cell.measure) not in totals:
            raise ValueError(f"no total ({TOTAL}) for {cell.period} {cell.measure}")
        if cell.dimension not in multi_select:
            groups[(cell.period, cell.measure, cell.dimension)].append(i)

    members = []
    for (period, measure, dimension), group in groups.items():
        total = totals[(period, measure)]
        if sum(table[i].result for i in group) != table[total].result:
            # Then the rule's arithmetic does not hold: refuse rather than publish.
            raise ValueError(f"{period} {measure}: the {dimension} cells do not add up to the total")
        members.append([*group, total])
    _secondary(table, members, hidden)

    for i, cell in enumerate(table):
        if cell.statistic == COUNT and cell.dimension in multi_select:
            total = totals[(cell.period, cell.measure)]
            if total not in hidden and 0 < table[total].result - cell.result < min_cell:
                hidden.add(i)  # "all but 2 chose it" tells of 2 people

    published: list[Published] = []
    for i, cell in enumerate(table):
        if cell.statistic == COUNT:
            shown = i not in hidden
        else:
            basis = by_key.get((cell.period, cell.measure, cell.dimension, cell.value))
            shown = cell.n >= min_cell and basis is not None and basis not in hidden
        published.append(
            Published(cell.period, cell.measure, cell.dimension, cell.value, cell.statistic, cell.result if shown else None)
        )
    return published


def _secondary(table: list[Cell], groups: list[list[int]], hidden: set[int]) -> None:
    """Suppress more cells until no group has exactly one suppressed member."""
    changed = True
    while changed:
        changed = False
        for group in groups:
            if sum(1 for i in group if i in hidden) != 1:
                continue
            candidates = [i for i in group if i not in hidden and table[i].result > 0]
            # A lone hidden member is non-zero, so the constraint total = sum(cells)
            # guarantees another non-zero member; smallest first loses least.
            pick = min(candidates, key=lambda i: (table[i].result, table[i].dimension == TOTAL, table[i].value))
            hidden.add(pick)
            changed = True


def write_csv(rows: Iterable[Published], out: TextIO) -> None:
    """RFC 4180 CSV with a header row: comma, double quotes, CRLF, UTF-8 without BOM.

    No BOM because every field is an ASCII code or a number, and a BOM would
    end up in the first column name for tools that do not expect it.
    ``out`` should be opened with ``newline=""``.
    """
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow(_csv_field(value) for value in row.as_dict().values())


def _csv_field(value: Any) -> str:
    if value is None:
        return ""  # a suppressed result
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_json(rows: Iterable[Published], out: TextIO, about: Mapping[str, Any]) -> None:
    """One JSON object: ``about`` (period, min_cell, since, until...) plus ``rows``."""
    document = {"format": "kollega-statistics", "version": EXPORT_VERSION, **about}
    document["columns"] = list(EXPORT_COLUMNS)
    document["rows"] = [row.as_dict() for row in rows]
    json.dump(document, out, ensure_ascii=False, indent=1)
    out.write("\n")
