"""Routing a confirmed case to a counsellor: offers, declines, timeouts, counties,
urgency, escalation, atomic accept (docs/design.md section 6), through the real Application."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.app import attach_services, build_application, open_services, tick
from flows.domain import CaseView
from storage.models import CaseRow, OfferRow
from tests.faketelegram import FakeRequest, FakeTelegram
from tests.scenarios import (
    ACCEPT,
    ADVICE,
    CONFIRM,
    CONSENT,
    DECLINE,
    NOT_COPING,
    PREFERENCES,
    SAFETY_NO,
    SELF,
    add_coordinator,
    add_counsellor,
    counter_rows,
    event_count,
    mentions,
    triage,
    walk,
)


async def _case(harness, code: str) -> CaseRow:
    async with harness.services.store.transaction() as tx:
        row = await tx.session.get(CaseRow, code)
    assert row is not None
    return row


async def _view(harness, code: str) -> CaseView:
    """The case as the service reads it (its times are sealed in the row)."""
    async with harness.services.store.transaction() as tx:
        case = await tx.cases.get(code)
    assert case is not None
    return case


def _has_offer(harness, counsellor, code: str) -> bool:
    return any(code in (s.text or "") and ACCEPT in s.buttons for s in harness.said(counsellor))


async def test_case_is_offered_with_an_anonymous_card_and_accepted(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(5101, "Kari", username="kari_lege")
    code = await triage(harness, kari, ADVICE)
    card = harness.said(anna)[-1]
    assert code in card.text and card.buttons == [ACCEPT, DECLINE]
    assert "Situasjon: Råd i en krevende situasjon" in card.text and "Kari" not in card.text and "kari_lege" not in card.text
    assert harness.said(kari)[-1].text == f"Takk – det er sendt videre ({code}). Du får beskjed her når noen har svart."
    await walk(harness, anna, ACCEPT)
    assert f"Du har tatt saken {code}" in harness.telegram.last_to(anna.chat_id).text
    told = harness.said(kari)[-1].text
    assert told.startswith(f"Anna har svart og kan skrive med deg nå ({code}).")
    case = await _view(harness, code)
    assert case.status == "active" and case.accepted_at == harness.clock.now
    # Accepted at once: counted in the first step of waits, "within a minute".
    assert await event_count(harness, "case_accepted") == 1
    assert await event_count(harness, "case_accepted", pathway="advice", urgent=False, duration_s=60) == 1
    named = [harness.services.keyring.pseudonym(anna.id), "Anna", str(anna.id)]
    assert not [row for row in await counter_rows(harness) if any(mentions(row, name) for name in named)], (
        "statistics never name the counsellor"
    )


async def test_decline_passes_the_case_to_the_next_counsellor(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    bjorn = await add_counsellor(harness, 9002, "Bjørn")
    doctor = harness.user(5102)
    code = await triage(harness, doctor, ADVICE)
    assert _has_offer(harness, anna, code) and not _has_offer(harness, bjorn, code)
    await walk(harness, anna, DECLINE)
    assert "Du avslo saken" in harness.telegram.last_to(anna.chat_id).text
    assert _has_offer(harness, bjorn, code)
    # The doctor is told it was passed on at the first offer only, not again on the re-offer.
    assert sum("Takk – det er sendt videre" in (s.text or "") for s in harness.said(doctor)) == 1
    assert await event_count(harness, "offer_declined") == 1


async def test_timeout_passes_the_case_on_and_marks_the_silent_counsellor_away(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    bjorn = await add_counsellor(harness, 9002, "Bjørn")
    code = await triage(harness, harness.user(5103), ADVICE)
    stale_accept = harness.said(anna)[-1].callback_data(ACCEPT)
    await harness.tick(minutes=59)
    assert not _has_offer(harness, bjorn, code)
    await harness.tick(minutes=2)
    assert _has_offer(harness, bjorn, code)
    assert "gikk ut" in " ".join(s.text or "" for s in harness.telegram.messages_to(anna.chat_id))
    assert "/available" in harness.said(anna)[-1].text
    # The card's buttons are gone; a press on the old button is answered, not acted on.
    assert "reply_markup" not in harness.telegram.message(anna.chat_id, harness.said(anna)[0].message_id)
    await harness.feed(anna.press_data(stale_accept))
    assert "ikke lenger ledig" in harness.telegram.last_to(anna.chat_id).text
    assert (await _case(harness, code)).status == "offered"
    assert await event_count(harness, "offer_timed_out") == 1


async def test_doctor_who_wants_someone_from_another_county_never_gets_their_own(harness) -> None:
    oslo = await add_counsellor(harness, 9001, "Olav", county="oslo")
    bergen = await add_counsellor(harness, 9002, "Berit", county="vestland")
    code = await triage(harness, harness.user(5104), ADVICE)  # PREFERENCES: Oslo, another county please
    assert _has_offer(harness, bergen, code) and not _has_offer(harness, oslo, code)
    await walk(harness, bergen, DECLINE)
    assert not _has_offer(harness, oslo, code)  # nobody else fits: escalated, not offered to Olav


async def test_urgent_case_jumps_the_queue(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna", capacity=1)
    await harness.feed(anna.send_command("/away"))
    calm = await triage(harness, harness.user(5105), ADVICE)
    harness.clock.advance(minutes=5)
    urgent = await triage(harness, harness.user(5106), NOT_COPING, safety="Ja")
    await harness.feed(anna.send_command("/available"))
    assert _has_offer(harness, anna, urgent) and not _has_offer(harness, anna, calm)
    assert "HASTESAK" in harness.said(anna)[-1].text
    # The urgent offer has the shorter deadline (15 minutes).
    assert "15 minutter" in harness.said(anna)[-1].text


async def test_nobody_available_alerts_coordinators_once_and_offers_when_someone_is_back(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    anna = await add_counsellor(harness, 9001, "Anna")
    await harness.feed(anna.send_command("/away 2"))
    assert "borte i 2 timer" in harness.said(anna)[-1].text
    code = await triage(harness, harness.user(5107), ADVICE)
    alerts = [s for s in harness.said(kim) if code in (s.text or "")]
    assert len(alerts) == 1 and "Ingen ledig støttekollega" in alerts[0].text
    await harness.tick(minutes=30)
    assert len([s for s in harness.said(kim) if code in (s.text or "")]) == 1  # not repeated
    await harness.tick(hours=2)  # Anna's away time runs out
    assert _has_offer(harness, anna, code)
    assert await event_count(harness, "case_escalated") == 1


async def test_capacity_is_respected_and_freed_capacity_gets_the_next_case(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna", capacity=1)
    first_doctor = harness.user(5108)
    first = await triage(harness, first_doctor, ADVICE)
    second = await triage(harness, harness.user(5109), ADVICE)
    assert _has_offer(harness, anna, first) and not _has_offer(harness, anna, second)
    await walk(harness, anna, ACCEPT)
    assert not _has_offer(harness, anna, second)
    await harness.feed(first_doctor.send_command("/cancel"))
    await walk(harness, first_doctor, "Ja, avslutt")
    assert _has_offer(harness, anna, second)


async def test_two_accept_presses_at_once_have_exactly_one_winner(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    code = await triage(harness, harness.user(5110), ADVICE)
    first, second = anna.press(ACCEPT), anna.press(ACCEPT)
    await asyncio.gather(harness.feed(first), harness.feed(second))
    texts = [s.text or "" for s in harness.telegram.messages_to(anna.chat_id)]
    assert sum(f"Du har tatt saken {code}" in t for t in texts) == 1
    assert sum("ikke lenger ledig" in t for t in texts) == 1
    assert await event_count(harness, "case_accepted") == 1


async def test_late_accept_after_timeout_loses_to_the_next_counsellor(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    bjorn = await add_counsellor(harness, 9002, "Bjørn")
    code = await triage(harness, harness.user(5111), ADVICE)
    stale = anna.press(ACCEPT)
    await harness.tick(minutes=61)
    await asyncio.gather(harness.feed(stale), harness.feed(bjorn.press(ACCEPT)))
    case = await _case(harness, code)
    async with harness.services.store.transaction() as tx:
        bjorn_id = (await tx.roster.by_telegram(bjorn.id)).id
    assert case.counsellor_id == bjorn_id
    assert "ikke lenger ledig" in harness.said(anna)[-1].text or "ikke lenger ledig" in harness.telegram.last_to(anna.id).text


async def test_a_doctor_pressing_a_counsellors_accept_button_is_refused(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(5112)
    code = await triage(harness, kari, ADVICE)
    forged = harness.said(anna)[-1].callback_data(ACCEPT)
    await harness.feed(kari.press_data(forged))
    assert "ikke til deg" in harness.said(kari)[-1].text
    assert (await _case(harness, code)).status == "offered"
    # Another counsellor forging it is refused too.
    eve = await add_counsellor(harness, 9003, "Eve")
    await harness.feed(eve.press_data(forged))
    assert "ikke til deg" in harness.said(eve)[-1].text
    assert (await _case(harness, code)).status == "offered"


async def test_doctors_get_a_polite_no_for_counsellor_and_coordinator_commands(harness) -> None:
    kari = harness.user(5113)
    for command in ("/available", "/away", "/cases", "/case K-AAAAAA", "/close"):
        await harness.feed(kari.send_command(command))
        assert "bare for støttekollegaer" in harness.said(kari)[-1].text, command
    for command in ("/queue", "/stats"):
        await harness.feed(kari.send_command(command))
        assert "bare for koordinatorer" in harness.said(kari)[-1].text, command


async def test_restart_with_an_offer_outstanding_keeps_its_deadline(config, clock) -> None:
    telegram = FakeTelegram()
    services = await open_services(config, clock)
    app = build_application(config, request=FakeRequest(telegram), limit_rate=False)
    attach_services(app, services)
    from tests.conftest import Harness

    harness = Harness(app, telegram, services, clock)
    async with app:
        anna = await add_counsellor(harness, 9001, "Anna")
        bjorn = await add_counsellor(harness, 9002, "Bjørn")
        code = await triage(harness, harness.user(5114), ADVICE)
    await services.engine.dispose()

    clock.advance(minutes=61)
    services = await open_services(config, clock)  # a new process on the same database
    app = build_application(config, request=FakeRequest(telegram), limit_rate=False)
    sender = attach_services(app, services)
    async with app:
        await tick(app)
        await sender.drain()
    await services.engine.dispose()
    offers_to_bjorn = [s for s in telegram.messages_to(bjorn.id) if code in (s.text or "")]
    assert offers_to_bjorn and ACCEPT in offers_to_bjorn[-1].buttons
    assert any("gikk ut" in (s.text or "") for s in telegram.messages_to(anna.id))


async def test_withdrawing_a_case_tells_the_counsellor_who_was_offered_it(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(5115)
    code = await triage(harness, kari, ADVICE)
    await harness.feed(kari.send_command("/cancel"))
    assert any(f"{code} er trukket tilbake" in (s.text or "") for s in harness.telegram.messages_to(anna.id))
    async with harness.services.store.transaction() as tx:
        offers = (await tx.session.scalars(select(OfferRow))).all()
    assert offers == [], "an ended case's offers go, and with them who was offered it"


async def test_language_and_pathway_must_match(harness) -> None:
    english_only = await add_counsellor(harness, 9001, "Emma", languages=["en"])
    advice_only = await add_counsellor(harness, 9002, "Arne", pathways=["advice"])
    code = await triage(harness, harness.user(5116), NOT_COPING)  # Norwegian, not coping
    assert not _has_offer(harness, english_only, code) and not _has_offer(harness, advice_only, code)


async def test_fair_rotation_offers_the_counsellor_who_waited_longest(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna", capacity=5)
    bjorn = await add_counsellor(harness, 9002, "Bjørn", capacity=5)
    first = await triage(harness, harness.user(5117), ADVICE)
    await walk(harness, anna, ACCEPT) if _has_offer(harness, anna, first) else await walk(harness, bjorn, ACCEPT)
    second = await triage(harness, harness.user(5118), ADVICE)
    # The one who holds no case gets the next one.
    holder, other = (anna, bjorn) if _has_offer(harness, anna, first) else (bjorn, anna)
    assert _has_offer(harness, other, second) and not _has_offer(harness, holder, second)


async def test_urgent_case_alerts_coordinators_at_once(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    await add_counsellor(harness, 9001, "Anna")
    harness_doctor = harness.user(5119)
    await harness.feed(harness_doctor.send_command("/start"))
    await walk(harness, harness_doctor, CONSENT, SELF, NOT_COPING, "Ja", "Fortsett til en støttekollega", *PREFERENCES, CONFIRM)
    assert any("🔴 Ny hastesak" in (s.text or "") and "er sendt inn" in (s.text or "") for s in harness.said(kim))


async def test_safety_no_path_does_not_alert(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    await add_counsellor(harness, 9001, "Anna")
    doctor = harness.user(5120)
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, ADVICE, SAFETY_NO, *PREFERENCES, CONFIRM)
    assert harness.said(kim) == []


async def test_nobody_waits_in_silence_past_the_promised_reply_time(harness) -> None:
    kim = await add_coordinator(harness, 8001)
    anna = await add_counsellor(harness, 9001, "Anna")
    await harness.feed(anna.send_command("/away"))
    kari = harness.user(5121)
    code = await triage(harness, kari, ADVICE)
    assert "innen 24 timer" in harness.said(kari)[-1].text
    await harness.tick(hours=23)
    assert "Vi har ikke glemt deg" not in harness.said(kari)[-1].text
    await harness.tick(hours=1, seconds=1)
    assert f"Vi har ikke glemt deg ({code})" in harness.said(kari)[-1].text
    assert any(code in (s.text or "") and "over 24 timer" in (s.text or "") for s in harness.said(kim))


async def test_a_case_taken_in_time_sends_no_waiting_notice(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(5122)
    await triage(harness, kari, ADVICE)
    await walk(harness, anna, ACCEPT)
    before = len(harness.said(kari))
    await harness.tick(hours=25)
    assert len(harness.said(kari)) == before
