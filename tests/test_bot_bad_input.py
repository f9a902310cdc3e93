"""Bad input during triage gets a kind reply and the question again; nothing crashes."""

from __future__ import annotations

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
