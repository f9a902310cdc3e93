"""The real ``kollega run`` process, talking HTTP to the local Bot API stand-in.

Long polling: whole triages, a SIGKILL mid-conversation and a restart on the same
database, then a privacy scan of everything the runs left on disk and printed.
Webhook mode: PTB registers the webhook with its secret token, and the webhook
server refuses updates that do not carry it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.privacy import findings, secrets_of
from tests.process import BotProcess, Conversation, free_port, wait_for_port, write_config
from tests.scenarios import (
    ADVICE,
    CONFIRM,
    CONSENT,
    CONTINUE_AFTER_CRISIS,
    CRISIS_NOT_NOW,
    DONE,
    NOT_COPING,
    PREFERENCES,
    SAFETY_NO,
    SAFETY_YES,
    SELF,
    case_code,
)
from tests.standin import BotApiStandin

TIMEOUT = 15.0
TOKEN = "123456:TEST-" + secrets.token_hex(8)
SECRET_KEY = secrets.token_urlsafe(32)
CASE_SENT = "Saksnummeret ditt er"

KARI = {"user_id": 7391824650, "first_name": "Kariannestine", "last_name": "Nordmannsen", "username": "dr_kari_nordmann_x"}
OLE = {"user_id": 6284017395, "first_name": "Oleandrius", "last_name": "Bjørnstjernesen", "username": "dr_ole_bjorn_y"}
KARI_TYPED = [
    "Jeg er så utrolig sliten etter nattevaktene på Ullevål",
    "Overlegen min på Haukeland skjønner ingenting",
    "Noen netter tenker jeg at jeg vil dø",  # crisis words: acted on, never kept
]
OLE_TYPED = ["Tilsynssaken fra Statsforvalteren i Bodø holder meg våken"]


def config_for(tmp_path: Path, standin: BotApiStandin, **telegram: Any) -> Path:
    return write_config(
        tmp_path / "config.toml",
        {
            "telegram": {"token": TOKEN, "base_url": standin.base_url, **telegram},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'kollega.db'}"},
            "secrets": {"secret_key": SECRET_KEY},
            "timeouts": {"tick_seconds": 0.2},
        },
    )


def doctor(standin: BotApiStandin, person: dict[str, Any], bot: BotProcess) -> Conversation:
    user = standin.fake.user(
        person["user_id"],
        first_name=person["first_name"],
        last_name=person["last_name"],
        username=person["username"],
        language_code="nb",
    )
    return Conversation(user, standin.wait_for, TIMEOUT, bot)


def walk(chat: Conversation, *labels: str, button: str | None = None, text: str | None = None) -> Any:
    """Press each label, waiting each time for the next one; the last waits for button/text."""
    answer = None
    for i, label in enumerate(labels):
        if i + 1 < len(labels):
            answer = chat.press(label, button=labels[i + 1])
        else:
            answer = chat.press(label, button=button, text=text)
    return answer


def texts_after(standin: BotApiStandin, chat_id: int, mark: int) -> list[str]:
    with standin.fake._lock:
        return [s.text or "" for s in standin.fake.sent[mark:] if s.chat_id == chat_id]


def test_triage_over_http_survives_sigkill_and_leaves_no_trace(
    tmp_path: Path, standin: BotApiStandin, bots: Callable[..., BotProcess]
) -> None:
    config = config_for(tmp_path, standin)
    bot = bots(config).start()

    # 1. Kari: a whole triage, typing sentences and crisis words along the way.
    kari = doctor(standin, KARI, bot)
    welcome = kari.command("/start", button=CONSENT)
    assert "velkommen til Kollega" in (welcome.text or "")
    walk(kari, CONSENT, SELF, button=NOT_COPING)
    kari.say(KARI_TYPED[0], button=NOT_COPING)  # typed instead of pressing: asked again
    kari.press(NOT_COPING, button=SAFETY_YES)
    kari.say(KARI_TYPED[1], button=SAFETY_YES)
    mark = kari.mark()
    kari.user.send_text(KARI_TYPED[2])
    crisis = kari.expect(after=mark, text="113")
    assert "116 123" in (crisis.text or "")
    # Numbers at once, then "does this concern you now?" before anything is escalated.
    kari.expect(after=mark, button=CRISIS_NOT_NOW)
    kari.press(CRISIS_NOT_NOW, button=SAFETY_YES)  # and the question again, same place
    done = walk(kari, SAFETY_YES, CONTINUE_AFTER_CRISIS, *PREFERENCES, CONFIRM, text=CASE_SENT)
    kari_code = case_code(done.text)
    assert "hastesak" in (done.text or "")

    # 2. Ole: halfway through, the process is killed; a new one carries on.
    ole = doctor(standin, OLE, bot)
    ole.command("/start", button=CONSENT)
    walk(ole, CONSENT, SELF, button=ADVICE)
    ole.say(OLE_TYPED[0], button=ADVICE)
    barriers = walk(ole, ADVICE, SAFETY_NO, PREFERENCES[0], DONE, button=PREFERENCES[2])
    assert PREFERENCES[2] in barriers.buttons  # at the barriers question

    assert bot.kill() == -9
    # Keep the database exactly as the crash left it (-wal, -shm) for the privacy scan below.
    crashed = tmp_path / "as-left-by-sigkill"
    crashed.mkdir()
    for file in tmp_path.glob("kollega.db*"):
        shutil.copy2(file, crashed / file.name)
    assert (crashed / "kollega.db-wal").exists()
    restart = ole.mark()
    bot.start()
    toggled = ole.press(PREFERENCES[2], button=DONE)
    assert "✅ Kulturen der jeg jobber – valgt" in toggled.buttons, toggled.buttons  # same step, answer taken
    done = walk(ole, DONE, *PREFERENCES[4:], CONFIRM, text=CASE_SENT)
    ole_code = case_code(done.text)
    assert ole_code != kari_code
    after_restart = texts_after(standin, OLE["user_id"], restart)
    assert not [t for t in after_restart if "gikk galt" in t or "Den knappen" in t or "velkommen" in t], after_restart

    assert bot.stop() == 0, bot.output()[-2000:]
    output = bot.output()
    assert bot.runs == 2 and "starting with long polling" in output

    # 3. Nothing identifying at rest (database, -wal, -shm, logs) or in the output.
    assert (tmp_path / "kollega.db").exists()
    needles = [
        *secrets_of(KARI["user_id"], KARI["first_name"], KARI["last_name"], KARI["username"], *KARI_TYPED),
        *secrets_of(OLE["user_id"], OLE["first_name"], OLE["last_name"], OLE["username"], *OLE_TYPED),
    ]
    assert findings(tmp_path, output, needles) == []
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "Traceback" not in output, output[-3000:]


def post_update(port: int, update: dict[str, Any], secret: str | None) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram",
        data=json.dumps(update).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if secret is not None:
        request.add_header("X-Telegram-Bot-Api-Secret-Token", secret)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def wait_until(condition: Callable[[], Any], bot: BotProcess, what: str, timeout: float = TIMEOUT) -> Any:
    """Poll ``condition`` until it is true; fail at once if the bot process has died."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert bot.running, f"the bot exited with {bot.returncode} before {what}:\n{bot.output()[-3000:]}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no {what} within {timeout}s")
        time.sleep(0.05)
    return value


def test_webhook_mode_registers_the_secret_and_refuses_updates_without_it(
    tmp_path: Path, standin: BotApiStandin, bots: Callable[..., BotProcess]
) -> None:
    port = free_port()
    secret = secrets.token_urlsafe(32)
    url = "https://example.invalid/telegram"
    config = config_for(tmp_path, standin, webhook_url=url, webhook_listen="127.0.0.1", webhook_port=port, webhook_secret=secret)
    bot = bots(config).start()

    [registered] = wait_until(lambda: standin.fake.calls_of("setWebhook"), bot, "setWebhook call")
    assert registered["url"] == url and registered["secret_token"] == secret
    wait_for_port(port, timeout=TIMEOUT)

    user = standin.fake.user(5550001, first_name="Webhookia")
    no_header, wrong, right = (user.send_command("/start") for _ in range(3))
    assert post_update(port, no_header, None) == 403
    assert post_update(port, wrong, secret[::-1]) == 403
    time.sleep(0.5)  # give a wrongly accepted update time to be answered
    assert standin.fake.messages_to(user.chat_id) == []

    assert post_update(port, right, secret) == 200
    welcome = Conversation(user, standin.wait_for, TIMEOUT, bot).expect(after=0, text="velkommen til Kollega")
    assert CONSENT in welcome.buttons
    time.sleep(0.3)
    assert len(standin.fake.messages_to(user.chat_id)) == 1
    assert standin.fake.calls_of("getUpdates") == []  # webhook mode never polls

    assert bot.stop() == 0, bot.output()[-2000:]
    assert "starting in webhook mode" in bot.output()
