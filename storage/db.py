"""Engine, sessions and migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"

ONE_AT_A_TIME = 0x4B6F6C6C65676131
"""PostgreSQL advisory lock key ("Kollega1") every transaction takes first; see create_engine."""
LOCK_TIMEOUT = "30s"
"""How long a PostgreSQL transaction waits for that lock (SQLite's busy_timeout is 30 s too)."""


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite files run in WAL mode with foreign keys on.

    On both databases transactions run one at a time, across every process that shares
    the database: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by a transaction-scoped
    advisory lock taken before the first statement (see ``_one_at_a_time``).
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    elif url.startswith("postgresql"):
        kwargs.setdefault("connect_args", {"server_settings": {"lock_timeout": LOCK_TIMEOUT}})
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # The driver's own implicit BEGIN is switched off; _begin_immediate below
            # starts every transaction instead (SQLAlchemy's documented recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Deleted rows are overwritten with zeros, in the table and index pages and on the
            # free list, whatever this libsqlite3 was compiled with; and the WAL is cut back to
            # nothing whenever it restarts, so old frames do not linger at its end (scrub).
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.execute("PRAGMA journal_size_limit=0")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # One writer at a time from the first statement on: two transactions that
            # race (two Accept presses) queue behind each other instead of one failing
            # with "database is locked" when it upgrades from reading to writing.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    elif engine.dialect.name == "postgresql":

        @event.listens_for(engine.sync_engine, "begin")
        def _one_at_a_time(connection: Any) -> None:
            # Why one lock for every transaction rather than row locks in the routing queries:
            # the flows were written for SQLite, where BEGIN IMMEDIATE makes every transaction
            # see the committed result of the one before it. Routing relies on that: dispatch
            # reads the queue and every counsellor's load, then creates offers, and two
            # processes doing so at once would offer one case twice or exceed a capacity.
            # Locks taken inside dispatch come too late, whether row locks (FOR UPDATE SKIP
            # LOCKED on the queue keeps a case from being offered twice but not a capacity
            # from being exceeded; FOR UPDATE on the counsellors would) or an advisory lock:
            # its callers (close, decline, a missed deadline, /available) have already updated
            # case and counsellor rows by then, so two of them would each wait for rows the
            # other holds, and PostgreSQL would abort one as a deadlock. Taken as the first
            # statement, before any row is touched, one lock cannot deadlock; it is released
            # at COMMIT or ROLLBACK, and under READ COMMITTED the next holder's statements see
            # everything the previous one committed. It also serialises `kollega run` processes that
            # apply migrations at the same start-up. Transactions here are milliseconds long
            # and never wait on Telegram, so this costs what SQLite's writer lock costs and
            # keeps both databases with the same guarantees. Advisory locks are per database,
            # so other databases on the same server are not affected.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ONE_AT_A_TIME})")

    return engine


ERASED_TABLES = ("drafts", "cases", "offers", "timers", "outbox", "relay_messages", "counsellors")
"""Tables whose rows name a doctor (pseudonym, case code, sealed chat; a counsellor's focus
case): rewritten by scrub."""


async def scrub(engine: AsyncEngine) -> bool:
    """Make what was deleted unreadable on disk too (docs/threat-model.md); True when done.

    SQLite: deleted cells are already zeroed (``secure_delete``); a TRUNCATE checkpoint then
    copies the WAL into the database and cuts it to zero bytes, so no older version of a
    page (with the deleted rows in it) survives in the WAL. It needs every other connection
    to be reading the newest snapshot; when one is not, it reports busy and the next scrub
    finishes the job.

    PostgreSQL: an UPDATE or DELETE leaves the old row version (a dead tuple) in its page,
    and plain VACUUM frees its space without overwriting it. ``VACUUM FULL`` writes each
    table anew and drops the old files. It takes each table's exclusive lock for the few
    milliseconds a small table needs; those tables hold only what is open, so stay small.
    Its own write-ahead log, archives and replicas are outside this (see the threat model).
    """
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        if engine.dialect.name == "sqlite":
            cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, *_ = await cursor.fetchone()
            await cursor.close()
            return not busy
        if engine.dialect.name == "postgresql":
            await driver.execute(f"VACUUM FULL {', '.join(ERASED_TABLES)}")
            return True
    return False


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection, revision: str, keyring: Any) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    config.attributes["keyring"] = keyring
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head", keyring: Any = None) -> None:
    """Apply migrations up to ``revision`` (Alembic) on this engine.

    ``keyring`` (a ``storage.sealing.Keyring``) is for the revisions that seal what an
    older one kept in the clear; without it they refuse to run on a database with rows.
    """
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision, keyring)
