"""How fast is `kollega stats export` against plain SQL, and does it stream?

    python -m bench.export_bench [--events 1000000] [--repeat 3] [--db FILE] [--quick]

1. Generates N anonymous events and counts them as the bot does
   (``storage.statistics.counter_rows``: one counter row per day, kind, GROUP BY
   family and cell, county and role only as a tag) into a fresh SQLite file
   (schema from the migrations, the counter rows with the sqlite3 module's
   executemany in one transaction), in the mix real cases produce: triage,
   abandoned steps, offers, acceptances with waits, closes, feedback, over two years.
2. Times the export exactly as the CLI runs it (``bot.cli.stats``, month
   periods, CSV to a file), and the same counts with plain sqlite3 GROUP BY
   queries over the counters on the same file (and, separately, with the
   percentiles as well).
3. Prints both times, the ratio (goal: export <= 2x raw), the growth of the
   process's peak RSS during the export and the peak of Python allocations
   (tracemalloc, in a separate run so it does not slow the timed one).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.cli.stats import add_commands
from bot.config import Config
from flows.domain import NO_COUNTY, Barrier, ContactMode, Pathway, Role, Support
from flows.events import Event, EventKind
from flows.settings import FlowSettings
from storage.db import create_engine, upgrade
from storage.statistics import COUNTS, DURATIONS, SUPPORT, TAGGED, Dimension, counter_rows, families, family_of

START = datetime(2024, 12, 1)
HOURS = 24 * 730
COUNTIES = [c.code for c in FlowSettings().counties] + [NO_COUNTY]
STEPS = ("who", "situation", "safety", "support", "barriers", "role", "county", "contact", "summary")
SECRET = "bench-secret-key-0123456789"
"""The service secret of both the generated counters and the export: it makes the county and role tags."""
CONFIG = Config(token="", secret_key=SECRET)
COLUMNS = (
    "day", "kind", "family", "cell", "pathway", "seeker", "urgent", "contact", "support_mask", "barrier_mask", "step",
    "actor", "duration_s", "score",
)  # fmt: skip
"""The columns of ``event_counts`` but ``count``, as ``counter_rows`` names them."""
PATHWAYS = [p.value for p in Pathway]
ROLES = [r.value for r in Role]
CONTACTS = [c.value for c in ContactMode]


def journeys(rng: random.Random) -> Iterator[tuple[datetime, Event]]:
    """Events of one doctor after another, as the bot would record them, with their times."""

    def event(kind: str, at: datetime, **fields: Any) -> tuple[datetime, Event]:
        return at, Event(EventKind(kind), **fields)

    while True:
        start = START + timedelta(hours=rng.randrange(HOURS))
        yield event("triage_started", start)
        if rng.random() < 0.25:
            yield event("step_abandoned", start, step=rng.choice(STEPS), actor=rng.choice(("cancel", "expired", "forget")))
            continue
        pathway = rng.choices(PATHWAYS, weights=(5, 3, 2))[0]
        yield event("pathway_chosen", start, pathway=pathway)
        urgent = rng.random() < 0.08
        if urgent or rng.random() < 0.02:
            yield event("safety_shown", start, actor=rng.choice(("answer", "words", "button")))
        answers = {
            "pathway": pathway,
            "seeker": "colleague" if rng.random() < 0.15 else "self",
            "county": rng.choice(COUNTIES),
            "role": rng.choice(ROLES),
            "urgent": urgent,
            "contact": rng.choice(CONTACTS),
            "language": "en" if rng.random() < 0.1 else "nb",
            "support_mask": rng.randrange(1, 1 << len(Support)),
            "barrier_mask": rng.randrange(0, 1 << len(Barrier)),
        }
        yield event("case_opened", start, **answers)
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            yield event("case_offered", start)
            if rng.random() < 0.3:
                yield event(rng.choice(("offer_declined", "offer_timed_out")), start)
        if rng.random() < 0.07:
            yield event("case_withdrawn", start, duration_s=rng.randrange(60, 86400))
            continue
        wait = int(rng.lognormvariate(8, 1.2))
        accepted = start + timedelta(seconds=wait)
        counsellor = f"c{rng.randrange(40)}"
        yield event("case_accepted", accepted, pathway=pathway, urgent=urgent, duration_s=wait, counsellor=counsellor)
        if rng.random() < 0.03:
            yield event("case_escalated", accepted)
        length = int(rng.lognormvariate(12, 1))
        closed = accepted + timedelta(seconds=length)
        yield event("case_closed", closed, actor=rng.choice(("doctor", "counsellor", "counsellor", "system")), duration_s=length)
        if rng.random() < 0.4:
            yield event("feedback", closed, score=rng.choices(range(1, 6), weights=(1, 1, 3, 6, 8))[0])


def count_events(events: Iterator[tuple[datetime, Event]], count: int) -> list[tuple[object, ...]]:
    """``count`` events as counter rows (the columns of :data:`COLUMNS`, then the count)."""
    keyring = CONFIG.keyring()
    counts: Counter[tuple[object, ...]] = Counter()
    made: dict[tuple[Event, date], list[tuple[object, ...]]] = {}  # most events repeat: counter_rows once each
    for _ in range(count):
        at, event = next(events)
        day = at.date()
        rows = made.get((event, day))
        if rows is None:
            rows = [tuple(_stored(row.get(name)) for name in COLUMNS) for row in counter_rows(event, day, keyring)]
            if event.duration_s is None:
                made[(event, day)] = rows
        counts.update(rows)
    return [(*row, n) for row, n in counts.items()]


def _stored(value: object) -> object:
    """As SQLAlchemy keeps it on SQLite: a date as 'YYYY-MM-DD', a bool as 0/1."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def generate(path: Path, count: int, seed: int = 47) -> tuple[float, int]:
    """Fill a fresh database with the counters of ``count`` events; seconds taken and counter rows."""
    began = time.perf_counter()

    async def migrate() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    rows = count_events(journeys(random.Random(seed)), count)
    placeholders = ", ".join("?" * (len(COLUMNS) + 1))
    with sqlite3.connect(path) as connection:
        connection.executemany(f"INSERT INTO event_counts ({', '.join(COLUMNS)}, count) VALUES ({placeholders})", rows)
    connection.close()
    return time.perf_counter() - began, len(rows)


def export(path: Path, out: Path) -> float:
    """The `kollega stats export --period month --out FILE` code path; seconds taken."""
    config = Config(token="", secret_key=SECRET, database_url=f"sqlite+aiosqlite:///{path}")
    parser = argparse.ArgumentParser(prog="kollega")
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["stats", "export", "--period", "month", "--format", "csv", "--out", str(out)])
    began = time.perf_counter()
    if args.func(config, args) != 0:
        raise SystemExit("export failed")
    return time.perf_counter() - began


MONTH = "substr(day, 1, 7)"


def _family(kind: EventKind, index: int = 0) -> str:
    """The SQL condition for one GROUP BY's counter rows of ``kind`` (the first: every event once)."""
    return f"kind = '{kind.value}' AND family = '{family_of(families(kind)[index])}'"


def _column(dim: Dimension) -> str:
    """The counter column a dimension is kept in (county and role have none: they are tags)."""
    assert dim.column is not None, dim.name
    return str(dim.column.key)


MASKS = next(i for i, dims in enumerate(COUNTS[EventKind.CASE_OPENED]) if SUPPORT in dims)
"""Which of case_opened's GROUP BYs has the support and barrier masks."""
RAW_COUNTS = [
    f"SELECT {MONTH}, kind, sum(count) FROM event_counts WHERE "
    + " OR ".join(f"({_family(kind)})" for kind in EventKind)
    + " GROUP BY 1, 2",
    *[
        # One query per dimension, over the rows of the family that holds it; the tags
        # (county and role) grouped as they are stored, by their cell.
        f"SELECT {MONTH}, {'cell' if dims == TAGGED else _column(dim)}, sum(count) FROM event_counts"
        f" WHERE {_family(kind, index)} GROUP BY 1, 2"
        for kind, scans in COUNTS.items()
        for index, dims in enumerate(scans)
        for dim in (dims[:1] if dims == TAGGED else dims)
        if dims == TAGGED or dim.bits is None
    ],
    f"SELECT {MONTH}, "
    + ", ".join(f"sum(CASE WHEN support_mask & {1 << i} != 0 THEN count ELSE 0 END)" for i in range(len(Support)))
    + ", "
    + ", ".join(f"sum(CASE WHEN barrier_mask & {1 << i} != 0 THEN count ELSE 0 END)" for i in range(len(Barrier)))
    + f" FROM event_counts WHERE {_family(EventKind.CASE_OPENED, MASKS)} GROUP BY 1",
]
RAW_PERCENTILES = [
    f"""SELECT m, g, d FROM (
          SELECT m, g, d, c,
                 sum(c) OVER (PARTITION BY m, g ORDER BY d) AS upto,
                 sum(c) OVER (PARTITION BY m, g) AS n
          FROM (SELECT {MONTH} AS m, {group} AS g, duration_s AS d, sum(count) AS c FROM event_counts
                WHERE {_family(kind)} AND duration_s IS NOT NULL GROUP BY 1, 2, 3))
        WHERE (upto - c < (n * 50 + 99) / 100 AND upto >= (n * 50 + 99) / 100)
           OR (upto - c < (n * 90 + 99) / 100 AND upto >= (n * 90 + 99) / 100)"""
    for kind, dims in DURATIONS.items()
    for group in ("1" if dim is None else _column(dim) for dim in dims)
]


def raw(path: Path, queries: list[str]) -> tuple[float, list[list[tuple[object, ...]]]]:
    """Plain sqlite3: the same figures, no ORM, no async, no suppression, no CSV."""
    began = time.perf_counter()
    with sqlite3.connect(path) as connection:
        results = [connection.execute(query).fetchall() for query in queries]
    connection.close()
    return time.perf_counter() - began, results


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def check(out: Path, counts: list[tuple[object, ...]]) -> None:
    """The export's published totals agree with plain SQL."""
    expected = {(str(month), str(kind)): int(str(n)) for month, kind, n in counts}
    with out.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["dimension"] == "all" and row["statistic"] == "count" and row["result"]:
                assert int(row["result"]) == expected.get((row["period"], row["measure"]), 0), row


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench.export_bench", description=__doc__.split("\n\n")[0])
    options.add_argument("--events", type=int, default=1_000_000)
    options.add_argument("--repeat", type=int, default=3, help="timed runs of each side; the median is compared")
    options.add_argument("--db", type=Path, help="database file (default: a temporary one, deleted after)")
    options.add_argument("--quick", action="store_true", help="100,000 events")
    args = options.parse_args(argv)
    if args.quick:
        args.events = 100_000

    with tempfile.TemporaryDirectory() as folder:
        path = args.db or Path(folder) / "bench.db"
        out = Path(folder) / "export.csv"
        if path.exists():
            path.unlink()
        took, counters = generate(path, args.events)
        size = path.stat().st_size / 2**20
        print(f"generated {args.events:,} events in {took:.1f} s: {counters:,} counter rows ({size:.0f} MiB)")
        raw(path, ["SELECT count(*), sum(length(cell)) FROM event_counts"])  # warm the page cache for both sides

        rss_before = peak_rss_kib()
        exports = [export(path, out) for _ in range(args.repeat)]
        rss_growth = peak_rss_kib() - rss_before
        counts_only = [raw(path, RAW_COUNTS) for _ in range(args.repeat)]
        with_percentiles = [raw(path, RAW_COUNTS + RAW_PERCENTILES)[0] for _ in range(args.repeat)]
        check(out, counts_only[0][1][0])

        tracemalloc.start()
        export(path, out)
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        rows = sum(1 for _ in out.open(encoding="utf-8")) - 1
        export_s = statistics.median(exports)
        counts_s = statistics.median(t for t, _ in counts_only)
        full_s = statistics.median(with_percentiles)
        print(f"export (kollega stats export --period month, CSV, {rows:,} rows): {export_s:.2f} s  (runs: {_runs(exports)})")
        print(f"raw sqlite3 GROUP BY, counts only:                   {counts_s:.2f} s  ratio {export_s / counts_s:.2f}x")
        print(f"raw sqlite3 GROUP BY, counts + median/p90 windows:   {full_s:.2f} s  ratio {export_s / full_s:.2f}x")
        print(f"peak RSS growth during export: {rss_growth / 1024:.1f} MiB")
        print(f"peak Python allocations during export (tracemalloc): {python_peak / 2**20:.1f} MiB")
        print("published totals match plain SQL: yes")
    return 0


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


if __name__ == "__main__":
    sys.exit(main())
