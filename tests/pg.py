"""Which database the test suite runs on, and throwaway PostgreSQL databases for it.

One switch selects the database for the whole suite (``tests/conftest.py`` reads it):

- ``KOLLEGA_TEST_DATABASE=sqlite`` (the default): a SQLite file per test;
- ``KOLLEGA_TEST_DATABASE=postgres``: a PostgreSQL database per test, on the server at
  ``KOLLEGA_TEST_DATABASE_URL`` (default :data:`DEFAULT_SERVER_URL`); setting only
  ``KOLLEGA_TEST_DATABASE_URL`` selects PostgreSQL too. The URL names a database the suite
  may connect to for ``CREATE DATABASE`` (the ``postgres`` maintenance database is right);
  nothing in it is touched. ``KOLLEGA_TEST_POSTGRES_URL``, read by older tests, is taken
  as a synonym of ``KOLLEGA_TEST_DATABASE_URL``.

A PostgreSQL run makes ``kollega_test_<random>_tpl`` with the migrations applied, then for
each test ``CREATE DATABASE kollega_test_<random>_<n> TEMPLATE ..._tpl`` (a copy, a few tens
of milliseconds, where running the migrations would take about a hundred) and drops it after
the test; the few tests that need a database with no tables at all get a copy of
``..._empty`` instead. Everything named ``kollega_test_<random>_*`` is dropped at the end of
the run, so runs side by side on one server do not meet.

``python -m tests.pg probe`` says whether a server answers (exit 0) or not (exit 1);
the Makefile uses it to decide about the PostgreSQL pass.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

T = TypeVar("T")

DEFAULT_SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
SELECT = "KOLLEGA_TEST_DATABASE"
SERVER = "KOLLEGA_TEST_DATABASE_URL"
LEGACY_SERVER = "KOLLEGA_TEST_POSTGRES_URL"


class Selection:
    """The database the suite runs on, from the environment."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        choice = env.get(SELECT, "").strip().lower()
        url = env.get(SERVER, "").strip() or env.get(LEGACY_SERVER, "").strip()
        if choice in ("", "auto"):
            choice = "postgres" if url else "sqlite"
        if choice in ("postgresql", "pg"):
            choice = "postgres"
        if choice not in ("sqlite", "postgres"):
            raise ValueError(f"{SELECT} must be sqlite or postgres, got {choice!r}")
        self.kind = choice
        self.server_url = url or DEFAULT_SERVER_URL
        if self.postgres and not self.server_url.startswith("postgresql+asyncpg://"):
            raise ValueError(f"{SERVER} must start with postgresql+asyncpg://, got {self.server_url!r}")

    @property
    def postgres(self) -> bool:
        return self.kind == "postgres"

    def describe(self) -> str:
        return f"PostgreSQL at {shown(self.server_url)}" if self.postgres else "SQLite (a file per test)"


def shown(url: str) -> str:
    """A URL fit for printing: no password."""
    return make_url(url).render_as_string(hide_password=True)


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """``postgresql+asyncpg://...`` as asyncpg and the libpq tools (pg_dump, psql) spell it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected database name {name!r}")
    return f'"{name}"'


class Server:
    """Admin work on a PostgreSQL server (create and drop databases), from synchronous code.

    asyncpg runs in a private thread with its own event loop, so this never disturbs the
    event loop pytest-asyncio gives a test.
    """

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.run = f"kollega_test_{secrets.token_hex(4)}"
        self.template = f"{self.run}_tpl"
        self.empty_template = f"{self.run}_empty"
        self._numbers = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kollega-test-pg", daemon=True)
        self._thread.start()
        self._connection: Any = None

    # --- plumbing -------------------------------------------------------------------
    def _call(self, work: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    async def _admin(self) -> Any:
        import asyncpg

        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(libpq_url(self.server_url), timeout=5)
        return self._connection

    async def _execute(self, sql: str) -> None:
        await (await self._admin()).execute(sql)

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await (await self._admin()).fetch(sql, *args))

    # --- what the fixtures use ----------------------------------------------------------
    def ping(self) -> str:
        """The server's version string (raises if nobody answers)."""
        rows = self._call(self._fetch("SELECT version()"), timeout=10)
        return str(rows[0][0])

    def url(self, database: str) -> str:
        return with_database(self.server_url, database)

    def create(self, name: str, template: str = "template0") -> str:
        """A new, empty (``template0``) or copied database; returns its SQLAlchemy URL."""
        self._call(self._execute(f"CREATE DATABASE {quoted(name)} TEMPLATE {quoted(template)}"))
        return self.url(name)

    def fresh(self) -> tuple[str, str]:
        """A new database for one test, a copy of the migrated template: (name, url)."""
        name = f"{self.run}_{next(self._numbers)}"
        return name, self.create(name, self.template)

    def empty(self) -> tuple[str, str]:
        """A new database with nothing in it, not even the migrations: (name, url)."""
        name = f"{self.run}_{next(self._numbers)}"
        return name, self.create(name, self.empty_template)

    def drop(self, name: str) -> None:
        """Drop a database; connections still open to it (a killed process's) are ended."""
        self._call(self._execute(f"DROP DATABASE IF EXISTS {quoted(name)} WITH (FORCE)"))

    def make_templates(self) -> None:
        """The run's templates: an empty database, and one with every migration applied.

        (Copying a small database of our own is faster than copying ``template0``.)
        """
        from storage.db import create_engine, upgrade

        self.create(self.empty_template)
        url = self.create(self.template, self.empty_template)

        async def migrate() -> None:
            engine = create_engine(url)
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()

        self._call(migrate())

    def leftovers(self) -> list[str]:
        rows = self._call(self._fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{self.run}\\_%"))
        return sorted(str(r[0]) for r in rows)

    def close(self) -> None:
        """Drop every database this run made, then stop the thread."""
        try:
            for name in self.leftovers():
                self.drop(name)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Close the admin connection and stop the thread (databases stay)."""
        try:
            if self._connection is not None and not self._connection.is_closed():
                self._call(self._connection.close(), timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


def dump(url: str, path: Path) -> Path:
    """``pg_dump`` (plain SQL: schema and every row as text) of one database into ``path``."""
    tool = shutil.which("pg_dump")
    if tool is None:
        raise RuntimeError("pg_dump is not installed: the privacy scan on PostgreSQL reads a dump of the database")
    subprocess.run(
        [tool, "--no-owner", "--no-privileges", "--file", str(path), libpq_url(url)],
        check=True,
        timeout=60,
        capture_output=True,
    )
    return path


def probe(selection: Selection) -> tuple[bool, str]:
    """Whether the selected PostgreSQL server answers, and a line saying so."""
    server = Server(selection.server_url)
    try:
        version = server.ping()
    except Exception as error:
        return False, f"no PostgreSQL server answers at {shown(selection.server_url)} ({type(error).__name__}: {error})"
    finally:
        server.shutdown()
    return True, f"PostgreSQL answers at {shown(selection.server_url)}: {version.split(',')[0]}"


def main(argv: list[str]) -> int:
    if argv != ["probe"]:
        print("usage: python -m tests.pg probe", file=sys.stderr)
        return 2
    selection = Selection({**os.environ, SELECT: "postgres"})
    ok, line = probe(selection)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
