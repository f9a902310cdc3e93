"""Resident memory per triage in progress: does conversation state live in the database?

    python -m bench.memory [--drafts 10000] [--concurrency 8] [--quick]

1. Builds the real Application (``bot.app.build_application`` with the tests'
   ``FakeRequest``, ``limit_rate=False`` so the outbox sender does not pace the
   drive at 29 msg/s) and its services (``open_services``, SQLite file in a
   temporary directory), walks a few doctors through a whole triage as a warm-up,
   and measures the idle resident set size (``/proc/self/statm`` after ``gc.collect()``).
2. Drives ``--drafts`` doctors through the real Application (every update goes
   through ``bot.serve.handle_update``, and what it posts is delivered by the
   outbox sender before the doctor's next step), ``--concurrency`` at a time, each to
   one of the first triage steps in turn (consent, who, situation, safety:
   1 to 4 updates); none confirms, so every one of them is a draft in flight.
   Once a doctor is parked, the fake Bot API forgets its chat: what is left in the
   process is the bot's.
3. Measures RSS at four checkpoints and reports (RSS - idle) / drafts, the
   marginal bytes per draft between checkpoints, and the SQLite file growth
   per draft (after a WAL checkpoint; the draft, its timer, and the claim row
   each update leaves) for information. Goal: < 2 KB per draft.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench._kit import (
    TRIAGE_PRESSES,
    Driver,
    bench_config,
    close_services,
    kollega_bot,
    open_bench_services,
    quiet_logs,
    rss_bytes,
    table,
    verdict,
)

GOAL = 2048
PARK_STEPS = 4  # doctor i does 1 + i mod 4 updates: /start, consent, who, situation
WARM_UP = 20
FIRST_ID = 1_000_000


def _database_bytes(folder: Path) -> int:
    """The database's size on disk after a WAL checkpoint (so the WAL holds nothing)."""
    with contextlib.closing(sqlite3.connect(folder / "kollega.db")) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(f.stat().st_size for f in folder.glob("kollega.db*"))


async def run(drafts: int, concurrency: int, checkpoints: int) -> list[tuple[int, int, int, float]]:
    """[(drafts, rss bytes, database bytes, seconds)] from idle (0 drafts) on."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        config = bench_config(folder)
        services = await open_bench_services(config)
        app, telegram, errors = kollega_bot(config, services)
        try:
            async with app:
                driver = Driver(app, telegram)

                async def doctor(user_id: int, updates: int) -> None:
                    user = telegram.user(user_id)
                    for step in range(updates):
                        await driver.feed(driver.update_for(user, step, TRIAGE_PRESSES))
                    telegram.forget_chat(user_id)

                async def drive(first: int, count: int, updates: int | None = None) -> None:
                    queue = iter(range(first, first + count))

                    async def worker() -> None:
                        for user_id in queue:
                            await doctor(user_id, updates or 1 + user_id % PARK_STEPS)

                    await asyncio.gather(*(worker() for _ in range(concurrency)))

                await drive(1, WARM_UP, 1 + len(TRIAGE_PRESSES))  # whole triages, then a few drafts
                await drive(FIRST_ID - WARM_UP, WARM_UP)
                errors.check()
                began = time.perf_counter()
                points = [(0, rss_bytes(), _database_bytes(folder), 0.0)]
                done = 0
                for k in range(1, checkpoints + 1):
                    target = drafts * k // checkpoints
                    await drive(FIRST_ID + done, target - done)
                    done = target
                    errors.check()
                    points.append((done, rss_bytes(), _database_bytes(folder), time.perf_counter() - began))
                async with services.store.transaction() as tx:
                    from sqlalchemy import func, select

                    from storage.models import DraftRow

                    held = await tx.session.scalar(select(func.count()).select_from(DraftRow))
                if held != drafts + WARM_UP:
                    raise RuntimeError(f"expected {drafts + WARM_UP} drafts in the database, found {held}")
                return points
        finally:
            await close_services(services)


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    options.add_argument("--drafts", type=int, default=10_000)
    options.add_argument("--concurrency", type=int, default=8, help="doctors acting at once while driving")
    options.add_argument("--quick", action="store_true", help="1,000 drafts")
    args = options.parse_args(argv)
    drafts = 1_000 if args.quick else args.drafts

    print(
        f"{drafts:,} drafts driven through the real Application ({args.concurrency} doctors at a time,"
        f" 1-{PARK_STEPS} updates each);\nthe outbox sender unpaced while driving (build_application(limit_rate=False))"
    )
    gc.collect()
    with quiet_logs():
        points = asyncio.run(run(drafts, args.concurrency, 4))
    _, idle, idle_db, _ = points[0]
    rows = []
    for (n0, rss0, _, _), (n, rss, db, took) in itertools.pairwise(points):
        rows.append((
            f"{n:,}", f"{took:.0f}", f"{rss / 2**20:.1f}", f"{(rss - idle) / 2**20:+.1f}", f"{(rss - idle) / n:,.0f}",
            f"{(rss - rss0) / (n - n0):,.0f}", f"{(db - idle_db) / n:,.0f}",
        ))  # fmt: skip
    print(f"idle bot (after warm-up): RSS {idle / 2**20:.1f} MiB, database {idle_db / 2**20:.1f} MiB")
    header = ("drafts", "s", "RSS MiB", "growth MiB", "B/draft", "marginal B/draft", "database B/draft")
    print(table(rows, header))
    per_draft = (points[-1][1] - idle) / drafts
    print(f"(RSS with drafts - idle) / drafts: {per_draft:,.0f} B  (goal < {GOAL:,} B)  {verdict(per_draft < GOAL)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
