"""Property-based fuzzing of the whole bot (issue 5): random updates from a cast of users
against the real Application and a fake Bot API, with the clock driven by the test.

Each Hypothesis example builds a fresh bot (database, fake Telegram, clock) and plays a
random *program*: texts of any script and length, media, contacts, edits, group messages,
button presses (real ones, stale ones, forged ones, other people's), commands in every
state, whole triages, and clock jumps with ``tick()``. After every step:

- no handler or timer raised (the harness re-raises handler errors);
- the database is consistent (:func:`check_database`);
- nothing leaked (:meth:`World.check_leaks`): a doctor never receives another doctor's
  case code, and what doctor A typed reaches only A's chat and A's counsellor's chat;
- after "/forget" nothing in the database can reach the doctor any more.

The product bugs this fuzzer found (forged ids crashing handlers, forged route presses,
a follow-up surviving /forget) are fixed; each keeps a regression test of its own, below
and in test_security.py, and the generators no longer avoid their triggers.

PTB's AIORateLimiter (30 messages/s overall) is switched off in the fuzzing harness only:
it paces a real bot and would make thousands of updates take minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import attach_services, build_application, open_services
from bot.config import Config
from flows.triage import Step
from storage import roster
from tests.conftest import Clock, Harness
from tests.faketelegram import FakeRequest, FakeTelegram, FakeUser, markup_rows

pytestmark = pytest.mark.sqlite_only("builds its bot on a SQLite file and checks invariants by reading it with sqlite3")

# --- the cast -------------------------------------------------------------------------
DOCTORS = (5001, 5002, 5003, 5004)
ANNA, BJORN, DORA = 9001, 9002, 9003  # Dora is a counsellor who also seeks help herself
KIM = 8001  # coordinator
NEWBIE = 9101  # holds a one-time counsellor invite
MIXED = 8002  # counsellor and coordinator at once
CAST = (*DOCTORS, ANNA, BJORN, DORA, KIM, NEWBIE, MIXED)
GROUP = -100555
INVITE = "FUZZY-12345"

CODE = re.compile(r"K-[A-Z2-9]{6}")
MARK = re.compile(r"⟦m(\d+)⟧")
STATUSES = {"queued", "offered", "active", "closed", "cancelled"}
OPEN = {"queued", "offered", "active"}
STEPS = {s.value for s in Step}
FORGET_DONE = "Alt som kunne knyttes til deg er slettet"

# --- what users type ----------------------------------------------------------------
SPECIAL_TEXTS = [
    "",
    " ",
    "\u200b",
    "\u200b\u200c\u200d\ufeff",
    "\u202eevil\u202c",
    "مرحبا، أحتاج إلى مساعدة",
    "שלום, אני צריך עזרה",
    "👩‍⚕️🧑🏽‍⚕️💔🔥" * 3,
    "e\u0301\u0301\u0301" * 20,
    "Ja, fortsett",
    "ja fortsett",
    "1",
    "2",
    "99",
    "0",
    "-1",
    "selvmord",
    "jeg vil dø",
    "I want to die",
    "/",
    "//start",
    "@kollega_test_bot",
    "<b>bold</b> *md* _x_ `code`",
    "\x00\x01\x7f",
    "\n\n\n",
    "Ferdig – gå videre",
    "Norsk",
]
PRESSABLE_TEXTS = ["Det gjelder meg selv", "Råd i en krevende situasjon", "Nei", "Ja", "Hopp over", "Oslo"]


def _no_code(text: str) -> str:
    return CODE.sub("K-xxxxxx", text)


texts = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(SPECIAL_TEXTS + PRESSABLE_TEXTS),
    st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["a", "ø", "🙂", "م", "\u200b", "lang tekst ", "שָׁלוֹם "]),
        st.integers(100, 6000),
    ),
).map(_no_code)

COMMANDS = [
    "start", "cancel", "forget", "status", "language", "help", "privacy", "join", "available", "away",
    "cases", "case", "close", "queue", "stats", "frobnicate", "START", "start@kollega_test_bot",
]  # fmt: skip
arguments = st.one_of(
    st.just(""),
    st.sampled_from(["junk", "K-AAAAAA", "2", "0", "-1", "1e9", "nan", "inf", "0,5", "week", "måned", "uke", "x" * 200]),
    st.builds(lambda i: f"#{i}", st.integers(0, 30)),  # an existing case code, resolved at run time
    texts,
)

FORGED_STEPS = [*sorted(STEPS), "offer", "case", "enrol", "route", "closed", "forget", "language_ui", "", "nonsense"]
FORGED_ACTIONS = [
    "agree", "privacy", "cancel", "help", "crisis", "forget_yes", "forget_no", "lang_nb", "lang_en", "lang_xx",
    "end_case", "keep_case", "choose_seeker:self", "choose_seeker:nobody", "choose_pathway:advice",
    "choose_pathway:bogus", "not_sure", "answer_work:working", "answer_coping:not_coping", "answer_hope:guidance",
    "safety_yes", "safety_no", "go_on", "toggle_support:emotional:on", "toggle_support:emotional:off",
    "toggle_support:emotional", "toggle_support:everything:on", "toggle_support:emotional:maybe", "support_done",
    "toggle_barrier:workplace:on", "toggle_barrier:workplace:off", "toggle_barrier:workplace", "barriers_done",
    "choose_role:locum", "choose_county:oslo", "choose_county:none",
    "choose_county:atlantis", "choose_outside:yes", "choose_contact:phone", "choose_case_language:en",
    "choose_case_language:xx", "confirm", "change", "edit_situation", "back_to_summary",
    "accept:{offer}", "decline:{offer}", "accept:abc", "accept:", "accept:-1", "decline:{n}", "accept",
    "end:{code}", "end_yes:{code}", "end_no:{code}", "focus:{code}", "send:{code}:{n}", "send:{code}:abc", "send:::",
    "feedback:{code}:3:{hex}", "feedback:{code}:9:{hex}", "feedback_skip", "followup:{code}:{hex}", "followup_no",
    "feedback:{code}", "choose_county:vestland", "toggle_language:nb", "toggle_language:xx", "languages_done",
    "toggle_pathway:advice", "toggle_pathway:zzz", "pathways_done", "share_phone", "",
]  # fmt: skip

JUMPS = [{"seconds": 1}, {"minutes": 16}, {"minutes": 61}, {"hours": 25}, {"hours": 49}, {"hours": 73}, {"days": 29}]
who = st.sampled_from(CAST)
staff = st.sampled_from((ANNA, BJORN, DORA, MIXED))
idx = st.integers(0, 40)

actions = st.one_of(
    st.tuples(st.just("text"), who, texts),
    st.tuples(st.just("command"), who, st.sampled_from(COMMANDS), arguments),
    st.tuples(st.just("media"), who, st.sampled_from(["sticker", "photo", "voice", "own_contact", "other_contact"]), texts),
    st.tuples(st.just("edit"), who, texts),
    st.tuples(st.just("reply"), who, idx, texts),
    st.tuples(st.just("group"), who, st.sampled_from(["text", "command", "added"])),
    st.tuples(st.just("press"), who, idx, idx),
    st.tuples(st.just("press"), who, st.just(0), idx),  # the newest question, more often
    st.tuples(st.just("steal"), who, who, idx),
    st.tuples(st.just("forge"), who, st.text(max_size=64)),
    st.tuples(st.just("forge_valid"), who, st.sampled_from(FORGED_STEPS), st.sampled_from(FORGED_ACTIONS), idx),
    st.tuples(
        st.just("triage"),
        st.sampled_from((*DOCTORS, DORA)),
        st.sampled_from(["Råd i en krevende situasjon", "Redd for ikke å klare mer", "En vei tilbake eller ut"]),
        st.booleans(),
        st.sampled_from(["Oslo", "Vestland", "Vil helst ikke si"]),
        st.sampled_from(["Skrive her i chatten", "Telefonsamtale"]),
    ),
    st.tuples(st.just("join"), st.sampled_from((NEWBIE, *DOCTORS))),
    st.tuples(st.just("offer"), staff, st.sampled_from(["accept", "accept", "accept", "decline"]), idx),
    st.tuples(st.just("offer"), staff, st.just("accept"), st.just(0)),
    st.tuples(st.just("end"), st.sampled_from((*DOCTORS, DORA, ANNA, BJORN, MIXED))),
    st.tuples(st.just("text"), st.sampled_from(DOCTORS), texts),
    st.tuples(st.just("text"), staff, texts),
    st.tuples(st.just("tick"), st.sampled_from(JUMPS)),
    st.tuples(st.just("race"), st.sampled_from(["cancel", "forget", "tick", "crisis", "decline"]), idx),
    st.tuples(st.just("burst"), st.lists(st.tuples(who, idx, idx), min_size=2, max_size=3)),
)
programs = st.lists(actions, min_size=30, max_size=120)

# --- bookkeeping -----------------------------------------------------------------------
STATS: Counter[str] = Counter()


class Violation(AssertionError):
    pass


@dataclass
class World:
    harness: Harness
    db: Path
    pseudonyms: dict[str, int]
    users: dict[int, FakeUser]
    code_owner: dict[str, int] = field(default_factory=dict)
    marker_owner: dict[int, int] = field(default_factory=dict)
    counsellor_of: dict[int, set[int]] = field(default_factory=dict)
    seen: int = 0
    markers: int = 0
    opened: list[str] = field(default_factory=list)
    """Every case code seen, oldest first (see case_codes)."""

    @property
    def fake(self) -> FakeTelegram:
        return self.harness.telegram

    def user(self, uid: int) -> FakeUser:
        return self.users[uid]

    async def feed(self, update: dict[str, Any]) -> None:
        STATS["updates"] += 1
        await self.harness.feed(update)

    def mark(self, uid: int, text: str) -> str:
        """Doctors' texts carry a unique marker, so the test can see where they went."""
        if uid not in DOCTORS:
            return text
        self.markers += 1
        self.marker_owner[self.markers] = uid
        return f"{text} ⟦m{self.markers}⟧"

    # --- reading the database directly (WAL: a reader never blocks the bot) -----------
    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as connection:
            return connection.execute(query).fetchall()

    def unsealed(self, sealed: bytes | None, bound_to: str) -> dict[str, Any]:
        """Answers or case details, as the service reads them (they are sealed at rest)."""
        return json.loads(self.harness.services.keyring.unseal_bytes(sealed, bound_to)) if sealed else {}

    def snapshot(self) -> dict[str, Any]:
        drafts = self.rows("SELECT pseudonym, sealed_answers FROM drafts")
        return {
            "drafts": [(pseudonym, self.unsealed(sealed, f"draft:{pseudonym}")) for pseudonym, sealed in drafts],
            "cases": self.rows("SELECT code, pseudonym, status, counsellor_id, sealed_reach, followup, escalated FROM cases"),
            "offers": self.rows("SELECT id, case_code, counsellor_id, status FROM offers"),
            "counsellors": self.rows("SELECT id, telegram_id, capacity FROM counsellors"),
            "timers": self.rows("SELECT kind, subject FROM timers"),
        }

    def case_codes(self) -> list[str]:
        """The cases' codes, oldest first: in the order first seen, the ones new together by their
        (sealed) opening time. An ended case keeps no opening time, but it was seen while open."""
        present = dict(self.rows("SELECT code, sealed_details FROM cases"))

        def opened(code: str) -> tuple[str, str]:
            return str(self.unsealed(present[code], f"case:{code}").get("opened_at") or ""), code

        self.opened += sorted((code for code in present if code not in self.opened), key=opened)
        return [code for code in self.opened if code in present]

    def offer_ids(self) -> list[int]:
        return [row[0] for row in self.rows("SELECT id FROM offers ORDER BY id")]

    # --- after every step ------------------------------------------------------------
    def after_step(self) -> None:
        snap = self.snapshot()
        check_database(snap)
        by_id = {row[0]: row[1] for row in snap["counsellors"]}
        counsellors: dict[int, set[int]] = {}
        for code, pseudonym, status, counsellor_id, *_ in snap["cases"]:
            owner = self.pseudonyms.get(pseudonym or "")
            if owner is not None:
                self.code_owner.setdefault(code, owner)
            if owner is not None and status == "active" and counsellor_id in by_id:
                counsellors.setdefault(owner, set()).add(by_id[counsellor_id])
        # A doctor's words may go to whoever held their case before or after this step.
        before, self.counsellor_of = self.counsellor_of, counsellors
        self.check_leaks(snap, {uid: before.get(uid, set()) | counsellors.get(uid, set()) for uid in DOCTORS})

    def check_leaks(self, snap: dict[str, Any], counsellor_of: dict[int, set[int]]) -> None:
        with self.fake._lock:
            new = self.fake.sent[self.seen :]
            self.seen = len(self.fake.sent)
        forgotten: set[int] = set()
        for sent in new:
            chat = sent.chat_id
            shown = " ".join(str(v) for v in (sent.text, sent.params.get("first_name"), sent.params.get("caption")) if v)
            if isinstance(chat, int) and chat < 0:
                if CODE.search(shown) or MARK.search(shown):
                    raise Violation(f"a group chat was sent case data: {shown[:200]!r}")
                continue
            if chat in DOCTORS:
                for code in CODE.findall(shown):
                    if self.code_owner.get(code) != chat:
                        raise Violation(
                            f"doctor {chat} was sent case code {code} of {self.code_owner.get(code)}: {shown[:300]!r}"
                        )
            for number in MARK.findall(shown):
                author = self.marker_owner[int(number)]
                allowed = {author, *counsellor_of[author]}
                if chat not in allowed:
                    raise Violation(f"text typed by {author} reached chat {chat} (allowed {allowed}): {sent.method}")
            if chat in DOCTORS and FORGET_DONE in (sent.text or ""):
                forgotten.add(chat)
        for uid in forgotten:
            self.check_forgotten(uid, snap)

    def check_forgotten(self, uid: int, snap: dict[str, Any]) -> None:
        pseudonym = next(p for p, u in self.pseudonyms.items() if u == uid)
        keyring = self.harness.services.keyring
        if any(row[0] == pseudonym for row in snap["drafts"]):
            raise Violation(f"/forget left a draft of {uid}")
        for code, case_pseudonym, status, _, sealed, _followup, _ in snap["cases"]:
            if case_pseudonym == pseudonym:
                raise Violation(f"/forget left case {code} ({status}) of {uid}")
            if sealed is not None:
                with_ = case_pseudonym or code
                try:
                    reach = keyring.unseal(sealed, with_)
                except Exception:
                    continue
                if reach == uid:
                    raise Violation(f"/forget left a sealed chat id of {uid} in case {code}")
        if any(subject == pseudonym for _, subject in snap["timers"]):
            raise Violation(f"/forget left a timer for {uid}")


def check_database(snap: dict[str, Any]) -> None:
    """The consistency rules every committed state must satisfy."""
    for pseudonym, answers in snap["drafts"]:
        state = (json.loads(answers) if isinstance(answers, str) else answers).get("state")
        if state not in STEPS:
            raise Violation(f"draft {pseudonym[:8]} in invalid state {state!r}")
    pending: Counter[str] = Counter()
    load: Counter[int] = Counter()
    cases = {row[0]: row for row in snap["cases"]}
    timers = set(snap["timers"])
    for offer_id, case_code, counsellor_id, status in snap["offers"]:
        if status == "pending":
            pending[case_code] += 1
            load[counsellor_id] += 1
            if case_code not in cases:
                raise Violation(f"pending offer {offer_id} for a case that does not exist")
            if ("offer_deadline", str(offer_id)) not in timers:
                raise Violation(f"pending offer {offer_id} ({case_code}) has no deadline timer")
    open_by: Counter[str] = Counter()
    for code, pseudonym, status, counsellor_id, sealed, followup, _ in snap["cases"]:
        if status not in STATUSES:
            raise Violation(f"case {code} has status {status!r}")
        if status == "offered" and pending[code] != 1:
            raise Violation(f"offered case {code} has {pending[code]} pending offers")
        if status != "offered" and pending[code]:
            raise Violation(f"{status} case {code} has {pending[code]} pending offers")
        if status == "active":
            if counsellor_id is None:
                raise Violation(f"active case {code} has no counsellor")
            load[counsellor_id] += 1
        if status in ("closed", "cancelled"):
            # Only a booked follow-up links an ended case to the doctor (so /forget finds it).
            if pseudonym is not None and not followup:
                raise Violation(f"{status} case {code} keeps the doctor's pseudonym")
            if sealed is not None and not followup:
                raise Violation(f"{status} case {code} keeps a sealed chat id without a follow-up")
        if followup and ("followup", code) not in timers:
            raise Violation(f"case {code} has a follow-up but no follow-up timer")
        if status in OPEN and pseudonym is not None:
            open_by[pseudonym] += 1
    for pseudonym, count in open_by.items():
        if count > 1:
            raise Violation(f"doctor {pseudonym[:8]} has {count} open cases")
    drafts = {row[0] for row in snap["drafts"]}
    for pseudonym in drafts & set(open_by):
        raise Violation(f"doctor {pseudonym[:8]} has a draft and an open case at once")
    for pseudonym in drafts:
        if ("draft_reminder", pseudonym) not in timers and ("draft_expiry", pseudonym) not in timers:
            raise Violation(f"draft {pseudonym[:8]} has neither a reminder nor an expiry timer")
    for counsellor_id, _, capacity in snap["counsellors"]:
        if load[counsellor_id] > capacity:
            raise Violation(f"counsellor {counsellor_id} holds {load[counsellor_id]} cases, capacity {capacity}")


# --- building a bot -----------------------------------------------------------------------
async def build(folder: Path) -> World:
    db = folder / "kollega.db"
    config = Config(token="123456:FUZZ-TOKEN", secret_key=secrets.token_urlsafe(32), database_url=f"sqlite+aiosqlite:///{db}")
    clock = Clock()
    services = await open_services(config, clock)
    telegram = FakeTelegram()
    app = build_application(config, request=FakeRequest(telegram), limit_rate=False)
    attach_services(app, services).retry_base = 0.001
    harness = Harness(app, telegram, services, clock)

    async def capture(update: object, context: Any) -> None:
        harness.errors.append(context.error)

    app.add_error_handler(capture)
    keyring = services.keyring
    async with services.store.transaction() as tx:
        for telegram_id, alias, county, capacity in ((ANNA, "Anna", "oslo", 2), (BJORN, "Bjørn", "vestland", 1),
                                                     (DORA, "Dora", "vestland", 2), (MIXED, "Mira", "oslo", 1)):  # fmt: skip
            await roster.add_counsellor(
                tx.session, telegram_id=telegram_id, alias=alias, pseudonym=keyring.pseudonym(telegram_id), county=county,
                serves=[], pathways=["advice", "not_coping", "way_back_or_out"], languages=["nb", "en"], capacity=capacity,
            )  # fmt: skip
        await roster.add_coordinator(tx.session, KIM)
        await roster.add_coordinator(tx.session, MIXED)
        await roster.create_invite(tx.session, "counsellor", keyring.invite_hash(INVITE), datetime(2030, 1, 1))
    users = {uid: telegram.user(uid, first_name=f"U{uid}") for uid in CAST}
    return World(harness, db, {keyring.pseudonym(uid): uid for uid in CAST}, users)


# --- playing one action -----------------------------------------------------------------
def button_data(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in markup_rows(message["reply_markup"]) for b in row if b.get("callback_data")]


def _labels(message: dict[str, Any]) -> list[str]:
    return [str(b.get("text")) for row in markup_rows(message["reply_markup"]) for b in row]


def press_update(world: World, uid: int, i: int, j: int) -> dict[str, Any] | None:
    boards = world.fake.keyboards(uid)
    if not boards:
        return None
    message = boards[i % len(boards)] if i % 3 else boards[0]
    data = button_data(message)
    if not data:
        return None
    return world.user(uid)._callback(message, data[j % len(data)])


def resolve(world: World, template: str, n: int) -> str | None:
    if "{code}" in template:
        codes = world.case_codes()
        template = template.replace("{code}", codes[n % len(codes)] if codes else "K-AAAAAA")
    if "{offer}" in template:
        offers = world.offer_ids()
        template = template.replace("{offer}", str(offers[n % len(offers)] if offers else n))
    return template.replace("{n}", str(n)).replace("{hex}", secrets.token_hex(6))


async def race(world: World, other: str, i: int) -> None:
    """A counsellor's Accept at the same moment as the doctor cancelling, erasing, ... or the deadline."""
    pending = world.rows(
        "SELECT o.id, k.telegram_id, c.pseudonym FROM offers o JOIN counsellors k ON k.id = o.counsellor_id "
        "JOIN cases c ON c.code = o.case_code WHERE o.status = 'pending' ORDER BY o.id"
    )
    if not pending:
        return
    offer_id, counsellor, pseudonym = pending[i % len(pending)]
    cards = [d for m in world.fake.keyboards(counsellor) for d in button_data(m) if d == f"offer|accept:{offer_id}"]
    doctor = world.pseudonyms.get(pseudonym)
    if not cards or doctor is None:
        return
    accept = world.user(counsellor).press_data(cards[0])
    user = world.user(doctor)
    second: Any
    if other == "cancel":
        second = world.harness.feed(user.send_command("/cancel"))
    elif other == "forget":
        second = world.harness.feed(user.press_data("forget|forget_yes"))
    elif other == "crisis":
        second = world.harness.feed(user.send_text(world.mark(doctor, "jeg vil dø")))
    elif other == "decline":
        second = world.harness.feed(world.user(counsellor).press_data(cards[0].replace("accept", "decline")))
    else:
        second = world.harness.tick(minutes=61)
    STATS["updates"] += 2 if other != "tick" else 1
    STATS["races"] += 1
    await asyncio.gather(world.harness.feed(accept), second)


async def triage_macro(world: World, uid: int, situation: str, urgent: bool, county: str, contact: str) -> None:
    pseudonym = next(p for p, u in world.pseudonyms.items() if u == uid)
    if world.rows(f"SELECT 1 FROM cases WHERE pseudonym = '{pseudonym}' AND status IN ('queued','offered','active')"):
        return
    user = world.user(uid)
    if world.rows(f"SELECT 1 FROM drafts WHERE pseudonym = '{pseudonym}'"):
        await world.feed(user.send_command("/cancel"))
    labels = ["Ja, fortsett", "Det gjelder meg selv", situation, "Ja" if urgent else "Nei"]
    if urgent:
        labels.append("Fortsett til en støttekollega")
    labels += ["⬜ Faglige råd", "Ferdig – gå videre", "Hopp over", "Vikar", county]
    if county != "Vil helst ikke si":
        labels.append("Det spiller ingen rolle")
    labels += [contact, "Norsk", "Ja, send til en støttekollega"]
    # In Bokmål, whatever was chosen before (a language chosen before /cancel is remembered).
    await world.feed(user.send_command("/language"))
    await world.feed(user.press("Bytt til bokmål"))
    await world.feed(user.send_command("/start"))
    for label in labels:
        await world.feed(user.press(label))
    STATS["triages"] += 1


async def play(world: World, action: tuple[Any, ...]) -> None:
    kind = action[0]
    fake = world.fake
    if kind == "tick":
        STATS["ticks"] += 1
        await world.harness.tick(**action[1])
        return
    if kind == "triage":
        await triage_macro(world, *action[1:])
        return
    if kind == "offer":
        _, uid, verb, i = action
        cards = [d for m in fake.keyboards(uid) for d in button_data(m) if d.startswith(f"offer|{verb}:")]
        if cards:
            await world.feed(world.user(uid).press_data(cards[i % len(cards)]))
        return
    if kind == "race":
        await race(world, action[1], action[2])
        return
    if kind == "end":
        uid = action[1]
        user = world.user(uid)
        await world.feed(user.send_command("/cancel" if uid in DOCTORS else "/close"))
        if any("Ja, avslutt" in b for m in fake.keyboards(uid)[:1] for b in _labels(m)):
            await world.feed(user.press("Ja, avslutt"))
        return
    if kind == "burst":
        updates = [u for uid, i, j in action[1] if (u := press_update(world, uid, i, j)) is not None]
        STATS["updates"] += len(updates)
        await asyncio.gather(*(world.harness.feed(u) for u in updates))
        return
    uid = action[1]
    user = world.user(uid)
    update: dict[str, Any] | None = None
    if kind == "text":
        update = user.send_text(world.mark(uid, action[2]))
    elif kind == "command":
        argument = action[3]
        if argument.startswith("#") and argument[1:].isdigit():
            codes = world.case_codes()
            argument = codes[int(argument[1:]) % len(codes)] if codes else "K-AAAAAA"
        update = user.send_text(f"/{action[2]} {argument}".rstrip())
    elif kind == "media":
        caption = world.mark(uid, action[3])
        update = {
            "sticker": lambda: user.send_sticker(),
            "photo": lambda: user.send_photo(caption=caption or None),
            "voice": lambda: user.send_voice(),
            "own_contact": lambda: user.send_contact("+47 912 34 567"),
            "other_contact": lambda: user.send_contact("+47 400 00 000", first_name="Per", own=False),
        }[action[2]]()
    elif kind == "edit":
        with fake._lock:
            own = [m for (c, _), m in fake._messages.items() if c == uid and m["from"]["id"] == uid and "text" in m]
        if own:
            update = user.edit_text(max(own, key=lambda m: m["message_id"])["message_id"], world.mark(uid, action[2]))
    elif kind == "reply":
        with fake._lock:
            ids = sorted(mid for (c, mid), m in fake._messages.items() if c == uid and m["from"]["id"] == fake.bot_id)
        if ids:
            update = user.send_text(world.mark(uid, action[3]), reply_to_message_id=ids[-1 - action[2] % len(ids)])
    elif kind == "group":
        if action[2] == "added":
            update = user.added_to_group(GROUP - 1)
        else:
            update = user.send_text_in_group(GROUP, "/start" if action[2] == "command" else "hei alle")
    elif kind == "press":
        update = press_update(world, uid, action[2], action[3])
    elif kind == "steal":
        other = action[2]
        stolen = [d for message in fake.keyboards(other) for d in button_data(message)]
        if stolen:
            update = user.press_data(stolen[action[3] % len(stolen)])
    elif kind == "forge":
        update = user.press_data(action[2])
    elif kind == "forge_valid":
        update = user.press_data(f"{action[2]}|{resolve(world, action[3], action[4])}")
    elif kind == "join":
        update = user.send_command(f"/join {INVITE}")
    if update is not None:
        await world.feed(update)


async def run_program(program: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory(prefix="kollega-fuzz-") as folder:
        world = await build(Path(folder))
        app = world.harness.app
        try:
            async with app:
                for step, action in enumerate(program):
                    try:
                        await play(world, action)
                        world.after_step()
                    except BaseException as error:
                        error.add_note(f"at step {step}: {action!r}"[:2000])
                        raise
            for (status,) in world.rows("SELECT status FROM cases"):
                STATS[f"cases_{status}"] += 1
            STATS["relayed_doctor_texts"] += sum(
                1 for s in world.fake.sent if s.chat_id not in DOCTORS and MARK.search(s.text or "")
            )
            STATS["forgets"] += sum(1 for s in world.fake.sent if FORGET_DONE in (s.text or ""))
        finally:
            await world.harness.services.engine.dispose()
        STATS["examples"] += 1


# --- the tests -------------------------------------------------------------------------------
FUZZ_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    # In CI the same 50 programs every run (a red build means a change broke something);
    # on a developer's machine new ones every run, to keep finding what nobody thought of.
    derandomize=bool(os.environ.get("CI")),
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@FUZZ_SETTINGS
@given(programs)
def test_random_updates_keep_the_bot_consistent_and_private(program: list[tuple[Any, ...]]) -> None:
    started = time.monotonic()
    asyncio.run(run_program(program))
    STATS["seconds"] += int((time.monotonic() - started) * 1000)


def test_the_fuzzer_fed_thousands_of_updates(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the fuzzer (file order) and reports what it did."""
    if not STATS["examples"]:
        pytest.skip("the fuzzer did not run in this session")
    with capsys.disabled():
        print(
            f"\nfuzz: {STATS['updates']} updates in {STATS['examples']} programs "
            f"({STATS['triages']} whole triages, {STATS['ticks']} clock ticks), {STATS['seconds'] / 1000:.1f} s"
        )
        print({k: v for k, v in sorted(STATS.items())})
    assert STATS["updates"] >= 2000


# --- regression tests for what the fuzzer found ----------------------------------------------
async def _world_with_offer(tmp_path: Path) -> tuple[World, FakeUser]:
    """A bot with the cast on the roster (Anna among them)."""
    world = await build(tmp_path)
    return world, world.user(ANNA)


async def test_forged_offer_ids_with_unicode_digits_are_refused_politely(tmp_path: Path) -> None:
    world, anna = await _world_with_offer(tmp_path)
    async with world.harness.app:
        try:
            await world.harness.feed(anna.press_data("offer|accept:²"))
        finally:
            await world.harness.services.engine.dispose()
    assert "ikke til deg" in world.harness.said(anna)[-1].text


async def test_forged_offer_ids_too_large_for_sqlite_are_refused_politely(tmp_path: Path) -> None:
    world, anna = await _world_with_offer(tmp_path)
    async with world.harness.app:
        try:
            await world.harness.feed(anna.press_data("offer|decline:99999999999999999999"))
        finally:
            await world.harness.services.engine.dispose()
    assert "ikke til deg" in world.harness.said(anna)[-1].text


async def test_forged_route_ids_with_unicode_digits_are_refused_politely(tmp_path: Path) -> None:
    world = await build(tmp_path)
    anna = world.user(ANNA)
    async with world.harness.app:
        try:
            await triage_macro(world, DOCTORS[0], "Råd i en krevende situasjon", False, "Vestland", "Skrive her i chatten")
            await world.harness.feed(anna.press("Ta saken"))
            [code] = world.case_codes()
            await world.harness.feed(anna.press_data(f"route|send:{code}:٣²"))
        finally:
            await world.harness.services.engine.dispose()
    assert "gikk galt" not in world.harness.said(anna)[-1].text


async def test_the_fuzzers_checks_are_not_blind(tmp_path: Path) -> None:
    """Planted inconsistencies and leaks are caught, so a green fuzzer means something."""
    world = await build(tmp_path)
    async with world.harness.app:
        try:
            for doctor in DOCTORS[:2]:
                await triage_macro(world, doctor, "Råd i en krevende situasjon", False, "Vestland", "Skrive her i chatten")
            world.after_step()
            first, second = world.case_codes()
            snap = world.snapshot()
            broken = [
                {**snap, "cases": [(*row[:2], "queued" if row[0] == first else row[2], *row[3:]) for row in snap["cases"]]},
                {**snap, "offers": [(*row[:3], "declined") for row in snap["offers"]]},
                {**snap, "cases": [(*row[:2], "closed", *row[3:]) for row in snap["cases"]]},
                {**snap, "counsellors": [(*row[:2], 0) for row in snap["counsellors"]]},
                {**snap, "timers": []},
            ]
            assert {row[2] for row in snap["cases"]} == {"offered"}
            for state in broken:
                with pytest.raises(Violation):
                    check_database(state)
            owner = {world.code_owner[first], world.code_owner[second]}
            assert owner == set(DOCTORS[:2])
            other = DOCTORS[1] if world.code_owner[first] == DOCTORS[0] else DOCTORS[0]
            world.fake.handle("sendMessage", {"chat_id": other, "text": f"Saken {first}"})
            with pytest.raises(Violation, match="case code"):
                world.after_step()
            marked = world.mark(DOCTORS[2], "hei")
            world.fake.handle("sendMessage", {"chat_id": ANNA, "text": marked})
            with pytest.raises(Violation, match="reached chat"):
                world.after_step()
        finally:
            await world.harness.services.engine.dispose()
