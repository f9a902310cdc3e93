"""Bad input during triage gets a kind reply and the question again; nothing crashes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from storage.models import DraftRow
from tests.scenarios import ADVICE, CONSENT, SAFETY_NO, SELF, walk


async def _at_support_step(harness, user_id: int):
    doctor = harness.user(user_id)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, ADVICE, SAFETY_NO)
    return doctor


async def test_sticker_photo_and_voice_get_a_hint_and_the_question_again(harness) -> None:
    doctor = await _at_support_step(harness, 6001)
    for update in (doctor.send_sticker(), doctor.send_photo(caption="se her"), doctor.send_voice()):
        await harness.feed(update)
        hint, question = harness.said(doctor)[-2:]
        assert "kan ikke ta imot bilder" in hint.text
        assert "Hva slags støtte" in question.text


async def test_an_edited_message_is_not_taken_as_an_answer(harness) -> None:
    doctor = await _at_support_step(harness, 6002)
    sent = doctor.send_text("hei")
    await harness.feed(sent)
    await harness.feed(doctor.edit_text(sent["message"]["message_id"], "selvmord"))
    hint, question = harness.said(doctor)[-2:]
    assert "leser ikke endrede meldinger" in hint.text and "113" not in hint.text
    assert "Hva slags støtte" in question.text


async def test_very_long_text_is_fine(harness) -> None:
    doctor = await _at_support_step(harness, 6003)
    await harness.feed(doctor.send_text("lang tekst " * 2000))
    hint, question = harness.said(doctor)[-2:]
    assert "lagrer ikke det du skriver" in hint.text and "Hva slags støtte" in question.text


async def test_unknown_command_says_so_and_shows_where_we_are(harness) -> None:
    doctor = await _at_support_step(harness, 6004)
    await harness.feed(doctor.send_command("/frobnicate"))
    hint, question = harness.said(doctor)[-2:]
    assert "kjenner jeg ikke" in hint.text and "Hva slags støtte" in question.text


async def test_a_stale_button_from_an_earlier_question_is_answered_kindly(harness) -> None:
    doctor = harness.user(6005)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF)
    situation = harness.said(doctor)[-1]
    await walk(harness, doctor, ADVICE)
    # Press "Not sure" on the situation message again, after it was answered.
    await harness.feed(doctor.press_data(situation.callback_data("Jeg er ikke sikker"), message_id=situation.message_id))
    note, question = harness.said(doctor)[-2:]
    assert "tidligere spørsmål" in note.text and "tanker om å skade deg selv" in question.text


async def test_forged_callback_data_changes_nothing(harness) -> None:
    doctor = await _at_support_step(harness, 6006)
    for data in ("support|confirm", "support|toggle_support:everything", "garbage", "x" * 64, "|", "support|"):
        await harness.feed(doctor.press_data(data))
        question = harness.said(doctor)[-1]
        assert "Hva slags støtte" in question.text, data
    async with harness.services.store.transaction() as tx:
        draft = await tx.drafts.get(harness.services.keyring.pseudonym(doctor.id))
    assert draft is not None and draft.state == "support" and draft.support == []


async def test_a_button_with_no_conversation_behind_it_points_to_start(harness) -> None:
    doctor = harness.user(6007)
    await harness.feed(doctor.press_data("role|choose_role:locum"))
    assert "/start" in harness.said(doctor)[-1].text


async def test_every_callback_is_answered_so_the_button_stops_spinning(harness) -> None:
    doctor = await _at_support_step(harness, 6008)
    before = len(harness.telegram.calls_of("answerCallbackQuery"))
    await harness.feed(doctor.press_data("garbage"))
    assert len(harness.telegram.calls_of("answerCallbackQuery")) == before + 1


async def test_in_a_group_the_bot_explains_and_leaves_and_stores_nothing(harness) -> None:
    doctor = harness.user(6009)
    await harness.feed(doctor.send_text_in_group(-100123, "/start"))
    assert "bare i private samtaler" in harness.telegram.last_to(-100123).text
    assert harness.telegram.calls_of("leaveChat")
    await harness.feed(doctor.added_to_group(-100456))
    assert "bare i private samtaler" in harness.telegram.last_to(-100456).text
    async with harness.services.store.transaction() as tx:
        assert await tx.session.scalar(select(func.count()).select_from(DraftRow)) == 0
    assert harness.said(doctor) == []


async def test_a_telegram_failure_on_one_update_leaves_the_next_one_working(harness) -> None:
    doctor = await _at_support_step(harness, 6010)
    harness.telegram.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found", times=2)
    await harness.feed(doctor.send_sticker())  # its hint and question fail to send
    await harness.feed(doctor.send_sticker())
    assert "Hva slags støtte" in harness.said(doctor)[-1].text


async def test_the_same_update_delivered_twice_is_handled_once(harness) -> None:
    doctor = harness.user(6011)
    await harness.feed(doctor.send_command("/start"))
    press = doctor.press(CONSENT)
    await harness.feed(press)
    await harness.feed(press)  # Telegram (or a second process) delivers it again
    assert [s.text for s in harness.said(doctor)].count(harness.said(doctor)[-1].text) == 1
    async with harness.services.store.transaction() as tx:
        draft = await tx.drafts.get(harness.services.keyring.pseudonym(doctor.id))
    assert draft is not None and draft.state == "who"


async def test_digits_from_other_scripts_are_not_taken_as_a_button_number(harness) -> None:
    doctor = await _at_support_step(harness, 6012)
    for typed in ("²", "٣", "1" * 40):
        await harness.feed(doctor.send_text(typed))
        hint, question = harness.said(doctor)[-2:]
        assert "lagrer ikke det du skriver" in hint.text and "Hva slags støtte" in question.text


async def test_a_group_message_that_cannot_be_handled_now_comes_again_and_never_reaches_the_private_flows(
    harness, monkeypatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from storage.store import SqlStore

    doctor = harness.user(6012)
    original = SqlStore.update
    failures = [OperationalError("BEGIN", {}, Exception("database is locked"))]

    def update_fails_once(self: SqlStore, update_id: int, now: Any) -> Any:
        if failures:
            raise failures.pop()
        return original(self, update_id, now)

    monkeypatch.setattr(SqlStore, "update", update_fails_once)
    message = doctor.send_text_in_group(-100789, "/start")
    with pytest.raises(OperationalError):
        await harness.feed(message)  # not confirmed: Telegram sends it again
    harness.errors.clear()
    # Nothing reached the doctor's conversation: no draft, no welcome, in the group or privately.
    async with harness.services.store.transaction() as tx:
        assert await tx.session.scalar(select(func.count()).select_from(DraftRow)) == 0
    assert harness.telegram.messages_to(-100789) == [] and harness.said(doctor) == []
    await harness.feed(message)  # the redelivery: the bot explains and leaves
    assert "bare i private samtaler" in harness.telegram.last_to(-100789).text
    assert harness.telegram.calls_of("leaveChat")


async def test_an_update_the_adapter_cannot_read_gets_try_again_and_is_not_handled_twice(harness, monkeypatch) -> None:
    from bot import handlers
    from flows.catalogue import render
    from flows.replies import Text

    doctor = harness.user(6013)
    original = handlers._who
    failures = [ValueError("a bug in the adapter")]

    def who_fails_once(update: Any, context: Any) -> Any:
        if failures:
            raise failures.pop()
        return original(update, context)

    monkeypatch.setattr(handlers, "_who", who_fails_once)
    start = doctor.send_command("/start")
    with pytest.raises(ValueError):
        await harness.feed(start)
    harness.errors.clear()
    assert [s.text for s in harness.said(doctor)] == [render(Text("error.retry"), "nb")]
    await harness.feed(start)  # the same update again: already answered, so nothing more
    assert len(harness.said(doctor)) == 1
    await harness.feed(doctor.send_command("/start"))  # and the doctor can start over
    assert CONSENT in harness.said(doctor)[-1].buttons
