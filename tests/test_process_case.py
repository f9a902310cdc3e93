"""The whole service over real HTTP: one doctor and two counsellors complete a case
through the `kollega run` process, every pathway completes over HTTP, and nothing
identifying is left behind (issue 3's "done when")."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.privacy import findings, secrets_of
from tests.process import BotProcess, Conversation, clean_env
from tests.scenarios import (
    ACCEPT,
    ADVICE,
    CONFIRM,
    CONSENT,
    DECLINE,
    NOT_COPING,
    NOT_SURE,
    PREFERENCES,
    SAFETY_NO,
    SELF,
    WAY_BACK,
)
from tests.standin import BotApiStandin
from tests.test_process import TIMEOUT, TOKEN, config_for

CASE_SENT = "Saksnummeret ditt er"


def kollega(config: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False, env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def person(standin: BotApiStandin, user_id: int, name: str, bot: BotProcess, **kwargs: Any) -> Conversation:
    return Conversation(standin.fake.user(user_id, first_name=name, **kwargs), standin.wait_for, TIMEOUT, bot)


@pytest.fixture
def running(tmp_path: Path, standin: BotApiStandin, bots: Callable[..., BotProcess]) -> Iterator[tuple[Path, BotProcess]]:
    config = config_for(tmp_path, standin)
    kollega(config, "db", "upgrade")
    kollega(config, "counsellor", "add", "--telegram-id", "9001", "--alias", "Anna", "--county", "Vestland")
    kollega(config, "counsellor", "add", "--telegram-id", "9002", "--alias", "Bjørn", "--county", "Nordland")
    yield config, bots(config).start()


def test_one_doctor_and_two_counsellors_complete_a_case(
    running: tuple[Path, BotProcess], standin: BotApiStandin, tmp_path: Path
) -> None:
    config, bot = running
    kari = person(standin, 7391824650, "Kariannestine", bot, username="dr_kari_x", last_name="Nordmannsen")
    anna = person(standin, 9001, "Anna", bot)
    bjorn = person(standin, 9002, "Bjørn", bot)
    typed = ["Jeg gruer meg til hver eneste vakt på akutten", "Kan vi ta en telefon i morgen?"]
    replies = ["Det høres tungt ut. Fortell gjerne mer.", "Ja, det passer fint klokka ti."]

    kari.command("/start", button=CONSENT)
    kari.walk(CONSENT, SELF, ADVICE, SAFETY_NO, *PREFERENCES, then="Stemmer dette?")
    mark = kari.mark()
    kari.press(CONFIRM, text=CASE_SENT)
    offer = anna.expect(after=mark, button=ACCEPT)  # fewest cases, then id: Anna first
    code = offer.text.split("Ny sak til deg: ")[1][:8]

    # Anna declines; the case passes to Bjørn, who takes it.
    mark = bjorn.mark()
    anna.press(DECLINE, text="Du avslo saken")
    bjorn.expect(after=mark, button=ACCEPT)
    mark = kari.mark()
    bjorn.press(ACCEPT, text=f"Du har tatt saken {code}")
    kari.expect(after=mark, text="Bjørn har svart og kan skrive med deg nå")

    # They talk through the bot, both ways: copies (not forwards, and not to be forwarded on),
    # each with one button that names the other side only by case code or alias.
    for mine, theirs in zip(typed, replies, strict=True):
        mark = bjorn.mark()
        kari.user.send_text(mine)
        copied = bjorn.expect(after=mark, text=mine)
        assert (copied.method, copied.text) == ("copyMessage", mine)
        assert copied.buttons == [f"💬 {code} · fra legen (trykk for å svare)"]
        assert copied.params["protect_content"] is True
        mark = kari.mark()
        bjorn.user.send_text(theirs)
        copied = kari.expect(after=mark, text=theirs)
        assert (copied.method, copied.text, copied.buttons) == ("copyMessage", theirs, ["💬 Bjørn · støttekollega"])
    mark = bjorn.mark()
    kari.user.send_photo(caption="skjermbilde")
    photo = bjorn.expect(after=mark, text="skjermbilde")
    assert photo.method == "copyMessage" and code in photo.buttons[0]

    # Bjørn closes; Kari is told and rates the conversation.
    bjorn.command("/close", button="Ja, avslutt")
    mark = kari.mark()
    bjorn.press("Ja, avslutt", text=f"Saken {code} er avsluttet")
    kari.expect(after=mark, text="Bjørn har avsluttet samtalen")
    kari.expect(after=mark, button="5")
    kari.press("5", text="Takk for svaret")

    assert bot.stop() == 0
    output = bot.output()
    assert "Traceback" not in output and TOKEN not in output
    needles = secrets_of(7391824650, "Kariannestine", "Nordmannsen", "dr_kari_x", *typed, *replies)
    assert findings(tmp_path, output, needles) == []
    export = kollega(config, "stats", "export")
    assert "case_accepted" in export and "7391824650" not in export


@pytest.mark.parametrize(
    "situation",
    [
        [ADVICE],
        [NOT_COPING],
        [WAY_BACK],
        [NOT_SURE, "Jeg er i jobb som vanlig", "Jeg klarer meg stort sett", "Råd om en bestemt sak"],
    ],
    ids=["advice", "not_coping", "way_back_or_out", "not_sure"],
)
def test_every_pathway_completes_over_http(
    running: tuple[Path, BotProcess], standin: BotApiStandin, situation: list[str]
) -> None:
    _, bot = running
    doctor = person(standin, 6100, "Lege", bot)
    doctor.command("/start", button=CONSENT)
    done = doctor.walk(CONSENT, SELF, *situation, SAFETY_NO, *PREFERENCES, CONFIRM, then=CASE_SENT)
    assert "K-" in (done.text or "")
