"""An outbound burst through the real bot's send path and rate limiter, against Telegram-like limits.

    python -m bench.burst [--messages 600] [--reminders 10] [--quick]

The real Application (``bot.app.build_application``, WITH its AIORateLimiter as
configured there) talks to the tests' fake Bot API (``FakeRequest``), which here
enforces Telegram's flood limits the way Telegram does: a message that would be
the 31st in any 1-second window overall, or the 2nd in 1 second to one chat, is
refused with 429 "Too Many Requests: retry after 1" (counted as a flood error;
PTB's limiter and ``bot.delivery`` then retry it).

Scenarios (each on a fresh Application and fake):

* deliver(): ``--messages`` messages to distinct chats through
  ``bot.handlers.deliver`` -- the path ``tick()`` and the flows use for messages
  to other people (one after the other). This is the one with the goal.
* concurrent send(): the same messages through ``bot.delivery.send`` all at
  once (``asyncio.gather``), as when many handlers send at the same time.
* no limiter (baseline): deliver() on the same Application built without the
  rate limiter (as in ``bench.throughput``): what the limits checker sees when
  nothing paces the bot.
* what-if: deliver() with ``AIORateLimiter(overall_max_rate=1,
  overall_time_period=1/29, max_retries=3)`` patched into ``build_application``
  (a leaky bucket that holds 1 message instead of 30), for comparison.
* tick() reminders: ``--reminders`` doctors whose draft reminder is due; the
  real ``bot.app.tick`` sends each of them one message (the reminder above its question).

Reported: elapsed time, most messages delivered in any 1 s window (and most
attempted), flood errors, delivered count, and elapsed / (messages / 30 s) (ideal ~ 1).
Goal: 0 flood errors in deliver().
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from telegram.ext import AIORateLimiter

import bot.app
from bench._kit import (
    AnyApp,
    BenchTelegram,
    FloodLimits,
    bench_config,
    kollega_application,
    max_in_window,
    open_bench_services,
    quiet_logs,
    table,
    verdict,
)
from bot.app import attach_services, tick
from bot.context import Services
from bot.delivery import send
from bot.handlers import deliver
from flows.intake import Person
from flows.replies import Outbound, Reply, Text
from tests.faketelegram import FakeRequest

RATE = 30  # Telegram: messages per second overall
FIRST_CHAT = 7_000_000


@dataclass
class Outcome:
    name: str
    messages: int
    seconds: float
    limits: FloodLimits

    def row(self) -> tuple[object, ...]:
        ideal = self.messages / RATE
        return (
            self.name, self.messages, f"{self.seconds:.2f}", max_in_window(self.limits.delivered),
            max_in_window(self.limits.attempts), self.limits.floods, len(self.limits.delivered),
            f"{self.seconds / ideal:.2f}",
        )  # fmt: skip


Scenario = Callable[[AnyApp, Services, int], Any]


def _outbound(count: int) -> list[Outbound]:
    reply = Reply(Text("reminder.expired"))
    return [Outbound(FIRST_CHAT + i, reply, "nb") for i in range(count)]


async def _deliver(app: AnyApp, services: Services, count: int) -> None:
    await deliver(services, app.bot, _outbound(count))


async def _concurrent(app: AnyApp, services: Services, count: int) -> None:
    await asyncio.gather(*(send(app.bot, o.reach, o.reply, o.language) for o in _outbound(count)))


async def _reminders(app: AnyApp, services: Services, count: int) -> None:
    for i in range(count):  # drafts whose reminder falls due (set up before the clock starts)
        await services.intake.start(Person(services.keyring.pseudonym(FIRST_CHAT + i), FIRST_CHAT + i))


async def _tick(app: AnyApp, services: Services, count: int) -> None:
    later = services.clock() + services.config.flow.draft_reminder_after + timedelta(minutes=1)
    sent = await tick(app, later)
    if sent != count:  # one message per reminder: the reminder above its question
        raise RuntimeError(f"expected {count} reminder messages, tick() sent {sent}")


async def _run(name: str, scenario: Scenario, count: int, *, rate_limited: bool = True, setup: Scenario | None = None,
               limiter: Callable[..., Any] | None = None) -> Outcome:  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        config = bench_config(Path(folder))
        services = await open_bench_services(config, counsellors=0)
        limits = FloodLimits()
        telegram = BenchTelegram(limits)
        if limiter is not None:
            with mock.patch.object(bot.app, "AIORateLimiter", limiter):
                app = kollega_application(config, FakeRequest(telegram), rate_limited=True)
        else:
            app = kollega_application(config, FakeRequest(telegram), rate_limited=rate_limited)
        attach_services(app, services)
        try:
            async with app:
                if setup is not None:
                    await setup(app, services, count)
                began = time.perf_counter()
                await scenario(app, services, count)
                seconds = time.perf_counter() - began
        finally:
            await services.engine.dispose()
    messages = count
    return Outcome(name, messages, seconds, limits)


def _what_if(**kwargs: Any) -> AIORateLimiter:
    return AIORateLimiter(overall_max_rate=1, overall_time_period=1 / 29, max_retries=kwargs.get("max_retries", 0))


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.split("\n\n")[0])
    options.add_argument("--messages", type=int, default=600)
    options.add_argument("--reminders", type=int, default=10, help="doctors in the tick() scenario (0: skip it)")
    options.add_argument("--no-what-if", action="store_true", help="skip the what-if limiter scenario")
    options.add_argument("--quick", action="store_true", help="120 messages, 5 reminders")
    args = options.parse_args(argv)
    count = 120 if args.quick else args.messages
    reminders = 5 if args.quick else args.reminders

    print(f"{count} messages to distinct chats; the fake refuses (429) a 31st message in 1 s or a 2nd to one chat in 1 s")
    with quiet_logs():
        outcomes = [
            asyncio.run(_run("deliver(), product limiter", _deliver, count)),
            asyncio.run(_run("concurrent send(), product limiter", _concurrent, count)),
            asyncio.run(_run("deliver(), no limiter (baseline)", _deliver, count, rate_limited=False)),
        ]
        if not args.no_what_if:
            outcomes.append(asyncio.run(_run("deliver(), what-if limiter 1 per 1/29 s", _deliver, count, limiter=_what_if)))
        if reminders:
            outcomes.append(asyncio.run(_run(f"tick(): {reminders} draft reminders", _tick, reminders, setup=_reminders)))
    header = ("scenario", "messages", "seconds", "max/1s", "max tried/1s", "floods", "delivered", "elapsed/ideal")
    print(table([o.row() for o in outcomes], header))
    main_outcome = outcomes[0]
    print(f"ideal: {count} / {RATE} msg/s = {count / RATE:.1f} s; the product's limiter (bot.app.build_application):"
          " AIORateLimiter(overall_max_rate=1, overall_time_period=1/29, max_retries=3)")  # fmt: skip
    floods = main_outcome.limits.floods
    ratio = main_outcome.seconds / (count / RATE)
    print(f"deliver(): {floods} flood errors, elapsed/ideal {ratio:.2f}  (goal: 0 flood errors)  {verdict(floods == 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
