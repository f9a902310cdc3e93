"""Who is using the database: a running bot shares it, a key rotation needs it alone.

``kollega run`` holds the shared lock for as long as it runs; ``kollega keys rotate``
takes the exclusive one without waiting, so it refuses while any bot runs (a bot still
on the old key would not recognise a re-keyed doctor, and would seal under that key).

- SQLite: ``flock`` on a file of its own beside the database (``kollega.db-run.lock``), never
  on the database file itself: closing any descriptor of that file would drop SQLite's own
  (POSIX) locks on it in this process. The kernel drops the flock when the process ends,
  however it ends; the empty file stays.
- PostgreSQL: a session advisory lock on a connection of its own, kept open meanwhile
  (outside SQLAlchemy's transactions, so the per-transaction lock of storage.db is not
  taken); the server drops it when the connection ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

RUN_LOCK = 0x4B6F6C6C65676152
"""PostgreSQL advisory lock key ("KollegaR")."""


class InUse(Exception):
    """Another process holds the database (a running bot)."""


@asynccontextmanager
async def holding(engine: AsyncEngine, *, exclusive: bool) -> AsyncIterator[None]:
    """Hold the run lock, shared (a bot) or exclusive (a rotation; raises InUse at once if taken)."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:":
            yield
            return
        fd = os.open(f"{path}-run.lock", os.O_RDONLY | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InUse(_busy(exclusive)) from None
            yield
        finally:
            os.close(fd)
        return
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        function = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
        if not await driver.fetchval(f"SELECT {function}($1)", RUN_LOCK):
            raise InUse(_busy(exclusive))
        try:
            yield
        finally:
            unlock = "pg_advisory_unlock" if exclusive else "pg_advisory_unlock_shared"
            await driver.fetchval(f"SELECT {unlock}($1)", RUN_LOCK)


def _busy(exclusive: bool) -> str:
    if exclusive:
        return "a `kollega run` is using this database: stop it first"
    return "`kollega keys rotate` is re-keying this database: start the bot when it is done"
