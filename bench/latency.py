"""Per-update latency of the real bot with many conversations in flight, against a bare PTB echo bot.

    python -m bench.latency [--in-flight 500] [--updates 1500] [--concurrency 1] [--quick]

1. Starts ``--in-flight`` doctors through the real Application and parks them
   at every step of the triage in turn (doctor i has done 1 + i mod 14 of the
   15 updates of ``tests.scenarios``' whole triage; none has confirmed yet).
2. Feeds a stream of ``--updates`` updates, each the next step of a doctor
   picked at random among those in flight; a doctor who confirms is replaced by
   a new one (/start), so the number in flight stays the same. Every update is
   timed from the start of ``bot.serve.handle_update`` (its one unit of work)
   until the outbox sender has delivered what it posted, so the figure includes
   delivery (building the ``Update`` is not timed). The delivered rows are
   deleted by the next update's unit, as in production (``bench._kit.delivered``).
   By default the stream is fed one update at a time: the cost of one update on
   its own. ``kollega run`` handles up to ``bot.serve.IN_FLIGHT`` updates at once
   (one chat's in order); ``--concurrency K`` keeps K in progress instead, and
   each then also waits for the deliveries of the others in progress.
3. The same with a bare PTB Application (one echo handler, one send_message per
   update, timed around ``Application.process_update``) and the same number of
   conversations, parked the same way.

Nothing is paced (built as in ``bench.throughput``).
Goal: p99 <= 3 x p50 for the real bot.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._kit import (
    ECHO_LABEL,
    NO_LIMITER,
    TRIAGE_PRESSES,
    AnyApp,
    BenchTelegram,
    Driver,
    Errors,
    bare_application,
    bench_config,
    close_services,
    kollega_bot,
    open_bench_services,
    percentile,
    quiet_logs,
    table,
    verdict,
)
from tests.faketelegram import FakeRequest

GOAL = 3.0
FIRST_ID = 100_000


@dataclass
class Stream:
    """Timings of one stream, by kind of update."""

    all: list[float]
    by_kind: dict[str, list[float]]


async def _park(driver: Driver, presses: Sequence[str], in_flight: int) -> dict[int, int]:
    """Start ``in_flight`` doctors and walk doctor i through 1 + i mod (len(presses)) updates."""
    steps = {FIRST_ID + i: 1 + i % len(presses) for i in range(in_flight)}
    gate = asyncio.Semaphore(16)

    async def doctor(user_id: int, done: int) -> None:
        async with gate:
            user = driver.telegram.user(user_id)
            for step in range(done):
                await driver.feed(driver.update_for(user, step, presses))

    await asyncio.gather(*(doctor(u, n) for u, n in steps.items()))
    return steps


async def _stream(driver: Driver, presses: Sequence[str], steps: dict[int, int], count: int, concurrency: int) -> Stream:
    rng = random.Random(5)
    next_id = max(steps) + 1
    idle = list(steps)  # doctors in flight and not acting right now
    timings: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    remaining = count

    async def worker() -> None:
        nonlocal remaining, next_id
        while remaining > 0:
            remaining -= 1
            user_id = idle.pop(rng.randrange(len(idle)))
            step = steps.pop(user_id)
            update = driver.update_for(driver.telegram.user(user_id), step, presses)
            took = await driver.timed_feed(update)
            timings.append(took)
            kind = "/start" if step == 0 else "confirm" if step == len(presses) else "press"
            by_kind[kind].append(took)
            if step == len(presses):  # done: a new doctor takes the place
                driver.telegram.forget_chat(user_id)
                user_id, step = next_id, -1
                next_id += 1
            steps[user_id] = step + 1
            idle.append(user_id)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Stream(timings, dict(by_kind))


async def _measure(app: AnyApp, telegram: BenchTelegram, presses: Sequence[str], args: argparse.Namespace) -> Stream:
    errors = Errors()
    errors.watch(app)
    async with app:
        driver = Driver(app, telegram)
        steps = await _park(driver, presses, args.in_flight)
        errors.check()
        result = await _stream(driver, presses, steps, args.updates, args.concurrency)
        errors.check()
        return result


async def run_kollega(args: argparse.Namespace) -> Stream:
    with tempfile.TemporaryDirectory() as folder:
        config = bench_config(Path(folder))
        services = await open_bench_services(config, args.counsellors)
        app, telegram, _ = kollega_bot(config, services)
        try:
            return await _measure(app, telegram, TRIAGE_PRESSES, args)
        finally:
            await close_services(services)


async def run_bare(args: argparse.Namespace) -> Stream:
    telegram = BenchTelegram()
    return await _measure(bare_application(FakeRequest(telegram)), telegram, [ECHO_LABEL] * len(TRIAGE_PRESSES), args)


def _row(name: str, timings: list[float]) -> tuple[object, ...]:
    p50, p99 = percentile(timings, 50), percentile(timings, 99)
    return (name, len(timings), f"{p50 * 1e3:.2f}", f"{percentile(timings, 90) * 1e3:.2f}", f"{p99 * 1e3:.2f}",
            f"{max(timings) * 1e3:.2f}", f"{p99 / p50:.1f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    options.add_argument("--in-flight", type=int, default=500, help="conversations in flight")
    options.add_argument("--updates", type=int, default=1500, help="updates in the timed stream")
    options.add_argument("--concurrency", type=int, default=1, help="updates in progress at once (1: each on its own)")
    options.add_argument("--counsellors", type=int, default=3, help="counsellors on the roster (capacity 2 each)")
    options.add_argument("--quick", action="store_true", help="100 in flight, 300 updates")
    args = options.parse_args(argv)
    if args.quick:
        args.in_flight, args.updates = 100, 300

    print(
        f"{args.in_flight} conversations in flight, {args.updates} updates timed from handle_update until delivered"
        f" (bare: process_update), {args.concurrency} at a time;\n{NO_LIMITER}"
    )
    with quiet_logs():
        bare = asyncio.run(run_bare(args))
        kollega = asyncio.run(run_kollega(args))
    header = ("application", "updates", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99/p50")
    rows = [_row("bare PTB echo", bare.all), _row("kollega", kollega.all)]
    kinds = [kind for kind in ("/start", "press", "confirm") if kind in kollega.by_kind]
    rows += [_row(f"  kollega: {kind}", kollega.by_kind[kind]) for kind in kinds]
    print(table(rows, header))
    ratio = percentile(kollega.all, 99) / percentile(kollega.all, 50)
    bare_ratio = percentile(bare.all, 99) / percentile(bare.all, 50)
    p50_ratio = percentile(kollega.all, 50) / percentile(bare.all, 50)
    print(f"p50 kollega/bare: {p50_ratio:.1f}x; p99/p50 bare: {bare_ratio:.1f}")
    print(f"p99/p50 kollega: {ratio:.1f}  (goal <= {GOAL:.0f})  {verdict(ratio <= GOAL)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
