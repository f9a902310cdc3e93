"""Talking through the bot after acceptance, and closing (docs/design.md section 7)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from flows.domain import CaseView
from storage import roster
from storage.models import CaseRow, CounsellorRow
from tests.scenarios import (
    ACCEPT,
    ADVICE,
    CONFIRM,
    CONSENT,
    NOT_COPING,
    SAFETY_NO,
    SELF,
    add_coordinator,
    add_counsellor,
    event_count,
    triage,
    walk,
)


async def _connected(harness, doctor_id: int = 5201, counsellor_id: int = 9001, alias: str = "Anna", contact: str | None = None):
    anna = await add_counsellor(harness, counsellor_id, alias)
    kari = harness.user(doctor_id, "Kari")
    if contact is None:
        code = await triage(harness, kari, ADVICE)
    else:
        await harness.feed(kari.send_command("/start"))
        await walk(harness, kari, CONSENT, SELF, ADVICE, SAFETY_NO, "⬜ Faglige råd", "Ferdig – gå videre", "Hopp over",
                   "Vikar", "Oslo", "Det spiller ingen rolle", contact, "Norsk", CONFIRM)  # fmt: skip
        code = harness.said(kari)[-2].text.split("Saksnummeret ditt er ")[1][:8]
    await walk(harness, anna, ACCEPT)
    return kari, anna, code


async def _case(harness, code: str) -> CaseRow:
    async with harness.services.store.transaction() as tx:
        row = await tx.session.get(CaseRow, code)
    assert row is not None
    return row


async def _view(harness, code: str) -> CaseView:
    """The case as the service reads it (what the doctor answered is sealed in the row)."""
    async with harness.services.store.transaction() as tx:
        case = await tx.cases.get(code)
    assert case is not None
    return case


async def test_text_goes_both_ways_with_the_case_code_and_the_alias(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.feed(kari.send_text("Jeg har fått en klage fra en pasient"))
    to_anna = harness.said(anna)[-1]
    assert (to_anna.method, to_anna.text) == ("copyMessage", "Jeg har fått en klage fra en pasient")
    assert to_anna.buttons == [f"💬 {code} · fra legen (trykk for å svare)"] and to_anna.params["protect_content"]
    await harness.feed(anna.send_text("Så leit å høre. Vil du fortelle mer?"))
    to_kari = harness.said(kari)[-1]
    assert (to_kari.method, to_kari.text) == ("copyMessage", "Så leit å høre. Vil du fortelle mer?")
    assert to_kari.buttons == ["💬 Anna · støttekollega"] and to_kari.params["protect_content"]
    assert not harness.telegram.calls_of("forwardMessage")


async def test_the_buttons_on_relayed_copies_pick_the_case_or_show_where_it_stands(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.feed(kari.send_text("Er du der?"))
    await harness.feed(anna.press(f"💬 {code} · fra legen (trykk for å svare)"))
    assert f"går til saken {code}" in harness.said(anna)[-1].text
    await harness.feed(anna.send_text("Ja, jeg er her"))
    await harness.feed(kari.press("💬 Anna · støttekollega"))
    status = harness.said(kari)[-1].text
    assert code in status and "Anna" in status
    # The copies themselves are never edited or quoted back: their text is someone's words.
    assert not [s for s in harness.telegram.sent if s.is_edit and s.text in ("Er du der?", "Ja, jeg er her")]


async def test_photo_and_voice_are_copied_not_forwarded(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.feed(kari.send_photo(caption="brevet fra Helsetilsynet"))
    photo = harness.said(anna)[-1]
    assert photo.method == "copyMessage" and photo.text == "brevet fra Helsetilsynet" and code in photo.buttons[0]
    await harness.feed(anna.send_voice())
    voice = harness.said(kari)[-1]
    assert voice.method == "copyMessage" and "Anna" in voice.buttons[0]
    await harness.feed(kari.send_sticker())
    sticker = harness.said(anna)[-1]
    assert sticker.method == "copyMessage" and code in sticker.buttons[0]
    assert not harness.telegram.calls_of("forwardMessage")


async def test_counsellor_with_two_cases_answers_by_replying_or_choosing(harness) -> None:
    kari, anna, first = await _connected(harness)
    ola = harness.user(5202, "Ola")
    harness.clock.advance(minutes=1)  # cases are listed in the order they were accepted
    second = await triage(harness, ola, NOT_COPING)
    await walk(harness, anna, ACCEPT)
    await harness.feed(kari.send_text("Hei fra Kari"))
    relayed_from_kari = harness.said(anna)[-1]
    await harness.feed(ola.send_text("Hei fra Ola"))
    # A reply to Kari's message goes to Kari, whatever the focus.
    await harness.feed(anna.send_text("Svar til Kari", reply_to_message_id=relayed_from_kari.message_id))
    assert harness.said(kari)[-1].text == "Svar til Kari"
    # /case focuses on one case; plain messages then go there.
    await harness.feed(anna.send_command(f"/case {second}"))
    await harness.feed(anna.send_text("Til Ola"))
    assert harness.said(ola)[-1].text == "Til Ola"
    # Without a focus and with two cases, the counsellor is asked which case, and the choice delivers it.
    async with harness.services.store.transaction() as tx:
        await tx.roster.focus((await tx.roster.by_telegram(anna.id)).id, None)
    await harness.feed(anna.send_text("Hvem får denne?"))
    question = harness.said(anna)[-1]
    assert "Hvilken skal meldingen til" in question.text
    assert question.buttons == [f"Send til {first}", f"Send til {second}"]
    await walk(harness, anna, f"Send til {first}")
    copied = harness.said(kari)[-1]
    assert (copied.method, copied.text, copied.buttons) == ("copyMessage", "Hvem får denne?", ["💬 Anna · støttekollega"])
    await harness.feed(anna.send_command("/cases"))
    listing = harness.said(anna)[-1].text
    assert first in listing and second in listing


async def test_doctor_shares_a_phone_number_only_with_one_explicit_button(harness) -> None:
    kari, anna, code = await _connected(harness, contact="Telefonsamtale")
    offer = harness.said(kari)[-1]
    assert offer.buttons == ["Del telefonnummeret mitt"]
    assert offer.reply_markup["keyboard"][0][0]["request_contact"] is True
    await harness.feed(kari.send_contact("+47 912 34 567"))
    [contact] = harness.telegram.calls_of("sendContact")
    assert contact["phone_number"] == "+47 912 34 567" and code in contact["first_name"]
    assert "user_id" not in contact and "Kari" not in str(contact)
    assert "sendt til Anna" in harness.said(kari)[-1].text


async def test_someone_elses_contact_is_not_passed_on(harness) -> None:
    kari, anna, code = await _connected(harness, contact="Telefonsamtale")
    await harness.feed(kari.send_contact("+47 400 00 000", first_name="Per", own=False))
    assert not harness.telegram.calls_of("sendContact")
    assert "bare ditt eget nummer" in harness.said(kari)[-1].text


async def test_the_doctor_is_told_about_a_wrong_contact_in_the_language_they_read(harness) -> None:
    kari, anna, code = await _connected(harness, contact="Telefonsamtale")  # Anna reads Bokmål
    await harness.feed(kari.send_command("/language"))
    await walk(harness, kari, "Switch to English")
    await harness.feed(kari.send_contact("+47 400 00 000", first_name="Per", own=False))
    assert "share only your own number" in harness.said(kari)[-1].text


async def test_a_message_that_cannot_be_delivered_is_retried_then_the_sender_is_told(harness) -> None:
    kari, anna, code = await _connected(harness)
    harness.telegram.fail_next("sendMessage", error_code=500, description="Internal Server Error", times=2, chat_id=anna.id)
    await harness.feed(kari.send_text("Første forsøk feiler to ganger"))
    assert harness.said(anna)[-1].text.endswith("Første forsøk feiler to ganger")  # retried and delivered
    harness.telegram.block(anna.id)
    await harness.feed(kari.send_text("Denne kommer ikke fram"))
    assert "kom ikke fram" in harness.said(kari)[-1].text


async def test_counsellor_closes_doctor_is_told_and_gives_anonymous_feedback(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.feed(anna.send_command("/close"))
    await walk(harness, anna, "Ja, avslutt")
    assert f"Saken {code} er avsluttet" in harness.telegram.last_to(anna.id).text
    closed, feedback, followup = harness.said(kari)[-3:]
    assert "Anna har avsluttet samtalen" in closed.text and closed.text.endswith("skriv /start.")
    assert feedback.buttons[:5] == ["1", "2", "3", "4", "5"]
    case = await _case(harness, code)
    assert case.status == "closed" and await event_count(harness, "case_closed", actor="counsellor") == 1
    assert case.sealed_reach is None and case.pseudonym is None and case.counsellor_id is None
    await walk(harness, kari, "4")
    assert "Takk for svaret" in harness.telegram.last_to(kari.id).text
    assert await event_count(harness, "feedback") == 1 and await event_count(harness, "feedback", score=4) == 1
    assert await event_count(harness, "case_closed") == 1
    # Feedback counts once, even if the same button is pressed again.
    await harness.feed(kari.press_data(feedback.callback_data("5"), message_id=feedback.message_id))
    assert "allerede svart" in harness.telegram.last_to(kari.id).text
    assert await event_count(harness, "feedback") == 1


async def test_doctor_ends_the_conversation_and_the_counsellor_is_told(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.feed(kari.send_command("/cancel"))
    assert harness.said(kari)[-1].buttons == ["Ja, avslutt", "Nei, fortsett"]
    await walk(harness, kari, "Ja, avslutt")
    assert f"Legen har avsluttet saken {code}" in harness.said(anna)[-1].text
    assert (await _case(harness, code)).status == "closed"
    assert await event_count(harness, "case_closed", actor="doctor") == 1
    # After closing, messages are no longer relayed: they start a new triage.
    await harness.feed(kari.send_text("Er du der?"))
    assert not any("Er du der?" in (s.text or "") for s in harness.said(anna))


async def test_feedback_buttons_only_work_for_the_doctor_they_were_sent_to(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.feed(anna.send_command("/close"))
    await walk(harness, anna, "Ja, avslutt")
    feedback = harness.said(kari)[-2]
    mallory = harness.user(5299, "Mallory")
    await harness.feed(mallory.press_data(feedback.callback_data("1")))
    assert await event_count(harness, "feedback") == 0


async def test_opted_in_follow_up_arrives_once_and_then_the_contact_is_destroyed(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.feed(anna.send_command("/close"))
    await walk(harness, anna, "Ja, avslutt")
    await walk(harness, kari, "Ja, ta kontakt om 4 uker")
    assert "om 4 uker" in harness.telegram.last_to(kari.id).text
    assert (await _case(harness, code)).sealed_reach is not None
    await harness.tick(days=27)
    assert "Det er en stund siden sist – hvordan går det?" not in (harness.said(kari)[-1].text or "")
    await harness.tick(days=2)
    assert "Det er en stund siden sist – hvordan går det?" in harness.said(kari)[-1].text
    case = await _case(harness, code)
    assert case.sealed_reach is None and not case.followup


async def test_a_silent_case_prompts_the_counsellor_then_the_coordinator(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    kari, anna, code = await _connected(harness)
    await harness.tick(hours=71)
    assert "stille" not in (harness.said(anna)[-1].text or "")
    await harness.tick(hours=2)
    assert f"Saken {code} har vært stille i 72 timer" in harness.said(anna)[-1].text
    await harness.tick(hours=73)
    assert any(code in (s.text or "") and "stille" in (s.text or "") for s in harness.said(kim))


async def test_a_message_resets_the_silence_clock(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.tick(hours=70)
    await harness.feed(kari.send_text("Fortsatt her"))
    await harness.tick(hours=70)
    assert "stille" not in (harness.said(anna)[-1].text or "")


async def test_invite_join_and_enrol_with_buttons(harness) -> None:
    keyring = harness.services.keyring
    async with harness.services.store.transaction() as tx:
        await roster.create_invite(tx.session, "counsellor", keyring.invite_hash("ABCDE-FGHJK"), datetime(2030, 1, 1))
        await roster.create_invite(tx.session, "coordinator", keyring.invite_hash("KOORD-12345"), datetime(2030, 1, 1))
    nina = harness.user(9101, "Nina")
    await harness.feed(nina.send_command("/join abcde-fghjk"))
    assert "Velkommen som støttekollega" in harness.said(nina)[-2].text
    await walk(harness, nina, "Vestland", "⬜ Norsk", "⬜ Engelsk (English)", "Ferdig – gå videre",
               "⬜ Redd for ikke å klare mer", "Ferdig – gå videre")  # fmt: skip
    assert "skriv navnet" in harness.said(nina)[-1].text
    await harness.feed(nina.send_text("Nina S."))
    assert "Takk, Nina S.!" in harness.said(nina)[-1].text
    async with harness.services.store.transaction() as tx:
        row = (await tx.session.scalars(select(CounsellorRow).where(CounsellorRow.telegram_id == nina.id))).one()
    assert (row.alias, row.home_county, row.languages, row.pathways, row.enrolling) == (
        "Nina S.", "vestland", ["nb", "en"], ["not_coping"], None,
    )  # fmt: skip
    # The code is used up; a coordinator code makes a coordinator.
    await harness.feed(harness.user(9102).send_command("/join ABCDE-FGHJK"))
    assert "ugyldig eller utløpt" in harness.said(harness.user(9102))[-1].text
    kim = harness.user(8002)
    await harness.feed(kim.send_command("/join KOORD-12345"))
    assert "registrert som koordinator" in harness.said(kim)[-1].text
    # And the new counsellor gets cases.
    code = await triage(harness, harness.user(5203), NOT_COPING)
    assert any(code in (s.text or "") for s in harness.said(nina))


async def test_expired_invite_is_refused(harness) -> None:
    async with harness.services.store.transaction() as tx:
        await roster.create_invite(
            tx.session, "counsellor", harness.services.keyring.invite_hash("OLDOL-DOLDO"), harness.clock.now - timedelta(hours=1)
        )
    late = harness.user(9103)
    await harness.feed(late.send_command("/join OLDOL-DOLDO"))
    assert "ugyldig eller utløpt" in harness.said(late)[-1].text


async def test_status_while_connected_names_the_counsellor(harness) -> None:
    kari, anna, code = await _connected(harness)
    await harness.feed(kari.send_command("/status"))
    assert f"Saken din {code} er tatt av støttekollega Anna" in harness.said(kari)[-1].text


async def test_crisis_words_to_the_counsellor_are_passed_on_and_the_numbers_shown(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    kari, anna, code = await _connected(harness)
    await harness.feed(kari.send_text("Noen dager tenker jeg på selvmord"))
    assert harness.said(anna)[-1].text.endswith("Noen dager tenker jeg på selvmord")
    numbers, question = harness.said(kari)[-2:]
    assert "113" in numbers.text
    assert question.text == "Gjelder dette deg, akkurat nå?"
    assert question.buttons == ["Ja, det gjelder nå", "Nei, ikke nå"]
    # Nothing is escalated until the doctor says it concerns them now.
    assert not (await _view(harness, code)).urgent
    assert not any("hastesak" in (s.text or "").lower() for s in harness.said(kim))
    await walk(harness, kari, "Ja, det gjelder nå")
    assert (await _view(harness, code)).urgent
    assert any(f"🔴 Hastesak: saken {code} er nå merket som haster" in (s.text or "") for s in harness.said(anna))
    assert any(f"🔴 Sak {code} (" in (s.text or "") and "er nå merket som hastesak" in (s.text or "") for s in harness.said(kim))


async def test_crisis_words_answered_not_now_escalate_nothing(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    kari, anna, code = await _connected(harness)
    await harness.feed(kari.send_text("Noen dager tenker jeg på selvmord"))
    assert harness.said(anna)[-1].text.endswith("Noen dager tenker jeg på selvmord")
    to_anna = len(harness.said(anna))
    await walk(harness, kari, "Nei, ikke nå")
    assert not (await _view(harness, code)).urgent
    assert len(harness.said(anna)) == to_anna
    assert not any("hastesak" in (s.text or "").lower() for s in harness.said(kim))


async def test_edits_during_a_case_are_not_relayed(harness) -> None:
    kari, anna, code = await _connected(harness)
    sent = kari.send_text("Original")
    await harness.feed(sent)
    before = len(harness.said(anna))
    await harness.feed(kari.edit_text(sent["message"]["message_id"], "Endret"))
    assert len(harness.said(anna)) == before
    assert "Endringer i meldinger sendes ikke videre" in harness.said(kari)[-1].text


async def test_a_counsellors_typed_words_after_a_command_are_never_echoed(harness) -> None:
    """Replies wait in the outbox until sent: what a counsellor types after /case or /close
    could be about a doctor, and a code that is not theirs names somebody else's case: neither is shown back."""
    kari, anna, code = await _connected(harness)
    for command in ("/case legen heter Kari Nordmann, 91234567", "/close Kari Nordmann", "/case K-ZZZZZZ"):
        await harness.feed(anna.send_command(command))
        reply = harness.said(anna)[-1].text
        assert "kari" not in reply.lower() and "91234567" not in reply.replace(" ", "") and "K-ZZZZZZ" not in reply
        assert "ingen åpen sak med den koden" in reply


async def test_a_counsellor_with_two_cases_picks_one_before_sharing_a_number(harness) -> None:
    kari, anna, first = await _connected(harness)
    ola = harness.user(5203, "Ola")
    await triage(harness, ola, NOT_COPING)
    await walk(harness, anna, ACCEPT)
    async with harness.services.store.transaction() as tx:
        await tx.roster.focus((await tx.roster.by_telegram(anna.id)).id, None)
    await harness.feed(anna.send_contact("+47 400 00 000"))
    assert "Velg saken først" in harness.said(anna)[-1].text
    assert not harness.telegram.calls_of("copyMessage") and not harness.telegram.calls_of("sendContact")
