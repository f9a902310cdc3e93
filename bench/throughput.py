"""How many updates a second does the real bot handle, against a bare PTB echo bot?

    python -m bench.throughput [--doctors 200] [--repeat 1] [--counsellors 3] [--quick]

N synthetic doctors each walk a whole triage (/start, then the 14 presses of
``tests.scenarios``: consent ... confirm; 15 updates) at the same time: one
coroutine per doctor feeds its own updates in order, ``asyncio.gather`` runs
all doctors together, and every update goes through the pipeline ``kollega run``
uses (``bot.serve.handle_update``: the update's claim, its handlers and the
messages they post to the outbox, committed as one unit of work), after which
the doctor waits until the outbox sender has delivered everything in hand, its
own messages among them (``bench._kit.Driver``; the delivered rows are deleted
by the next unit of work, as in production). The real Application is
``bot.app.build_application`` with the tests' ``FakeRequest``; ``open_services``
on a SQLite file in a temporary directory, with 3 counsellors and a coordinator
on the roster, so confirmed cases are routed as in production.

Baseline in the same run: a bare PTB Application on the same kind of fake Bot
API, with one echo handler that answers each update with one ``send_message``,
fed the same number of updates (1 command and 14 presses per doctor) the same way.
For information, also the bare echo with the bot's own per-update bookkeeping
(``SqlStore.update``: the update's claim, one INSERT in one transaction on the
same kind of SQLite file, with nothing else in it), the least a bot that keeps its
state in SQLite does per update. SQL statements (BEGIN IMMEDIATE included) are
counted with an engine event.

Nothing is paced: Telegram's 30 msg/s would otherwise be all we measured. The
real one is built with ``build_application(limit_rate=False)``, which leaves its
outbox sender unpaced; nothing else differs. Goal: kollega/bare >= 0.5.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from telegram import Update
from telegram.ext import TypeHandler

from bench._kit import (
    ECHO_LABEL,
    NO_LIMITER,
    TRIAGE_PRESSES,
    TRIAGE_UPDATES,
    BenchTelegram,
    Driver,
    Errors,
    bare_application,
    bench_config,
    close_services,
    kollega_bot,
    open_bench_services,
    quiet_logs,
    table,
    verdict,
)
from bot.context import Services
from tests.faketelegram import FakeRequest
from tests.scenarios import case_code

GOAL = 0.5
WARM_UP = 5


async def _walk(driver: Driver, user_ids: Sequence[int], presses: Sequence[str]) -> float:
    """Every doctor walks ``presses`` after /start, all doctors at once; seconds taken."""

    async def doctor(user_id: int) -> None:
        user = driver.telegram.user(user_id, first_name="Kari")
        for step in range(len(presses) + 1):
            await driver.feed(driver.update_for(user, step, presses))

    began = time.perf_counter()
    await asyncio.gather(*(doctor(u) for u in user_ids))
    return time.perf_counter() - began


@dataclass(order=True)
class Run:
    seconds: float
    updates: int
    api_calls: int
    statements: int = 0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def row(self, name: str) -> tuple[object, ...]:
        sql = f"{self.statements / self.updates:.1f}" if self.statements else "-"
        return (name, self.updates, f"{self.seconds:.2f}", f"{self.rate:,.0f}", f"{self.api_calls / self.updates:.1f}", sql)


def _count_statements(services: Services) -> list[int]:
    """A counter of SQL statements sent to the database (an engine event, ~1 us each)."""
    counter = [0]

    def count(*args: object) -> None:
        counter[0] += 1

    event.listen(services.engine.sync_engine, "before_cursor_execute", count)
    return counter


async def run_kollega(doctors: int, counsellors: int) -> Run:
    """``doctors`` whole triages through the real bot, all at once."""
    with tempfile.TemporaryDirectory() as folder:
        config = bench_config(Path(folder))
        services = await open_bench_services(config, counsellors)
        statements = _count_statements(services)
        app, telegram, errors = kollega_bot(config, services)
        try:
            async with app:
                driver = Driver(app, telegram)
                await _walk(driver, range(1, WARM_UP + 1), TRIAGE_PRESSES)
                ids = range(1000, 1000 + doctors)
                driver.updates, calls, statements[0] = 0, telegram.api_calls, 0
                took = await _walk(driver, ids, TRIAGE_PRESSES)
                errors.check()
                for user_id in ids:  # every doctor got a case code
                    case_code(telegram.last_text(telegram.user(user_id)))
                return Run(took, driver.updates, telegram.api_calls - calls, statements[0])
        finally:
            await close_services(services)


async def run_bare(doctors: int, with_database: bool = False) -> Run:
    """The baseline; ``with_database`` adds the bot's own per-update transaction
    (``SqlStore.update``: the claim, one INSERT in one SQLite transaction) before the echo."""
    with tempfile.TemporaryDirectory() as folder:
        telegram = BenchTelegram()
        app = bare_application(FakeRequest(telegram))
        services = None
        if with_database:
            services = await open_bench_services(bench_config(Path(folder)), counsellors=0)
            store, clock = services.store, services.clock

            async def remember(update: Update, context: object) -> None:
                async with store.update(update.update_id, clock()):
                    pass  # the claim alone: the unit commits with nothing else in it

            app.add_handler(TypeHandler(Update, remember), group=-1)
        errors = Errors()
        errors.watch(app)
        presses = [ECHO_LABEL] * len(TRIAGE_PRESSES)
        try:
            async with app:
                driver = Driver(app, telegram)
                await _walk(driver, range(1, WARM_UP + 1), presses)
                driver.updates, calls = 0, telegram.api_calls
                statements = _count_statements(services) if services else [0]
                took = await _walk(driver, range(1000, 1000 + doctors), presses)
                errors.check()
                return Run(took, driver.updates, telegram.api_calls - calls, statements[0])
        finally:
            if services is not None:
                await close_services(services)


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0])
    options.add_argument("--doctors", type=int, default=200)
    options.add_argument("--repeat", type=int, default=1, help="runs of each side; the best is compared")
    options.add_argument("--counsellors", type=int, default=3, help="counsellors on the roster (capacity 2 each)")
    options.add_argument("--quick", action="store_true", help="50 doctors")
    args = options.parse_args(argv)
    doctors = 50 if args.quick else args.doctors

    print(f"{doctors} doctors x {TRIAGE_UPDATES} updates, fed concurrently; {NO_LIMITER}")
    with quiet_logs():
        bare = min(asyncio.run(run_bare(doctors)) for _ in range(args.repeat))
        bare_db = min(asyncio.run(run_bare(doctors, with_database=True)) for _ in range(args.repeat))
        kollega = min(asyncio.run(run_kollega(doctors, args.counsellors)) for _ in range(args.repeat))
    rows = [
        bare.row("bare PTB echo (baseline)"),
        bare_db.row("bare echo + 1 SQLite tx/update (info)"),
        kollega.row(f"kollega ({args.counsellors} counsellors)"),
    ]
    print(table(rows, ("application", "updates", "seconds", "updates/s", "API calls/update", "SQL stmts/update")))
    ratio = kollega.rate / bare.rate
    print(f"ratio kollega/(bare echo + 1 SQLite tx): {kollega.rate / bare_db.rate:.2f}")
    print(f"ratio kollega/bare: {ratio:.2f}  (goal >= {GOAL})  {verdict(ratio >= GOAL)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
