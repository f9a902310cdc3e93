"""Many doctors through the real bot, with varied answers and endings, for the audits at rest.

Each doctor presses buttons the way a person would (a random answer to every question,
a few of the multi-select options), confirms, and then the case ends one of several ways:
a counsellor takes it and closes it (with or without feedback and a follow-up), the
doctor withdraws it, erases everything with /forget, or leaves it open. What each did is
returned, so an audit can check that what should be gone is gone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tests.faketelegram import FakeUser
from tests.scenarios import ACCEPT, ALL_PATHWAYS, CONFIRM, add_counsellor, case_code

CLOSE_YES = "Ja, avslutt"
NEVER_PRESSED = ("🆘", "Les mer", "Switch", "Byt til", "Bytt til", "Nei takk, avslutt", "Endre noe", "bekymret for en kollega")
DONE_LABELS = ("Ferdig – gå videre", "Hopp over")
ENDINGS = ("closed", "closed", "closed_feedback", "followup", "withdrawn", "forgotten", "open")
COUNSELLOR_COUNTIES = ("oslo", "vestland", "troms", "innlandet", "agder", "trondelag")


@dataclass
class Doctor:
    user: FakeUser
    code: str
    ending: str
    pseudonym: str


@dataclass
class Population:
    doctors: list[Doctor] = field(default_factory=list)
    counsellors: list[FakeUser] = field(default_factory=list)

    def ended(self, *endings: str) -> list[Doctor]:
        return [d for d in self.doctors if d.ending in endings]


async def _answer(harness: Any, doctor: FakeUser, rng: random.Random) -> None:
    """Answer whatever the doctor was last asked, as a person would."""
    shown = harness.telegram.last_to(doctor.chat_id).buttons
    if CONFIRM in shown:
        await harness.feed(doctor.press(CONFIRM))
        return
    options = [b for b in shown if not any(never in b for never in NEVER_PRESSED)]
    ticks = [b for b in options if b.startswith("⬜")]
    if ticks:
        for label in rng.sample(ticks, rng.randint(0, min(2, len(ticks)))):
            await harness.feed(doctor.press(label))
        shown = harness.telegram.last_to(doctor.chat_id).buttons
        await harness.feed(doctor.press(next(b for b in shown if b in DONE_LABELS)))
        return
    if "Nei" in options and "Ja" in options:  # the safety question: mostly no
        await harness.feed(doctor.press("Nei" if rng.random() < 0.9 else "Ja"))
        return
    await harness.feed(doctor.press(rng.choice(options)))


async def triage_randomly(harness: Any, doctor: FakeUser, rng: random.Random) -> str:
    await harness.feed(doctor.send_command("/start"))
    for _ in range(40):
        last = harness.telegram.last_to(doctor.chat_id)
        if "K-" in (last.text or "") and not last.buttons:
            return case_code(last.text)
        await _answer(harness, doctor, rng)
    raise AssertionError(f"no case after 40 steps: {harness.telegram.last_to(doctor.chat_id).text!r}")


async def populate(harness: Any, doctors: int, seed: int = 1) -> Population:
    """``doctors`` doctors through triage and a case each, ending as :data:`ENDINGS` says."""
    rng = random.Random(seed)
    population = Population()
    for i, county in enumerate(COUNSELLOR_COUNTIES):
        counsellor = await add_counsellor(
            harness, 9100 + i, f"Støtte{i}", county, pathways=ALL_PATHWAYS, languages=["nb", "en"], capacity=10_000
        )
        population.counsellors.append(counsellor)
    for i in range(doctors):
        doctor = harness.user(6_000_000 + i * 7919, f"Lege{i}")
        code = await triage_randomly(harness, doctor, rng)
        ending = rng.choice(ENDINGS)
        pseudonym = harness.services.keyring.pseudonym(doctor.id)
        population.doctors.append(Doctor(doctor, code, ending, pseudonym))
        harness.clock.advance(minutes=rng.randint(1, 90), seconds=rng.randint(0, 59))
        await _end(harness, population, population.doctors[-1], rng)
    return population


async def _offered_to(harness: Any, population: Population, code: str) -> FakeUser | None:
    for counsellor in population.counsellors:
        for sent in reversed(harness.telegram.messages_to(counsellor.chat_id)):
            if code in (sent.text or "") and ACCEPT in sent.buttons:
                return counsellor
    return None


async def _end(harness: Any, population: Population, doctor: Doctor, rng: random.Random) -> None:
    user = doctor.user
    if doctor.ending == "withdrawn":
        await harness.feed(user.send_command("/cancel"))
        return
    if doctor.ending == "forgotten":
        await harness.feed(user.send_command("/forget"))
        await harness.feed(user.press("Ja, slett alt"))
        return
    counsellor = await _offered_to(harness, population, doctor.code)
    if counsellor is None:
        return  # nobody could take it: it waits in the queue
    await harness.feed(counsellor.press(ACCEPT))
    harness.clock.advance(minutes=rng.randint(5, 600), seconds=rng.randint(0, 59))
    await harness.feed(user.send_text("Takk for at du tok saken."))
    await harness.feed(counsellor.send_text("Godt å høre fra deg."))
    if doctor.ending == "open":
        return
    harness.clock.advance(hours=rng.randint(1, 100), seconds=rng.randint(0, 59))
    await harness.feed(counsellor.send_command(f"/close {doctor.code}"))
    await harness.feed(counsellor.press(CLOSE_YES))
    if doctor.ending in ("closed_feedback", "followup"):
        scores = _latest_buttons(harness, user, str.isdigit)
        if scores:
            await harness.feed(user.press(rng.choice(scores)))
    if doctor.ending == "followup":
        booking = _latest_buttons(harness, user, lambda b: b.startswith("Ja, ta kontakt"))
        if booking:
            await harness.feed(user.press(booking[0]))


def _latest_buttons(harness: Any, user: FakeUser, wanted: Any) -> list[str]:
    """The buttons matching ``wanted`` on the latest message to ``user`` that has any."""
    for sent in reversed(harness.telegram.messages_to(user.chat_id)):
        matching = [b for b in sent.buttons if wanted(b)]
        if matching:
            return matching
    return []
