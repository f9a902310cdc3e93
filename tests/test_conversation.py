"""The conversation people read (issue 11): nothing dropped in silence, each language kept,
urgent and colleague texts of their own, an accidental 🆘 undone, and a lock screen told nothing.

Expected sentences come from the catalogues (``flows/locales/*/LC_MESSAGES/kollega.po``) through
``flows.catalogue.render``, with a distinctive substring written out beside them where a
wrong catalogue entry would otherwise pass unnoticed ("113", "24 timer", "velkomen").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from functools import cache
from typing import Any

import pytest
from babel.messages.pofile import read_po

from flows.catalogue import LANGUAGES, catalogue_path, render
from flows.replies import ParamValue, Plural, Text
from tests.faketelegram import FakeUser
from tests.scenarios import (
    ACCEPT,
    ADVICE,
    CONFIRM,
    CONSENT,
    CRISIS_NOT_NOW,
    CRISIS_NOW,
    DECLINE,
    PREFERENCES,
    SAFETY_NO,
    SAFETY_YES,
    SELF,
    add_coordinator,
    add_counsellor,
    case_code,
    triage,
    walk,
)

NB, NN, EN = "nb", "nn", "en"
SOS = "🆘 Jeg trenger akutt hjelp nå"
UNDO = "Jeg trykket feil"
BACK = "Fortsett der jeg var"
CRISIS_WORDS = "Jeg tenker på selvmord hver eneste dag"
SWITCHES = {lang: f"language.switch_to_{lang}" for lang in LANGUAGES}
QUICK = ("consent.continue", "who.self", "situation.advice", "safety.no", "+support.emotional", "common.done",
         "barriers.skip", "role.locum", "county.not_said", "contact.chat", "language.nb", "summary.confirm")  # fmt: skip
"""The shortest whole triage, as catalogue keys ("+": an unticked multi-select button)."""
FULL = ("consent.continue", "who.self", "situation.not_sure", "unsure_work.working", "unsure_coping.strained",
        "unsure_hope.guidance", "safety.no", "+support.emotional", "common.done", "+barrier.workplace", "barriers.done",
        "role.locum", "Vestland", "outside_county.yes", "contact.chat", "language.nb", "summary.confirm")  # fmt: skip
"""Every step a doctor can meet on the way to a case (a key without a dot is a label as it is)."""


def t(key: str, language: str = NB, **params: ParamValue) -> str:
    return render(Text(key, params), language)


def hours(key: str, language: str = NB, **params: ParamValue) -> str:
    """A message counting ``params["hours"]`` (plural forms)."""
    return render(Plural(key, f"{key}.plural", "hours", params), language)


def labels(language: str, *keys: str) -> list[str]:
    return [f"⬜ {t(k[1:], language)}" if k.startswith("+") else t(k, language) if "." in k else k for k in keys]


def received(harness: Any, user: FakeUser) -> list[str]:
    """Every text this user was shown, edits of earlier messages and button labels included."""
    return [part for s in harness.telegram.messages_to(user.chat_id) for part in (s.text or "", *s.buttons)]


async def unasked(harness: Any, doctor: FakeUser, happening: Awaitable[Any]) -> list[str]:
    """The bot's own messages (not relayed copies) that reach ``doctor`` while something else happens."""
    before = len(harness.said(doctor))
    await happening
    return [s.text or "" for s in harness.said(doctor)[before:] if s.method == "sendMessage"]


async def connected(harness: Any, doctor: FakeUser, *situation: str, safety: str = SAFETY_NO) -> tuple[FakeUser, str]:
    """An accepted case: Anna, a counsellor, has taken the doctor's request."""
    anna = await add_counsellor(harness, 9001, "Anna")
    code = await triage(harness, doctor, *(situation or (ADVICE,)), safety=safety)
    await walk(harness, anna, ACCEPT)
    return anna, code


async def taken_in(harness: Any, doctor: FakeUser, language: str, *keys: str) -> FakeUser:
    """A whole triage walked in ``language`` (the shortest one unless ``keys``), then taken by Anna."""
    anna = await add_counsellor(harness, 9001, "Anna")
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, *labels(language, *(keys or QUICK)))
    await walk(harness, anna, ACCEPT)
    return anna


async def close_by_counsellor(harness: Any, anna: FakeUser) -> None:
    await harness.feed(anna.send_command("/close"))
    await walk(harness, anna, "Ja, avslutt")


# --- 1. no silent drops ---------------------------------------------------------------------------
async def test_words_written_while_the_case_waits_are_not_passed_on_and_the_doctor_is_told(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(5101, "Kari")
    code = await triage(harness, kari, ADVICE)  # offered to Anna, not accepted
    to_anna = len(harness.telegram.messages_to(anna.chat_id))
    await harness.feed(kari.send_text("Hallo? Er det noen der?"))
    told, status = harness.said(kari)[-2:]
    assert told.text == t("doctor.not_passed_on") and "ikke sendt videre" in told.text
    assert status.text == hours("status.waiting", code=code, hours=24)
    assert len(harness.telegram.messages_to(anna.chat_id)) == to_anna
    assert not harness.telegram.calls_of("copyMessage") and not harness.telegram.calls_of("forwardMessage")


async def _ended_by_counsellor(harness: Any, kari: FakeUser) -> None:
    anna, _ = await connected(harness, kari)
    await close_by_counsellor(harness, anna)


async def _cancelled_mid_triage(harness: Any, kari: FakeUser) -> None:
    await harness.feed(kari.send_command("/start"))
    await walk(harness, kari, CONSENT, SELF)
    await harness.feed(kari.send_command("/cancel"))


async def _withdrawn(harness: Any, kari: FakeUser) -> None:
    await triage(harness, kari, ADVICE)
    await harness.feed(kari.send_command("/cancel"))


async def _forgotten(harness: Any, kari: FakeUser) -> None:
    await triage(harness, kari, ADVICE)
    await harness.feed(kari.send_command("/forget"))
    await walk(harness, kari, "Ja, slett alt")


ENDINGS = pytest.mark.parametrize("ending", [_ended_by_counsellor, _cancelled_mid_triage, _withdrawn, _forgotten])


@ENDINGS
async def test_words_written_with_nothing_open_are_answered_with_a_way_to_start(harness, ending) -> None:
    kari = harness.user(5102, "Kari")
    await ending(harness, kari)
    copies = len(harness.telegram.calls_of("copyMessage"))
    await harness.feed(kari.send_text("Hei igjen, er du der?"))
    hint, start = harness.said(kari)[-2:]
    assert hint.text == t("hint.nothing_open") and "ikke sendt videre til noen" in hint.text
    assert CONSENT in start.buttons  # one press starts again
    assert len(harness.telegram.calls_of("copyMessage")) == copies


@ENDINGS
async def test_status_after_the_end_does_not_claim_no_case_was_ever_sent(harness, ending) -> None:
    kari = harness.user(5103, "Kari")
    await ending(harness, kari)
    await harness.feed(kari.send_command("/status"))
    status = harness.said(kari)[-1].text
    assert status == t("status.nothing") and "avsluttet, er slettet" in status
    assert t("status.in_triage") not in status and "ikke sendt noen sak" not in status


async def _staff(harness: Any, role: str) -> FakeUser:
    if role == "counsellor":
        return await add_counsellor(harness, 9002, "Berit")
    return await add_coordinator(harness, 8001)


STAFF = pytest.mark.parametrize("role", ["counsellor", "coordinator"])


@STAFF
async def test_staff_with_nothing_open_are_told_their_words_went_nowhere_not_put_into_triage(harness, role) -> None:
    staff = await _staff(harness, role)
    await harness.feed(staff.send_text("Hei, noe nytt i dag?"))
    [reply] = harness.said(staff)
    assert reply.text == t(f"{role}.nothing_open") and "/start" in reply.text
    assert reply.buttons == [] and CONSENT not in received(harness, staff)
    assert "velkommen til Kollega" not in " ".join(received(harness, staff))
    async with harness.services.store.transaction() as tx:
        assert await tx.drafts.get(harness.services.keyring.pseudonym(staff.id)) is None


@STAFF
async def test_staff_get_their_own_help(harness, role) -> None:
    staff = await _staff(harness, role)
    await harness.feed(staff.send_command("/help"))
    shown = harness.said(staff)[-1].text
    assert shown == t(f"{role}.help")
    assert t("help.text") not in received(harness, staff) and "/forget" not in shown


@STAFF
async def test_staff_switch_language_and_are_then_answered_in_it(harness, role) -> None:
    staff = await _staff(harness, role)
    await harness.feed(staff.send_command("/language"))
    choice = harness.said(staff)[-1]
    assert choice.text == t("language.choose") and choice.buttons == ["Bytt til bokmål", "Byt til nynorsk", "Switch to English"]
    await walk(harness, staff, "Byt til nynorsk")
    assert harness.telegram.last_to(staff.chat_id).text == t("language.changed", NN) == "Greitt, no skriv eg på nynorsk."
    await harness.feed(staff.send_command("/help"))
    assert harness.said(staff)[-1].text == t(f"{role}.help", NN)
    await harness.feed(staff.send_text("Fungerer dette?"))
    assert harness.said(staff)[-1].text == t(f"{role}.nothing_open", NN)
    assert not any(CONSENT in s.buttons or t("consent.continue", NN) in s.buttons for s in harness.said(staff))


# --- 2. a re-offer is not news to the doctor ------------------------------------------------------
async def test_a_decline_and_a_missed_deadline_pass_the_case_on_without_telling_the_doctor_again(harness) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    berit = await add_counsellor(harness, 9002, "Berit")
    cecilie = await add_counsellor(harness, 9003, "Cecilie")
    kari = harness.user(5201, "Kari")
    code = await triage(harness, kari, ADVICE)
    await walk(harness, anna, DECLINE)  # on to Berit, who lets the deadline pass: on to Cecilie
    assert code in (harness.said(berit)[-1].text or "")
    await harness.tick(minutes=61)
    assert any(code in (s.text or "") and s.buttons[:1] == [ACCEPT] for s in harness.said(cecilie))
    offered = [s.text for s in harness.said(kari) if (s.text or "").startswith("Takk – det er sendt videre")]
    assert offered == [t("doctor.offered", code=code)]


# --- 3. the language Telegram reports, and the one chosen -----------------------------------------
@pytest.mark.parametrize(
    ("telegram", "language", "greeting"),
    [("nn", NN, "velkomen til Kollega"), ("nn-NO", NN, "velkomen til Kollega"), ("en", EN, "welcome to Kollega"),
     ("en-GB", EN, "welcome to Kollega"), ("nb", NB, "velkommen til Kollega"), ("de", NB, "velkommen til Kollega"),
     (None, NB, "velkommen til Kollega")],
)  # fmt: skip
async def test_the_first_message_is_in_the_language_telegram_reports_if_ours(harness, telegram, language, greeting) -> None:
    ida = harness.user(5301, "Ida", language_code=telegram)
    await harness.feed(ida.send_command("/start"))
    [welcome] = harness.said(ida)
    assert welcome.text == t("consent.question", language) and greeting in welcome.text
    offered = [label for label in welcome.buttons if label in {t(key) for key in SWITCHES.values()}]
    assert offered == [t(SWITCHES[other]) for other in LANGUAGES if other != language]
    assert t("consent.continue", language) in welcome.buttons and t("crisis.button", language) in welcome.buttons
    # The same when the first thing they do is write.
    ola = harness.user(5302, "Ola", language_code=telegram)
    await harness.feed(ola.send_text("hei"))
    assert [s.text for s in harness.said(ola)] == [t("hint.nothing_open", language), t("consent.question", language)]


@pytest.mark.parametrize("telegram", ["nn", "de"])
async def test_english_chosen_on_the_welcome_is_kept_through_cancel(harness, telegram) -> None:
    ida = harness.user(5303, "Ida", language_code=telegram)
    await harness.feed(ida.send_command("/start"))
    await walk(harness, ida, "Switch to English", "Yes, continue", "It is about me")
    await harness.feed(ida.send_command("/cancel"))
    assert (
        harness.said(ida)[-1].text
        == t("cancel.done", EN)
        == "All right, I've stopped and erased your answers. " + ("Send /start if you want to begin again.")
    )


@pytest.mark.parametrize("telegram", ["nn", "de"])
@pytest.mark.parametrize("sent", [False, True], ids=["mid-triage", "case sent"])
async def test_english_chosen_on_the_welcome_is_kept_through_forget(harness, telegram, sent) -> None:
    ida = harness.user(5304, "Ida", language_code=telegram)
    await harness.feed(ida.send_command("/start"))
    await walk(harness, ida, "Switch to English", *labels(EN, *(QUICK if sent else QUICK[:2])))
    await harness.feed(ida.send_command("/forget"))
    confirm = harness.said(ida)[-1]
    assert confirm.text == t("forget.confirm", EN) and confirm.buttons == ["Yes, erase everything", "No, keep it"]
    await walk(harness, ida, "Yes, erase everything")
    assert harness.telegram.last_to(ida.chat_id).text == t("forget.done", EN)


async def test_an_english_case_is_withdrawn_in_english(harness) -> None:
    ida = harness.user(5305, "Ida", language_code="de")
    await harness.feed(ida.send_command("/start"))
    await walk(harness, ida, "Switch to English", *labels(EN, *QUICK))
    code = case_code(harness.said(ida)[-1].text)
    for command, key in (("/status", "status.waiting"), ("/cancel", "cancel.case_withdrawn")):
        await harness.feed(ida.send_command(command))
        expected = hours(key, EN, code=code, hours=24) if key == "status.waiting" else t(key, EN, code=code)
        assert harness.said(ida)[-1].text == expected


async def test_english_chosen_on_the_welcome_survives_cancel_then_forget(harness) -> None:
    ida = harness.user(5306, "Ida", language_code="de")
    await harness.feed(ida.send_command("/start"))
    await walk(harness, ida, "Switch to English", "Yes, continue")
    await harness.feed(ida.send_command("/cancel"))
    await harness.feed(ida.send_command("/forget"))
    assert harness.said(ida)[-1].text == t("forget.confirm", EN)


# --- 4. a whole triage in Nynorsk -----------------------------------------------------------------
@cache
def bokmal_only_fragments() -> frozenset[str]:
    """Runs of Bokmål catalogue text (between placeholders, 12 characters or more) found nowhere in Nynorsk."""

    def strings(language: str) -> list[str]:
        with catalogue_path(language).open("rb") as source:
            catalogue = read_po(source, locale=language)
        found: list[str] = []
        for message in catalogue:
            if message.id:
                found += [message.string] if isinstance(message.string, str) else list(message.string)
        return found

    nynorsk = "\n".join(strings(NN))
    pieces = {p.strip() for s in strings(NB) for p in re.split(r"\{[^}]*\}|\n", s)}
    return frozenset(p for p in pieces if len(p) >= 12 and p not in nynorsk)


async def test_a_nynorsk_doctor_reads_only_nynorsk_from_the_welcome_to_the_sent_case(harness) -> None:
    assert len(bokmal_only_fragments()) > 200  # the check below has teeth
    nils = harness.user(5401, "Nils", language_code="nn")
    await harness.feed(nils.send_command("/start"))
    await walk(harness, nils, *labels(NN, *FULL))
    shown = received(harness, nils)
    code = case_code(harness.said(nils)[-1].text)
    assert shown[-1] == hours("waiting.text", NN, code=code, hours=24)
    assert "Saka di er sendt" in shown[-1] and "innan 24 timar" in shown[-1]
    assert t("unsure_work.question", NN) in shown and "Kva håpar du å få ut av ein samtale?" in shown
    summary = next(text for text in shown if text.startswith(t("summary.text", NN, card="").split("\n")[0]))
    assert "Situasjon: Råd i ein krevjande situasjon" in summary
    bokmal = [(text, piece) for text in shown for piece in bokmal_only_fragments() if piece in text]
    assert bokmal == []
    for bokmal_word in ("ikke", "jeg", "hva", "hvordan", "noen", "saken din"):
        assert not any(re.search(rf"\b{bokmal_word}\b", text, re.IGNORECASE) for text in shown), bokmal_word


# --- 5. urgent cases have urgent texts ------------------------------------------------------------
@pytest.mark.parametrize("urgent", [True, False], ids=["urgent", "not urgent"])
async def test_waiting_status_and_closing_say_113_for_an_urgent_case_and_no_24_hours(harness, urgent) -> None:
    kari = harness.user(5501, "Kari")
    code = await triage(harness, kari, ADVICE, safety=SAFETY_YES if urgent else SAFETY_NO)
    waiting = next(s.text for s in harness.said(kari) if code in (s.text or "") and "/status" in (s.text or ""))
    await harness.feed(kari.send_command("/status"))
    status = harness.said(kari)[-1].text
    if urgent:
        assert (waiting, status) == (t("waiting.urgent", code=code), t("status.waiting_urgent", code=code))
        assert all("113" in text and "24 timer" not in text for text in (waiting, status))
    else:
        assert (waiting, status) == (hours("waiting.text", code=code, hours=24), hours("status.waiting", code=code, hours=24))
        assert all("24 timer" in text and "113" not in text for text in (waiting, status))
    anna = await add_counsellor(harness, 9001, "Anna")
    await harness.feed(anna.send_command("/available"))
    await walk(harness, anna, ACCEPT)
    await harness.feed(kari.send_command("/status"))
    active = harness.said(kari)[-1].text
    assert active == t("status.active_urgent" if urgent else "status.active", code=code, alias="Anna")
    assert ("113" in active) is urgent
    closing = await unasked(harness, kari, close_by_counsellor(harness, anna))
    assert closing[0] == t("doctor.closed_by_counsellor", code=code, alias="Anna")
    assert (t("doctor.closed_urgent") in closing) is urgent
    assert any("113" in text for text in closing) is urgent


# --- 6. an accidental 🆘 ---------------------------------------------------------------------------
STEPS = (CONSENT, SELF, ADVICE, SAFETY_NO)


async def _sos(harness: Any, liv: FakeUser, at: int) -> tuple[Any, Any]:
    """/start, the first ``at`` steps, then 🆘: (the question it was pressed on, the crisis screen)."""
    await harness.feed(liv.send_command("/start"))
    await walk(harness, liv, *STEPS[:at])
    question = harness.said(liv)[-1]
    await walk(harness, liv, SOS)
    return question, harness.said(liv)[-1]


AT = pytest.mark.parametrize("at", [0, 4], ids=["on the welcome", "on the support question"])


@pytest.mark.parametrize("undo", [True, False], ids=["undone", "kept"])
@AT
async def test_an_accidental_sos_is_taken_back_in_one_press(harness, at, undo) -> None:
    liv = harness.user(5601, "Liv")
    question, crisis = await _sos(harness, liv, at)
    assert "☎ 113" in crisis.text and crisis.buttons == [BACK, UNDO]
    seen = len(harness.telegram.messages_to(liv.chat_id))
    await walk(harness, liv, UNDO if undo else BACK)
    again = harness.telegram.last_to(liv.chat_id)
    assert again.buttons == question.buttons
    assert again.text == (t("consent.again") if at == 0 else question.text)
    after = [s.text or "" for s in harness.telegram.messages_to(liv.chat_id)[seen:]]
    assert not any("velkommen til Kollega" in text for text in after)  # the long welcome is not repeated
    assert (t("crisis.undone") in after) is undo
    await walk(harness, liv, *STEPS[at:], *PREFERENCES)
    assert ("Haster: Nei" if undo else "Haster: Ja") in harness.said(liv)[-1].text
    await walk(harness, liv, CONFIRM)
    code = case_code(harness.said(liv)[-1].text)
    assert harness.said(liv)[-1].text == (hours("waiting.text", code=code, hours=24) if undo else t("waiting.urgent", code=code))


@AT
async def test_the_numbers_stay_in_the_chat_when_the_doctor_carries_on_after_sos(harness, at) -> None:
    liv = harness.user(5602, "Liv")
    _, crisis = await _sos(harness, liv, at)
    await walk(harness, liv, BACK)
    now_shows = [s.text or "" for s in harness.telegram.messages_to(liv.chat_id) if s.message_id == crisis.message_id][-1]
    assert "☎ 113" in now_shows


# --- 7. crisis words ask before anything is escalated ---------------------------------------------
@pytest.mark.parametrize(("answer", "urgent"), [(CRISIS_NOW, True), (CRISIS_NOT_NOW, False)])
async def test_crisis_words_in_triage_show_the_numbers_ask_and_carry_on_at_the_same_question(harness, answer, urgent) -> None:
    per = harness.user(5701, "Per")
    await harness.feed(per.send_command("/start"))
    await walk(harness, per, *STEPS)
    question = harness.said(per)[-1]
    await harness.feed(per.send_text(CRISIS_WORDS))
    numbers, check = harness.said(per)[-2:]
    assert "☎ 113" in numbers.text
    assert (check.text, check.buttons) == ("Gjelder dette deg, akkurat nå?", ["Ja, det gjelder nå", "Nei, ikke nå"])
    await walk(harness, per, answer)
    assert harness.telegram.last_to(per.chat_id).text == question.text  # back at the support question
    await walk(harness, per, *PREFERENCES)
    assert ("Haster: Ja" if urgent else "Haster: Nei") in harness.said(per)[-1].text
    await walk(harness, per, CONFIRM)
    assert ("hastesak" in harness.said(per)[-1].text) is urgent


@pytest.mark.parametrize(("answer", "urgent"), [(CRISIS_NOW, True), (CRISIS_NOT_NOW, False)])
async def test_crisis_words_in_a_case_ask_the_doctor_before_the_counsellor_and_coordinators_hear(harness, answer, urgent) -> None:
    kim = await add_coordinator(harness, 8001)
    kari = harness.user(5702, "Kari")
    anna, code = await connected(harness, kari)
    await harness.feed(kari.send_text(CRISIS_WORDS))
    assert harness.said(anna)[-1].text == CRISIS_WORDS  # passed on, as any message
    numbers, check = harness.said(kari)[-2:]
    assert "☎ 113" in numbers.text and check.text == t("crisis.concerns_now")
    told_anna, told_kim = len(harness.said(anna)), len(harness.said(kim))
    await walk(harness, kari, answer)
    to_anna = [s.text for s in harness.said(anna)[told_anna:]]
    to_kim = [s.text or "" for s in harness.said(kim)[told_kim:]]
    if urgent:
        assert to_anna == [t("case.turned_urgent", code=code)] and "🔴 Hastesak" in to_anna[0]
        assert to_kim == [t("coordinator.turned_urgent_active", code=code, pathway=Text("pathway.advice"))]
        assert "er nå merket som hastesak" in to_kim[0]
        assert harness.telegram.last_to(kari.chat_id).text == t("crisis.case_urgent_active", code=code, alias="Anna")
    else:
        assert to_anna == [] and to_kim == []
        assert harness.telegram.last_to(kari.chat_id).text == t("crisis.not_now")
    for text in (s.text or "" for s in harness.said(kim)):
        assert "opprettet" not in text and "Ny hastesak" not in text and "sendt inn" not in text


# --- 8. what a lock screen shows -------------------------------------------------------------------
GIVEAWAYS = {
    NB: (r"kollega", r"støtte", r"\bsak", r"\blege", r"hjelp", r"113", r"krise", r"selvmord"),
    NN: (r"kollega", r"støtte", r"\bsak", r"\blege", r"hjelp", r"113", r"krise", r"sjølvmord"),
    EN: (r"kollega", r"\bdoctor", r"\bcase", r"\bhelp\b", r"\bpeer", r"\bsupport", r"\burgent", r"113", r"\bcrisis", r"suicid"),
}
"""Words (patterns) that, in a notification's first line, say what the service is or what the doctor is going through."""
LANGUAGE = pytest.mark.parametrize("language", LANGUAGES)


def giveaways(texts: list[str], language: str) -> list[tuple[str, str]]:
    """(first line, word) for every message whose first line, as a lock screen shows it, gives something away."""
    first_lines = [text.split("\n", 1)[0] for text in texts]
    return [(line, word) for line in first_lines for word in GIVEAWAYS[language] if re.search(word, line, re.IGNORECASE)]


@LANGUAGE
async def test_reminders_and_news_of_a_case_say_nothing_on_a_lock_screen(harness, language) -> None:
    silent = harness.user(5801, "Siri", language_code=language)
    await harness.feed(silent.send_command("/start"))
    await walk(harness, silent, *labels(language, "consent.continue", "who.self", "situation.not_coping", "safety.no"))
    news = await unasked(harness, silent, harness.tick(hours=25))  # the reminder
    news += await unasked(harness, silent, harness.tick(hours=49))  # the draft expires
    kari = harness.user(5802, "Kari", language_code=language)
    await harness.feed(kari.send_command("/start"))
    await walk(harness, kari, *labels(language, *QUICK))
    code = case_code(harness.said(kari)[-1].text)
    news += await unasked(harness, kari, harness.tick(hours=25))  # still waiting
    anna = await add_counsellor(harness, 9001, "Anna")
    news += await unasked(harness, kari, harness.feed(anna.send_command("/available")))  # offered
    news += await unasked(harness, kari, walk(harness, anna, ACCEPT))  # accepted
    expected = [
        hours("reminder.text", language, hours=48),
        t("reminder.expired", language),
        t("doctor.still_waiting", language, code=code),
        t("doctor.offered", language, code=code),
        t("doctor.accepted", language, code=code, alias="Anna"),
    ]
    assert news == expected
    assert giveaways(news, language) == []


@LANGUAGE
async def test_the_close_of_an_ordinary_case_says_nothing_on_a_lock_screen(harness, language) -> None:
    kari = harness.user(5803, "Kari", language_code=language)
    anna = await taken_in(harness, kari, language)
    news = await unasked(harness, kari, close_by_counsellor(harness, anna))
    assert len(news) == 3  # the close, the feedback question, the follow-up question
    assert giveaways(news, language) == []


@LANGUAGE
async def test_the_follow_up_check_in_says_nothing_on_a_lock_screen(harness, language) -> None:
    kari = harness.user(5804, "Kari", language_code=language)
    anna = await taken_in(harness, kari, language)
    await close_by_counsellor(harness, anna)
    await walk(harness, kari, render(Plural("followup.yes", "followup.yes.plural", "weeks", {"weeks": 4}), language))
    news = await unasked(harness, kari, harness.tick(weeks=4, hours=1))
    assert news == [t("followup.checkin", language)]
    assert giveaways(news, language) == []


@LANGUAGE
async def test_the_close_of_an_urgent_case_says_nothing_on_a_lock_screen(harness, language) -> None:
    kari = harness.user(5805, "Kari", language_code=language)
    keys = ("consent.continue", "who.self", "situation.not_coping", "safety.yes", "crisis.go_on")
    anna = await taken_in(harness, kari, language, *keys, *QUICK[4:])
    news = await unasked(harness, kari, close_by_counsellor(harness, anna))
    assert t("doctor.closed_urgent", language) in news
    assert giveaways(news, language) == []


# --- 9. the worried colleague --------------------------------------------------------------------
COLLEAGUE_WALK = ("consent.continue", "who.colleague", "situation.not_sure", "unsure_work_colleague.working",
                  "unsure_coping_colleague.strained", "unsure_hope_colleague.guidance", "safety.no", "+support.emotional",
                  "common.done", "+barrier_colleague.workplace", "barriers.done", "role.locum", "Vestland",
                  "outside_county.yes", "contact.chat", "language.nb")  # fmt: skip
ABOUT_THEM = ("situation", "unsure_work", "unsure_coping", "unsure_hope", "safety", "support", "barriers", "role", "county",
              "outside_county", "contact")  # fmt: skip


@LANGUAGE
async def test_the_colleague_path_asks_about_the_colleague_in_the_third_person(harness, language) -> None:
    anne = harness.user(5901, "Anne", language_code=language)
    await harness.feed(anne.send_command("/start"))
    await walk(harness, anne, *labels(language, *COLLEAGUE_WALK))
    asked = [s.text for s in harness.said(anne)]
    assert [t(f"{step}.question_colleague", language) for step in ABOUT_THEM] == [
        text for text in asked if text in {t(f"{step}.question_colleague", language) for step in ABOUT_THEM}
    ]
    assert not {t(f"{step}.question", language) for step in ABOUT_THEM} & set(asked)
    assert t("seeker.colleague", language) in asked[-1]  # the summary: "Gjelder: en bekymring for en kollega"
    if language == NB:
        assert "Hva er rollen til kollegaen din?" in asked and "Hva er rollen din?" not in asked


@pytest.mark.parametrize("way", ["safety yes", "sos", "words"])
async def test_the_colleague_path_crisis_screen_tells_a_helper_what_to_do(harness, way) -> None:
    anne = harness.user(5902, "Anne")
    await harness.feed(anne.send_command("/start"))
    await walk(harness, anne, *labels(NB, "consent.continue", "who.colleague", "situation.not_coping"))
    if way == "safety yes":
        await walk(harness, anne, SAFETY_YES)
        crisis, question = harness.said(anne)[-2:]
        assert question.text == t("crisis.question_colleague")
    elif way == "sos":
        await walk(harness, anne, SOS)
        crisis = harness.said(anne)[-1]
    else:
        await harness.feed(anne.send_text(CRISIS_WORDS))
        crisis, question = harness.said(anne)[-2:]
        assert question.text == t("crisis.concerns_now_colleague") == "Er noen i fare akkurat nå – kollegaen din eller du selv?"
    numbers = "\n".join(f"☎ {n.number} – {n.label(NB)}" for n in harness.services.config.flow.emergency)
    assert crisis.text == t("crisis.text_colleague", numbers=numbers)
    for advice in ("Er kollegaen din i fare nå, ring 113", "Bli hos kollegaen din", "Ikke la dem være alene"):
        assert advice in crisis.text
    assert "du er lege" not in crisis.text


# --- 10. crisis edges ---------------------------------------------------------------------------
async def test_crisis_words_as_a_first_message_show_the_numbers_then_the_welcome(harness) -> None:
    ola = harness.user(6001, "Ola")
    await harness.feed(ola.send_text("Jeg vil ikke leve lenger"))
    numbers, welcome = harness.said(ola)[-2:]
    assert "☎ 113" in numbers.text
    assert welcome.text.startswith("Hei, og velkommen til Kollega.") and CONSENT in welcome.buttons


async def test_the_welcome_names_113_before_anything_else_is_asked(harness) -> None:
    for uid, language in ((6002, NB), (6003, NN), (6004, EN)):
        user = harness.user(uid, "Ola", language_code=language)
        await harness.feed(user.send_command("/start"))
        first_lines = harness.said(user)[-1].text.split("\n")[:3]
        assert any("113" in line for line in first_lines), first_lines


async def test_an_undo_that_no_longer_applies_keeps_the_numbers_and_says_why(harness) -> None:
    liv = harness.user(6005, "Liv")
    _, first_crisis = await _sos(harness, liv, 4)  # 🆘 on the support question
    await harness.feed(liv.send_text(CRISIS_WORDS))  # then words, and "yes, it concerns me now"
    await walk(harness, liv, CRISIS_NOW)
    await walk(harness, liv, UNDO)  # then the 🆘 screen's undo
    kept = [s for s in harness.telegram.messages_to(liv.chat_id) if s.message_id == first_crisis.message_id][-1]
    assert "☎ 113" in (kept.text or "")
    assert t("crisis.still_urgent") in [s.text for s in harness.said(liv)[-2:]]
    await walk(harness, liv, *PREFERENCES)
    assert "Haster: Ja" in harness.said(liv)[-1].text


async def test_a_language_switched_back_after_cancel_is_the_one_kept(harness) -> None:
    ida = harness.user(6006, "Ida")  # Telegram in Bokmål
    await harness.feed(ida.send_command("/start"))
    await walk(harness, ida, "Switch to English")
    await harness.feed(ida.send_command("/cancel"))
    await harness.feed(ida.send_command("/start"))
    assert harness.said(ida)[-1].text == t("consent.question", EN)  # remembered after /cancel
    anna = await taken_in(harness, ida, NB, "language.switch_to_nb", *QUICK)
    await close_by_counsellor(harness, anna)
    await harness.feed(ida.send_command("/start"))
    assert harness.said(ida)[-1].text == t("consent.question", NB)


async def test_sos_on_an_old_triage_message_makes_the_open_case_urgent(harness) -> None:
    kari = harness.user(6007, "Kari")
    anna, code = await connected(harness, kari)
    await harness.feed(kari.press_data("consent|crisis"))
    assert "☎ 113" in harness.said(kari)[-2].text
    assert harness.said(kari)[-1].text == t("crisis.case_urgent_active", code=code, alias="Anna")
    assert harness.said(anna)[-1].text == t("case.turned_urgent", code=code)


async def test_crisis_words_in_a_colleague_case_ask_the_colleague_and_show_the_helpers_screen(harness) -> None:
    anne = harness.user(6008, "Anne")
    anna = await taken_in(harness, anne, NB, "consent.continue", "who.colleague", *QUICK[2:])
    await harness.feed(anne.send_text(CRISIS_WORDS))
    numbers, check = harness.said(anne)[-2:]
    assert "Bli hos kollegaen din" in numbers.text
    assert check.text == t("crisis.concerns_now_colleague")
    assert harness.said(anna)[-1].text == CRISIS_WORDS
