"""After whole scenarios, nothing identifying is at rest: not in the database files,
not in the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.privacy import findings, secrets_of
from tests.scenarios import CONSENT, NOT_COPING, PREFERENCES, SAFETY_YES, SELF, walk

USER_ID = 7391824650
USERNAME = "dr_kari_nordmann_x"
FIRST = "Kariannestine"
LAST = "Nordmannsen"
TYPED = [
    "Jeg er så utrolig sliten etter nattevaktene på Ullevål",
    "Overlegen min på Haukeland skjønner ingenting",
    "jeg vil dø",  # crisis words: acted on, never kept
]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    # Our own packages at DEBUG, libraries at the levels `kollega run` sets.
    caplog.set_level(logging.INFO)
    for name in ("bot", "flows", "storage", "kollega"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_full_triage_leaves_no_identity_or_typed_text_anywhere(harness, logs, tmp_path: Path) -> None:
    kari = harness.user(USER_ID, FIRST, username=USERNAME, language_code="nb", last_name=LAST)
    await harness.feed(kari.send_command("/start"))
    await walk(harness, kari, CONSENT, SELF)
    await harness.feed(kari.send_text(TYPED[0]))  # typed instead of pressing
    await walk(harness, kari, NOT_COPING)
    await harness.feed(kari.send_text(TYPED[1]))
    await harness.feed(kari.send_text(TYPED[2]))
    await walk(harness, kari, SAFETY_YES, "Fortsett til en støttekollega", *PREFERENCES)
    await harness.feed(kari.send_photo(caption=TYPED[0]))
    await harness.feed(kari.send_command("/status"))
    await walk(harness, kari, "Ja, send til en støttekollega")
    # A send failure makes the error path log too.
    harness.telegram.fail_next("sendMessage", error_code=500, description="Internal Server Error", times=10)
    await harness.feed(kari.send_text(TYPED[1]))
    await harness.tick(hours=30)
    await harness.services.engine.dispose()  # flush the WAL as a stopped process would leave it

    assert "Saksnummeret ditt" in " ".join(s.text or "" for s in harness.said(kari))
    assert findings(tmp_path, logs.text, secrets_of(USER_ID, USERNAME, FIRST, LAST, *TYPED)) == []


async def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scanner is not blind: a planted id and sentence are found, in file and log."""
    (tmp_path / "kollega.db-wal").write_bytes(b"\x00\x01" + str(USER_ID).encode() + "Ullevål".encode("utf-16-le"))
    found = findings(tmp_path, f"user {USERNAME} wrote", secrets_of(USER_ID, USERNAME, "Ullevål"))
    assert len(found) == 3


async def test_a_whole_case_with_a_counsellor_leaves_nothing_identifying(harness, logs, tmp_path: Path) -> None:
    from tests.scenarios import ACCEPT, add_coordinator, add_counsellor

    phone = "+47 934 56 781"
    to_counsellor = "Jeg har ikke sovet siden tilsynssaken i Tromsø startet"
    to_doctor = "Takk for at du skriver. Hvordan har du det i kveld?"
    await add_coordinator(harness, 8001)
    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(USER_ID, FIRST, username=USERNAME, language_code="nb", last_name=LAST)
    await harness.feed(kari.send_command("/start"))
    await walk(harness, kari, CONSENT, SELF, NOT_COPING, SAFETY_YES, "Fortsett til en støttekollega",
               "⬜ Noen som lytter og forstår", "Ferdig – gå videre", "Hopp over", "Sykehuslege", "Troms",
               "Det spiller ingen rolle", "Telefonsamtale", "Norsk", "Ja, send til en støttekollega")  # fmt: skip
    await walk(harness, anna, ACCEPT)
    await harness.feed(kari.send_text(to_counsellor))
    await harness.feed(kari.send_photo(caption=TYPED[1]))
    await harness.feed(kari.send_contact(phone))
    await harness.feed(anna.send_text(to_doctor))
    await harness.feed(kari.send_text(TYPED[2]))  # crisis words inside the case
    assert harness.said(anna)[-1].text.endswith(TYPED[2])  # it did reach the counsellor
    await harness.feed(anna.send_command("/close"))
    await walk(harness, anna, "Ja, avslutt")
    await walk(harness, kari, "3", "Ja, ta kontakt om 4 uker")
    await harness.tick(days=3)
    await harness.services.engine.dispose()

    assert any(to_doctor in (s.text or "") for s in harness.said(kari))
    needles = secrets_of(USER_ID, USERNAME, FIRST, LAST, phone, phone.replace(" ", ""), to_counsellor, to_doctor, *TYPED)
    assert findings(tmp_path, logs.text, needles) == []
