"""Shared fixtures: a throwaway database, a clock the test drives, the real Application
talking to a fake Bot API, and log capture for the privacy scans.

The whole suite runs on SQLite (default) or PostgreSQL: ``KOLLEGA_TEST_DATABASE=postgres``
(server at ``KOLLEGA_TEST_DATABASE_URL``, default ``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``).
See ``tests/pg.py``. Tests that are about SQLite itself are skipped on PostgreSQL, each
with its reason (``SQLITE_ONLY`` below, or ``@pytest.mark.sqlite_only("why")``).
"""

from __future__ import annotations

import gc
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.app import attach_services, build_application, open_services
from bot.config import Config
from bot.context import Services
from bot.outbox import Sender
from bot.serve import handle_update
from tests import pg, privacy
from tests.faketelegram import FakeRequest, FakeTelegram, FakeUser
from tests.process import BotProcess
from tests.standin import BotApiStandin

# PTB 22 warns whenever RetryAfter.retry_after is read as a number; opting in to its future
# timedelta type (as `kollega` itself does, bot/cli/__init__.py) keeps warnings-as-errors meaningful.
os.environ.setdefault("PTB_TIMEDELTA", "1")
SELECTION = pg.Selection()
# One switch for the whole suite: the older per-file variable is folded into it (tests/pg.py)
# and removed here, so no test module runs a PostgreSQL variant of its own on top.
os.environ.pop(pg.LEGACY_SERVER, None)
SERVER: pg.Server | None = None
"""This run's PostgreSQL server (its template database made), when PostgreSQL is selected."""
DATABASE_URL = pytest.StashKey[str]()
"""The database a test got from the ``database_url`` fixture (for the privacy scan's dump)."""

SQLITE_ONLY = {
    "tests/test_storage.py::test_migrations_from_empty_create_the_whole_schema": (
        "checks PRAGMA journal_mode=wal; its PostgreSQL twin is in tests/test_postgres.py"
    ),
    "tests/test_cli.py::test_db_upgrade_creates_every_table_without_a_token_and_is_idempotent": (
        "reads a SQLite file with sqlite3; its PostgreSQL twin is in tests/test_postgres.py"
    ),
    "tests/test_process.py::test_triage_over_http_survives_sigkill_and_leaves_no_trace": (
        "configures its own SQLite file and scans its -wal/-shm; the PostgreSQL twin is in tests/test_postgres_processes.py"
    ),
    "tests/test_process.py::test_webhook_mode_registers_the_secret_and_refuses_updates_without_it": (
        "configures its own SQLite file; webhook mode on PostgreSQL is in tests/test_postgres_processes.py"
    ),
    "tests/test_process_case.py": (
        "its processes use test_process.config_for, which writes a SQLite URL; "
        "`kollega run` processes on PostgreSQL are in tests/test_postgres_processes.py"
    ),
    "tests/test_stats_cli.py::test_export_from_a_database_without_tables_says_so_in_one_line": (
        "expects SQLite's wording 'no such table'; its PostgreSQL twin is in tests/test_postgres.py"
    ),
}
"""Tests about SQLite itself, by node id or whole file: skipped on PostgreSQL (they ran in the SQLite pass)."""

EMPTY_DATABASE = {
    "tests/test_stats_cli.py::test_export_from_a_database_without_tables_says_so_in_one_line",
    "tests/test_storage.py::test_migrations_from_empty_create_the_whole_schema",
}
"""Tests that need ``database_url`` to have no tables at all, as a new SQLite file has none
(or ``@pytest.mark.empty_database``). Every other test on PostgreSQL gets a database with
the migrations already applied, which saves the suite about a tenth of a second per test;
a test that assumes emptiness and is not listed fails loudly rather than passing wrongly."""


def pytest_configure(config: pytest.Config) -> None:
    global SERVER
    config.addinivalue_line("markers", "sqlite_only(reason): about SQLite itself; skipped when the suite runs on PostgreSQL")
    config.addinivalue_line("markers", "postgres_only(reason): needs PostgreSQL; skipped when the suite runs on SQLite")
    config.addinivalue_line("markers", "empty_database: database_url must have no tables (not even on PostgreSQL)")
    if not SELECTION.postgres or SERVER is not None:
        return
    server = pg.Server(SELECTION.server_url)
    try:
        server.ping()
        server.make_templates()
    except Exception as error:
        server.shutdown()
        raise pytest.UsageError(
            f"{pg.SELECT}=postgres but {SELECTION.describe()} is not usable: {type(error).__name__}: {error}"
        ) from error
    SERVER = server


def pytest_unconfigure(config: pytest.Config) -> None:
    global SERVER
    if SERVER is not None:
        SERVER.close()
        SERVER = None


def pytest_report_header(config: pytest.Config) -> str:
    run = f" (databases {SERVER.run}_*)" if SERVER is not None else ""
    return f"kollega database: {SELECTION.describe()}{run}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        sqlite_only = item.get_closest_marker("sqlite_only")
        postgres_only = item.get_closest_marker("postgres_only")
        if SELECTION.postgres:
            test_id = item.nodeid.split("[")[0]
            reason = SQLITE_ONLY.get(test_id) or SQLITE_ONLY.get(test_id.split("::")[0])
            if sqlite_only is not None:
                reason = " ".join(map(str, sqlite_only.args)) or "about SQLite itself"
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
        elif postgres_only is not None:
            why = " ".join(map(str, postgres_only.args)) or "needs PostgreSQL"
            item.add_marker(pytest.mark.skip(reason=f"{why} (run with {pg.SELECT}=postgres)"))


class Clock:
    """A clock the test moves by hand: timers fall due without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 15, 30)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own for this test: a new SQLite file, or a PostgreSQL database
    copied from the run's migrated template (dropped after the test)."""
    if SERVER is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'kollega.db'}"
        request.node.stash[DATABASE_URL] = url
        yield url
        return
    empty = request.node.get_closest_marker("empty_database") or request.node.nodeid.split("[")[0] in EMPTY_DATABASE
    name, url = SERVER.empty() if empty else SERVER.fresh()
    request.node.stash[DATABASE_URL] = url
    try:
        yield url
    finally:
        SERVER.drop(name)


@pytest.fixture
def postgres_server() -> pg.Server:
    """This run's PostgreSQL server (tests using it are skipped on SQLite)."""
    if SERVER is None:
        pytest.skip(f"needs PostgreSQL (run with {pg.SELECT}=postgres)")
    return SERVER


@pytest.fixture(autouse=True)
def _connections_closed_by_their_own_test() -> Iterator[None]:
    """Collect garbage as each test ends, so that a database connection a test left open is
    reported (ResourceWarning, an error here) against that test, not a later one."""
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _privacy_scan_reads_a_dump_on_postgresql(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the database is not a file in the test's folder: a privacy scan
    (``tests.privacy.findings``) first writes a ``pg_dump`` of the test's database there,
    so it scans every row the test left, as text."""
    module = getattr(request, "module", None)
    if SERVER is None or module is None or getattr(module, "findings", None) is not privacy.findings:
        return
    original = privacy.findings

    def findings(folder: Path, log_text: str, needles: Any) -> list[str]:
        url = request.node.stash.get(DATABASE_URL, None)
        if url is not None and url.startswith("postgresql"):
            pg.dump(url, Path(folder) / "postgresql-dump.sql")
        return original(folder, log_text, needles)

    monkeypatch.setattr(module, "findings", findings)


@pytest.fixture
def config(database_url: str) -> Config:
    return Config(token="123456:TEST-TOKEN", secret_key=secrets.token_urlsafe(32), database_url=database_url)


@pytest.fixture
async def services(config: Config, clock: Clock) -> AsyncIterator[Services]:
    services = await open_services(config, clock)
    # Scrubs run in the unit's own task here, not in the background (storage.store.SqlStore
    # scrub_soon): tests dispose their engines at will, and a scrub still running would leak
    # its connection. tests/test_at_rest.py runs them in the background, as `kollega run` does.
    services.store.inline_scrub = True
    yield services
    await services.store.settle()
    await services.engine.dispose()


class Harness:
    """The real Application, fed updates by fake users, asserting what they were sent."""

    def __init__(self, app: Any, telegram: FakeTelegram, services: Services, clock: Clock) -> None:
        self.app = app
        self.telegram = telegram
        self.services = services
        self.clock = clock
        self.errors: list[BaseException] = []

    def user(self, user_id: int, first_name: str = "Kari", **kwargs: Any) -> FakeUser:
        return self.telegram.user(user_id, first_name=first_name, **kwargs)

    def said(self, user: FakeUser) -> list[Any]:
        """The new messages the bot sent this user (edits of earlier ones left out)."""
        return [s for s in self.telegram.messages_to(user.chat_id) if not s.is_edit]

    async def feed(self, update: dict[str, Any]) -> None:
        """Handle one update as ``kollega run`` does (one unit of work), then deliver what it posted."""
        await handle_update(self.app, Update.de_json(update, self.app.bot))
        await self.sender.drain()
        await self.services.store.settle()  # and the scrub of what it erased, if any
        if self.errors:
            raise self.errors[0]

    async def tick(self, **advance: float) -> int:
        """Run the due timers; how many messages they sent."""
        from bot.app import tick

        if advance:
            self.clock.advance(**advance)
        before = self.sender.counts["delivered"]
        await tick(self.app)
        await self.sender.drain()
        await self.services.store.settle()
        return self.sender.counts["delivered"] - before

    @property
    def sender(self) -> Sender:
        assert self.services.sender is not None
        return self.services.sender


@pytest.fixture
async def harness(config: Config, services: Services, clock: Clock) -> AsyncIterator[Harness]:
    telegram = FakeTelegram()
    # No rate limiter: the fake Bot API has no limits, and pacing would only make tests slow.
    app = build_application(config, request=FakeRequest(telegram), limit_rate=False)
    sender = attach_services(app, services)
    sender.retry_base = 0.001  # the fake's injected faults are retried at once, not over a minute
    harness = Harness(app, telegram, services, clock)

    async def capture(update: object, context: Any) -> None:
        harness.errors.append(context.error)

    # Errors fail the test instead of being logged (the app's own handler still runs first),
    # and so do failures the flows roll back and apologise for.
    app.add_error_handler(capture)
    services.service.on_failure = harness.errors.append
    async with app:
        yield harness
    # As `kollega run` stops: the sender's lanes end (mid-unit ones roll back) before the
    # engine is disposed (the services fixture), so no connection is left half-closed.
    await sender.close()


# --- the real `kollega run` process against the loopback Bot API stand-in ---------------------
@pytest.fixture
def standin() -> Iterator[BotApiStandin]:
    server = BotApiStandin().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bots() -> Iterator[Callable[..., BotProcess]]:
    """Make BotProcesses; every one is stopped (bounded, SIGKILL as last resort) at teardown."""
    made: list[BotProcess] = []

    def make(config: Path, **kwargs: Any) -> BotProcess:
        bot = BotProcess(config, **kwargs)
        made.append(bot)
        return bot

    yield make
    errors = []
    for bot in made:
        try:
            bot.stop()
        except Exception as error:  # stop the others anyway
            errors.append(error)
    assert not errors, errors
