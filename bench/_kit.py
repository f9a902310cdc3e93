"""Shared pieces of the bot benchmarks (work, throughput, latency, memory, burst).

Everything runs in-process against the test suite's fake Bot API
(``tests.faketelegram``): nothing ever reaches the network.

* :class:`BenchTelegram` is a :class:`~tests.faketelegram.FakeTelegram` (same
  message store, same edit / callback-query checks, plugged in through the same
  :class:`~tests.faketelegram.FakeRequest`) that does not keep what a benchmark
  never reads: it records no ``calls``/``sent`` history, queues no updates (the
  benchmarks hand them to the bot themselves), finds a button by label in the
  pressing user's own chat instead of scanning every chat, can forget a chat,
  and can enforce Telegram's flood limits.
* :func:`kollega_application` builds the real Application with
  ``bot.app.build_application``, its outbox sender paced (29 msg/s) or not.
* :class:`Driver` feeds updates the way ``kollega run`` handles them
  (``bot.serve.handle_update``: one unit of work per update), and waits for the
  outbox sender to deliver what each posted.
* :func:`bare_application` is the baseline: plain PTB, one echo handler that
  calls Telegram itself.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import resource
import secrets
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, MessageHandler, filters

from bot.app import attach_services, build_application, open_services
from bot.config import Config
from bot.context import Services
from bot.outbox import Sender
from bot.serve import handle_update
from tests.faketelegram import ApiError, FakeRequest, FakeTelegram, FakeUser, JSONDict, markup_rows
from tests.scenarios import ADVICE, CONFIRM, CONSENT, PREFERENCES, SAFETY_NO, SELF

TOKEN = "123456:BENCH-TOKEN"
AnyApp = Application[Any, Any, Any, Any, Any, Any]

#: One whole triage, as the tests walk it: /start, then these presses (by label).
TRIAGE_PRESSES: tuple[str, ...] = (CONSENT, SELF, ADVICE, SAFETY_NO, *PREFERENCES, CONFIRM)
#: Updates per whole triage (the /start command and every press).
TRIAGE_UPDATES = 1 + len(TRIAGE_PRESSES)

#: The baseline's one button, so its "doctors" can press something too.
ECHO_LABEL = "Echo"

#: Methods that put a message into a chat (what Telegram's flood limits count).
SENDING_METHODS = frozenset(
    m.lower()
    for m in (
        "sendMessage", "sendContact", "copyMessage", "forwardMessage", "sendDocument", "sendPhoto",
        "sendVoice", "sendAudio", "sendVideo", "sendAnimation", "sendSticker",
    )
)  # fmt: skip


class _Discard(list[Any]):
    """A list that keeps nothing (the fake's unbounded call history)."""

    def append(self, item: Any) -> None:
        pass


@dataclass
class FloodLimits:
    """Telegram-like limits: more than ``overall`` messages in any ``window`` seconds, or more
    than ``per_chat`` to one chat in ``window`` seconds, is answered with 429 (retry_after=1)."""

    overall: int = 30
    per_chat: int = 1
    window: float = 1.0
    floods: int = 0
    attempts: list[float] = field(default_factory=list)
    delivered: list[float] = field(default_factory=list)
    _recent: collections.deque[float] = field(default_factory=collections.deque)
    _by_chat: dict[Any, collections.deque[float]] = field(default_factory=dict)

    def admit(self, chat_id: Any, now: float) -> bool:
        self.attempts.append(now)
        while self._recent and self._recent[0] <= now - self.window:
            self._recent.popleft()
        chat = self._by_chat.setdefault(chat_id, collections.deque())
        while chat and chat[0] <= now - self.window:
            chat.popleft()
        if len(self._recent) >= self.overall or len(chat) >= self.per_chat:
            self.floods += 1
            return False
        self._recent.append(now)
        chat.append(now)
        self.delivered.append(now)
        return True


def max_in_window(stamps: Sequence[float], window: float = 1.0) -> int:
    """The most timestamps in any half-open interval of ``window`` seconds."""
    ordered = sorted(stamps)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


class BenchTelegram(FakeTelegram):
    """FakeTelegram without the history a benchmark never reads (see module docstring)."""

    def __init__(self, limits: FloodLimits | None = None) -> None:
        super().__init__()
        self.calls = _Discard()
        self.sent = _Discard()
        self.limits = limits
        self.api_calls = 0
        self._in_chat: dict[Any, list[int]] = {}  # chat -> message ids (user's and bot's), in order

    # --- what FakeTelegram keeps, trimmed ------------------------------------------
    def handle(self, method: str, params: Any = None, files: Any = None, *, block: bool = False) -> JSONDict:
        self.api_calls += 1
        if self.limits is not None and method.lower() in SENDING_METHODS:
            with self._lock:
                chat = self._param_chat_id(dict(params or {}))
                if not self.limits.admit(chat, time.monotonic()):
                    return ApiError(429, "Too Many Requests: retry after 1", retry_after=1).envelope()
        return super().handle(method, params, files, block=block)

    def push_update(self, update: JSONDict) -> JSONDict:
        """Number the update and hand it back; nothing is queued (nobody calls getUpdates)."""
        with self._lock:
            update = {"update_id": update.get("update_id", self._next_update_id), **update}
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
            return update

    def _queue_update(self, kind: str, payload: JSONDict) -> JSONDict:
        return self.push_update({kind: payload})  # the payload is already a copy

    def _record(self, *args: Any, **kwargs: Any) -> None:
        pass  # no history of sends (FakeTelegram deep-copies every message into it)

    def _store_user_message(self, chat: JSONDict, sender: JSONDict, content: JSONDict) -> JSONDict:
        msg = super()._store_user_message(chat, sender, content)
        self._in_chat.setdefault(chat["id"], []).append(msg["message_id"])
        return msg

    def _new_bot_message(self, chat_id: Any, params: JSONDict, content: JSONDict) -> JSONDict:
        msg = super()._new_bot_message(chat_id, params, content)
        self._in_chat.setdefault(chat_id, []).append(msg["message_id"])
        return msg

    # --- for the benchmarks ---------------------------------------------------------
    def press(self, user: FakeUser, label: str) -> JSONDict:
        """Like ``FakeUser.press``: the newest bot message in the user's chat showing ``label``."""
        with self._lock:
            for message_id in reversed(self._in_chat.get(user.id, ())):
                msg = self._messages.get((user.id, message_id))
                if msg is None or msg.get("from", {}).get("id") != self.bot_id or not msg.get("reply_markup"):
                    continue
                for row in markup_rows(msg["reply_markup"]):
                    for button in row:
                        if button.get("text") == label:
                            return user._callback(msg, button["callback_data"])
        raise AssertionError(f"no inline button {label!r} in chat {user.id}; last bot message: {self.last_text(user)!r}")

    def last_text(self, user: FakeUser) -> str | None:
        """Text of the newest bot message in the user's chat."""
        with self._lock:
            for message_id in reversed(self._in_chat.get(user.id, ())):
                msg = self._messages.get((user.id, message_id))
                if msg is not None and msg.get("from", {}).get("id") == self.bot_id:
                    return msg.get("text")
        return None

    def forget_chat(self, chat_id: int) -> None:
        """Drop everything the fake holds about one private chat (its messages, its user)."""
        with self._lock:
            for message_id in self._in_chat.pop(chat_id, ()):
                self._messages.pop((chat_id, message_id), None)
            self._counters.pop(chat_id, None)
            self._chats.pop(chat_id, None)
            self._users.pop(chat_id, None)


# --- applications ---------------------------------------------------------------------
NO_LIMITER = "neither side paced: kollega's outbox sender unpaced (build_application(limit_rate=False)), no limiter in the echo"


def kollega_application(config: Config, request: FakeRequest, *, rate_limited: bool) -> AnyApp:
    """The real Application from ``bot.app.build_application``; ``rate_limited``: its outbox
    sender keeps to 29 messages a second overall (``attach_services`` reads ``limit_rate``)."""
    app = build_application(config, request=request, limit_rate=rate_limited)
    if app.bot_data.get("limit_rate") is not rate_limited:
        raise RuntimeError(f"could not build the Application with rate_limited={rate_limited}")
    return app


def kollega_bot(config: Config, services: Services) -> tuple[AnyApp, BenchTelegram, Errors]:
    """The real Application, its sender unpaced, on the bench's fake Bot API, errors watched."""
    telegram = BenchTelegram()
    app = kollega_application(config, FakeRequest(telegram), rate_limited=False)
    attach_services(app, services)
    errors = Errors()
    errors.watch(app)
    return app, telegram, errors


async def close_services(services: Services) -> None:
    """Stop the sender (its deferred flush among its tasks) before the database goes away."""
    if services.sender is not None:
        await services.sender.close()
    await services.engine.dispose()


def bare_application(request: FakeRequest) -> AnyApp:
    """The baseline: plain PTB, no rate limiter, one echo that answers every update with one
    send_message (carrying one inline button, so the next "press" has callback data)."""
    app = ApplicationBuilder().token(TOKEN).request(request).get_updates_request(request).build()
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(ECHO_LABEL, callback_data="echo")]])

    async def echo(update: Update, context: Any) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "echo", reply_markup=keyboard)

    app.add_handler(MessageHandler(filters.ALL, echo))
    app.add_handler(CallbackQueryHandler(echo))
    return app


class Errors(list[BaseException]):
    """Handler errors, captured with an error handler added after the app's own."""

    def watch(self, app: AnyApp) -> None:
        async def capture(update: object, context: Any) -> None:
            self.append(context.error)

        app.add_error_handler(capture)

    def check(self) -> None:
        if self:
            raise RuntimeError(f"{len(self)} handler error(s); first: {self[0]!r}") from self[0]


def bench_config(folder: Path) -> Config:
    url = f"sqlite+aiosqlite:///{folder / 'kollega.db'}"
    return Config(token=TOKEN, secret_key=secrets.token_urlsafe(32), database_url=url)


async def open_bench_services(config: Config, counsellors: int = 3, capacity: int = 2) -> Services:
    """``open_services`` on the config's SQLite file, with a small roster and one coordinator."""
    from storage import roster

    services = await open_services(config)
    async with services.store.transaction() as tx:
        for i in range(counsellors):
            telegram_id = 5_000_000 + i
            await roster.add_counsellor(
                tx.session,
                telegram_id=telegram_id,
                alias=f"Bench{i}",
                pseudonym=services.keyring.pseudonym(telegram_id),
                county="vestland",
                serves=[],
                pathways=["advice", "not_coping", "way_back_or_out"],
                languages=["nb"],
                capacity=capacity,
            )
        await roster.add_coordinator(tx.session, 6_000_000)
    return services


async def delivered(sender: Sender) -> None:
    """Wait until the sender has delivered (or given up) everything it holds.

    ``Sender.drain()`` does this and then opens one more unit of work, to delete the
    delivered rows. A running bot does not pay that transaction per update: the next
    unit of work deletes them, whatever it is for (``SqlStore.delivered``), or the
    sender's own flush after ``bot.outbox.FLUSH_SECONDS`` of quiet. So the benchmarks
    wait for the deliveries only and leave the deletion to the next update, as in
    production. ``_idle`` is the event ``drain()`` itself waits on.
    """
    while sender.in_hand:
        if sender._idle.is_set():  # no lane is working, yet messages are held: a lane died
            raise RuntimeError(f"the outbox sender stopped with {sender.in_hand} messages in hand")
        await sender._idle.wait()


class Driver:
    """Feeds update dicts to an Application.

    The real bot (services attached): as ``kollega run`` does, through
    ``bot.serve.handle_update`` (claim, handlers, outbox rows: one unit of work), then
    waits until the outbox sender has delivered what was posted (:func:`delivered`),
    so the next step finds its buttons. The bare baseline, which has no pipeline:
    ``Application.process_update``, its handler calling Telegram itself.
    """

    def __init__(self, app: AnyApp, telegram: BenchTelegram) -> None:
        self.app = app
        self.telegram = telegram
        self.updates = 0
        services: Services | None = app.bot_data.get("services")
        self.sender = services.sender if services is not None else None

    async def feed(self, update: JSONDict) -> None:
        await self._handle(Update.de_json(update, self.app.bot))
        self.updates += 1

    async def timed_feed(self, update: JSONDict) -> float:
        """Seconds to handle the update and deliver what it posted (the Update is built outside the timing)."""
        parsed = Update.de_json(update, self.app.bot)
        began = time.perf_counter()
        await self._handle(parsed)
        took = time.perf_counter() - began
        self.updates += 1
        return took

    async def _handle(self, update: Update) -> None:
        if self.sender is None:
            await self.app.process_update(update)
            return
        await handle_update(self.app, update)
        await delivered(self.sender)

    def update_for(self, user: FakeUser, step: int, presses: Sequence[str]) -> JSONDict:
        """Step 0 is /start; step i >= 1 presses ``presses[i - 1]``."""
        return user.send_command("/start") if step == 0 else self.telegram.press(user, presses[step - 1])


# --- measuring --------------------------------------------------------------------------
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size now (``/proc/self/statm``), after a full collection."""
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A plain text table, columns padded to fit; numbers right-aligned."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i and _numeric(c) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "-+.") and not text.isalpha()


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """The bot logs one line per refused delivery etc.; keep benchmark output readable."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
