"""Conversation steps shared by the tests: what a doctor presses, in the labels they see."""

from __future__ import annotations

from typing import Any

from tests.faketelegram import FakeUser

CONSENT = "Ja, fortsett"
SELF = "Det gjelder meg selv"
COLLEAGUE = "Jeg er bekymret for en kollega"
ADVICE = "Råd i en krevende situasjon"
NOT_COPING = "Redd for ikke å klare mer"
WAY_BACK = "En vei tilbake eller ut"
NOT_SURE = "Jeg er ikke sikker"
SAFETY_NO = "Nei"
SAFETY_YES = "Ja"
CONTINUE_AFTER_CRISIS = "Fortsett til en støttekollega"
DONE = "Ferdig – gå videre"
SKIP = "Hopp over"
CONFIRM = "Ja, send til en støttekollega"

# From the support question to the summary, with typical answers.
PREFERENCES = [
    "⬜ Noen som lytter og forstår",
    DONE,
    "⬜ Kulturen der jeg jobber",
    DONE,
    "Fastlege, ansatt",
    "Oslo",
    "Ja, helst fra et annet fylke",
    "Skrive her i chatten",
    "Norsk",
]


async def walk(harness: Any, doctor: FakeUser, *labels: str) -> None:
    """Press each button, by the label the doctor sees, in order."""
    for label in labels:
        await harness.feed(doctor.press(label))


async def triage(harness: Any, doctor: FakeUser, *situation: str, safety: str = SAFETY_NO) -> str:
    """A whole triage from /start to a confirmed case; returns the case code."""
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, *situation, safety)
    if safety == SAFETY_YES:
        await walk(harness, doctor, CONTINUE_AFTER_CRISIS)
    await walk(harness, doctor, *PREFERENCES, CONFIRM)
    return case_code(harness.telegram.last_to(doctor.chat_id).text)


def case_code(text: str | None) -> str:
    import re

    found = re.search(r"K-[A-Z2-9]{6}", text or "")
    assert found, f"no case code in {text!r}"
    return found.group(0)


ACCEPT = "Ta saken"
DECLINE = "Avslå"
ALL_PATHWAYS = ["advice", "not_coping", "way_back_or_out"]


async def add_counsellor(
    harness: Any,
    telegram_id: int,
    alias: str,
    county: str = "vestland",
    *,
    pathways: list[str] | None = None,
    languages: list[str] | None = None,
    capacity: int = 2,
    serves: list[str] | None = None,
) -> FakeUser:
    """Put a counsellor on the roster as `kollega counsellor add` does; returns their Telegram handle."""
    from storage import roster

    async with harness.services.store.transaction() as tx:
        await roster.add_counsellor(
            tx.session,
            telegram_id=telegram_id,
            alias=alias,
            pseudonym=harness.services.keyring.pseudonym(telegram_id),
            county=county,
            serves=serves or [],
            pathways=pathways or ALL_PATHWAYS,
            languages=languages or ["nb"],
            capacity=capacity,
        )
    return harness.user(telegram_id, alias)


async def add_coordinator(harness: Any, telegram_id: int) -> FakeUser:
    from storage import roster

    async with harness.services.store.transaction() as tx:
        await roster.add_coordinator(tx.session, telegram_id)
    return harness.user(telegram_id, "Koordinator")
