"""What one update costs: transactions, SQL statements, thread hops and Telegram calls, by kind of update.

    python -m bench.work [--doctors 20] [--quick]

Counted, not timed: the figures are exact, and the same on every run.

The real pipeline, as ``kollega run`` handles an update: ``bot.serve.handle_update``
(the update's claim, its handlers and the outbox rows they post: one unit of work),
then the outbox sender (``bot.outbox.Sender``) delivers what was committed, with
the transactions it needs of its own. ``--doctors`` doctors (and as many counsellors,
capacity 1 each, so every confirmed case is offered at once) go through a case
together, one step at a time; six steps are measured:

* /start: a new doctor's first update;
* triage press: SELF, pressed after CONSENT;
* confirm: the summary's last button, which opens the case and routes it (an offer card);
* Accept: the counsellor takes the case offered to them;
* doctor's text: relayed to the counsellor (a copy whose message id is remembered,
  so that a reply to it finds its case);
* counsellor's reply: relayed to the doctor.

How it is counted, on ``services.engine.sync_engine``: a transaction is a ``begin``
engine event, a commit a ``commit`` event, a statement a ``before_cursor_execute``
event (the BEGIN IMMEDIATE that ``storage.db`` sends to start each transaction
included); a thread hop is one call handed to aiosqlite's worker thread
(``aiosqlite.core.Connection._execute``, which every cursor and connection call
goes through: each execute, fetch, commit, rollback and cursor made or closed;
only opening a connection does not, and the pool has its connection open by
then), a round trip in which the update waits for that thread. Each is put on
the update's side when it happens in the task running ``handle_update``, and on
the sender's side when it happens in one of the sender's lane tasks (nothing
else touches the database during the run: the bench checks). Telegram calls are
what reaches the fake Bot API: the messages, edits and copies, and the answer to
a button press.

Deleting a delivered outbox row is deferred to the next unit of work, whatever
it is for (``SqlStore.delivered``): it costs one DELETE there, and no transaction.
So each step is measured in a steady stream, as in a running bot: after every
update the bench waits until the sender has delivered what it posted (without
``Sender.drain()``'s flush), and the next update's unit deletes those rows. One
more doctor (or counsellor) does the step first, unmeasured, so the first measured
update finds the same rows waiting as every later one. The sender's flush after
``bot.outbox.FLUSH_SECONDS`` of quiet is pushed beyond the run, so wall-clock time
plays no part (the next update always comes first). Reported: per-update averages
over the measured updates. Goals (the issue): a triage press is 1 transaction,
a relayed message at most 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any
from unittest import mock

import aiosqlite.core
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

import bot.outbox
from bench._kit import (
    TRIAGE_PRESSES,
    AnyApp,
    BenchTelegram,
    Errors,
    bench_config,
    close_services,
    delivered,
    kollega_bot,
    open_bench_services,
    quiet_logs,
    table,
    verdict,
)
from bot.outbox import Sender
from bot.serve import handle_update
from tests.faketelegram import FakeUser, JSONDict
from tests.scenarios import ACCEPT, CONFIRM, CONSENT, SELF

FIRST_DOCTOR = 1_000
FIRST_COUNSELLOR = 5_000_000  # bench._kit.open_bench_services numbers its counsellors from here
DOCTOR_TEXT = "Hei, takk for at du tok saken. Kan vi snakke i morgen?"
COUNSELLOR_TEXT = "Hei! Ja, i morgen passer fint. Når er det best for deg?"


@dataclass
class Tally:
    transactions: int = 0
    commits: int = 0
    statements: int = 0
    hops: int = 0

    def __sub__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))


SIDE: ContextVar[str] = ContextVar("bench_work_side", default="")
"""Whose work the current task does: "update" (set around handle_update) or "sender" (set
as each sender lane starts). A context variable rather than the task itself: SQLAlchemy
commits and closes a session in a task of its own (``AsyncSession``'s ``__aexit__`` runs
to completion shielded), which inherits the context of the task that ends the unit."""


class Meter:
    """Counts the database work, on the update's side or the sender's (see the module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.update = Tally()
        self.sender = Tally()
        self.strangers: set[str] = set()
        """Anything else that used the database (there should be nothing: see ``check``)."""

    def check(self) -> None:
        if self.strangers:
            raise RuntimeError(f"database work outside handle_update and the sender's lanes: {sorted(self.strangers)}")

    def _side(self) -> Tally:
        # The events run in the task that awaits the database, and in its context
        # (SQLAlchemy's greenlets take the task's context along).
        side = SIDE.get()
        if side == "update":
            return self.update
        if side != "sender":
            task = asyncio.current_task()
            self.strangers.add(task.get_name() if task is not None else "no task")
        return self.sender

    def _begin(self, *_: object) -> None:
        self._side().transactions += 1

    def _commit(self, *_: object) -> None:
        self._side().commits += 1

    def _statement(self, *_: object) -> None:
        self._side().statements += 1

    @contextmanager
    def listening(self) -> Iterator[None]:
        hooks = {"begin": self._begin, "commit": self._commit, "before_cursor_execute": self._statement}
        for name, hook in hooks.items():
            event.listen(self.engine, name, hook)
        execute, work = aiosqlite.core.Connection._execute, Sender._work
        meter = self

        async def counted(connection: aiosqlite.core.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            meter._side().hops += 1
            return await execute(connection, fn, *args, **kwargs)

        async def lane(sender: Sender, name: str) -> None:
            # A lane task starts in a copy of the context it was made in (the update's unit,
            # which hands it its messages): from here on, its work is the sender's.
            SIDE.set("sender")
            await work(sender, name)

        try:
            with mock.patch.object(aiosqlite.core.Connection, "_execute", counted), mock.patch.object(Sender, "_work", lane):
                yield
        finally:
            for name, hook in hooks.items():
                event.remove(self.engine, name, hook)


@dataclass
class Step:
    """One measured kind of update: per-update averages over ``updates``."""

    kind: str
    updates: int
    update: Tally
    sender: Tally
    calls: int

    def per(self, total: int) -> Fraction:
        return Fraction(total, self.updates)

    @property
    def transactions(self) -> Fraction:
        return self.per(self.update.transactions + self.sender.transactions)

    @property
    def all_committed(self) -> bool:
        return all(side.commits == side.transactions for side in (self.update, self.sender))

    def row(self) -> tuple[object, ...]:
        u, s = self.update, self.sender
        return (
            self.kind, self.updates, _show(self.per(u.transactions)), _show(self.per(s.transactions)),
            _show(self.per(u.statements)), _show(self.per(s.statements)), _show(self.per(u.hops)), _show(self.per(s.hops)),
            _show(self.per(self.calls)),
        )  # fmt: skip


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.2f}"


class Bench:
    def __init__(self, app: AnyApp, telegram: BenchTelegram, sender: Sender, meter: Meter, errors: Errors) -> None:
        self.app = app
        self.telegram = telegram
        self.sender = sender
        self.meter = meter
        self.errors = errors

    async def feed(self, update: JSONDict) -> None:
        """One update through the pipeline, then its deliveries (their rows left for the next unit)."""
        parsed = Update.de_json(update, self.app.bot)
        side = SIDE.set("update")
        try:
            await handle_update(self.app, parsed)
        finally:
            SIDE.reset(side)
        await delivered(self.sender)
        self.errors.check()

    async def walk(self, users: Sequence[FakeUser], make: Callable[[FakeUser], JSONDict]) -> None:
        for user in users:
            await self.feed(make(user))

    async def step(self, kind: str, users: Sequence[FakeUser], make: Callable[[FakeUser], JSONDict]) -> Step:
        """The first user does it unmeasured (see the module docstring), the others measured."""
        primer, *measured = users
        await self.feed(make(primer))
        update, sender, calls = replace(self.meter.update), replace(self.meter.sender), self.telegram.api_calls
        await self.walk(measured, make)
        return Step(kind, len(measured), self.meter.update - update, self.meter.sender - sender, self.telegram.api_calls - calls)


async def measure(doctors: int) -> list[Step]:
    people = doctors + 1  # the first of each does the step unmeasured
    with tempfile.TemporaryDirectory() as folder:
        config = bench_config(Path(folder))
        services = await open_bench_services(config, counsellors=people, capacity=1)
        app, telegram, errors = kollega_bot(config, services)
        assert services.sender is not None
        meter = Meter(services.engine)
        try:
            # Pushed beyond the run: it would fire at wall-clock moments (see the module docstring).
            with mock.patch.object(bot.outbox, "FLUSH_SECONDS", 1e6), meter.listening():
                async with app:
                    steps = await _case_for_each(Bench(app, telegram, services.sender, meter, errors), people)
            meter.check()
            return steps
        finally:
            await close_services(services)


async def _case_for_each(bench: Bench, people: int) -> list[Step]:
    telegram = bench.telegram
    doctors = [telegram.user(FIRST_DOCTOR + i, first_name="Kari") for i in range(people)]
    counsellors = [telegram.user(FIRST_COUNSELLOR + i, first_name=f"Bench{i}") for i in range(people)]

    def press(label: str) -> Callable[[FakeUser], JSONDict]:
        return lambda user: telegram.press(user, label)

    steps = [await bench.step("/start", doctors, lambda user: user.send_command("/start"))]
    await bench.walk(doctors, press(CONSENT))
    steps.append(await bench.step("triage press (SELF after CONSENT)", doctors, press(SELF)))
    for label in TRIAGE_PRESSES[2:-1]:
        await bench.walk(doctors, press(label))
    steps.append(await bench.step("confirm (opens and routes a case)", doctors, press(CONFIRM)))
    steps.append(await bench.step("counsellor's Accept", counsellors, press(ACCEPT)))
    steps.append(await bench.step("doctor's text, relayed", doctors, lambda user: user.send_text(DOCTOR_TEXT)))
    steps.append(await bench.step("counsellor's reply, relayed", counsellors, lambda user: user.send_text(COUNSELLOR_TEXT)))
    _check_relayed(telegram, doctors, counsellors)
    return steps


def _check_relayed(telegram: BenchTelegram, doctors: Sequence[FakeUser], counsellors: Sequence[FakeUser]) -> None:
    """Every counsellor got a doctor's words, every doctor a counsellor's: the steps did what they are named for."""
    for user, words in [*((c, DOCTOR_TEXT) for c in counsellors), *((d, COUNSELLOR_TEXT) for d in doctors)]:
        if words not in (telegram.last_text(user) or ""):
            raise RuntimeError(f"user {user.id} was not relayed {words!r}; last: {telegram.last_text(user)!r}")


GOALS: dict[str, tuple[str, Callable[[Fraction], bool]]] = {
    "triage press (SELF after CONSENT)": ("= 1", lambda n: n == 1),
    "doctor's text, relayed": ("<= 2", lambda n: n <= 2),
    "counsellor's reply, relayed": ("<= 2", lambda n: n <= 2),
}


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench.work", description=__doc__.split("\n\n")[0])
    options.add_argument("--doctors", type=int, default=20, help="measured updates of each kind (plus one unmeasured)")
    options.add_argument("--quick", action="store_true", help="5 doctors")
    args = options.parse_args(argv)
    doctors = 5 if args.quick else args.doctors

    print(
        f"{doctors} doctors and {doctors} counsellors (plus one of each unmeasured), each kind of update in a steady stream;"
        "\nper update, through handle_update and the outbox sender; a delivered row's DELETE is in the next update's unit;"
        "\nstatements include each BEGIN IMMEDIATE; hops: calls into aiosqlite's thread"
    )
    with quiet_logs():
        steps = asyncio.run(measure(doctors))
    header = ("update", "updates", "tx: update", "tx: sender", "stmts: update", "stmts: sender", "hops: update",
              "hops: sender", "Telegram calls")  # fmt: skip
    print(table([s.row() for s in steps], header))
    uncommitted = [s.kind for s in steps if not s.all_committed]
    print(f"transactions not committed: {', '.join(uncommitted)}" if uncommitted else "every transaction committed")
    for step in steps:
        if step.kind in GOALS:
            goal, met = GOALS[step.kind]
            shown = f"{step.kind}: transactions per update {_show(step.transactions)}"
            print(f"{shown}  (goal {goal})  {verdict(met(step.transactions))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
