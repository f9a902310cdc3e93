"""PostgreSQL only (skipped on SQLite): the twins of the suite's SQLite-specific tests, and
what several processes sharing one database rely on.

- migrations from an empty database, by ``storage.db.upgrade`` and by ``kollega db upgrade``;
- two engines (two processes) migrating the same empty database at once;
- every transaction waits for the one before it (the advisory lock in ``storage.db``);
- two processes dispatching at once: no case offered twice, no capacity exceeded;
- two timer workers: every due timer handled exactly once;
- a forged offer id that fits SQLite's 64-bit INTEGER but not PostgreSQL's 32-bit one;
- the privacy scan reads a ``pg_dump`` on PostgreSQL, and is not blind there.

Run with ``KOLLEGA_TEST_DATABASE=postgres`` (see tests/pg.py).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from bot.cli import main
from flows.casework import Casework, Timing
from flows.settings import FlowSettings
from flows.triage import Draft
from storage import roster
from storage.db import alembic_config, create_engine, sessionmaker, upgrade
from storage.models import Base, CaseRow, OfferRow, TimerRow
from storage.sealing import Keyring
from storage.store import SqlStore
from tests.pg import Server
from tests.privacy import findings
from tests.process import clean_env, write_config
from tests.scenarios import add_counsellor

pytestmark = pytest.mark.postgres_only("PostgreSQL behaviour")

NOW = datetime(2026, 11, 23, 9, 15, 30)
SECRET_KEY = secrets.token_urlsafe(32)


def head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def table_names(url: str) -> tuple[set[str], list[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            versions = list((await connection.execute(text("select version_num from alembic_version"))).scalars())
    finally:
        await engine.dispose()
    return tables, versions


# --- migrations ---------------------------------------------------------------------------------
@pytest.mark.empty_database
async def test_migrations_from_empty_create_the_whole_schema_on_postgresql(postgres_server: Server, database_url: str) -> None:
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        before = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    await upgrade(engine)
    await upgrade(engine)  # twice is harmless
    await engine.dispose()
    tables, versions = await table_names(database_url)
    assert before == set()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert versions == [head()]


@pytest.mark.empty_database
def test_db_upgrade_command_creates_every_table_on_postgresql_and_is_idempotent(
    postgres_server: Server, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.toml", {"database": {"url": database_url}, "secrets": {"secret_key": SECRET_KEY}})
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert "up to date" in capsys.readouterr().out
    again = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False, env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    tables, versions = asyncio.run(table_names(database_url))
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert versions == [head()]


@pytest.mark.empty_database
async def test_two_processes_migrating_one_empty_database_at_once_both_succeed(
    postgres_server: Server, database_url: str
) -> None:
    """Two `kollega run` starting together: the second waits for the first, then finds nothing to do."""
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    tables, versions = await table_names(database_url)
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert versions == [head()]


@pytest.mark.empty_database
def test_stats_export_from_a_database_without_tables_says_so_in_one_line_on_postgresql(
    postgres_server: Server, database_url: str, tmp_path: Path
) -> None:
    """Twin of test_stats_cli's SQLite test: PostgreSQL words it 'relation ... does not exist'."""
    config = write_config(tmp_path / "config.toml", {"database": {"url": database_url}, "secrets": {"secret_key": SECRET_KEY}})
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "stats", "export", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False, env=clean_env(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0], lines


# --- one transaction at a time --------------------------------------------------------------------
async def test_a_transaction_waits_until_the_one_before_it_commits(postgres_server: Server, database_url: str) -> None:
    first, second = create_engine(database_url), create_engine(database_url)
    await upgrade(first)
    try:
        async with sessionmaker(first).begin() as holding:
            await holding.execute(select(1))  # the lock is taken before the first statement
            waiting = asyncio.create_task(_count_cases(second))
            await asyncio.sleep(0.3)
            assert not waiting.done(), "a second process ran a transaction while the first was open"
            holding.add(_case_row("K-AAAAAA"))
        assert await asyncio.wait_for(waiting, 10) == 1  # and then it sees what the first committed
    finally:
        await first.dispose()
        await second.dispose()


async def _count_cases(engine: object) -> int:
    async with sessionmaker(engine).begin() as session:  # type: ignore[arg-type]
        return int(await session.scalar(select(func.count()).select_from(CaseRow)) or 0)


def _case_row(code: str) -> CaseRow:
    """An ended case as storage leaves it: its code, status and day; nothing to unseal."""
    return CaseRow(code=code, pseudonym=None, status="closed", closed_on=NOW.date())


class Process:
    """What one `kollega run` process holds: its own engine, store and casework."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        keyring = Keyring(SECRET_KEY)
        self.store = SqlStore(sessionmaker(self.engine), keyring)
        self.casework = Casework(FlowSettings(), Timing(), lambda: NOW, keyring.tag)

    async def dispatch(self) -> int:
        async with self.store.transaction() as tx:
            return len(await self.casework.dispatch(tx))


@pytest.fixture
async def two_processes(postgres_server: Server, database_url: str) -> AsyncIterator[tuple[Process, Process]]:
    processes = (Process(database_url), Process(database_url))
    await upgrade(processes[0].engine)
    yield processes
    for process in processes:
        await process.engine.dispose()


async def test_two_processes_dispatching_at_once_never_offer_a_case_twice_or_exceed_a_capacity(
    two_processes: tuple[Process, Process],
) -> None:
    one, other = two_processes
    keyring = Keyring(SECRET_KEY)
    capacities = {9001: 2, 9002: 3, 9003: 1}
    async with one.store.transaction() as tx:
        for telegram_id, capacity in capacities.items():
            await roster.add_counsellor(
                tx.session, telegram_id=telegram_id, alias=f"C{telegram_id}", pseudonym=keyring.pseudonym(telegram_id),
                county="vestland", serves=[], pathways=["advice"], languages=["nb"], capacity=capacity,
            )  # fmt: skip
        for n in range(12):
            draft = Draft(state="waiting", seeker="self", pathway="advice", role="other", county="oslo", contact="chat")
            await tx.cases.open(f"doctor-{n}", draft, 1000 + n, NOW + timedelta(seconds=n))

    # Both processes dispatch, many times and interleaved, as when doctors confirm on both.
    await asyncio.gather(*(process.dispatch() for _ in range(8) for process in (one, other)))

    async with one.store.transaction() as tx:
        offers = (await tx.session.execute(select(OfferRow.case_code, OfferRow.counsellor_id, OfferRow.status))).all()
        statuses = dict((await tx.session.execute(select(CaseRow.code, CaseRow.status))).all())
        counsellors = {c.telegram_id: c for c in await tx.roster.counsellors()}
    per_case: dict[str, int] = {}
    for code, _, status in offers:
        assert status == "pending"
        per_case[code] = per_case.get(code, 0) + 1
    assert all(n == 1 for n in per_case.values()), per_case
    assert len(offers) == sum(capacities.values())  # every free place filled, no more
    for telegram_id, capacity in capacities.items():
        assert counsellors[telegram_id].open_cases == capacity
    assert sorted(statuses.values()).count("offered") == len(offers)
    assert sorted(statuses.values()).count("queued") == 12 - len(offers)


async def test_two_timer_workers_handle_every_due_timer_exactly_once(two_processes: tuple[Process, Process]) -> None:
    one, other = two_processes
    async with one.store.transaction() as tx:
        for n in range(40):
            await tx.timers.set("draft_reminder", f"subject-{n}", NOW - timedelta(minutes=n))
    taken: list[str] = []

    async def worker(process: Process) -> None:
        while True:
            async with process.store.transaction() as tx:
                due = await tx.timers.next_due(NOW)
                if due is None:
                    return
                taken.append(due.subject)
            await asyncio.sleep(0)

    await asyncio.gather(worker(one), worker(other), worker(one), worker(other))
    assert sorted(taken) == sorted(f"subject-{n}" for n in range(40))
    async with one.store.transaction() as tx:
        assert await tx.session.scalar(select(func.count()).select_from(TimerRow)) == 0


# --- ids that fit SQLite's 64-bit INTEGER but not PostgreSQL's 32-bit integer ------------------------
@pytest.mark.parametrize("data", ["offer|accept:2147483648", "offer|decline:999999999999999999"])
async def test_a_forged_offer_id_past_32_bits_is_refused_politely(postgres_server: Server, harness: Any, data: str) -> None:
    anna = await add_counsellor(harness, 9001, "Anna")
    await harness.feed(anna.press_data(data))
    assert "ikke til deg" in (harness.said(anna)[-1].text or "")


# --- the privacy scan reads a dump ------------------------------------------------------------------
async def test_the_scan_of_a_pg_dump_finds_what_it_looks_for(postgres_server: Server, database_url: str, tmp_path: Path) -> None:
    """The scanner is not blind on PostgreSQL: a planted id and sentence in a row are found in the dump."""
    engine = create_engine(database_url)
    await upgrade(engine)
    async with sessionmaker(engine).begin() as session:
        row = _case_row("K-BBBBBB")
        row.pseudonym, row.status = "7391824650", "Ullevål"  # what must never be in the clear, planted where it shows
        session.add(row)
    await engine.dispose()
    found = findings(tmp_path, "", ["7391824650", "Ullevål", "Haukeland"])
    assert sorted(found) == ["'7391824650' in postgresql-dump.sql", "'Ullevål' in postgresql-dump.sql"]
