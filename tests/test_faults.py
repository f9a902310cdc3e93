"""Crash faults: ``kollega run`` as a real process against the loopback Bot API stand-in,
killed with SIGKILL at random (seeded) moments and restarted each time, for as long as
the work takes: a dozen doctors arrive in waves (one wave per restart, so every restart
lands on conversations in flight), go through triage, are offered to two counsellors who
accept, decline or ignore (offers time out after 3 seconds), then write to their
counsellor, who answers each of them by replying to the relayed message.

What must hold, judged from the stand-in's record and the database, never from a clock:

- no update is lost: every update Telegram considers confirmed has its claim row, that
  is, its effects committed (``processed_updates`` is written in the update's own
  transaction, bot/serve.py);
- no effect is applied twice: one case per doctor (the one whose code they were shown),
  one ``pathway_chosen``, ``case_opened`` and ``case_accepted`` event per doctor, one
  accepted offer per case;
- every relayed message reaches the other side, and nothing is left in the outbox;
- conversations continue at their step (no doctor is sent back to an earlier question).

Duplicates (a message delivered twice, which the outbox allows when a process dies after
Telegram accepted a message and before its row was deleted) are counted and printed.

The people are simulated like people: someone whose press gets no answer presses again,
after 3, then 6, then 12 seconds. Every wait is a generous safety net, never a pass mark.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flows.events import EventKind
from storage.sealing import Keyring
from storage.statistics import families, family_of
from tests.faketelegram import FakeUser, markup_rows
from tests.process import BotProcess, clean_env, kollega_command, write_config
from tests.scenarios import (
    ACCEPT,
    ADVICE,
    CONFIRM,
    CONSENT,
    CONTINUE_AFTER_CRISIS,
    DECLINE,
    DONE,
    NOT_COPING,
    NOT_SURE,
    SELF,
    SKIP,
    WAY_BACK,
)
from tests.standin import BotApiStandin

pytestmark = pytest.mark.sqlite_only("runs `kollega run` on its own SQLite file and reads it with sqlite3")

SEED = int(os.environ.get("KOLLEGA_FAULT_SEED", "20261124"))
TOKEN = "123456:FAULT-" + secrets.token_hex(10)
SECRET_KEY = secrets.token_urlsafe(32)
DOCTORS = tuple(range(6101, 6113))  # 12 doctors
ANNA, BJORN = 9201, 9202
WAVES = 4  # they arrive in four waves of three: wave w starts once the bot was killed w times
RELAYS = 2  # messages each doctor writes to their counsellor
BACKOFF = (3.0, 6.0, 12.0)  # a person presses again after this long without an answer
SAFETY = 900.0  # seconds: a safety net for a hung run, far beyond what it needs
CODE = re.compile(r"K-[A-Z2-9]{6}")
RETRY = "noe gikk galt"
ANSWERED = ("Du har tatt saken", "Du avslo saken", "Saken K-")  # a card's answer replaces it
ACCEPTED = "har svart og kan skrive med deg nå"
# The triage steps in the order a conversation moves through them, as saved (sealed) in drafts.sealed_answers
# ("change" is the summary's sub-menu, so it ranks with the summary).
SAVED_ORDER = [
    "consent", "who", "situation", "unsure_work", "unsure_coping", "unsure_hope", "safety", "crisis", "support",
    "barriers", "role", "county", "outside_county", "contact", "language", "summary", "change",
]  # fmt: skip

# The question a doctor sees, by one of its buttons, in the order of the triage.
STEPS = [
    ("consent", CONSENT),
    ("who", SELF),
    ("situation", ADVICE),
    ("unsure_work", "Jeg er i jobb som vanlig"),
    ("unsure_coping", "Jeg klarer meg stort sett"),
    ("unsure_hope", "Råd om en bestemt sak"),
    ("safety", "Nei"),
    ("crisis", CONTINUE_AFTER_CRISIS),
    ("support", "Noen som lytter og forstår"),
    ("barriers", "Kulturen der jeg jobber"),
    ("role", "Vikar"),
    ("county", "Vil helst ikke si"),
    ("outside", "Det spiller ingen rolle"),
    ("contact", "Skrive her i chatten"),
    ("language", "Engelsk (English)"),
    ("summary", CONFIRM),
]


# --- fixtures -------------------------------------------------------------------------------
def make_config(tmp_path: Path, standin: BotApiStandin) -> Path:
    return write_config(
        tmp_path / "config.toml",
        {
            "telegram": {"token": TOKEN, "base_url": standin.base_url},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'kollega.db'}"},
            "secrets": {"secret_key": SECRET_KEY},
            # Offers run out in 12 s, so ignored ones pass on soon; long enough that a counsellor's
            # Accept, pushed at once, beats the deadline even on a machine loaded several times over
            # (with 3 s, every Accept could arrive late there, and no case was ever taken).
            "timeouts": {"tick_seconds": 0.2, "offer_minutes": 0.2, "urgent_offer_minutes": 0.2},
        },
    )


def add_counsellor(config: Path, telegram_id: int, alias: str, county: str) -> None:
    arguments = ["--config", str(config), "--telegram-id", str(telegram_id), "--alias", alias, "--county", county]
    subprocess.run(
        [*kollega_command(), "counsellor", "add", *arguments, "--capacity", "20"],
        env=clean_env(),
        cwd=config.parent,
        check=True,
        timeout=60,
        capture_output=True,
    )


def rows(db: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the bot's database (WAL: a reader does not disturb the running bot)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(query, args).fetchall()
    finally:
        connection.close()


# --- the simulated people ------------------------------------------------------------------------
def labels(message: dict[str, Any]) -> list[str]:
    return [str(b.get("text")) for row in markup_rows(message["reply_markup"]) for b in row]


def step_of(buttons: list[str]) -> int | None:
    bare = {b.removeprefix("⬜ ").removeprefix("✅ ").removesuffix(" – valgt") for b in buttons}
    for index, (_, marker) in enumerate(STEPS):
        if marker in bare:
            return index
    return None


@dataclass
class Pushed:
    """One update the test sent, and what became of it."""

    update_id: int
    who: int
    what: str
    mark: int
    at: float
    run: int
    tries: int = 0
    """How many times the person already pressed again before this (their patience grows)."""
    answered: bool = False
    target: int = 0
    """For a press on an offer card: the card's message id."""

    def waited_too_long(self) -> bool:
        return time.monotonic() - self.at > BACKOFF[min(self.tries, len(BACKOFF) - 1)]


@dataclass
class Doctor:
    user: FakeUser
    wave: int
    situation: str
    urgent: bool
    barrier: bool
    county: str
    outside: str
    code: str | None = None
    pending: Pushed | None = None
    furthest: int = -1
    last_question: int = 0
    relays: list[str] = field(default_factory=list)
    """What this doctor has written to their counsellor, in order (each sent once)."""

    def choose(self, buttons: list[str]) -> str:
        step = STEPS[step_of(buttons) or 0][0]
        answer = {
            "consent": CONSENT,
            "who": SELF,
            "situation": self.situation,
            "unsure_work": "Jeg er i jobb som vanlig",
            "unsure_coping": "Jeg klarer det nesten ikke lenger",
            "unsure_hope": "Noen å snakke med om hvordan jeg har det",
            "safety": "Ja" if self.urgent else "Nei",
            "crisis": CONTINUE_AFTER_CRISIS,
            "support": "⬜ Noen som lytter og forstår" if "⬜ Noen som lytter og forstår" in buttons else DONE,
            "barriers": "⬜ Kulturen der jeg jobber" if self.barrier and "⬜ Kulturen der jeg jobber" in buttons else
                        (SKIP if SKIP in buttons else DONE),
            "role": "Vikar",
            "county": self.county,
            "outside": self.outside,
            "contact": "Skrive her i chatten",
            "language": "Norsk",
            "summary": CONFIRM,
        }[step]  # fmt: skip
        assert answer in buttons, f"doctor {self.user.id} at {step}: no {answer!r} in {buttons}"
        return answer


@dataclass
class Counsellor:
    user: FakeUser
    may_decline: bool
    first_offer: dict[str, int] = field(default_factory=dict)
    decision: dict[str, str] = field(default_factory=dict)
    pressed: dict[int, Pushed] = field(default_factory=dict)
    away_seen: int = 0
    available: Pushed | None = None
    answered_copies: set[int] = field(default_factory=set)
    """Relayed copies (message ids in this chat) already answered with a reply."""


def answer_to(text: str) -> str:
    return f"svar på «{text}»"


class Chaos:
    def __init__(self, tmp_path: Path, standin: BotApiStandin, bot: BotProcess, rng: random.Random) -> None:
        self.db = tmp_path / "kollega.db"
        self.standin = standin
        self.fake = standin.fake
        self.bot = bot
        self.rng = rng
        self.pushed: list[Pushed] = []
        self.kills = 0
        self.kill_times: list[float] = []
        self.up_since = time.monotonic()
        self.regressions: list[str] = []
        self.questions_again = 0
        self.keyring = Keyring(SECRET_KEY)
        self.furthest_saved: dict[str, int] = {}
        self.doctors = [
            Doctor(
                standin.fake.user(uid, first_name=f"Dr{uid}"),
                wave=index * WAVES // len(DOCTORS),
                situation=rng.choice([ADVICE, NOT_COPING, WAY_BACK, NOT_SURE]),
                urgent=rng.random() < 0.3,
                barrier=rng.random() < 0.5,
                # Oslo doctors may ask for someone from another county (Bjørn, Vestland, never declines).
                county=(county := rng.choice(["Oslo", "Vestland", "Vil helst ikke si"])),
                outside="Ja, helst fra et annet fylke" if county == "Oslo" and rng.random() < 0.5 else "Det spiller ingen rolle",
            )
            for index, uid in enumerate(DOCTORS)
        ]
        self.counsellors = [
            Counsellor(standin.fake.user(ANNA, first_name="Anna"), may_decline=True),
            Counsellor(standin.fake.user(BJORN, first_name="Bjørn"), may_decline=False),
        ]

    # --- bookkeeping ------------------------------------------------------------------------
    def mark(self) -> int:
        with self.fake._lock:
            return len(self.fake.sent)

    def push(self, who: int, what: str, update: dict[str, Any], mark: int, tries: int = 0) -> Pushed:
        record = Pushed(update["update_id"], who, what, mark, time.monotonic(), self.bot.runs, tries)
        self.pushed.append(record)
        return record

    def records_to(self, chat: int, start: int = 0) -> list[Any]:
        with self.fake._lock:
            return [s for s in self.fake.sent[start:] if s.chat_id == chat]

    def busy(self) -> bool:
        """Whether some update is in flight (pushed, not yet answered): the moments worth a crash."""
        recent = time.monotonic() - 1.0
        return any(d.pending is not None and d.pending.at > recent for d in self.doctors) or any(
            not p.answered and p.at > recent for c in self.counsellors for p in c.pressed.values()
        )

    # --- doctors -------------------------------------------------------------------------------
    def drive_doctor(self, doctor: Doctor) -> None:
        if doctor.wave > self.kills:
            return  # not arrived yet
        chat = doctor.user.chat_id
        if doctor.code:
            self.write_to_counsellor(doctor)
            return
        tries = 0
        if doctor.pending is not None:
            # Answered once the next question (or the case code) is on screen, not at the first edit.
            if any(s.buttons or CODE.search(s.text or "") for s in self.records_to(chat, doctor.pending.mark)):
                doctor.pending.answered = True
                doctor.pending = None
            elif doctor.pending.waited_too_long():
                tries = doctor.pending.tries + 1  # no answer: press again, as a person would
                doctor.pending = None
            else:
                return
        sent = self.records_to(chat)
        codes = {c for s in sent if s.method != "copyMessage" for c in CODE.findall(s.text or "")}
        if codes:
            assert len(codes) == 1, f"doctor {chat} was shown several case codes: {codes}"
            doctor.code = codes.pop()
            return
        boards = [b for b in self.fake.keyboards(chat) if step_of(labels(b)) is not None]
        mark = self.mark()
        if not boards:
            doctor.pending = self.push(chat, "/start", doctor.user.send_command("/start"), mark, tries)
            return
        current = boards[0]
        buttons = labels(current)
        step = step_of(buttons)
        assert step is not None
        if current["message_id"] > doctor.last_question:
            if step < doctor.furthest:
                # An earlier question shown again: a message delivered twice (the outbox is at
                # least once) unless the conversation itself went back, which watch_drafts checks.
                self.questions_again += 1
            doctor.furthest = max(doctor.furthest, step)
            doctor.last_question = current["message_id"]
        answer = doctor.choose(buttons)
        data = {b["text"]: b.get("callback_data") for row in markup_rows(current["reply_markup"]) for b in row}
        doctor.pending = self.push(chat, answer, doctor.user._callback(current, str(data[answer])), mark, tries)

    def watch_drafts(self) -> None:
        """The conversations as saved: no doctor's draft may ever go back a step."""
        doctor_of = {self.keyring.pseudonym(d.user.id): d.user.id for d in self.doctors}
        for pseudonym, sealed in rows(self.db, "SELECT pseudonym, sealed_answers FROM drafts"):
            step = SAVED_ORDER.index(json.loads(self.keyring.unseal_bytes(sealed, f"draft:{pseudonym}"))["state"])
            furthest = self.furthest_saved.get(pseudonym, -1)
            if step < furthest:
                self.regressions.append(f"doctor {doctor_of.get(pseudonym)}: {SAVED_ORDER[furthest]} -> {SAVED_ORDER[step]}")
            self.furthest_saved[pseudonym] = max(furthest, step)

    def write_to_counsellor(self, doctor: Doctor) -> None:
        """Once accepted, write RELAYS messages, each once, the next when the last has arrived."""
        if len(doctor.relays) >= RELAYS or not any(ACCEPTED in (s.text or "") for s in self.records_to(doctor.user.chat_id)):
            return
        if doctor.relays and doctor.relays[-1] not in self.delivered_to_counsellors():
            return
        text = f"{doctor.user.first_name} skriver melding {len(doctor.relays) + 1}"
        doctor.relays.append(text)
        self.push(doctor.user.chat_id, text, doctor.user.send_text(text), self.mark()).answered = True

    def delivered_to_counsellors(self) -> Counter[str]:
        with self.fake._lock:
            return Counter(s.text for s in self.fake.sent if s.method == "copyMessage" and s.chat_id in (ANNA, BJORN))

    def delivered_to_doctors(self) -> Counter[str]:
        with self.fake._lock:
            return Counter(s.text for s in self.fake.sent if s.method == "copyMessage" and s.chat_id in DOCTORS)

    # --- counsellors ------------------------------------------------------------------------------
    def drive_counsellor(self, counsellor: Counsellor) -> None:
        user = counsellor.user
        for pushed in counsellor.pressed.values():
            if not pushed.answered and any(
                s.message_id == pushed.target and s.text and s.text.startswith(ANSWERED)
                for s in self.records_to(user.chat_id, pushed.mark)
            ):
                pushed.answered = True
        self.answer_relays(counsellor)
        for card in self.fake.keyboards(user.chat_id):
            data = {b["text"]: b.get("callback_data") for row in markup_rows(card["reply_markup"]) for b in row}
            if ACCEPT not in data:
                continue
            found = CODE.search(card.get("text", ""))
            assert found, card
            code, offer_id = found.group(0), int(str(data[ACCEPT]).rsplit(":", 1)[1])
            if code not in counsellor.first_offer:  # the first offer of a case: maybe say no, or nothing
                counsellor.first_offer[code] = offer_id
                roll = self.rng.random()
                counsellor.decision[code] = (
                    "decline" if counsellor.may_decline and roll < 0.25 else "ignore" if roll < 0.5 else "accept"
                )
            decision = counsellor.decision[code] if offer_id == counsellor.first_offer[code] else "accept"
            previous = counsellor.pressed.get(offer_id)
            if decision == "ignore" or (previous is not None and not previous.waited_too_long()):
                continue
            label = DECLINE if decision == "decline" else ACCEPT
            mark = self.mark()
            tries = 0 if previous is None else previous.tries + 1
            pushed = self.push(user.id, f"{label} {code}", user._callback(card, data[label] or ""), mark, tries)
            pushed.target = card["message_id"]
            counsellor.pressed[offer_id] = pushed
        # Marked away after a missed deadline: say you are back.
        told_away = sum("satt deg som borte" in (s.text or "") for s in self.records_to(user.chat_id))
        if counsellor.available is not None:
            back = [s for s in self.records_to(user.chat_id, counsellor.available.mark) if "tilgjengelig" in (s.text or "")]
            if back:
                counsellor.available.answered = True
                counsellor.available = None
            elif counsellor.available.waited_too_long():
                counsellor.available = None
            else:
                return
        if told_away > counsellor.away_seen:
            counsellor.away_seen = told_away
            mark = self.mark()
            counsellor.available = self.push(user.id, "/available", user.send_command("/available"), mark)

    def answer_relays(self, counsellor: Counsellor) -> None:
        """Answer every doctor's message once, by replying to the copy (which names its case)."""
        for copied in self.records_to(counsellor.user.chat_id):
            if copied.method != "copyMessage" or copied.message_id in counsellor.answered_copies:
                continue
            counsellor.answered_copies.add(copied.message_id)
            text = answer_to(copied.text or "")
            update = counsellor.user.send_text(text, reply_to_message_id=copied.message_id)
            self.push(counsellor.user.id, text, update, self.mark()).answered = True

    # --- the run ---------------------------------------------------------------------------------------
    def finished(self) -> bool:
        if self.kills < WAVES - 1 or not all(d.code and len(d.relays) == RELAYS for d in self.doctors):
            return False
        to_counsellors, to_doctors = self.delivered_to_counsellors(), self.delivered_to_doctors()
        written = [t for d in self.doctors for t in d.relays]
        return all(t in to_counsellors and answer_to(t) in to_doctors for t in written)

    def polls(self) -> int:
        return len(self.fake.calls_of("getUpdates"))

    def run(self) -> None:
        started = time.monotonic()
        next_kill: float | None = None
        next_watch = started
        polls_at_start = 0
        while not self.finished():
            now = time.monotonic()
            assert now - started < SAFETY, self.describe("the run hung")
            assert self.bot.running, f"the bot died by itself:\n{self.bot.output()[-3000:]}"
            if next_kill is None and self.polls() > polls_at_start:
                # Serving again (it asked for updates): the next crash comes 1.5 to 6 s into this run.
                self.up_since = now
                next_kill = now + self.rng.uniform(1.5, 6.0)
            if next_kill is not None and now >= next_kill and (self.busy() or now >= next_kill + 1.0):
                polls_at_start = self.polls()
                self.bot.kill()
                self.kills += 1
                self.kill_times.append(now - started)
                self.bot.start()
                next_kill = None
            for doctor in self.doctors:
                self.drive_doctor(doctor)
            for counsellor in self.counsellors:
                self.drive_counsellor(counsellor)
            if now >= next_watch:
                self.watch_drafts()
                next_watch = now + 0.3
            time.sleep(0.02)

    def describe(self, what: str) -> str:
        lines = [what, f"  kills: {self.kills}"]
        for d in self.doctors:
            step = STEPS[max(d.furthest, 0)][0]
            lines.append(f"  doctor {d.user.id} (wave {d.wave}): code={d.code} furthest={step} wrote={d.relays}")
        lines += [f"  case {row}" for row in rows(self.db, "SELECT code, status, escalated, counsellor_id FROM cases")]
        lines += [f"  offer {row}" for row in rows(self.db, "SELECT id, case_code, counsellor_id, status, deadline FROM offers")]
        lines += [f"  outbox rows: {rows(self.db, 'SELECT count(*) FROM outbox')[0][0]}"]
        return "\n".join(lines) + "\n" + self.fake.describe_sent(15)


def test_sigkill_at_random_moments_loses_nothing_and_repeats_no_effect(
    tmp_path: Path, standin: BotApiStandin, bots: Callable[..., BotProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    config = make_config(tmp_path, standin)
    add_counsellor(config, ANNA, "Anna", "Oslo")
    add_counsellor(config, BJORN, "Bjørn", "Vestland")
    bot = bots(config).start()
    chaos = Chaos(tmp_path, standin, bot, random.Random(SEED))
    chaos.run()
    bot.stop()  # SIGTERM: in-flight updates and the outbox drain before it exits

    # No update lost: every update Telegram no longer holds has its effects committed.
    processed = {u for (u,) in rows(chaos.db, "SELECT update_id FROM processed_updates")}
    still_queued = {u["update_id"] for u in standin.fake.pending_updates()}
    lost = [p for p in chaos.pushed if p.update_id not in processed and p.update_id not in still_queued]
    assert lost == [], [(p.update_id, p.who, p.what) for p in lost]

    # No effect twice: one case per doctor, the one whose code they were shown; each doctor's
    # pathway chosen, case opened and case accepted exactly once.
    keyring = Keyring(SECRET_KEY)
    shown = {d.user.id: d.code for d in chaos.doctors}
    assert len(set(shown.values())) == len(DOCTORS)
    cases = rows(chaos.db, "SELECT code, pseudonym, status FROM cases")
    assert {pseudonym: code for code, pseudonym, _ in cases} == {keyring.pseudonym(uid): code for uid, code in shown.items()}
    # One event adds to one counter row per GROUP BY: the first family counts each event once.
    first = {kind.value: family_of(families(kind)[0]) for kind in EventKind}
    summed = rows(chaos.db, "SELECT kind, family, sum(count) FROM event_counts GROUP BY kind, family")
    events = Counter({kind: n for kind, family, n in summed if first.get(kind) == family})
    assert (events["pathway_chosen"], events["case_opened"], events["case_accepted"]) == (len(DOCTORS),) * 3, events
    offers = rows(chaos.db, "SELECT id, case_code, status, offered_at, deadline FROM offers ORDER BY id")
    for code, _, status in cases:
        mine = [o for o in offers if o[1] == code]
        assert status == "active" and [o[2] for o in mine].count("accepted") == 1, (code, mine)
        assert "pending" not in [o[2] for o in mine], (code, mine)
        for offer_id, _, state, _, deadline in mine:
            if state == "expired":  # a missed deadline was followed by a new offer, after it
                later = [o for o in mine if o[0] > offer_id]
                # offered_at is kept to the hour ('YYYY-MM-DD HH:00:00'); the deadline is exact.
                assert later and later[0][3][:13] >= deadline[:13] and later[0][4] > deadline, (code, mine)

    # Every relayed message arrived, both ways, and nothing is still owed.
    to_counsellors, to_doctors = chaos.delivered_to_counsellors(), chaos.delivered_to_doctors()
    written = [t for d in chaos.doctors for t in d.relays]
    assert [t for t in written if t not in to_counsellors] == []
    assert [t for t in written if answer_to(t) not in to_doctors] == []
    assert rows(chaos.db, "SELECT count(*) FROM outbox") == [(0,)]

    # Conversations went on where they stopped (as saved); nobody was told something went wrong.
    assert chaos.regressions == []
    with standin.fake._lock:
        assert not [s for s in standin.fake.sent if RETRY in (s.text or "")]
    output = bot.output()
    # No crash inside the bot, whether written as a traceback or (third-party records are
    # stripped of theirs, bot/logsafety.py) as an asyncio or outbox error line.
    for sign in ("Traceback", "Task exception", "ERROR asyncio", "bookkeeping failed", "not handled"):
        assert sign not in output, output[-3000:]
    assert TOKEN not in output and TOKEN.split(":")[1] not in output and SECRET_KEY not in output
    assert chaos.kills >= WAVES - 1 and bot.runs == chaos.kills + 1

    relay_copies = sum(to_counsellors[t] + to_doctors[answer_to(t)] for t in written)
    # The case code is told once, with the message that ends the triage; a second one is a duplicate.
    codes_told = sum(sum("Saksnummeret ditt er" in (s.text or "") for s in chaos.records_to(uid)) for uid in DOCTORS)
    with capsys.disabled():
        print(
            f"\nfaults: {len(DOCTORS)} doctors, {chaos.kills} SIGKILLs at "
            f"{', '.join(f'{t:.1f}' for t in chaos.kill_times)} s, {len(chaos.pushed)} updates pushed, 0 lost, "
            f"0 effects twice; {len(offers)} offers ({sum(o[2] == 'declined' for o in offers)} declined, "
            f"{sum(o[2] == 'expired' for o in offers)} expired); {len(written)} relays each way, "
            f"duplicates: {relay_copies - 2 * len(written)} relayed copies, {codes_told - len(DOCTORS)} case-code messages, "
            f"{chaos.questions_again} earlier questions shown again; "
            f"{time.monotonic() - started:.1f} s"
        )


TYPED_IN_BROKEN = "Jeg orker ikke mer. Ring meg på 91234567"


def test_an_update_the_bot_cannot_read_is_skipped_without_a_trace_of_its_content(
    tmp_path: Path, standin: BotApiStandin, bots: Callable[..., BotProcess]
) -> None:
    """Version skew or a proxy bug: one update PTB cannot parse. The bot goes on serving
    everyone else, confirms it (so it does not come back after every restart), and logs its
    id only: PTB's own parser would have logged the whole batch, names and words included."""
    bot = bots(make_config(tmp_path, standin)).start()
    fake = standin.fake
    kari, ola = fake.user(7391824651, first_name="Kariannestine"), fake.user(6302, first_name="Ola")
    sender = {"id": kari.id, "is_bot": False, "first_name": "Kariannestine", "username": "dr_kari_x"}
    broken = fake.push_update(
        # "chat" is not an object: no version of PTB can read this message.
        {"message": {"message_id": 1, "date": 0, "chat": kari.id, "from": sender, "text": TYPED_IN_BROKEN}}
    )
    mark = len(fake.sent)
    ola.send_command("/start")
    fake.wait_for_sent(lambda s: s.chat_id == ola.id and CONSENT in s.buttons, 60, mark)
    bot.stop()
    assert broken["update_id"] not in {u["update_id"] for u in fake.pending_updates()}
    output = bot.output()
    assert f"could not read update {broken['update_id']}" in output
    for content in ("orker", "91234567", "Kariannestine", "dr_kari_x", str(kari.id)):
        assert content not in output, content


def test_a_poller_that_stops_serving_ends_the_process_with_a_failure(
    tmp_path: Path, standin: BotApiStandin, bots: Callable[..., BotProcess]
) -> None:
    """Telegram refuses the token (it was revoked, say): the process must not stay up
    serving nobody, but exit non-zero so that its supervisor notices and says why."""
    bot = bots(make_config(tmp_path, standin)).start()
    standin.fake.user(6401).send_command("/start")
    standin.fake.wait_for_sent(lambda s: s.chat_id == 6401, 60)  # serving
    standin.fake.fail_next("getUpdates", error_code=401, description="Unauthorized", times=1000)
    standin.fake.user(6402).send_command("/start")  # wakes the long poll, which now gets 401
    assert bot.wait(timeout=60) == 1
    assert "Telegram refused the bot token" in bot.output()
