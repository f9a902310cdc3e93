"""An outbound burst through the real outbox and its sender, against Telegram-like limits.

    python -m bench.burst [--messages 600] [--reminders 10] [--no-what-if] [--quick]

The real Application (``bot.app.build_application``) and its outbox sender
(``bot.outbox.Sender``, made by ``bot.app.attach_services``) talk to the tests'
fake Bot API (``FakeRequest``), which here enforces Telegram's flood limits the
way Telegram does: a message that would be the 31st in any 1-second window
overall, or the 2nd in 1 second to one chat, is refused with 429 "Too Many
Requests: retry after 1" (counted as a flood error; the sender then makes that
chat's lane wait and tries again, the other lanes going on).

The flows never call Telegram to send: they post ``Outgoing`` rows into the unit
of work that decided them, and the sender delivers them once it commits, lane
by lane (one lane per chat), and paces itself at 29 messages a second overall
(``bot.app.SEND_RATE``) unless the Application is built with ``limit_rate=False``.

Scenarios (each on a fresh Application, database and fake):

* one unit of work, paced: ``--messages`` messages to distinct chats posted in
  one unit of work (``SqlStore.transaction`` and ``SqlTx.post``), then
  ``Sender.drain()``: a broadcast, or a timer that tells many people at once.
  This is the one with the goal.
* one unit of work per message, paced: the same messages, each posted by its own
  unit of work, all at once (``asyncio.gather``): as when many updates are
  handled at the same time, each posting a message.
* one unit of work, unpaced (baseline): the first scenario on an Application
  built with ``limit_rate=False`` (as in ``bench.throughput``): what the limits
  checker sees when nothing paces the bot, and what the 429s then cost.
* what-if: the first scenario with the sender paced at exactly 30 messages a
  second, Telegram's nominal limit, for comparison.
* tick() reminders: ``--reminders`` doctors whose draft reminder is due; the
  real ``bot.app.tick`` runs each timer in its own unit of work, which posts one
  message (the reminder above its question); then ``Sender.drain()``.

Timed: from the first post until ``drain()`` returns (everything delivered and
its rows deleted). Reported: elapsed time, most messages delivered in any 1 s
window (and most attempted), flood errors, delivered count, and elapsed /
(messages / 30 s) (ideal ~ 1). Goal: 0 flood errors in the first scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench._kit import (
    AnyApp,
    BenchTelegram,
    FloodLimits,
    bench_config,
    close_services,
    kollega_application,
    max_in_window,
    open_bench_services,
    quiet_logs,
    table,
    verdict,
)
from bot.app import SEND_RATE, attach_services, tick
from bot.context import Services
from bot.outbox import Sender
from flows.catalogue import render
from flows.intake import Person
from flows.replies import Text
from storage.outbox import Method, Outgoing
from tests.faketelegram import FakeRequest

RATE = 30  # Telegram: messages per second overall
FIRST_CHAT = 7_000_000


@dataclass
class Outcome:
    name: str
    messages: int
    seconds: float
    limits: FloodLimits
    given_up: int

    def row(self) -> tuple[object, ...]:
        ideal = self.messages / RATE
        return (
            self.name, self.messages, f"{self.seconds:.2f}", max_in_window(self.limits.delivered),
            max_in_window(self.limits.attempts), self.limits.floods, len(self.limits.delivered),
            f"{self.seconds / ideal:.2f}",
        )  # fmt: skip


Scenario = Callable[[AnyApp, Services, Sender, int], Awaitable[None]]


def _message(services: Services, i: int) -> Outgoing:
    text = render(Text("reminder.expired"), services.config.flow.default_language)
    return Outgoing(FIRST_CHAT + i, Method.SEND, {"text": text})


async def _one_unit(app: AnyApp, services: Services, sender: Sender, count: int) -> None:
    async with services.store.transaction() as tx:
        for i in range(count):
            await tx.post(_message(services, i), services.clock())
    await sender.drain()


async def _unit_each(app: AnyApp, services: Services, sender: Sender, count: int) -> None:
    async def post(i: int) -> None:
        # Each task has its own context, so each opens a unit of work of its own.
        async with services.store.transaction() as tx:
            await tx.post(_message(services, i), services.clock())

    await asyncio.gather(*(post(i) for i in range(count)))
    await sender.drain()


async def _reminders(app: AnyApp, services: Services, sender: Sender, count: int) -> None:
    for i in range(count):  # drafts whose reminder falls due (set up before the clock starts)
        await services.service.intake.start(Person(services.keyring.pseudonym(FIRST_CHAT + i), FIRST_CHAT + i))


async def _tick(app: AnyApp, services: Services, sender: Sender, count: int) -> None:
    later = services.clock() + services.config.flow.draft_reminder_after + timedelta(minutes=1)
    before = sender.counts["delivered"]
    run = await tick(app, later)
    await sender.drain()
    sent = sender.counts["delivered"] - before
    if run.ran != count or sent != count:  # one message per reminder: the reminder above its question
        raise RuntimeError(f"expected {count} reminders and messages; tick() ran {run.ran} timers, {sent} delivered")


async def _run(name: str, scenario: Scenario, count: int, *, paced: bool = True, rate: float | None = None,
               setup: Scenario | None = None) -> Outcome:  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        config = bench_config(Path(folder))
        services = await open_bench_services(config, counsellors=0)
        limits = FloodLimits()
        telegram = BenchTelegram(limits)
        app = kollega_application(config, FakeRequest(telegram), rate_limited=paced)
        sender = attach_services(app, services)
        if rate is not None:
            sender.rate = rate
        try:
            async with app:
                if setup is not None:
                    await setup(app, services, sender, count)
                began = time.perf_counter()
                await scenario(app, services, sender, count)
                seconds = time.perf_counter() - began
        finally:
            await close_services(services)
    return Outcome(name, count, seconds, limits, sender.counts["given_up"])


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.split("\n\n")[0])
    options.add_argument("--messages", type=int, default=600)
    options.add_argument("--reminders", type=int, default=10, help="doctors in the tick() scenario (0: skip it)")
    options.add_argument("--no-what-if", action="store_true", help="skip the what-if pace (30/s) scenario")
    options.add_argument("--quick", action="store_true", help="120 messages, 5 reminders")
    args = options.parse_args(argv)
    count = 120 if args.quick else args.messages
    reminders = 5 if args.quick else args.reminders

    print(f"{count} messages to distinct chats; the fake refuses (429) a 31st message in 1 s or a 2nd to one chat in 1 s")
    with quiet_logs():
        outcomes = [
            asyncio.run(_run(f"one unit of work, sender paced {SEND_RATE:g}/s", _one_unit, count)),
            asyncio.run(_run(f"a unit of work per message, paced {SEND_RATE:g}/s", _unit_each, count)),
            asyncio.run(_run("one unit of work, unpaced (baseline)", _one_unit, count, paced=False)),
        ]
        if not args.no_what_if:
            outcomes.append(asyncio.run(_run("one unit of work, what-if pace 30/s", _one_unit, count, rate=30.0)))
        if reminders:
            outcomes.append(asyncio.run(_run(f"tick(): {reminders} draft reminders", _tick, reminders, setup=_reminders)))
    header = ("scenario", "messages", "seconds", "max/1s", "max tried/1s", "floods", "delivered", "elapsed/ideal")
    print(table([o.row() for o in outcomes], header))
    for outcome in outcomes:
        if outcome.given_up:
            print(f"{outcome.name}: the sender gave up on {outcome.given_up} messages ({outcome.limits.floods} flood errors)")
    main_outcome = outcomes[0]
    print(f"ideal: {count} / {RATE} msg/s = {count / RATE:.1f} s; the product's pace (bot.app.SEND_RATE):"
          f" the outbox sender starts one message every 1/{SEND_RATE:g} s overall")  # fmt: skip
    floods = main_outcome.limits.floods
    ratio = main_outcome.seconds / (count / RATE)
    goal = f"(goal: 0 flood errors)  {verdict(floods == 0)}"
    print(f"one unit of work, paced: {floods} flood errors, elapsed/ideal {ratio:.2f}  {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
