"""Delivering the outbox: what the flows decided to say, sent after it was committed.

Nothing the flows decide calls Telegram at once. The adapter's channel
(``bot.handlers.TelegramChannel``) turns a flow's result into :class:`~storage.outbox.Outgoing`
messages with the builders below and owes them in the unit of work that made the decision
(``SqlStore.post``); once it commits, the :class:`Sender` gets them in memory and delivers
them. The rows stay in the database until Telegram accepted them, so a crash at any point
leaves them owed, and the next start delivers them.

The guarantee is *at least once*: a message is sent again only when Telegram accepted it
but its row could not be deleted yet (the process died, a request timed out after
reaching Telegram, or the database failed just then and the chat was handed back).
A run of failed tries sets a chat's messages aside in the database for SET_ASIDE;
they are given up only on Telegram's final refusal or after ROUNDS such runs.

Order and fairness: each chat is a lane, delivered one message at a time in the order
the messages were committed; lanes run side by side (``concurrency``), and a 429 or a
network fault for one chat makes only that chat wait. Overall pace is kept under
Telegram's ~30 messages a second here rather than by PTB's AIORateLimiter, whose
flood-control handling pauses every chat at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageId,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.render import callback_data, markup, text_of
from flows.replies import Outbound, Reply
from storage.outbox import LEASE, Method, Outgoing
from storage.store import SqlStore, SqlTx

log = logging.getLogger(__name__)

ATTEMPTS = 8
"""Network faults and time-outs are tried this often in a row (``retry_base`` doubling, at most
30 s apart); then the chat's messages are set aside in the database for SET_ASIDE."""
FLOOD_ATTEMPTS = 20
"""Flood control (429) says when to come back; a chat may be told to wait that many times in a row."""
SET_ASIDE = timedelta(minutes=5)
"""How long a chat's messages wait, in the database, after a run of failed tries."""
ROUNDS = 72
"""Runs of failed tries (about six hours) before a message is given up and its sender told."""
FLUSH_SECONDS = 0.5
"""Delivered rows are deleted by the next unit of work, or after this long when none comes."""

OnSent = Callable[[SqlTx, str, int], Awaitable[None]]


# --- what handlers post -------------------------------------------------------------------
def reply(chat: int, answer: Reply, language: str) -> Outgoing:
    """One flow reply to one chat, rendered now (bot text only)."""
    text = text_of(answer, language)
    if answer.document is not None:
        name, content = answer.document
        return Outgoing(chat, Method.DOCUMENT, {"text": text[:1024], "filename": name}, content=content)
    if answer.picture is not None:
        return Outgoing(chat, Method.PHOTO, {"text": text[:1024], "filename": "chart.png"}, content=answer.picture)
    shown = markup(answer, language)
    return Outgoing(chat, Method.SEND, {"text": text, "markup": shown.to_dict() if shown else None})


def edit(chat: int, message_id: int, answer: Reply, language: str, *, fallback: bool) -> Outgoing:
    """Replace an earlier bot message; ``fallback``: send it anew if it can no longer be edited."""
    shown = markup(answer, language)
    payload = {"text": text_of(answer, language), "markup": shown.to_dict() if shown else None}
    return Outgoing(chat, Method.EDIT, payload | {"message_id": message_id, "fallback": fallback})


def annotate(chat: int, message_id: int, text: str) -> Outgoing:
    """Show the chosen answer under a question and take its buttons away (dropped if too old)."""
    return Outgoing(chat, Method.EDIT, {"text": text, "markup": None, "message_id": message_id, "fallback": False})


def outbound(message: Outbound) -> Outgoing:
    """A flow's message for someone other than the person who acted."""
    if message.edit is not None:
        posted = edit(message.reach, message.edit, message.reply, message.language, fallback=True)
    else:
        posted = reply(message.reach, message.reply, message.language)
    posted.track = message.track
    return posted


def relay(
    to: int, source_chat: int, message_id: int, label: str, action: tuple[str, str], notices: tuple[str, str], track: str = ""
) -> Outgoing:
    """A copy of someone's message, with one button naming where it came from.

    The words are not in the row: copyMessage takes them from the source chat when the
    row is delivered. ``protect_content`` keeps the copy from being forwarded or saved.
    ``notices`` are what the sender is told if it has not got through yet (still trying),
    and if it cannot be delivered at all.
    """
    step, verb = action
    buttons = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=callback_data(step, verb))]])
    delayed, failed = notices
    payload = {"message_id": message_id, "markup": buttons.to_dict(), "delayed": delayed, "notice": failed}
    return Outgoing(to, Method.COPY, payload, copy_from=source_chat, notify=source_chat, track=track)


def leave(chat: int, text: str) -> Outgoing:
    return Outgoing(chat, Method.LEAVE, {"text": text})


# --- delivering ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Retry:
    seconds: float
    flood: bool = False


class _Refused(Exception):
    """Telegram's final no (blocked, chat gone, bad request): retrying will not help."""


def _markup(data: dict[str, Any] | None) -> Any:
    if not data:
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.de_json(data, None)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.de_json(data, None)
    return ReplyKeyboardRemove.de_json(data, None)


class Sender:
    """Delivers committed outbox messages, lane by lane; see the module docstring."""

    def __init__(
        self,
        bot: Bot,
        store: SqlStore,
        clock: Callable[[], Any],
        on_sent: OnSent,
        *,
        rate: float | None = 29.0,
        concurrency: int = 16,
        scan_seconds: float = 1.0,
        retry_base: float = 0.5,
    ) -> None:
        self.bot = bot
        self.store = store
        self.clock = clock
        self.on_sent = on_sent
        self.rate = rate
        self.scan_seconds = scan_seconds
        self.retry_base = retry_base
        """The first wait after a network fault; it doubles with every attempt (at most 30 s)."""
        self.counts: Counter[str] = Counter()
        """delivered, retried, refused, given_up: for tests, benchmarks and logs."""
        self._lanes: dict[str, deque[Outgoing]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._held: set[int] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self._next_slot = 0.0
        self._flush: asyncio.Task[None] | None = None
        self._aside: dict[str, datetime] = {}
        """Chats whose messages are set aside in the database, and until when (see _set_aside)."""
        store.on_commit = self.accept

    # --- taking work ----------------------------------------------------------------------
    def accept(self, messages: Iterable[Outgoing], *, scanned: bool = False) -> None:
        """Committed messages, in commit order: each joins the end of its chat's lane.

        A new message for a chat whose messages are set aside is not taken now: its lease runs
        out unrenewed, and a scan takes it up behind the older ones when they are due.
        """
        for message in messages:
            if scanned:
                self._aside.pop(message.lane, None)
            elif self._aside.get(message.lane, datetime.min) > self.clock():
                continue
            if message.id in self._held:
                continue
            self._held.add(message.id)
            self._lanes.setdefault(message.lane, deque()).append(message)
            if message.lane not in self._workers:
                self._workers[message.lane] = asyncio.create_task(self._work(message.lane))
                self._idle.clear()

    async def scan(self, *, release_leases: bool = False) -> int:
        """Take rows no live sender holds (left by a crash, or by another process that died)."""
        taken = await self.store.take_owed(self.clock(), sorted(self._held), release_leases=release_leases)
        self.accept(taken, scanned=True)
        return len(taken)

    async def run(self, *, release_leases: bool) -> None:
        """Deliver until cancelled: what is committed from now on, and every few seconds what was
        left. Each scan also renews the leases on what is in hand, so it runs well within LEASE."""
        first = True
        while True:
            try:
                await self.scan(release_leases=first and release_leases)
                first = False
            except Exception as error:  # the database may be away for a while: try again later
                log.error("outbox scan failed: %s", type(error).__name__)
            await asyncio.sleep(min(self.scan_seconds, LEASE.total_seconds() / 3))

    async def drain(self) -> None:
        """Wait until every message in hand is delivered or given up, and their rows are deleted."""
        while self._workers:
            await self._idle.wait()
        await self.store.flush_delivered()

    async def close(self) -> None:
        """Stop delivering (what is not delivered stays owed in the database)."""
        tasks = [*self._workers.values(), *([self._flush] if self._flush else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def in_hand(self) -> int:
        return len(self._held)

    # --- one lane -------------------------------------------------------------------------
    async def _work(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                try:
                    done = await self._deliver(queue[0])
                except Exception as error:
                    # Bookkeeping failed (the database is away, most likely). The rows are still
                    # there: the chat is handed back whole, and a later scan takes it up in order
                    # (the head again, if it had gone out: at least once, never lost).
                    log.error("outbox bookkeeping failed (%s); the chat's messages are taken up later", type(error).__name__)
                    done = False
                if not done:
                    break
                self._held.discard(queue.popleft().id)
        finally:
            del self._workers[lane]
            for message in queue:  # handed back: no longer renewed, so any sender may take them
                self._held.discard(message.id)
            queue.clear()
            self._lanes.pop(lane, None)
            if not self._workers:
                self._idle.set()

    async def _deliver(self, message: Outgoing) -> bool:
        """Deliver one message, retrying; False when the chat's messages were set aside instead."""
        tries = 0
        while True:
            try:
                async with self._slots:
                    sent = await self._attempt(message)
            except _Refused as refusal:
                self.counts["refused"] += 1
                log.warning("delivery refused by Telegram: %s", refusal)
                await self._give_up(message)
                return True
            if isinstance(sent, _Retry):
                tries += 1
                if tries < (FLOOD_ATTEMPTS if sent.flood else ATTEMPTS):
                    self.counts["retried"] += 1
                    await asyncio.sleep(sent.seconds)
                    continue
                if message.attempts + 1 >= ROUNDS:
                    self.counts["given_up"] += 1
                    log.warning("delivery failed for %d rounds of tries; given up", ROUNDS)
                    await self._give_up(message)
                    return True
                self.counts["set_aside"] += 1
                log.warning("delivery failing; the chat's messages wait %d minutes", SET_ASIDE.total_seconds() // 60)
                await self._set_aside(message)
                return False
            self.counts["delivered"] += 1
            await self._done(message, sent)
            return True

    async def _attempt(self, message: Outgoing) -> int | _Retry | None:
        """One try: the delivered message's id (None when there is none to report), or when to retry."""
        await self._pace()
        try:
            return await self._call(message)
        except RetryAfter as error:
            wait = error.retry_after
            return _Retry(float(wait if isinstance(wait, int | float) else wait.total_seconds()), flood=True)
        except BadRequest as error:
            # An edit that changes nothing (a double tap) is done; one that can no longer be
            # made is sent anew where the flow asked for that, else it was only cosmetic.
            if message.method is Method.EDIT:
                if "not modified" in str(error).lower() or not message.payload.get("fallback"):
                    return None
                message.method = Method.SEND
                return await self._attempt(message)
            raise _Refused(type(error).__name__) from error
        except Forbidden as error:
            raise _Refused(type(error).__name__) from error
        except TelegramError:  # NetworkError, TimedOut and the like: passing faults
            return _Retry(min(self.retry_base * 2**message.attempts, 30.0))

    async def _call(self, message: Outgoing) -> int | None:
        bot, to, payload = self.bot, message.to, message.payload
        method = message.method
        if method is Method.SEND:
            sent: Any = await bot.send_message(to, payload["text"], reply_markup=_markup(payload.get("markup")))
        elif method is Method.EDIT:
            sent = await bot.edit_message_text(
                payload["text"], chat_id=to, message_id=payload["message_id"], reply_markup=_markup(payload.get("markup"))
            )
        elif method is Method.COPY:
            assert message.copy_from is not None
            sent = await bot.copy_message(
                to, message.copy_from, payload["message_id"], reply_markup=_markup(payload.get("markup")), protect_content=True
            )
        elif method in (Method.DOCUMENT, Method.PHOTO):
            upload = InputFile(message.content or b"", filename=payload["filename"])
            send = bot.send_document if method is Method.DOCUMENT else bot.send_photo
            sent = await send(to, upload, caption=payload["text"])
        else:  # Method.LEAVE
            try:
                await bot.send_message(to, payload["text"])
                await bot.leave_chat(to)
            except (BadRequest, Forbidden):
                pass  # already removed or muted: nothing more to do
            return None
        return sent.message_id if isinstance(sent, Message | MessageId) else None

    async def _pace(self) -> None:
        """A steady overall pace (a leaky bucket of one), so bursts do not trip flood control."""
        if not self.rate:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1 / self.rate
        if slot > now:
            await asyncio.sleep(slot - now)

    # --- after ------------------------------------------------------------------------------
    async def _done(self, message: Outgoing, message_id: int | None) -> None:
        if message.track and message_id is not None:
            # The flows need the id now (an offer card is edited later, a reply to a relayed
            # message names its case): one unit of work that also deletes the row.
            track = message.track
            await self.store.sent(message, lambda tx: self.on_sent(tx, track, message_id))
            return
        self.store.delivered.add(message.id)
        self._flush_soon()

    async def _set_aside(self, message: Outgoing) -> None:
        """Leave the chat's messages to the database for a while; a scan takes them up again."""
        queue = self._lanes.get(message.lane, deque())
        until = self.clock() + SET_ASIDE
        self._aside[message.lane] = until
        notice = None
        if message.attempts == 0 and message.notify is not None and message.payload.get("delayed"):
            # The first time only: whoever wrote it should not wonder whether it went anywhere.
            notice = Outgoing(message.notify, Method.SEND, {"text": message.payload["delayed"]})
        release = [m.id for m in queue if m.id != message.id]
        await self.store.set_aside(message, message.attempts + 1, until, notice, release, self.clock())

    async def _give_up(self, message: Outgoing) -> None:
        """Not deliverable: the row goes, and whoever sent it (a relay's sender) is told."""
        notice = None
        if message.notify is not None and message.payload.get("notice"):
            notice = Outgoing(message.notify, Method.SEND, {"text": message.payload["notice"]})
        await self.store.give_up(message, notice, self.clock())

    def _flush_soon(self) -> None:
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        if self.store.delivered:
            try:
                await self.store.flush_delivered()
            except Exception as error:
                log.error("outbox flush failed: %s", type(error).__name__)
