"""Faults one at a time, deterministically, through the real Application and outbox: a crash
inside an update, a crash after its commit with messages still owed, a poison timer, a 429
for one chat while another is served, a double-tapped toggle.

Each test asserts from the fake Bot API's record and the database what a person would
notice: the answer arrives once, nothing is lost, nobody else waits.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update
from telegram import Update

from bot.app import attach_services, build_application, open_services
from bot.outbox import ATTEMPTS
from bot.serve import handle_update
from storage.models import CaseRow, OfferRow, OutboxRow, ProcessedUpdateRow, TimerRow
from storage.outbox import Method, Outgoing
from storage.repositories import TIMER_ATTEMPTS
from tests.faketelegram import FakeRequest, FakeTelegram
from tests.scenarios import ACCEPT, ADVICE, CONSENT, SAFETY_NO, SELF, add_coordinator, add_counsellor, triage, walk

SUPPORT_LISTEN = "Noen som lytter og forstår"


class Crash(BaseException):
    """The process dying mid-update: not an error PTB catches, nothing after it runs."""


async def _count(harness: Any, model: Any) -> int:
    async with harness.services.store.transaction() as tx:
        return int(await tx.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_crash_inside_an_update_leaves_nothing_and_the_redelivery_is_handled_once(harness, monkeypatch) -> None:
    kari = harness.user(5301)
    await harness.feed(kari.send_command("/start"))
    press = kari.press(CONSENT)
    before = len(harness.said(kari))

    async def dies(*args: Any, **kwargs: Any) -> None:
        raise Crash

    with monkeypatch.context() as patch:
        # The flow has already saved the draft's next step in this unit of work when the
        # process dies: the save must not survive without the update's claim.
        original = harness.services.service.intake._ask

        async def ask_then_die(*args: Any, **kwargs: Any) -> Any:
            await original(*args, **kwargs)
            await dies()

        patch.setattr(harness.services.service.intake, "_ask", ask_then_die)
        with pytest.raises(Crash):
            await handle_update(harness.app, Update.de_json(press, harness.app.bot))
    assert await _count(harness, ProcessedUpdateRow) == 1  # only /start's claim
    assert await _count(harness, OutboxRow) == 0

    await harness.feed(press)  # Telegram delivers it again: handled now, once
    await harness.feed(press)  # and once more: the claim makes it a no-op
    new = harness.said(kari)[before:]
    assert [s.text for s in new] == ["Hvem gjelder det?"]
    assert SELF in new[0].buttons


async def test_messages_owed_when_the_process_died_are_delivered_at_the_next_start(config, clock) -> None:
    telegram = FakeTelegram()
    kari = telegram.user(5302)

    # First run: the update is committed, but the process dies before its sender sends a thing.
    services = await open_services(config, clock)
    app = build_application(config, request=FakeRequest(telegram), limit_rate=False)
    attach_services(app, services)
    services.store.on_commit = None  # the sender never hears of the commit
    start = kari.send_command("/start")
    async with app:
        await handle_update(app, Update.de_json(start, app.bot))
    await services.engine.dispose()
    assert telegram.messages_to(kari.id) == []

    # Second run on the same database: the owed welcome goes out first, exactly once, and a
    # redelivery of the same /start (never confirmed to Telegram) adds nothing.
    services = await open_services(config, clock)
    app = build_application(config, request=FakeRequest(telegram), limit_rate=False)
    sender = attach_services(app, services)
    async with app:
        assert await sender.scan(release_leases=True) == 1
        await handle_update(app, Update.de_json(start, app.bot))
        await sender.drain()
        async with services.store.transaction() as tx:
            owed = await tx.session.scalar(select(func.count()).select_from(OutboxRow))
    await services.engine.dispose()
    [welcome] = telegram.messages_to(kari.id)
    assert CONSENT in welcome.buttons
    assert owed == 0


async def test_a_poison_timer_is_retried_then_parked_and_never_holds_up_the_others(harness) -> None:
    await add_counsellor(harness, 9301, "Anna")
    await add_counsellor(harness, 9302, "Bjørn")
    coordinator = await add_coordinator(harness, 9399)
    kari = harness.user(5303)
    code = await triage(harness, kari, ADVICE)
    # The case's sealed chat id is damaged: the timer that must tell the doctor something
    # (the promised reply time passing) cannot reach her. The offer passing on to Bjørn no
    # longer tells the doctor anything (she heard "offered" once), so that timer still runs.
    async with harness.services.store.transaction() as tx:
        await tx.session.execute(update(CaseRow).where(CaseRow.code == code).values(sealed_reach=b"damaged" * 4))
    ola = harness.user(5304, "Ola")
    await harness.feed(ola.send_command("/start"))  # a draft whose reminder falls due later

    seen = len(harness.said(ola))
    await harness.tick(hours=25)  # past the offer deadline (an hour) and Ola's reminder (a day)
    # The poison timers failed, and the reminder due after them went out all the same.
    [reminder] = harness.said(ola)[seen:]
    assert reminder.text.startswith("Hei igjen. Vil du fortsette der du slapp?")
    for _ in range(TIMER_ATTEMPTS - 1):
        await harness.tick(hours=2)  # past each backoff: tried again, and failing again
    async with harness.services.store.transaction() as tx:
        failing = (await tx.session.scalars(select(TimerRow).where(TimerRow.attempts > 0))).all()
    assert {(t.kind, t.attempts, t.parked) for t in failing} == {("case_waiting", TIMER_ATTEMPTS, True)}
    assert await harness.tick(hours=25) == 0  # parked: no longer run, nothing is sent

    await harness.feed(coordinator.send_command("/queue"))
    parked = harness.said(coordinator)[-1].text
    assert "case_waiting" in parked and code in parked and "offer_deadline" not in parked


async def test_flood_control_for_one_chat_does_not_delay_another(harness) -> None:
    kari, ola = harness.user(5305), harness.user(5306, "Ola")
    harness.telegram.fail_next("sendMessage", error_code=429, retry_after=1, chat_id=kari.id)
    # Both are committed before anything is sent; Kari's came first.
    for person in (kari, ola):
        await handle_update(harness.app, Update.de_json(person.send_command("/start"), harness.app.bot))
    await harness.sender.drain()
    order = [s.chat_id for s in harness.telegram.sent if s.method == "sendMessage"]
    assert order == [ola.id, kari.id]  # Ola was served while Kari's chat waited out its 429
    assert harness.sender.counts["retried"] == 1


async def test_a_double_tapped_toggle_stays_ticked(harness) -> None:
    kari = harness.user(5307)
    await harness.feed(kari.send_command("/start"))
    await walk(harness, kari, CONSENT, SELF, ADVICE, SAFETY_NO)
    # Two presses of the same button on the same message, both sent before the bot answered.
    first = kari.press(f"⬜ {SUPPORT_LISTEN}")
    again = kari._callback(first["callback_query"]["message"], first["callback_query"]["data"])
    await harness.feed(first)
    await harness.feed(again)
    [question] = harness.telegram.keyboards(kari.id)
    labels = [b["text"] for row in question["reply_markup"]["inline_keyboard"] for b in row]
    assert f"✅ {SUPPORT_LISTEN} – valgt" in labels and f"⬜ {SUPPORT_LISTEN}" not in labels


async def test_outbox_ids_are_never_reused(harness) -> None:
    """The sender knows messages by row id; a delivered row's id must never name a new message."""
    store = harness.services.store
    ids = []
    for _ in range(2):
        async with store.transaction() as tx:
            await tx.post(Outgoing(5308, Method.SEND, {"text": "x"}), harness.clock())
        ids.append(tx.posted[0][0].id)
        async with store.transaction() as tx:
            await tx.session.execute(OutboxRow.__table__.delete())
    assert ids[0] != ids[1]


async def test_an_outage_sets_a_chats_messages_aside_and_they_go_out_later_in_order(harness) -> None:
    kari = harness.user(5309)
    harness.telegram.fail_next("sendMessage", error_code=502, description="Bad Gateway", times=ATTEMPTS, chat_id=kari.id)
    await harness.feed(kari.send_command("/start"))
    await harness.feed(kari.send_command("/help"))  # committed while the first is set aside: it waits behind it
    assert harness.said(kari) == []
    async with harness.services.store.transaction() as tx:
        owed = (await tx.session.scalars(select(OutboxRow).order_by(OutboxRow.id))).all()
        assert [row.attempts for row in owed] == [1] + [0] * (len(owed) - 1)  # /help's replies never tried yet
    assert harness.sender.in_hand == 0  # all of it left to the database until the chat is due
    harness.clock.advance(minutes=6)
    assert await harness.sender.scan() == len(owed)
    await harness.sender.drain()
    welcome, help_text, *_ = harness.said(kari)
    assert CONSENT in welcome.buttons and "/forget" in help_text.text
    assert await _count(harness, OutboxRow) == 0


async def test_a_failed_bookkeeping_hands_the_chat_back_and_nothing_is_lost(harness, monkeypatch) -> None:
    anna = await add_counsellor(harness, 9310, "Anna")
    casework = harness.services.service.casework
    original = casework.on_sent
    failures = [OSError("the database is away")]

    async def on_sent_fails_once(tx: Any, track: str, message_id: int) -> None:
        if failures:
            raise failures.pop()
        await original(tx, track, message_id)

    monkeypatch.setattr(casework, "on_sent", on_sent_fails_once)
    harness.sender.on_sent = on_sent_fails_once
    await triage(harness, harness.user(5310), ADVICE)  # the offer card to Anna is tracked
    assert harness.sender.in_hand == 0  # handed back, not held by a dead worker
    harness.clock.advance(seconds=31)  # its lease runs out unrenewed
    await harness.sender.scan()
    await harness.sender.drain()
    cards = [s for s in harness.said(anna) if ACCEPT in s.buttons]
    assert len(cards) == 2  # delivered again: at least once, never lost
    async with harness.services.store.transaction() as tx:
        [offer] = (await tx.session.scalars(select(OfferRow))).all()
    assert offer.message_id == cards[-1].message_id  # and its id is known, so the card can be edited later
    assert await _count(harness, OutboxRow) == 0


async def test_a_parked_timer_armed_again_starts_over(harness) -> None:
    store, now = harness.services.store, harness.clock()
    async with store.transaction() as tx:
        await tx.timers.set("case_silent", "K-PARKED", now)
        await tx.session.execute(update(TimerRow).values(attempts=TIMER_ATTEMPTS, parked=True))
    async with store.transaction() as tx:
        await tx.timers.set("case_silent", "K-PARKED", now)  # the case had a message: silence is watched again
        assert await tx.timers.parked() == []
        assert (await tx.timers.next_due(now)).subject == "K-PARKED"
