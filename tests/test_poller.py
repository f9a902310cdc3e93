"""The poller against a scripted getUpdates: side by side across chats, in order within one,
the offset never past an unfinished update, an unreadable update skipped and confirmed, a
failed one fetched again. Asserted from what the stub recorded (order, offsets), not timing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from telegram import Update

from bot.serve import Poller

SAFETY = 30.0  # seconds: a safety net for a hung poller, never a pass mark


def message(update_id: int, chat: int, text: str = "hei") -> dict[str, Any]:
    person = {"id": chat, "is_bot": False, "first_name": "Kari Nordmann", "username": "kari_nordmann"}
    return {
        "update_id": update_id,
        "message": {"message_id": update_id, "date": 0, "chat": {"id": chat, "type": "private"}, "from": person, "text": text},
    }


class ScriptedTelegram:
    """getUpdates as Telegram answers it: everything from the offset on; nothing yet means wait."""

    defaults = None

    def __init__(self, updates: list[dict[str, Any]]) -> None:
        self.queue = list(updates)
        self.offsets: list[int | None] = []
        self.arrived = asyncio.Event()
        self.all_confirmed = asyncio.Event()
        """Set once an offset past every scripted update was sent: all of them confirmed."""
        self.last = max(u["update_id"] for u in updates)
        self.unfinished: set[int] = set()
        """Updates the test's handler has not finished (successfully) yet."""
        self.confirmed_too_early: list[tuple[int, set[int]]] = []

    async def _post(self, endpoint: str, data: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
        assert endpoint == "getUpdates"
        offset = data.get("offset")
        self.offsets.append(offset)
        if offset is not None and any(u < offset for u in self.unfinished):
            self.confirmed_too_early.append((offset, set(self.unfinished)))
        if offset is not None and offset > self.last:
            self.all_confirmed.set()
        if offset is not None:
            self.queue = [u for u in self.queue if u["update_id"] >= offset]
        while not self.queue:
            self.arrived.clear()
            await self.arrived.wait()
        return [dict(u) for u in self.queue]


class App:
    def __init__(self, bot: ScriptedTelegram) -> None:
        self.bot = bot


async def run_until_confirmed(poller: Poller, telegram: ScriptedTelegram) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    async with asyncio.timeout(SAFETY):
        await telegram.all_confirmed.wait()
    stop.set()
    await task


async def test_chats_are_served_side_by_side_and_each_chat_in_order() -> None:
    telegram = ScriptedTelegram([message(1, chat=10), message(2, chat=10), message(3, chat=20)])
    telegram.unfinished = {1, 2, 3}
    handled: list[int] = []
    release_first = asyncio.Event()

    async def handle(update: Update) -> None:
        if update.update_id == 1:
            await release_first.wait()  # a slow update in chat 10
        handled.append(update.update_id)
        telegram.unfinished.discard(update.update_id)
        if update.update_id == 3:
            await asyncio.sleep(0.05)  # let the poller ask for more while update 1 is still held up
            release_first.set()

    poller = Poller(App(telegram), handle)
    await run_until_confirmed(poller, telegram)
    assert handled == [3, 1, 2]  # chat 20 did not wait for chat 10; chat 10 kept its order
    assert telegram.confirmed_too_early == []  # never an offset past an update still in hand ...
    assert telegram.offsets[-1] == 4  # ... and every one confirmed once done


async def test_an_unreadable_update_is_skipped_confirmed_and_logged_by_id_only(caplog: pytest.LogCaptureFixture) -> None:
    broken = message(2, chat=30, text="Jeg orker ikke mer, ring meg på 91234567")
    broken["message"]["chat"] = 30  # not an object: PTB cannot read it
    telegram = ScriptedTelegram([message(1, chat=30), broken, message(3, chat=30)])
    handled: list[int] = []

    async def handle(update: Update) -> None:
        handled.append(update.update_id)

    poller = Poller(App(telegram), handle)
    with caplog.at_level(logging.DEBUG):
        await run_until_confirmed(poller, telegram)
    assert handled == [1, 3] and poller.unreadable == 1
    assert "could not read update 2" in caplog.text
    for content in ("orker", "91234567", "Kari", "kari_nordmann"):
        assert content not in caplog.text


async def test_an_update_that_could_not_be_handled_is_fetched_again_and_not_confirmed_before() -> None:
    telegram = ScriptedTelegram([message(1, chat=40), message(2, chat=41)])
    telegram.unfinished = {1, 2}
    attempts: dict[int, int] = {}
    tried_at: dict[int, float] = {}

    async def handle(update: Update) -> None:
        attempts[update.update_id] = attempts.get(update.update_id, 0) + 1
        if update.update_id == 1:
            tried_at[attempts[1]] = asyncio.get_running_loop().time()
        if update.update_id == 1 and attempts[1] == 1:
            raise OSError("the database is away")
        telegram.unfinished.discard(update.update_id)

    poller = Poller(App(telegram), handle)
    await run_until_confirmed(poller, telegram)
    assert attempts == {1: 2, 2: 1}
    assert telegram.confirmed_too_early == []
    # It waited its turn (a second) before trying again, rather than at once and over and over.
    # A lower bound only: a slow machine makes the gap longer, never shorter.
    assert tried_at[2] - tried_at[1] >= 0.9


async def test_a_chats_later_update_waits_for_its_failed_one() -> None:
    telegram = ScriptedTelegram([message(1, chat=50)])
    telegram.last, telegram.unfinished = 2, {1, 2}
    handled: list[tuple[int, str]] = []

    async def handle(update: Update) -> None:
        if update.update_id == 1 and not handled:
            handled.append((1, "failed"))
            # The doctor writes again while the first message waits for its turn.
            telegram.queue.append(message(2, chat=50))
            telegram.arrived.set()
            raise OSError("the database is away")
        handled.append((update.update_id, "done"))
        telegram.unfinished.discard(update.update_id)

    poller = Poller(App(telegram), handle)
    await run_until_confirmed(poller, telegram)
    # Update 2 came while update 1 waited for its turn: it waited behind it, not past it.
    assert [entry for entry in handled if entry[1] == "done"] == [(1, "done"), (2, "done")]
    assert telegram.confirmed_too_early == []
