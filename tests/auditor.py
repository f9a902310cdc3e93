"""What an auditor with the database (and nothing else) can read off it.

Every function here reads what is at rest generically (every table, every column, by
reflection), so it measures the schema of any version of Kollega, and the figures in
docs/threat-model.md and the README come from it:

* :func:`rows_at_rest` every row of every table, as plain values;
* :func:`sub_hour_times` timestamps finer than an hour, outside the columns that schedule
  something and so need the exact moment (:data:`SCHEDULES`);
* :func:`ordered_ids` integer keys that count up, so rows can be put in the order they
  were written (an event's neighbours are the same person's other events);
* :func:`duration_joins` event durations that match exactly one case's own times;
* :func:`smallest_group` the smallest group of rows sharing their quasi-identifiers
  (k-anonymity at rest), counting a counter row as a group of its count;
* :func:`occurrences` how many times a byte string occurs in the files at rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine

SCHEDULES = frozenset(
    {
        ("timers", "due_at"),  # when a reminder, expiry or deadline falls due
        ("outbox", "due_at"),  # when a message owed is tried again
        ("outbox", "leased_until"),
        ("counsellors", "away_until"),  # when a counsellor is back on duty
        ("invites", "expires_at"),  # when an unused invite stops working
        ("offers", "deadline"),  # when an offer runs out
        ("alembic_version", "version_num"),
    }
)
"""Columns whose exact moment is what they are for: each schedules something."""

QUASI_IDENTIFIERS = ("county", "role", "seeker", "language", "contact", "outside_county")
"""What someone who knows a doctor could know of them: where and as what they work, in
which language and how they like to talk, and whether they asked about a colleague."""

Rows = dict[str, list[dict[str, Any]]]


async def rows_at_rest(engine: AsyncEngine) -> Rows:
    """Every row of every table, by table name."""
    metadata = MetaData()
    async with engine.connect() as connection:
        await connection.run_sync(metadata.reflect)
        found: Rows = {}
        for table in metadata.sorted_tables:
            result = await connection.execute(select(table))
            found[table.name] = [dict(row._mapping) for row in result]
    return found


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and value[10:11] in (" ", "T"):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def sub_hour_times(rows: Rows, allowed: frozenset[tuple[str, str]] = SCHEDULES) -> list[str]:
    """``table.column=value`` for every timestamp at rest with minutes, seconds or less."""
    found = []
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                moment = _moment(value)
                if moment is None or (table, column) in allowed:
                    continue
                if (moment.minute, moment.second, moment.microsecond) != (0, 0, 0):
                    found.append(f"{table}.{column}={value}")
    return found


def ordered_ids(rows: Rows, tables: Iterable[str] = ("events", "event_counts")) -> int:
    """Rows of the event tables that carry an integer key, so can be put in writing order."""
    count = 0
    for table in tables:
        for row in rows.get(table, []):
            if isinstance(row.get("id"), int):
                count += 1
    return count


def duration_joins(rows: Rows) -> int:
    """Events whose ``duration_s`` equals, for exactly one case row, the time between two of
    that case's own timestamps: that event is then tied to that case (county, role, ...)."""
    cases = rows.get("cases", [])
    spans: list[Counter[int]] = []
    for case in cases:
        moments = [m for m in (_moment(v) for v in case.values()) if m is not None]
        spans.append(Counter(int((b - a).total_seconds()) for a in moments for b in moments if b > a))
    joined = 0
    for event in (*rows.get("events", []), *rows.get("event_counts", [])):
        duration = event.get("duration_s")
        if duration is None:
            continue
        if sum(1 for span in spans if duration in span) == 1:
            joined += 1
    return joined


def smallest_group(rows: Rows, quasi: Sequence[str] = QUASI_IDENTIFIERS) -> tuple[int | None, str]:
    """The smallest k at rest, and where: per table, rows grouped by the quasi-identifiers
    they hold in the clear; a row with a ``count`` is a group of that many people (an
    aggregate counter). None when no row holds a quasi-identifier in the clear."""
    smallest: tuple[int | None, str] = (None, "no quasi-identifier at rest")
    for table, table_rows in rows.items():
        groups: Counter[tuple[Any, ...]] = Counter()
        for row in table_rows:
            present = tuple((q, row[q]) for q in quasi if row.get(q) is not None)
            if not present:
                continue
            weight = row.get("count")
            groups[present] += weight if isinstance(weight, int) else 1
        for key, size in groups.items():
            if smallest[0] is None or size < smallest[0]:
                smallest = (size, f"{table} {dict(key)}")
    return smallest


def occurrences(folder: Path, needles: Iterable[bytes]) -> dict[str, int]:
    """How often each needle occurs in the files under ``folder`` (by file name)."""
    counts: dict[str, int] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        content = path.read_bytes()
        total = sum(content.count(needle) for needle in needles if needle)
        if total:
            counts[path.name] = total
    return counts


def values_in(rows: Mapping[str, list[dict[str, Any]]], table: str) -> set[str]:
    """Every non-empty value of ``table`` as text (to compare tables with each other)."""
    return {str(v) for row in rows.get(table, []) for v in row.values() if v not in (None, "", b"")}
