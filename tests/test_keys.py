"""Rotating the service secret (docs/threat-model.md section 6).

* After ``kollega keys rotate`` and a restart on the new key, an open case still relays
  both ways, a doctor mid-triage carries on where they were, their pending reminder and a
  pending offer's deadline still fire, and the statistics count what they counted.
* Nothing is left under the old key: no sealed value opens with it, none is reported
  under it, and the config file no longer holds it.
* The command refuses while a bot runs on the database, and when the secret comes from
  the environment; an interrupted rotation is finished with ``--finish``, and until then
  the database says so.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import attach_services, build_application, open_services
from bot.cli import main
from bot.config import Config, load
from flows.periods import Period
from storage.models import CaseRow, DraftRow, OutboxRow
from storage.rekey import rekey, under_retired
from storage.runlock import holding
from storage.sealing import Keyring, SealBroken
from storage.statistics import published_statistics
from tests.conftest import Harness
from tests.faketelegram import FakeRequest
from tests.process import write_config
from tests.scenarios import ACCEPT, CONSENT, NOT_COPING, SELF, add_counsellor, triage, walk

NEW_SECRET = "Rk8-wQ2nZ5vL_x9TjB3mC7yH1dF4sG6pA0eUoKi"


@asynccontextmanager
async def restarted(harness: Harness, config: Config) -> AsyncIterator[Harness]:
    """The bot started again on ``config`` (same database, same Telegram, same clock)."""
    await harness.sender.drain()
    services = await open_services(config, harness.clock)
    app = build_application(config, request=FakeRequest(harness.telegram), limit_rate=False)
    sender = attach_services(app, services)
    sender.retry_base = 0.001
    again = Harness(app, harness.telegram, services, harness.clock)
    services.service.on_failure = again.errors.append
    try:
        async with app:
            yield again
    finally:
        await services.store.settle()
        await services.engine.dispose()


async def _county_counts(harness: Harness, config: Config) -> dict[str, int]:
    async with harness.services.store.transaction() as tx:
        published = await published_statistics(
            tx.session, Period.MONTH, 2, since=date(2026, 1, 1), until=date(2026, 12, 31),
            counties=[c.code for c in config.flow.counties], tagger=harness.services.keyring,
        )  # fmt: skip
    return {p.value: p.result or 0 for p in published if (p.measure, p.dimension) == ("case_opened", "county")}


async def _sealed(harness: Harness, keyring: Keyring) -> list[tuple[bytes, str]]:
    """Every sealed value at rest, with what it is bound to (under ``keyring``'s pseudonyms)."""
    found: list[tuple[bytes, str]] = []
    async with harness.services.store.transaction() as tx:
        for draft in (await tx.session.scalars(select(DraftRow))).all():
            found.append((draft.sealed_answers, f"draft:{draft.pseudonym}"))
            if draft.sealed_reach is not None:
                found.append((draft.sealed_reach, draft.pseudonym))
        for case in (await tx.session.scalars(select(CaseRow))).all():
            if case.sealed_details is not None:
                found.append((case.sealed_details, f"case:{case.code}"))
            if case.sealed_reach is not None and case.pseudonym is not None:
                found.append((case.sealed_reach, case.pseudonym))
        for row in (await tx.session.scalars(select(OutboxRow))).all():
            found.append((row.sealed_to, "outbox:to"))
    assert found, "something is sealed"
    return found


async def test_rotation_keeps_cases_triage_and_timers_working(harness: Harness, config: Config) -> None:
    anna = await add_counsellor(harness, 9001, "Anna", capacity=1)
    kari, ola, per = harness.user(7001, "Kari"), harness.user(7002, "Ola"), harness.user(7003, "Per")
    await triage(harness, kari, NOT_COPING)
    await walk(harness, anna, ACCEPT)
    queued = await triage(harness, per, NOT_COPING)  # waits: Anna is full
    await harness.feed(ola.send_command("/start"))
    await walk(harness, ola, CONSENT, SELF)
    counted = await _county_counts(harness, config)
    old = harness.services.keyring

    rotated = replace(config, secret_key=NEW_SECRET, retired_keys=(config.secret_key,))
    keyring = rotated.keyring()
    async with harness.services.store.transaction() as tx:
        report = await rekey(tx.session, keyring, [c.code for c in config.flow.counties])
        assert await under_retired(tx.session, keyring) == 0
    assert (report.drafts, report.cases, report.counsellors, report.dropped) == (1, 2, 1, 0)
    only_old = Keyring(config.secret_key)
    for value, bound_to in await _sealed(harness, keyring):
        assert keyring.unseal_bytes(value, bound_to)  # it opens where it belongs, with the new key
        with pytest.raises(SealBroken):
            only_old.unseal_bytes(value, bound_to)
        assert keyring.sealed_under(value) == keyring.current.id != old.current.id

    async with restarted(harness, replace(rotated, retired_keys=())) as bot:
        await bot.feed(kari.send_text("Er du fortsatt der?"))
        assert bot.telegram.last_to(anna.chat_id).text == "Er du fortsatt der?"
        await bot.feed(anna.send_text("Ja, jeg er her."))
        assert bot.telegram.last_to(kari.chat_id).text == "Ja, jeg er her."
        await bot.feed(ola.press("Råd i en krevende situasjon"))  # the step after SELF
        assert "Ja" in bot.telegram.last_to(ola.chat_id).buttons  # on to the safety question
        assert await _county_counts(bot, config) == counted
        # Ola's reminder and Per's case (still waiting for a counsellor) are still timed.
        ola_before, per_before = len(bot.telegram.texts_to(ola.chat_id)), len(bot.telegram.texts_to(per.chat_id))
        sent = await bot.tick(hours=30)
        assert sent > 0
        assert len(bot.telegram.texts_to(ola.chat_id)) > ola_before, "Ola's reminder came"
        assert any(queued in (t or "") for t in bot.telegram.texts_to(per.chat_id)[per_before:]), "Per heard about his case"
        assert not bot.errors


async def test_the_rotate_command_rekeys_and_forgets_the_old_secret(harness: Harness, config: Config, tmp_path: Path) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(7001, "Kari")
    await triage(harness, kari, NOT_COPING)
    await walk(harness, anna, ACCEPT)
    await harness.sender.drain()
    old_secret = "Vb7-Jq2sLx9_PzT4mK8cW1nY6rD3hF5gA0eUoRi"
    path = write_config(
        tmp_path / "kollega.toml",
        {"database": {"url": config.database_url}, "secrets": {"secret_key": old_secret}},
    )
    # The harness ran on the fixture's secret: re-key its rows to this file's secret first.
    async with harness.services.store.transaction() as tx:
        await rekey(tx.session, Keyring(old_secret, [config.secret_key]), [])
    await harness.services.engine.dispose()

    assert await asyncio.to_thread(main, ["keys", "rotate", "--config", str(path)]) == 0
    written = tomllib.loads(path.read_text(encoding="utf-8"))["secrets"]
    assert written["secret_key"] not in (old_secret, config.secret_key) and "retired_keys" not in written
    assert path.stat().st_mode & 0o077 == 0
    new = load(path, require_token=False)
    async with restarted(harness, replace(config, secret_key=new.secret_key)) as bot:
        await bot.feed(kari.send_text("Hei igjen"))
        assert bot.telegram.last_to(anna.chat_id).text == "Hei igjen"


async def test_rotate_refuses_while_the_bot_runs(harness: Harness, config: Config, tmp_path: Path, capsys: Any) -> None:
    path = write_config(
        tmp_path / "kollega.toml", {"database": {"url": config.database_url}, "secrets": {"secret_key": NEW_SECRET}}
    )
    before = path.read_text(encoding="utf-8")
    async with holding(harness.services.engine, exclusive=False):  # what `kollega run` holds
        assert await asyncio.to_thread(main, ["keys", "rotate", "--config", str(path)]) == 1
    assert "stop it first" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == before, "nothing is changed while a bot runs"


async def test_rotate_refuses_a_secret_from_the_environment(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    path = write_config(tmp_path / "kollega.toml", {"database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"}})
    monkeypatch.setenv("KOLLEGA_SECRET_KEY", NEW_SECRET)
    assert await asyncio.to_thread(main, ["keys", "rotate", "--config", str(path)]) == 2
    assert "KOLLEGA_SECRET_KEY" in capsys.readouterr().err


async def test_an_interrupted_rotation_is_reported_and_finished(harness: Harness, config: Config, tmp_path: Path) -> None:
    kari = harness.user(7001, "Kari")
    await harness.feed(kari.send_command("/start"))
    await walk(harness, kari, CONSENT)
    await harness.sender.drain()
    # The config was written with the new key, and the re-keying never ran.
    path = write_config(
        tmp_path / "kollega.toml",
        {"database": {"url": config.database_url}, "secrets": {"secret_key": NEW_SECRET, "retired_keys": [config.secret_key]}},
    )
    async with harness.services.store.transaction() as tx:
        assert await under_retired(tx.session, load(path, require_token=False).keyring()) > 0
    await harness.services.engine.dispose()
    assert await asyncio.to_thread(main, ["keys", "rotate", "--config", str(path), "--finish"]) == 0
    finished = load(path, require_token=False)
    assert finished.secret_key == NEW_SECRET and finished.retired_keys == ()
    async with restarted(harness, replace(config, secret_key=NEW_SECRET)) as bot:
        async with bot.services.store.transaction() as tx:
            assert await under_retired(tx.session, bot.services.keyring) == 0
        await bot.feed(kari.press(SELF))  # her triage goes on under the new key
        assert "Redd for ikke å klare mer" in bot.telegram.last_to(kari.chat_id).buttons


def test_a_guessable_secret_is_refused(tmp_path: Path, capsys: Any) -> None:
    for weak in ("a" * 40, "passwordpassword", "correct horse battery staple"):
        path = write_config(tmp_path / "weak.toml", {"telegram": {"token": "1:x"}, "secrets": {"secret_key": weak}})
        assert main(["db", "upgrade", "--config", str(path)]) == 2
        error = capsys.readouterr().err
        assert "secrets.secret_key" in error and "guessable" in error and weak not in error


async def test_a_guessable_secret_can_be_rotated_away(tmp_path: Path, capsys: Any) -> None:
    """An installation that started with a weak secret is refused, and `keys rotate` is its way out."""
    path = write_config(
        tmp_path / "weak.toml",
        {"database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"}, "secrets": {"secret_key": "passwordpassword"}},
    )
    assert await asyncio.to_thread(main, ["db", "upgrade", "--config", str(path)]) == 2
    assert "kollega keys rotate" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["keys", "rotate", "--config", str(path)]) == 0
    assert await asyncio.to_thread(main, ["db", "upgrade", "--config", str(path)]) == 0
    assert load(path, require_token=False).secret_key != "passwordpassword"
