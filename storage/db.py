"""Engine, sessions and migrations."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

ONE_AT_A_TIME = 0x4B6F6C6C65676131
"""PostgreSQL advisory lock key ("Kollega1") every transaction takes first; see create_engine."""
LOCK_TIMEOUT = "30s"
SCRUB_LOCK_TIMEOUT = "500ms"
"""How long the scrub's VACUUM FULL waits for a table's lock before it gives up until later."""
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


ALL_TABLES = (*ERASED_TABLES, "event_counts", "invites", "processed_updates", "coordinators")
"""Everything: after a key rotation or a migration, which rewrite every table."""


async def scrub(engine: AsyncEngine, tables: Sequence[str] = ERASED_TABLES) -> bool:
    """Make what was deleted unreadable on disk too (docs/threat-model.md section 4); True when done.

    SQLite: deleted cells are already zeroed (``secure_delete``); a TRUNCATE checkpoint then
    copies the WAL into the database and cuts it to zero bytes, so no older version of a
    page (with the deleted rows in it) survives in the WAL. It needs every other connection
    to be reading the newest snapshot. It does not wait for one that is not (busy timeout 0
    for the checkpoint): it reports busy, and the store tries again after the next unit.

    PostgreSQL: an UPDATE or DELETE leaves the old row version (a dead tuple) in its page,
    and plain VACUUM frees its space without overwriting it. ``VACUUM FULL`` writes each
    table anew and drops the old files. It needs each table's exclusive lock; it waits for
    one at most ``SCRUB_LOCK_TIMEOUT`` (then it is tried again later), and those tables
    hold only what is open, so stay small. A table this role does not own is skipped by
    PostgreSQL with a warning: that is reported as not done. Its own write-ahead log,
    archives and replicas are outside this (see the threat model).
    """
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        if engine.dialect.name == "sqlite":
            await driver.execute("PRAGMA busy_timeout=0")
            try:
                cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, *_ = await cursor.fetchone()
                await cursor.close()
            finally:
                await driver.execute("PRAGMA busy_timeout=30000")
            return not busy
        if engine.dialect.name == "postgresql":
            skipped: list[str] = []

            def listen(_connection: Any, message: Any) -> None:
                if "skipping" in str(getattr(message, "message", message)):
                    skipped.append(str(message))

            driver.add_log_listener(listen)
            try:
                await driver.execute(f"SET lock_timeout = '{SCRUB_LOCK_TIMEOUT}'")
                await driver.execute(f"VACUUM FULL {', '.join(tables)}")
            finally:
                driver.remove_log_listener(listen)
                await driver.execute("RESET lock_timeout")
            if skipped:
                log.warning("scrub: VACUUM FULL skipped %d tables this database role does not own", len(skipped))
            return not skipped
    return False


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection, revision: str, keyring: Any) -> bool:
    """Upgrade; True when a database that had a schema was changed (so its files are scrubbed)."""
    before = MigrationContext.configure(connection).get_current_revision()
    config = alembic_config()
    config.attributes["connection"] = connection
    config.attributes["keyring"] = keyring
    command.upgrade(config, revision)
    return before is not None and MigrationContext.configure(connection).get_current_revision() != before


async def upgrade(engine: AsyncEngine, revision: str = "head", keyring: Any = None) -> None:
    """Apply migrations up to ``revision`` (Alembic) on this engine.

    ``keyring`` (a ``storage.sealing.Keyring``) is for the revisions that seal what an
    older one kept in the clear; without it they refuse to run on a database with rows.
    """
    async with engine.begin() as connection:
        changed = await connection.run_sync(_upgrade, revision, keyring)
    if changed:
        # A revision may rewrite rows (0003 sealed what was in the clear): no old version stays.
        await scrub(engine, ALL_TABLES)
