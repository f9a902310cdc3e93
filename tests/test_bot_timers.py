"""A silent doctor is reminded once, then the draft expires; timers survive a restart."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.app import attach_services, build_application, open_services, tick
from bot.serve import handle_update
from tests.faketelegram import FakeRequest
from tests.scenarios import ADVICE, CONSENT, SELF, event_count, walk


async def test_silent_doctor_is_reminded_once_then_the_draft_expires(harness) -> None:
    doctor = harness.user(7001)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, ADVICE)
    seen = len(harness.said(doctor))
    assert await harness.tick(hours=23) == 0
    assert await harness.tick(hours=1, seconds=1) == 1
    [reminder] = harness.said(doctor)[seen:]
    assert reminder.text == "Hei igjen. Vil du fortsette der du slapp? Hører vi ikke fra deg, slettes svarene om 48 timer."
    assert reminder.buttons == ["Fortsett der jeg slapp"]
    assert await harness.tick(hours=24) == 0  # only one reminder
    assert await harness.tick(hours=24, seconds=1) == 1
    assert "nå slettet" in harness.said(doctor)[-1].text
    async with harness.services.store.transaction() as tx:
        assert await tx.drafts.get(harness.services.keyring.pseudonym(doctor.id)) is None
    assert await event_count(harness, "step_abandoned") == 1
    assert await event_count(harness, "step_abandoned", step="safety") == 1


async def test_answering_after_the_reminder_keeps_the_draft(harness) -> None:
    doctor = harness.user(7002)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT)
    await harness.tick(hours=25)
    await walk(harness, doctor, SELF)
    assert await harness.tick(hours=23) == 0
    assert await harness.tick(hours=2) == 1  # a fresh reminder, 24 h after the last answer
    assert await harness.tick(hours=47) == 0  # the old expiry is gone; the new one is 48 h away
    assert await harness.tick(hours=2) == 1


async def test_restart_keeps_the_step_and_the_timers(config: Any, clock: Any) -> None:
    from tests.faketelegram import FakeTelegram

    telegram = FakeTelegram()
    doctor = telegram.user(7003)

    async def run(*updates: Any) -> Any:
        from telegram import Update

        services = await open_services(config, clock)
        app = build_application(config, request=FakeRequest(telegram), limit_rate=False)
        sender = attach_services(app, services)
        async with app:
            for make in updates:
                await handle_update(app, Update.de_json(make(), app.bot))
                await sender.drain()
            before = sender.counts["delivered"]
            await tick(app)
            await sender.drain()
        await services.engine.dispose()
        return sender.counts["delivered"] - before

    await run(lambda: doctor.send_command("/start"), lambda: doctor.press(CONSENT), lambda: doctor.press(SELF))
    # A brand-new process on the same database: the doctor continues at the same step.
    await run(lambda: doctor.press(ADVICE))
    assert "tanker om å skade deg selv" in telegram.last_to(doctor.chat_id).text
    clock.advance(hours=25)
    assert await run() == 1  # the reminder armed before the restart still fires
    assert "Vil du fortsette der du slapp?" in telegram.messages_to(doctor.chat_id)[-1].text
    await run(lambda: doctor.press("Fortsett der jeg slapp"))  # the reminder's button re-asks the question
    question = telegram.messages_to(doctor.chat_id)[-1]
    assert "tanker om å skade deg selv" in question.text and question.buttons[:2] == ["Ja", "Nei"]


async def test_the_running_bots_daily_purge_removes_what_retention_allows(harness, caplog) -> None:
    import logging
    from datetime import datetime

    from bot.app import purge_now
    from flows.events import Event, EventKind
    from storage.models import EventCountRow

    async with harness.services.store.transaction() as tx:
        # One counter row each (triage_started has one GROUP BY).
        await tx.events.record(Event(EventKind.TRIAGE_STARTED), datetime(2020, 1, 1, 10))  # far past 24 months
        await tx.events.record(Event(EventKind.TRIAGE_STARTED), harness.clock.now)
    caplog.set_level(logging.INFO, logger="bot.app")
    await purge_now(harness.services)
    async with harness.services.store.transaction() as tx:
        days = (await tx.session.scalars(select(EventCountRow.day))).all()
    assert days == [harness.clock.now.date()]
    assert "purge: 1 event count rows" in caplog.text
