"""Serving updates so that none is lost and none is handled twice.

Every update is one unit of work, opened by the flows (``flows.service.Service.handle``,
reached through PTB's handlers by :func:`handle_update`): its claim (a row keyed by the
update id), whatever the flows change, the events they record and every message they
owe in the outbox are committed together, or not at all. Only after that commit is the
update confirmed to Telegram (the poller's offset moves past it; the webhook answers
200). So a crash before the commit leaves nothing behind, and Telegram delivers the
update again; a crash after it leaves the claim, and the redelivery is a no-op.

The poller (:class:`Poller`) handles updates side by side, one chat's in order, and
parses each raw update on its own: one it cannot read is counted, logged by its id only,
and confirmed, so it never stalls the others (PTB's own ``get_updates`` would log the
whole batch, content and all, and raise).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, TelegramError

from bot.config import Config
from bot.context import Services
from bot.webhook import open_webhook

log = logging.getLogger(__name__)

POLL_SECONDS = 30
"""Long-polling wait: Telegram answers at once when there is an update."""
IN_FLIGHT = 32
"""Updates handled at once; each chat's still one after the other."""
UPDATE_TRIES = 20
"""An update whose handling fails this often (backing off up to 30 s between) is given up:
kept any longer, it would hold the offset, and Telegram sends no more than 100 updates past it."""
DRAIN_SECONDS = 10.0
"""On SIGTERM: how long in-flight updates, and then the outbox, may take to finish."""
CHAT_LOCKS = 64
"""Webhook requests arrive concurrently; one chat's updates are handled in order (striped locks)."""

App = Any  # telegram.ext.Application with our context types


_FAILURES: ContextVar[list[BaseException] | None] = ContextVar("kollega_update_failures", default=None)


def failed_update(error: BaseException) -> None:
    """Called by the error handler: the update being handled is not to be confirmed."""
    failures = _FAILURES.get()
    if failures is not None:
        failures.append(error)


async def handle_update(application: App, update: Update) -> None:
    """One update through PTB's handlers to the flows, which handle it in one unit of work.

    Raises when that unit could not be written (the database is away): the update is then
    not confirmed, and Telegram delivers it again.
    """
    failures: list[BaseException] = []
    token = _FAILURES.set(failures)
    try:
        await application.process_update(update)
    finally:
        _FAILURES.reset(token)
    if failures:
        raise failures[0]
    if update.callback_query is not None:
        # Stops the button's spinner: after the commit, once, and worth nothing later (a
        # redelivered press finds its query answered or expired, and Telegram says so).
        try:
            await update.callback_query.answer()
        except TelegramError:
            pass


def chat_key(update: Update) -> int:
    """What orders updates: the chat (a person's private chat), else the update itself."""
    chat = update.effective_chat
    return chat.id if chat is not None else update.update_id


class Poller:
    """Long polling that confirms an update only once its unit of work is committed."""

    def __init__(self, application: App, handle: Callable[[Update], Awaitable[None]], in_flight: int = IN_FLIGHT) -> None:
        self.application = application
        self.handle = handle
        self.slots = asyncio.Semaphore(in_flight)
        self.running: dict[int, asyncio.Task[None]] = {}
        """Updates being handled, by id."""
        self.finished: set[int] = set()
        """Handled (or unreadable) ids not yet below the confirmed offset."""
        self.failed: dict[int, int] = {}
        """Ids whose handling failed, with their chat: the offset stays below them until they are
        handled, and the same chat's later updates wait for them."""
        self.tries: dict[int, int] = {}
        self.not_before: dict[int, float] = {}
        """When a failed update may be tried again (loop time): 1 s, doubling, at most 30 s."""
        self.last_of_chat: dict[int, asyncio.Task[None]] = {}
        self.unreadable = 0
        self.offset: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch, hand out, confirm; until ``stop`` is set (then wait for what is in flight)."""
        pause = 1.0
        try:
            while not stop.is_set():
                try:
                    batch = await self._fetch(stop)
                except InvalidToken:
                    log.error("Telegram refused the bot token; stopping")
                    raise
                except (TelegramError, OSError) as error:
                    log.warning("getUpdates failed (%s); retrying in %.0f s", type(error).__name__, pause)
                    await _sleep_unless(stop, pause)
                    pause = min(pause * 2, 30.0)
                    continue
                if batch is None:
                    break
                fresh = 0
                for raw in batch:
                    fresh += await self._take(raw)
                pause = 1.0
                self._advance()
                if not fresh and self.running:
                    # Everything Telegram gave back is in hand: wait until something finishes
                    # (and the offset can move) rather than asking again at once.
                    await asyncio.wait(list(self.running.values()), return_when=asyncio.FIRST_COMPLETED)
                elif not fresh and self.failed:
                    # Only failed updates are left (the database is away, most likely): wait for
                    # the first one's turn to be tried again, rather than asking again at once.
                    due = min(self.not_before.get(u, 0.0) for u in self.failed)
                    await _sleep_unless(stop, max(0.0, due - asyncio.get_running_loop().time()))
        finally:
            if self.running:
                await asyncio.wait(list(self.running.values()), timeout=DRAIN_SECONDS)

    async def _fetch(self, stop: asyncio.Event) -> list[Any] | None:
        bot = self.application.bot
        data = {"timeout": POLL_SECONDS, "allowed_updates": Update.ALL_TYPES}
        if self.offset is not None:
            data["offset"] = self.offset
        # The raw list, parsed here one update at a time (see the module docstring).
        fetch = asyncio.ensure_future(bot._post("getUpdates", data, read_timeout=POLL_SECONDS + 10))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            return None
        result = fetch.result()
        return result if isinstance(result, list) else []

    async def _take(self, raw: Any) -> int:
        """Start handling one raw update; 1 if it was new."""
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if not isinstance(update_id, int) or update_id in self.running or update_id in self.finished:
            return 0
        if update_id in self.failed:
            if asyncio.get_running_loop().time() < self.not_before.get(update_id, 0.0):
                return 0  # not its turn yet
            del self.failed[update_id]
        try:
            update = Update.de_json(raw, self.application.bot)
        except Exception as error:
            self.unreadable += 1
            log.error("could not read update %d (%s); skipped", update_id, type(error).__name__)
            self.finished.add(update_id)
            return 1
        key = chat_key(update)
        if any(chat == key and earlier < update_id for earlier, chat in self.failed.items()):
            return 0  # this chat's earlier update failed and waits its turn: this one waits behind it
        before = self.last_of_chat.get(key)
        task = asyncio.create_task(self._handle(update, before))
        self.running[update_id] = task
        self.last_of_chat[key] = task
        task.add_done_callback(lambda done: self._done(update_id, key, done))
        return 1

    async def _handle(self, update: Update, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.shield(before)  # this chat's earlier update first; if it failed, so does this one
        # A slot only once it is this update's turn: one busy chat never holds every slot.
        async with self.slots:
            await self.handle(update)

    def _done(self, update_id: int, key: int, task: asyncio.Task[None]) -> None:
        del self.running[update_id]
        if self.last_of_chat.get(key) is task:
            del self.last_of_chat[key]
        if task.cancelled() or task.exception() is not None:
            self.tries[update_id] = self.tries.get(update_id, 0) + 1
            self.not_before[update_id] = asyncio.get_running_loop().time() + min(2 ** (self.tries[update_id] - 1), 30)
            if self.tries[update_id] >= UPDATE_TRIES:
                log.error("update %d given up after %d failed tries", update_id, UPDATE_TRIES)
                self.finished.add(update_id)
                self.not_before.pop(update_id, None)
                return
            if not task.cancelled():
                log.error("update %d not handled (%s); it will come again", update_id, type(task.exception()).__name__)
            self.failed[update_id] = key  # the offset stays below it, and Telegram sends it again
            return
        self.tries.pop(update_id, None)
        self.not_before.pop(update_id, None)
        self.finished.add(update_id)

    def _advance(self) -> None:
        """The next offset: past every update that is finished, never past one that is not."""
        unfinished = self.running.keys() | self.failed
        known = unfinished | self.finished
        if not known:
            return
        confirmable = min(unfinished) if unfinished else max(known) + 1
        self.offset = max(self.offset or 0, confirmable)
        self.finished = {u for u in self.finished if u >= self.offset}


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def ordered(handle: Callable[[Update], Awaitable[None]]) -> Callable[[Update], Awaitable[None]]:
    """``handle`` with one chat's updates one after the other (webhook requests come concurrently)."""
    locks = [asyncio.Lock() for _ in range(CHAT_LOCKS)]

    async def handle_in_order(update: Update) -> None:
        async with locks[chat_key(update) % CHAT_LOCKS]:
            await handle(update)

    return handle_in_order


async def serve(application: App, config: Config) -> int:
    """Run the bot until SIGINT or SIGTERM; the exit code: 0 after a clean stop, 1 if serving died."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await application.initialize()
    server: Any = None
    serving: asyncio.Task[None] | None = None
    failed = False

    async def handle(update: Update) -> None:
        await handle_update(application, update)

    try:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        if config.webhook_url:
            server = await open_webhook(config, application.bot, ordered(handle))
            log.info("webhook mode on %s:%d", config.webhook_listen, config.webhook_port)
        else:
            await application.bot.delete_webhook()
            serving = asyncio.create_task(Poller(application, handle).run(stop), name="poller")
            log.info("long polling")
        failed = await _until_stopped(stop, [t for t in (serving, *application.bot_data.get("tasks", [])) if t])
    finally:
        stop.set()
        if serving is not None:
            await asyncio.gather(serving, return_exceptions=True)
        if server is not None:
            await server.close()
        services: Services | None = application.bot_data.get("services")
        if services is not None and services.sender is not None:
            try:
                await asyncio.wait_for(services.sender.drain(), timeout=DRAIN_SECONDS)
            except TimeoutError:
                log.warning("stopped with %d messages still owed; they go out at the next start", services.sender.in_hand)
        if application.running:
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
    return 1 if failed else 0


async def _until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[Any]]) -> bool:
    """Wait for SIGTERM/SIGINT; True if one of the tasks that must run forever ended first."""
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if stop.is_set():
        return False  # asked to stop: a task that ended meanwhile (the poller does) ended for that
    ended = [t for t in done if t is not stopping]
    for task in ended:
        error = None if task.cancelled() else task.exception()
        log.error("%s stopped unexpectedly (%s); exiting", task.get_name(), type(error).__name__ if error else "ended")
    return bool(ended)
