"""A doctor's triage through the real Application, Bot API faked at BaseRequest."""

from __future__ import annotations

from sqlalchemy import func, select

from flows.disclosure import TOTAL
from flows.domain import CaseView
from storage.models import CaseRow, DraftRow
from tests.scenarios import (
    ADVICE,
    COLLEAGUE,
    CONFIRM,
    CONSENT,
    DONE,
    NOT_COPING,
    NOT_SURE,
    PREFERENCES,
    SAFETY_NO,
    SAFETY_YES,
    SELF,
    WAY_BACK,
    case_code,
    counted,
    counter_rows,
    event_count,
    mentions,
    triage,
    walk,
)


async def _rows(harness) -> list[CaseRow]:
    async with harness.services.store.transaction() as tx:
        return list((await tx.session.scalars(select(CaseRow))).all())


async def _cases(harness) -> list[CaseView]:
    """Every case as the service reads it (its details are sealed in the row)."""
    async with harness.services.store.transaction() as tx:
        codes = (await tx.session.scalars(select(CaseRow.code))).all()
        return [case for code in codes if (case := await tx.cases.get(code)) is not None]


async def test_doctor_looking_for_advice_ends_with_a_case_code(harness) -> None:
    kari = harness.user(5001, "Kari")
    await harness.feed(kari.send_command("/start"))
    welcome = harness.telegram.last_to(kari.chat_id)
    assert "velkommen til Kollega" in welcome.text
    assert welcome.buttons[:2] == [CONSENT, "Les mer om personvern"]
    code = await triage(harness, kari, ADVICE)
    waiting = harness.telegram.last_to(kari.chat_id).text
    assert f"Saksnummeret ditt er {code}" in waiting and "/status" in waiting and "/cancel" in waiting
    [case] = await _cases(harness)
    assert (case.code, case.pathway, case.urgent, case.status) == (code, "advice", False, "queued")
    assert (case.support, case.barriers, case.role, case.county) == (("emotional",), ("workplace",), "salaried_gp", "oslo")
    assert case.outside_county and case.contact == "chat" and case.language == "nb"


async def test_doctor_not_coping_is_routed_on_the_not_coping_pathway(harness) -> None:
    code = await triage(harness, harness.user(5002), NOT_COPING)
    [case] = await _cases(harness)
    assert case.code == code and case.pathway == "not_coping"


async def test_doctor_on_sick_leave_is_on_the_way_back_or_out_pathway(harness) -> None:
    await triage(harness, harness.user(5003), WAY_BACK)
    [case] = await _cases(harness)
    assert case.pathway == "way_back_or_out"


async def test_doctor_not_sure_answers_three_questions_and_gets_advice(harness) -> None:
    doctor = harness.user(5004)
    await triage(harness, doctor, NOT_SURE, "Jeg er i jobb som vanlig", "Det er tungt, men det går", "Råd om en bestemt sak")
    [case] = await _cases(harness)
    assert case.pathway == "advice"


async def test_not_sure_and_off_work_needs_only_one_question(harness) -> None:
    doctor = harness.user(5005)
    await triage(harness, doctor, NOT_SURE, "Jeg er sykmeldt eller borte fra jobb")
    [case] = await _cases(harness)
    assert case.pathway == "way_back_or_out"


async def test_worried_colleague_opens_a_concern_case_without_data_about_the_colleague(harness) -> None:
    anne = harness.user(5006, "Anne")
    await harness.feed(anne.send_command("/start"))
    await walk(harness, anne, CONSENT, COLLEAGUE)
    assert "situasjonen til kollegaen din" in harness.telegram.last_to(anne.chat_id).text
    await walk(harness, anne, NOT_COPING)
    assert "kollegaen din kan skade seg selv" in harness.telegram.last_to(anne.chat_id).text
    # The colleague's triage speaks of the colleague in the third person.
    colleague_preferences = [
        "⬜ Kulturen der de jobber" if label == "⬜ Kulturen der jeg jobber" else label for label in PREFERENCES
    ]
    assert colleague_preferences != PREFERENCES
    await walk(harness, anne, SAFETY_NO, *colleague_preferences)
    summary = harness.telegram.last_to(anne.chat_id).text
    assert "Gjelder: en bekymring for en kollega" in summary
    await walk(harness, anne, CONFIRM)
    [case] = await _cases(harness)
    assert case.seeker == "colleague" and case.pathway == "not_coping"


async def test_safety_yes_shows_numbers_at_once_marks_urgent_and_lets_the_doctor_continue(harness) -> None:
    ola = harness.user(5007, "Ola")
    await harness.feed(ola.send_command("/start"))
    await walk(harness, ola, CONSENT, SELF, NOT_COPING, SAFETY_YES)
    crisis, question = harness.said(ola)[-2:]
    for number in ("113", "116 117", "116 123", "22 40 00 40"):
        assert number in crisis.text
    assert "Fortsett til en støttekollega" in question.buttons
    await walk(harness, ola, "Fortsett til en støttekollega", *PREFERENCES)
    assert "Haster: Ja" in harness.telegram.last_to(ola.chat_id).text
    await walk(harness, ola, CONFIRM)
    assert "hastesak" in harness.telegram.last_to(ola.chat_id).text
    [case] = await _cases(harness)
    assert case.urgent
    assert await event_count(harness, "safety_shown") == 1


async def test_crisis_words_at_any_step_show_the_numbers_and_keep_the_place(harness) -> None:
    per = harness.user(5008)
    await harness.feed(per.send_command("/start"))
    await walk(harness, per, CONSENT, SELF, ADVICE, SAFETY_NO)
    await harness.feed(per.send_text("Jeg tenker på selvmord om dagen"))
    crisis, check = harness.said(per)[-2:]
    assert "113" in crisis.text
    assert check.text == "Gjelder dette deg, akkurat nå?"
    assert check.buttons == ["Ja, det gjelder nå", "Nei, ikke nå"]
    async with harness.services.store.transaction() as tx:
        draft = await tx.drafts.get(harness.services.keyring.pseudonym(per.id))
    assert draft is not None and not draft.urgent  # the words alone do not mark it urgent
    await walk(harness, per, "Ja, det gjelder nå")
    assert "Hva slags støtte" in harness.said(per)[-1].text  # back at the same question
    await walk(harness, per, *PREFERENCES, CONFIRM)
    [case] = await _cases(harness)
    assert case.urgent


async def test_crisis_words_answered_not_now_keep_the_place_without_urgency(harness) -> None:
    per = harness.user(5018)
    await harness.feed(per.send_command("/start"))
    await walk(harness, per, CONSENT, SELF, ADVICE, SAFETY_NO)
    await harness.feed(per.send_text("Jeg tenker på selvmord om dagen"))
    assert "113" in harness.said(per)[-2].text
    await walk(harness, per, "Nei, ikke nå")
    assert "Hva slags støtte" in harness.said(per)[-1].text
    await walk(harness, per, *PREFERENCES, CONFIRM)
    [case] = await _cases(harness)
    assert not case.urgent


async def test_the_crisis_button_is_on_every_question(harness) -> None:
    liv = harness.user(5009)
    await harness.feed(liv.send_command("/start"))
    await walk(harness, liv, CONSENT, SELF, ADVICE)
    seen = len(harness.said(liv))
    await walk(harness, liv, "🆘 Jeg trenger akutt hjelp nå")
    [crisis] = harness.said(liv)[seen:]  # one message; the question is not sent again
    assert "113" in crisis.text
    assert crisis.buttons == ["Fortsett der jeg var", "Jeg trykket feil"]
    async with harness.services.store.transaction() as tx:
        draft = await tx.drafts.get(harness.services.keyring.pseudonym(liv.id))
    assert draft is not None and draft.urgent
    await walk(harness, liv, "Jeg trykket feil")  # undoes the urgency
    async with harness.services.store.transaction() as tx:
        draft = await tx.drafts.get(harness.services.keyring.pseudonym(liv.id))
    assert draft is not None and not draft.urgent


async def test_cancel_mid_triage_deletes_the_draft_and_counts_where_it_stopped(harness) -> None:
    doctor = harness.user(5010)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, ADVICE, SAFETY_NO)
    await harness.feed(doctor.send_command("/cancel"))
    assert "avbrutt og slettet" in harness.telegram.last_to(doctor.chat_id).text
    async with harness.services.store.transaction() as tx:
        assert await tx.session.scalar(select(func.count()).select_from(DraftRow)) == 0
    assert await event_count(harness, "step_abandoned") == 1
    assert await event_count(harness, "step_abandoned", step="support") == 1


async def test_cancel_after_confirming_withdraws_the_case(harness) -> None:
    doctor = harness.user(5011)
    code = await triage(harness, doctor, ADVICE)
    await harness.feed(doctor.send_command("/cancel"))
    assert f"Saken {code} er trukket tilbake" in harness.telegram.last_to(doctor.chat_id).text
    [case] = await _rows(harness)
    assert case.status == "cancelled" and case.sealed_reach is None and case.pseudonym is None


async def test_forget_asks_first_then_erases_draft_and_case(harness) -> None:
    doctor = harness.user(5012)
    await triage(harness, doctor, WAY_BACK)
    await harness.feed(doctor.send_command("/forget"))
    assert harness.telegram.last_to(doctor.chat_id).buttons == ["Ja, slett alt", "Nei, behold"]
    await walk(harness, doctor, "Ja, slett alt")
    assert "er slettet" in harness.telegram.last_to(doctor.chat_id).text
    assert await _cases(harness) == []
    await harness.feed(doctor.send_command("/status"))
    assert "ingen åpen sak" in harness.telegram.last_to(doctor.chat_id).text


async def test_forget_can_be_declined(harness) -> None:
    doctor = harness.user(5013)
    await triage(harness, doctor, ADVICE)
    await harness.feed(doctor.send_command("/forget"))
    await walk(harness, doctor, "Nei, behold")
    assert len(await _cases(harness)) == 1


async def test_status_during_triage_and_while_waiting(harness) -> None:
    doctor = harness.user(5014)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF)
    await harness.feed(doctor.send_command("/status"))
    assert "ikke sendt noen sak" in harness.said(doctor)[-2].text
    code = await triage(harness, harness.user(5015), ADVICE)
    await harness.feed(harness.user(5015).send_command("/status"))
    assert f"Saken din {code} venter" in harness.telegram.last_to(5015).text


async def test_language_switches_mid_conversation(harness) -> None:
    doctor = harness.user(5016)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF)
    await harness.feed(doctor.send_command("/language"))
    assert harness.telegram.last_to(doctor.chat_id).buttons == ["Bytt til bokmål", "Byt til nynorsk", "Switch to English"]
    await walk(harness, doctor, "Switch to English")
    assert "What fits your situation best" in harness.telegram.last_to(doctor.chat_id).text
    await walk(harness, doctor, "Advice in a demanding situation", "No", "⬜ Professional advice", "Done – next step",
               "Skip this question", "Locum", "I'd rather not say", "Meet in person", "English")  # fmt: skip
    summary = harness.telegram.last_to(doctor.chat_id).text
    assert "Situation: Advice in a demanding situation" in summary and "County: not given" in summary
    await walk(harness, doctor, "Yes, send to a peer supporter")
    assert "Your case code is" in harness.telegram.last_to(doctor.chat_id).text


async def test_welcome_offers_english_in_one_press(harness) -> None:
    doctor = harness.user(5017)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, "Switch to English")
    assert "welcome to Kollega" in harness.telegram.last_to(doctor.chat_id).text


async def test_change_from_summary_edits_one_answer_and_returns(harness) -> None:
    doctor = harness.user(5018)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, ADVICE, SAFETY_NO, *PREFERENCES, "Endre noe", "Rolle", "Vikar")
    summary = harness.telegram.last_to(doctor.chat_id).text
    assert "Rolle: Vikar" in summary and "Stemmer dette?" in summary


async def test_support_needs_at_least_one_choice(harness) -> None:
    doctor = harness.user(5019)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, ADVICE, SAFETY_NO, DONE)
    assert "Velg minst én" in harness.said(doctor)[-2].text


async def test_typed_answers_are_accepted_by_label_or_number(harness) -> None:
    doctor = harness.user(5020)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT)
    await harness.feed(doctor.send_text("det gjelder meg selv"))
    await harness.feed(doctor.send_text("2"))  # the second button: not coping
    assert "skade deg selv" in harness.telegram.last_to(doctor.chat_id).text


async def test_welcome_back_after_a_pause_continues_at_the_same_step(harness) -> None:
    doctor = harness.user(5021)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, ADVICE)
    await harness.feed(doctor.send_command("/start"))
    back, question = harness.said(doctor)[-2:]
    assert "fortsetter der du slapp" in back.text and "tanker om å skade deg selv" in question.text


async def test_events_follow_the_funnel(harness) -> None:
    await triage(harness, harness.user(5022), NOT_COPING)
    for kind in ("triage_started", "pathway_chosen", "case_opened"):
        assert await event_count(harness, kind) == 1, kind
    assert await event_count(harness, "case_opened", pathway="not_coping", seeker="self", urgent=False) == 1
    rows = await counter_rows(harness)
    assert {row.day for row in rows} == {harness.clock.now.date()}, "counted per day, never at the minute"
    assert not any(mentions(row, "oslo") or mentions(row, "salaried_gp") for row in rows), "county and role only as a tag"
    figures = await counted(harness)
    assert figures[("case_opened", TOTAL, TOTAL)] == 1
    assert figures[("case_opened", "county", "oslo")] == 1 and figures[("case_opened", "role", "salaried_gp")] == 1
    assert figures[("case_opened", "support", "emotional")] == 1 and figures[("case_opened", "barrier", "workplace")] == 1


async def test_code_extraction_helper_rejects_text_without_a_code() -> None:
    import pytest

    with pytest.raises(AssertionError):
        case_code("no code here")
