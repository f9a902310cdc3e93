"""Two `kollega run` processes in webhook mode sharing one PostgreSQL database, as behind a
load balancer (PostgreSQL only; skipped on SQLite).

Every update goes to one process picked at random, and about one in four to both (a
redelivery: the bot handles an update id once, through ``processed_updates``). Both
processes start together on an empty database, so both apply the migrations at once.
Six doctors triage at the same time and confirm at the same moment; two counsellors with
room for one case each accept, talk and close at the same moment, so four cases wait in
the queue and are dispatched by both processes as capacity frees. The database is made
slow to write offers, so dispatches that run at the same time surely overlap (without the
lock in storage.db this test fails: a case offered twice, a counsellor above capacity).
The test shows:

- no case is offered twice (one offer card, one "sent to a counsellor" notice and one
  offer row per case), and a sampler reading the database all along never sees two
  pending offers for one case or a counsellor above capacity;
- no update is lost: every doctor gets the case-code message, exactly once;
- no duplicate cases: one case row per doctor;
- every relayed message arrives exactly once, both ways;
- every update sent twice was skipped exactly once, and nobody saw an error.

Also: a single process on PostgreSQL survives SIGKILL mid-triage and leaves nothing
identifying in the database (scanned as a ``pg_dump``) or its output — the twin of
tests/test_process.py's SQLite test.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.faketelegram import FakeUser, Sent
from tests.pg import dump, libpq_url
from tests.privacy import findings, secrets_of
from tests.process import BotProcess, Conversation, clean_env, free_port, kollega_command, wait_for_port, write_config
from tests.scenarios import ACCEPT, ADVICE, CONFIRM, CONSENT, DONE, PREFERENCES, SAFETY_NO, SELF, case_code
from tests.standin import BotApiStandin
from tests.test_process import post_update

pytestmark = pytest.mark.postgres_only("several `kollega run` processes on one PostgreSQL database")

TIMEOUT = 15.0
SLOW = 90.0
"""Bound of the waits that depend on other people (a case waiting for capacity)."""
TOKEN = "123456:TEST-" + secrets.token_hex(8)
SECRET_KEY = secrets.token_urlsafe(32)
WEBHOOK_SECRET = secrets.token_urlsafe(32)
CASE_SENT = "Saksnummeret ditt er"
CAPACITY = 1
COUNSELLORS = {9001: ("Anna", "Vestland"), 9002: ("Bjørn", "Nordland")}
DOCTORS = [7391824650 + n for n in range(6)]
SLOW_OFFER = 0.15
SLOW_OFFERS = f"""
    CREATE FUNCTION kollega_test_slow_offer() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep({SLOW_OFFER}); RETURN NEW; END $$;
    CREATE TRIGGER kollega_test_slow_offer BEFORE INSERT ON offers
        FOR EACH ROW EXECUTE FUNCTION kollega_test_slow_offer();
"""
TRIAGE = [CONSENT, SELF, ADVICE, SAFETY_NO, *PREFERENCES, CONFIRM]


def bot_config(path: Path, standin: BotApiStandin, database_url: str, **telegram: Any) -> Path:
    return write_config(
        path,
        {
            "telegram": {"token": TOKEN, "base_url": standin.base_url, **telegram},
            "database": {"url": database_url},
            "secrets": {"secret_key": SECRET_KEY},
            "timeouts": {"tick_seconds": 0.2},
        },
    )


def kollega(config: Path, *args: str) -> None:
    done = subprocess.run(
        [*kollega_command(), *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False, env=clean_env(), cwd=config.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


class Cluster:
    """Two webhook processes behind a random "load balancer" that sometimes delivers twice."""

    def __init__(self, standin: BotApiStandin, processes: list[BotProcess], ports: list[int], seed: int) -> None:
        self.standin = standin
        self.fake = standin.fake
        self.processes = processes
        self.ports = ports
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.only = dict.fromkeys(ports, 0)
        self.twice = 0

    def post(self, update: dict[str, Any]) -> None:
        with self.lock:
            if self.random.random() < 0.25:
                targets = self.random.sample(self.ports, 2)
                self.twice += 1
            else:
                targets = [self.random.choice(self.ports)]
                self.only[targets[0]] += 1
        for port in targets:
            assert post_update(port, update, WEBHOOK_SECRET) == 200

    def mark(self) -> int:
        with self.fake._lock:
            return len(self.fake.sent)

    def expect(
        self, chat: int, after: int, *, button: str | None = None, text: str | None = None, timeout: float = TIMEOUT
    ) -> Sent:
        """The first record to ``chat`` after ``after`` with ``button`` and/or ``text``; fails at once if a process died."""

        def wanted(sent: Sent) -> bool:
            return (
                sent.chat_id == chat
                and (button is None or button in sent.buttons)
                and (text is None or text in (sent.text or ""))
            )

        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.standin.wait_for(wanted, min(0.5, max(0.0, deadline - time.monotonic())), after)
            except TimeoutError:
                for bot in self.processes:
                    assert bot.running, f"a bot process exited with {bot.returncode}:\n{bot.output()[-3000:]}"
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"nothing to {chat} with button={button!r} text={text!r} in {timeout}s; {self.fake.describe_sent()}"
                    ) from None

    def act(self, make: Callable[[], dict[str, Any]], chat: int, **expect: Any) -> Sent:
        mark = self.mark()
        self.post(make())
        return self.expect(chat, mark, **expect)

    def sends_to(self, chat: int) -> list[Sent]:
        return [s for s in self.fake.messages_to(chat) if not s.is_edit]


class Sampler(threading.Thread):
    """Reads the database every few milliseconds while the processes work, and keeps the worst it saw."""

    QUERY = """
        WITH load AS (
            SELECT c.id, c.capacity,
                   (SELECT count(*) FROM cases WHERE counsellor_id = c.id AND status = 'active')
                 + (SELECT count(*) FROM offers WHERE counsellor_id = c.id AND status = 'pending') AS held
            FROM counsellors c)
        SELECT (SELECT coalesce(max(n), 0) FROM
                   (SELECT count(*) AS n FROM offers WHERE status = 'pending' GROUP BY case_code) p),
               (SELECT coalesce(max(held - capacity), -1) FROM load),
               (SELECT coalesce(max(held), 0) FROM load)
    """

    def __init__(self, database_url: str) -> None:
        super().__init__(name="kollega-sampler", daemon=True)
        self.url = libpq_url(database_url)
        self.stop_event = threading.Event()
        self.samples = 0
        self.most_pending_offers_per_case = 0
        self.most_over_capacity = -1
        self.most_held = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._sample())
        except BaseException as error:
            self.error = error

    async def _sample(self) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            while not self.stop_event.is_set():
                pending, over, held = await connection.fetchrow(self.QUERY)
                self.samples += 1
                self.most_pending_offers_per_case = max(self.most_pending_offers_per_case, pending)
                self.most_over_capacity = max(self.most_over_capacity, over)
                self.most_held = max(self.most_held, held)
                await asyncio.sleep(0.005)
        finally:
            await connection.close()


async def rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        return [tuple(r) for r in await connection.fetch(query)]
    finally:
        await connection.close()


async def execute(database_url: str, sql: str) -> None:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def sentence(doctor: int) -> str:
    return f"Lege {doctor} forteller om en tung vakt"


def answer(code: str) -> str:
    return f"Svar fra støttekollega i {code}"


@pytest.mark.empty_database  # both processes apply the migrations at the same start-up
def test_two_webhook_processes_share_one_postgresql_database(
    tmp_path: Path, database_url: str, standin: BotApiStandin, bots: Callable[..., BotProcess]
) -> None:
    ports = [free_port(), free_port()]
    while ports[1] == ports[0]:
        ports[1] = free_port()
    webhook = {"webhook_url": "https://example.invalid/telegram", "webhook_listen": "127.0.0.1", "webhook_secret": WEBHOOK_SECRET}
    configs = [
        bot_config(tmp_path / f"process-{n}.toml", standin, database_url, webhook_port=port, **webhook)
        for n, port in enumerate(ports)
    ]
    processes = [bots(config) for config in configs]
    for bot in processes:
        bot.start()
    seed = secrets.randbits(32)
    print(f"load balancer seed: {seed}")  # shown when the test fails
    cluster = Cluster(standin, processes, ports, seed)
    for port in ports:
        wait_for_port(port, timeout=TIMEOUT)
    for telegram_id, (alias, county) in COUNSELLORS.items():
        kollega(configs[telegram_id % 2], "counsellor", "add", "--telegram-id", str(telegram_id), "--alias", alias,
                "--county", county, "--capacity", str(CAPACITY))  # fmt: skip

    # A slow database: every new offer takes SLOW_OFFER seconds to write, between dispatch reading
    # the queue and the counsellors' load and its commit. Two processes dispatching at about the
    # same time then overlap for sure; without the lock in storage.db they offer one case twice
    # and exceed a capacity (this test fails so when that lock is taken out).
    asyncio.run(execute(database_url, SLOW_OFFERS))
    sampler = Sampler(database_url)
    sampler.start()
    codes: dict[int, str] = {}
    doctor_of: dict[str, int] = {}
    lock = threading.Lock()
    closed = threading.Event()
    closed_count = [0]
    all_cases = threading.Event()
    """Counsellors start closing once every case exists, so four cases wait for capacity."""
    confirming = threading.Barrier(len(DOCTORS))
    closing = threading.Barrier(len(COUNSELLORS))

    def doctor_journey(doctor_id: int) -> None:
        user = standin.fake.user(doctor_id, first_name=f"Doktor{doctor_id}", username=f"dr_{doctor_id}", language_code="nb")
        cluster.act(lambda: user.send_command("/start"), doctor_id, button=CONSENT)
        for i, label in enumerate(TRIAGE[:-1]):
            cluster.act(lambda label=label: user.press(label), doctor_id, button=TRIAGE[i + 1])
        confirming.wait(SLOW)  # every doctor confirms at once: both processes open cases and dispatch together
        done = cluster.act(lambda: user.press(CONFIRM), doctor_id, text=CASE_SENT)
        code = case_code(done.text)
        with lock:
            codes[doctor_id] = code
            doctor_of[code] = doctor_id
            if len(codes) == len(DOCTORS):
                all_cases.set()
        cluster.expect(doctor_id, 0, text=f"har svart og kan skrive med deg nå ({code})", timeout=SLOW)
        cluster.act(lambda: user.send_text(sentence(doctor_id)), doctor_id, text=answer(code), timeout=SLOW)
        cluster.expect(doctor_id, 0, text=f"har avsluttet samtalen ({code})", timeout=SLOW)

    def counsellor_journey(telegram_id: int) -> None:
        user = standin.fake.user(telegram_id, first_name=COUNSELLORS[telegram_id][0], language_code="nb")
        mine: list[str] = []
        done: set[str] = set()
        deadline = time.monotonic() + 3 * SLOW
        while not closed.is_set():
            assert time.monotonic() < deadline, "the counsellors did not finish in time"
            for card in cluster.sends_to(telegram_id):
                offered = re.search(r"Ny sak til deg: (K-\w{6})", card.text or "")
                if offered and ACCEPT in card.buttons and offered.group(1) not in mine:
                    code = offered.group(1)
                    data = card.callback_data(ACCEPT)
                    assert data is not None
                    cluster.act(lambda data=data, card=card: user.press_data(data, card.message_id), telegram_id,
                                text=f"Du har tatt saken {code}")  # fmt: skip
                    mine.append(code)
            for code in mine:
                if not all_cases.is_set():
                    break
                relayed = [s for s in cluster.sends_to(telegram_id) if s.method == "copyMessage" and code in " ".join(s.buttons)]
                if code in done or not relayed:
                    continue
                reach = doctor_of[code]
                cluster.act(lambda code=code: user.send_command(f"/case {code}"), telegram_id, text=f"går til saken {code}")
                cluster.act(lambda code=code: user.send_text(answer(code)), reach, text=answer(code))
                confirm = cluster.act(lambda code=code: user.send_command(f"/close {code}"), telegram_id, button="Ja, avslutt")
                yes = confirm.callback_data("Ja, avslutt")
                assert yes is not None
                closing.wait(SLOW)  # both close at once: both processes free capacity and dispatch together
                cluster.act(lambda yes=yes, confirm=confirm: user.press_data(yes, confirm.message_id), telegram_id,
                            text=f"Saken {code} er avsluttet")  # fmt: skip
                done.add(code)
                with lock:
                    closed_count[0] += 1
                    if closed_count[0] == len(DOCTORS):
                        closed.set()
            time.sleep(0.05)

    def guarded(journey: Callable[[int], None], who: int) -> None:
        try:
            journey(who)
        except BaseException:
            closed.set()  # the others stop waiting for this one
            confirming.abort()
            closing.abort()
            raise

    with ThreadPoolExecutor(max_workers=len(DOCTORS) + len(COUNSELLORS)) as pool:
        futures = [pool.submit(guarded, doctor_journey, d) for d in DOCTORS]
        futures += [pool.submit(guarded, counsellor_journey, c) for c in COUNSELLORS]
        try:
            for future in futures:
                future.result(timeout=4 * SLOW)
        finally:
            closed.set()
            sampler.stop_event.set()
            sampler.join(10)
    assert sampler.error is None, sampler.error

    # No update lost, none handled twice: one case-code message and one case per doctor.
    for doctor in DOCTORS:
        assert [CASE_SENT in (s.text or "") for s in cluster.sends_to(doctor)].count(True) == 1, doctor
    cases = asyncio.run(rows(database_url, "SELECT code, status FROM cases"))
    assert sorted(code for code, _ in cases) == sorted(codes.values())
    assert {status for _, status in cases} == {"closed"}

    # No case offered twice: one offer card and one offer row per case, all accepted,
    # and each doctor told once that their case went to someone.
    cards = [c for t in COUNSELLORS for c in cluster.sends_to(t) if ACCEPT in c.buttons]
    assert sorted(case_code(c.text) for c in cards) == sorted(codes.values())
    for doctor, code in codes.items():
        assert [f"det er sendt videre ({code})" in (s.text or "") for s in cluster.sends_to(doctor)].count(True) == 1, code
    # Every case was accepted and closed (above), and an ended case keeps no offer rows
    # (docs/threat-model.md section 3): the one card per case is the record of its offer.
    assert asyncio.run(rows(database_url, "SELECT case_code, status FROM offers")) == []
    # ... and never at any moment: at most one pending offer per case, nobody above capacity.
    assert sampler.samples > 10
    assert sampler.most_pending_offers_per_case <= 1
    assert sampler.most_over_capacity <= 0
    assert sampler.most_held == CAPACITY  # capacity was reached, so it was really tested

    # Every relayed message arrived exactly once, each way.
    to_counsellors = [s.text or "" for t in COUNSELLORS for s in cluster.sends_to(t)]
    for doctor, code in codes.items():
        assert [sentence(doctor) in t for t in to_counsellors].count(True) == 1, code
        assert [answer(code) in (s.text or "") for s in cluster.sends_to(doctor)].count(True) == 1, code

    # Nobody saw an error; both processes took traffic; every update sent twice was skipped once.
    everyone = [*DOCTORS, *COUNSELLORS]
    assert not [s.text for chat in everyone for s in cluster.sends_to(chat) if "gikk galt" in (s.text or "")]
    assert all(n > 0 for n in cluster.only.values()) and cluster.twice > 0, (cluster.only, cluster.twice)
    for bot in processes:
        assert bot.stop() == 0, bot.output()[-3000:]
    outputs = [bot.output() for bot in processes]
    assert sum(o.count("skipped a redelivered update") for o in outputs) == cluster.twice
    for output in outputs:
        assert "starting in webhook mode" in output
        assert "Traceback" not in output and " ERROR " not in output, output[-3000:]


KARI = {"user_id": 7391824650, "first_name": "Kariannestine", "last_name": "Nordmannsen", "username": "dr_kari_nordmann_x"}
KARI_TYPED = ["Jeg er så utrolig sliten etter nattevaktene på Ullevål", "Overlegen min på Haukeland skjønner ingenting"]


def test_a_process_on_postgresql_survives_sigkill_and_leaves_no_trace(
    tmp_path: Path, database_url: str, standin: BotApiStandin, bots: Callable[..., BotProcess]
) -> None:
    """Twin of test_process.py's SQLite test: long polling, SIGKILL mid-triage, restart, privacy scan of a pg_dump."""
    config = bot_config(tmp_path / "config.toml", standin, database_url)
    bot = bots(config).start()
    user: FakeUser = standin.fake.user(KARI["user_id"], first_name=KARI["first_name"], last_name=KARI["last_name"],
                                       username=KARI["username"], language_code="nb")  # fmt: skip
    kari = Conversation(user, standin.wait_for, TIMEOUT, bot)
    kari.command("/start", button=CONSENT)
    kari.press(CONSENT, button=SELF)
    kari.press(SELF, button=ADVICE)
    kari.say(KARI_TYPED[0], button=ADVICE)  # typed instead of pressing: asked again
    kari.press(ADVICE, button=SAFETY_NO)
    kari.press(SAFETY_NO, button=PREFERENCES[0])
    kari.press(PREFERENCES[0], button=DONE)
    kari.press(DONE, button=PREFERENCES[2])
    kari.say(KARI_TYPED[1], button=PREFERENCES[2])  # the barriers question again, after the hint

    assert bot.kill() == -9
    bot.start()
    toggled = kari.press(PREFERENCES[2], button=DONE)
    assert "✅ Kulturen der jeg jobber – valgt" in toggled.buttons, toggled.buttons  # same step, answer kept
    done = kari.walk(DONE, *PREFERENCES[4:], CONFIRM, then=CASE_SENT)
    assert case_code(done.text)
    assert bot.stop() == 0, bot.output()[-2000:]
    output = bot.output()
    assert bot.runs == 2 and "Traceback" not in output

    dumped = dump(database_url, tmp_path / "postgresql-dump.sql").read_text(encoding="utf-8")
    assert "CREATE TABLE public.cases" in dumped and "COPY public.event_counts" in dumped  # a real, whole dump
    needles = secrets_of(KARI["user_id"], KARI["first_name"], KARI["last_name"], KARI["username"], *KARI_TYPED)
    assert findings(tmp_path, output, needles) == []
    assert TOKEN not in output
