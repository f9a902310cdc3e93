"""Who may do what (issue 5): staff commands by role, buttons bound to the person they were
sent to, webhook secret, and secrets kept out of logs and error messages.

Every refusal must be the polite "not for you" and nothing else: no case codes, no counts,
no buttons, no message to anyone else, no change in the database.

The webhook's secret-token check over real HTTP is covered by
``tests/test_process.py::test_webhook_mode_registers_the_secret_and_refuses_updates_without_it``;
here, in-process, that ``kollega run`` hands the configured secret to PTB's webhook server
and that a webhook without a secret is refused as a configuration error.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.config import Config, ConfigError, parse
from bot.outbox import ATTEMPTS
from flows.catalogue import render
from flows.replies import Text
from storage import roster
from storage.models import CaseRow, CounsellorRow, EventCountRow, OfferRow, TimerRow
from storage.repositories import SqlDrafts
from tests.faketelegram import FakeUser
from tests.scenarios import ACCEPT, ADVICE, CONSENT, add_coordinator, add_counsellor, event_count, triage, walk

TOKEN = "123456:SECRET-TOKEN-" + secrets.token_hex(12)
SECRET_KEY = "secret-key-" + secrets.token_urlsafe(32)
WEBHOOK_SECRET = "webhook-secret-" + secrets.token_urlsafe(24)
SECRETS = (TOKEN, TOKEN.split(":", 1)[1], SECRET_KEY, WEBHOOK_SECRET)

ANNA, BJORN, MIRA, KIM = 9001, 9002, 9005, 8001
KARI, OLA, PLAIN = 5001, 5002, 5003
CODE = re.compile(r"K-[A-Z2-9]{6}")
NOT_COUNSELLOR = render(Text("counsellor.not_for_you"), "nb")
NOT_COORDINATOR = render(Text("coordinator.not_for_you"), "nb")
NOT_YOURS = render(Text("offer.not_yours"), "nb")
RETRY = render(Text("error.retry"), "nb")
COUNSELLOR_COMMANDS = ("/available", "/away", "/away 3", "/cases", "/case {code}", "/close", "/close {code}")
COORDINATOR_COMMANDS = ("/queue", "/stats", "/stats week")


@pytest.fixture
def config(database_url: str) -> Config:
    """The conftest harness, with secrets worth looking for."""
    return Config(token=TOKEN, secret_key=SECRET_KEY, database_url=database_url, webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    for name in ("bot", "flows", "storage", "kollega"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


class World:
    """Anna holds Kari's case; Ola's case is offered to Anna; Mira is counsellor and coordinator."""

    def __init__(self, harness: Any) -> None:
        self.harness = harness
        self.fake = harness.telegram

    async def build(self) -> World:
        h = self.harness
        self.anna = await add_counsellor(h, ANNA, "Anna", capacity=3, pathways=["advice"])
        self.bjorn = await add_counsellor(h, BJORN, "Bjørn", pathways=["way_back_or_out"])
        self.mira = await add_counsellor(h, MIRA, "Mira", pathways=["way_back_or_out"])
        await add_coordinator(h, MIRA)
        self.kim = await add_coordinator(h, KIM)
        self.kari, self.ola, self.plain = h.user(KARI, "Kari"), h.user(OLA, "Ola"), h.user(PLAIN, "Per")
        self.kari_code = await triage(h, self.kari, ADVICE)
        await walk(h, self.anna, ACCEPT)
        self.ola_code = await triage(h, self.ola, ADVICE)  # offered to Anna, not yet answered
        return self

    def by_role(self, role: str) -> FakeUser:
        return {
            "doctor": self.plain,
            "doctor_in_case": self.kari,
            "counsellor": self.anna,
            "coordinator": self.kim,
            "counsellor_and_coordinator": self.mira,
        }[role]

    def mark(self) -> int:
        with self.fake._lock:
            return len(self.fake.sent)

    def since(self, mark: int) -> list[Any]:
        with self.fake._lock:
            return list(self.fake.sent[mark:])

    async def state(self) -> tuple[Any, ...]:
        async with self.harness.services.store.transaction() as tx:
            session = tx.session
            # The sealed details as bytes: a refusal that sealed them again would show as a change.
            cases = [
                (c.code, c.status, c.counsellor_id, c.escalated, c.sealed_details)
                for c in (await session.scalars(select(CaseRow))).all()
            ]
            offers = [(o.id, o.status) for o in (await session.scalars(select(OfferRow))).all()]
            staff = [
                (c.id, c.available, c.away_until, c.focus_case, c.enrolling, c.home_county)
                for c in (await session.scalars(select(CounsellorRow))).all()
            ]
            events = [(e.day, e.kind, e.cell, e.count) for e in (await session.scalars(select(EventCountRow))).all()]
        return sorted(cases), sorted(offers), sorted(staff), sorted(events)


def _only_refusal(sent: list[Any], user: FakeUser, text: str) -> None:
    """One message, to the person who asked, with exactly the refusal: nothing else revealed."""
    assert [s.chat_id for s in sent] == [user.chat_id], [(s.chat_id, s.text) for s in sent]
    [reply] = sent
    assert reply.text == text
    assert not reply.buttons and reply.file_name is None
    assert not CODE.search(reply.text) and not re.search(r"\d", reply.text)


# --- staff commands, by role -------------------------------------------------------------
ROLES = {
    "doctor": (False, False),
    "doctor_in_case": (False, False),
    "counsellor": (True, False),
    "coordinator": (False, True),
    "counsellor_and_coordinator": (True, True),
}


@pytest.mark.parametrize("role", list(ROLES))
async def test_staff_commands_by_role(harness: Any, role: str) -> None:
    world = await World(harness).build()
    user = world.by_role(role)
    is_counsellor, is_coordinator = ROLES[role]
    table = [(c, is_counsellor, NOT_COUNSELLOR) for c in COUNSELLOR_COMMANDS]
    table += [(c, is_coordinator, NOT_COORDINATOR) for c in COORDINATOR_COMMANDS]
    for template, allowed, refusal in table:
        command = template.format(code=world.kari_code)
        before, mark = await world.state(), world.mark()
        await harness.feed(user.send_command(command))
        sent = world.since(mark)
        if not allowed:
            _only_refusal(sent, user, refusal)
            assert await world.state() == before, command
            continue
        assert sent and all(s.text != refusal for s in sent), (command, [s.text for s in sent])
        assert all(s.chat_id == user.chat_id for s in sent), command
        if template in COUNSELLOR_COMMANDS:
            # A counsellor sees their own cases only (and the code they typed themselves).
            own = {world.kari_code} if user is world.anna else set()
            typed = set(CODE.findall(command))
            assert set(CODE.findall(" ".join(s.text or "" for s in sent))) <= own | typed, command
    if is_counsellor:
        await harness.feed(user.send_command("/available"))  # leave them as they were


async def test_a_counsellor_cannot_reach_another_counsellors_case_by_its_code(harness: Any) -> None:
    world = await World(harness).build()
    for command in (f"/case {world.kari_code}", f"/close {world.kari_code}", f"/case {world.ola_code}"):
        before, mark = await world.state(), world.mark()
        await harness.feed(world.bjorn.send_command(command))
        [reply] = world.since(mark)
        assert reply.chat_id == BJORN and "Du har ingen åpen sak" in reply.text and not reply.buttons
        assert not CODE.search(reply.text), "the code of somebody else's case is never repeated back"
        assert await world.state() == before


# --- buttons are bound to the person they were sent to ---------------------------------------
def _card(world: World, counsellor: FakeUser, code: str, label: str) -> str:
    cards = [s for s in world.fake.messages_to(counsellor.chat_id) if code in (s.text or "") and label in s.buttons]
    assert cards, f"no {label!r} for {code}"
    data = cards[-1].callback_data(label)
    assert data is not None
    return data


async def _pressed_by_others(world: World, data: str, others: list[FakeUser]) -> list[tuple[FakeUser, list[Any]]]:
    answers = []
    for other in others:
        before, mark = await world.state(), world.mark()
        await world.harness.feed(other.press_data(data))
        sent = world.since(mark)
        assert await world.state() == before, (other.id, data)
        assert {s.chat_id for s in sent} <= {other.chat_id}, (other.id, data, [(s.chat_id, s.text) for s in sent])
        answers.append((other, sent))
    return answers


async def test_offer_buttons_work_only_for_the_counsellor_they_were_offered_to(harness: Any) -> None:
    world = await World(harness).build()
    intruders = [world.bjorn, world.mira, world.kim, world.ola, world.kari, world.plain]
    for label in (ACCEPT, "Avslå"):
        data = _card(world, world.anna, world.ola_code, label)
        for other, sent in await _pressed_by_others(world, data, intruders):
            texts = [s.text for s in sent if not s.is_edit]
            assert texts == [NOT_YOURS], (other.id, label, texts)
    # ... and still for Anna.
    await walk(harness, world.anna, ACCEPT)
    assert f"Du har tatt saken {world.ola_code}" in harness.telegram.last_to(ANNA).text


async def test_case_buttons_work_only_for_the_counsellor_holding_the_case(harness: Any) -> None:
    world = await World(harness).build()
    end = _card(world, world.anna, world.kari_code, f"Avslutt saken {world.kari_code}")
    forged = [end, end.replace("end:", "end_yes:"), end.replace("end:", "focus:"), f"route|send:{world.kari_code}:1"]
    intruders = [world.bjorn, world.mira, world.kim, world.ola, world.plain]
    for data in forged:
        for other, sent in await _pressed_by_others(world, data, intruders):
            assert not [b for s in sent for b in s.buttons if "avslutt" in b], (other.id, data)
    assert not [s for s in harness.said(world.kari) if "avsluttet" in (s.text or "")]


async def test_feedback_and_followup_buttons_work_only_for_the_doctor_they_were_sent_to(harness: Any) -> None:
    world = await World(harness).build()
    await harness.feed(world.anna.send_command(f"/close {world.kari_code}"))
    await walk(harness, world.anna, "Ja, avslutt")
    feedback, followup = harness.said(world.kari)[-2:]
    forged = [feedback.callback_data(str(n)) for n in range(1, 6)] + [followup.callback_data("Ja, ta kontakt om 4 uker")]
    await _pressed_by_others(world, *forged[:1], [world.ola, world.plain, world.anna, world.kim, world.mira])
    for data in forged[1:]:
        await _pressed_by_others(world, data, [world.ola, world.plain, world.anna, world.kim])
    assert await event_count(harness, "feedback") == 0
    async with harness.services.store.transaction() as tx:
        case = await tx.session.get(CaseRow, world.kari_code)
    assert case is not None and not case.followup and case.sealed_reach is None
    # The doctor's own press still counts.
    await walk(harness, world.kari, "4")
    assert "Takk for svaret" in harness.telegram.last_to(KARI).text
    assert await event_count(harness, "feedback", score=4) == 1


async def test_enrolment_buttons_work_only_for_the_person_enrolling(harness: Any) -> None:
    world = await World(harness).build()
    async with harness.services.store.transaction() as tx:
        await roster.create_invite(tx.session, "counsellor", harness.services.keyring.invite_hash("NYKOL-LEGA2"), _far_future())
    nina = harness.user(9101, "Nina")
    await harness.feed(nina.send_command("/join NYKOL-LEGA2"))
    county = harness.said(nina)[-1]
    assert "Hvilket fylke" in county.text
    data = county.callback_data("Oslo")
    for other, sent in await _pressed_by_others(world, data, [world.anna, world.kim, world.mira, world.kari, world.plain]):
        assert sent and "Hvilke språk" not in " ".join(s.text or "" for s in sent), other.id
    await walk(harness, nina, "Oslo")
    assert "Hvilke språk" in harness.said(nina)[-1].text


def _far_future() -> Any:
    from datetime import datetime

    return datetime(2030, 1, 1)


# --- found by the fuzzer and by these tests (fixed; kept as regression tests) ------------------
async def test_a_counsellor_is_never_offered_their_own_request(harness: Any) -> None:
    dora = await add_counsellor(harness, 9003, "Dora")
    code = await triage(harness, dora, ADVICE)
    offers = [s for s in harness.said(dora) if code in (s.text or "") and ACCEPT in s.buttons]
    assert offers == [], "Dora was offered her own case"


async def test_a_counsellor_who_is_also_a_doctor_can_end_their_own_conversation(harness: Any) -> None:
    dora = await add_counsellor(harness, 9003, "Dora", pathways=["way_back_or_out"])
    anna = await add_counsellor(harness, ANNA, "Anna", pathways=["advice"])
    code = await triage(harness, dora, ADVICE)
    await walk(harness, anna, ACCEPT)
    await harness.feed(dora.send_command("/cancel"))
    await walk(harness, dora, "Ja, avslutt")
    assert "Den knappen forstod jeg ikke" not in harness.said(dora)[-1].text
    async with harness.services.store.transaction() as tx:
        case = await tx.session.get(CaseRow, code)
    assert case is not None and case.status == "closed"


async def test_a_forged_route_press_cannot_copy_one_doctors_message_to_another(harness: Any) -> None:
    anna = await add_counsellor(harness, ANNA, "Anna", capacity=3)
    kari, ola = harness.user(KARI), harness.user(OLA)
    kari_code = await triage(harness, kari, ADVICE)
    await walk(harness, anna, ACCEPT)
    ola_code = await triage(harness, ola, ADVICE)
    await walk(harness, anna, ACCEPT)
    await harness.feed(kari.send_text("Kari sin hemmelighet"))
    relayed = harness.said(anna)[-1]
    assert relayed.text.endswith("Kari sin hemmelighet")
    await harness.feed(anna.press_data(f"route|send:{ola_code}:{relayed.message_id}"))
    to_ola = " ".join(s.text or "" for s in harness.said(ola))
    assert "Kari sin hemmelighet" not in to_ola and kari_code not in to_ola


async def test_forget_also_cancels_a_booked_followup(harness: Any) -> None:
    anna = await add_counsellor(harness, ANNA, "Anna")
    kari = harness.user(KARI)
    code = await triage(harness, kari, ADVICE)
    await walk(harness, anna, ACCEPT)
    await harness.feed(anna.send_command("/close"))
    await walk(harness, anna, "Ja, avslutt")
    await walk(harness, kari, "Ja, ta kontakt om 4 uker")
    await harness.feed(kari.send_command("/forget"))
    await walk(harness, kari, "Ja, slett alt")
    assert "Alt som kunne knyttes til deg er slettet" in harness.telegram.last_to(KARI).text
    async with harness.services.store.transaction() as tx:
        case = await tx.session.get(CaseRow, code)
        timers = (await tx.session.scalars(select(TimerRow).where(TimerRow.subject == code))).all()
    seen = len(harness.said(kari))
    await harness.tick(days=29)
    checkin = harness.said(kari)[seen:]
    assert case is None or case.sealed_reach is None, "the sealed chat id outlived /forget"
    assert not timers, "the follow-up timer outlived /forget"
    assert checkin == [], "a check-in reached a doctor who asked to be forgotten"


# --- webhook ------------------------------------------------------------------------------------
async def test_the_webhook_registers_its_secret_and_refuses_requests_without_it(harness: Any) -> None:
    """In process: bot.webhook's server, on loopback, in front of the real update pipeline."""
    import json
    from dataclasses import replace

    import httpx

    from bot.serve import handle_update, ordered
    from bot.webhook import WEBHOOK_PATH, open_webhook
    from storage.models import ProcessedUpdateRow
    from tests.process import free_port

    port = free_port()
    config = replace(
        harness.services.config, webhook_url="https://example.invalid/telegram", webhook_listen="127.0.0.1",
        webhook_port=port, webhook_secret=WEBHOOK_SECRET,
    )  # fmt: skip
    server = await open_webhook(config, harness.app.bot, ordered(lambda update: handle_update(harness.app, update)))
    try:
        [registered] = harness.telegram.calls_of("setWebhook")
        assert registered["secret_token"] == WEBHOOK_SECRET and registered["url"] == config.webhook_url
        doctor = harness.user(5560)
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        async with httpx.AsyncClient() as client:
            for header in ({}, {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET[::-1]}):
                answer = await client.post(url, content=json.dumps(doctor.send_command("/start")), headers=header)
                assert answer.status_code == 403
            assert harness.said(doctor) == []
            right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
            update = doctor.send_command("/start")
            answer = await client.post(url, content=json.dumps(update), headers=right)
            assert answer.status_code == 200
            # Answered only after the update's unit of work committed: its claim is there when
            # the 200 arrives (and with it the welcome, owed in the outbox).
            async with harness.services.store.transaction() as tx:
                assert await tx.session.get(ProcessedUpdateRow, update["update_id"]) is not None
            await harness.sender.drain()
            assert CONSENT in harness.said(doctor)[-1].buttons
    finally:
        await server.close()


def test_a_webhook_without_a_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse(
            {"telegram": {"token": TOKEN, "webhook_url": "https://example.invalid/t"}, "secrets": {"secret_key": SECRET_KEY}},
            env={},
        )
    assert error.value.key == "telegram.webhook_secret"


# --- secrets stay out of logs and error messages --------------------------------------------------
def _no_secrets(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret ({secret[:10]}…) appeared in {where}"


# PTB itself warns when it builds a RetryAfter (429) with an int retry_after (v22.2 deprecation).
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_failures_are_logged_without_secrets_and_the_user_is_asked_to_retry(
    harness: Any, logs: Any, monkeypatch: Any
) -> None:
    world = await World(harness).build()
    fake = harness.telegram
    # 1. Telegram refuses or fails deliveries: retried, given up, reported.
    fake.fail_next("copyMessage", error_code=500, times=ATTEMPTS, chat_id=ANNA)  # a run of failed tries
    await harness.feed(world.kari.send_text("hei"))
    assert "ikke kommet fram ennå" in harness.said(world.kari)[-1].text  # still trying, and she knows it
    harness.clock.advance(minutes=6)  # Anna's chat was set aside for five minutes; now it is taken up again
    await harness.sender.scan()
    await harness.sender.drain()
    assert harness.said(world.anna)[-1].text == "hei"
    fake.fail_next("copyMessage", error_code=403, chat_id=KARI)
    await harness.feed(world.anna.send_text("hei tilbake"))
    assert "kom ikke fram" in harness.said(world.anna)[-1].text
    fake.fail_next("sendMessage", error_code=429, retry_after=1, chat_id=PLAIN)
    await harness.feed(world.plain.send_command("/start"))
    assert CONSENT in harness.said(world.plain)[-1].buttons

    # 2. An edit Telegram refuses (the person blocked the bot, say) is dropped; the next update works.
    fake.fail_next("editMessageText", error_code=403, chat_id=PLAIN)
    await harness.feed(world.plain.press(CONSENT))
    await harness.feed(world.ola.send_command("/status"))
    assert world.ola_code in harness.said(world.ola)[-1].text

    # 3. The database fails once, with the secrets in the error's text: logged by type only.
    original = SqlDrafts.get
    failures = [OperationalError("SELECT drafts WHERE key = ?", {"key": SECRET_KEY, "token": TOKEN}, Exception(WEBHOOK_SECRET))]

    async def failing(self: SqlDrafts, pseudonym: str) -> Any:
        if failures:
            raise failures.pop()
        return await original(self, pseudonym)

    monkeypatch.setattr(SqlDrafts, "get", failing)
    newcomer = harness.user(5009, "Siri")
    mark = world.mark()
    with pytest.raises(OperationalError):
        await harness.feed(newcomer.send_command("/start"))
    harness.errors.clear()
    assert [s.text for s in world.since(mark)] == [RETRY]
    other = harness.user(5010, "Tor")
    await harness.feed(other.send_command("/start"))
    assert CONSENT in harness.said(other)[-1].buttons
    await harness.feed(newcomer.send_command("/start"))  # and the one who failed can retry
    assert CONSENT in harness.said(newcomer)[-1].buttons

    # 4. A timer run with deliveries failing.
    fake.fail_next("sendMessage", error_code=403, times=50)
    fake.fail_next("editMessageText", error_code=400, times=50)
    await harness.tick(minutes=61)
    await harness.tick(hours=80)

    assert "handler failed: OperationalError" in logs.text and "delivery" in logs.text
    _no_secrets(logs.text, "the logs")
    for record in logs.records:
        _no_secrets(str(record.args) + str(record.exc_info) + str(record.exc_text), "a log record's arguments")
    _no_secrets(" ".join(f"{s.text} {s.params}" for s in fake.sent), "a message sent to Telegram")


@pytest.mark.parametrize(("section", "key"), [("telegram", "token"), ("secrets", "secret_key"), ("telegram", "webhook_secret")])
def test_configuration_errors_never_echo_a_secret(section: str, key: str) -> None:
    secret = 918273645546372819
    data: dict[str, Any] = {"telegram": {"token": TOKEN}, "secrets": {"secret_key": SECRET_KEY}}
    data[section] = {**data[section], key: secret}
    with pytest.raises(ConfigError) as error:
        parse(data, env={})
    assert str(secret) not in str(error.value)
