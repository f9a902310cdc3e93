"""What the ``kollega`` commands share: the ``--config`` option, one-line errors, the database's lifetime."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.config import Config
from storage.db import ERASED_TABLES, create_engine, scrub, sessionmaker, upgrade

T = TypeVar("T")
Command = Callable[[Config, argparse.Namespace], int]
"""A command that reads the configuration: main() loads it and passes it in; returns the exit code."""


class Usage(Exception):
    """A bad argument or option: one line on stderr, exit code 2."""


def config_option(require_token: bool = False) -> argparse.ArgumentParser:
    """``--config``, for ``parents=``: main() loads that file and hands the command a Config."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", default="config.toml", help="config file (default: config.toml)")
    parent.set_defaults(needs_config=True, needs_token=require_token)
    return parent


def options() -> argparse.ArgumentParser:
    """A command's own options, for ``parents=`` before config_option(): --help lists them first."""
    return argparse.ArgumentParser(add_help=False)


def database_error(error: SQLAlchemyError) -> str:
    """One line, without the SQL and parameters SQLAlchemy appends: "database error: no such table: events"."""
    cause = getattr(error, "orig", None) or error
    first = (str(cause).splitlines() or [type(error).__name__])[0]
    return f"database error: {first}"


def one_line_errors(prog: str = "kollega", failures: tuple[type[Exception], ...] = ()) -> Callable[[Command], Command]:
    """Report a command's expected failures as one line on stderr, led by ``prog``.

    Usage exits 2; a database error, or one of ``failures``, exits 1.
    """

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def run(config: Config, args: argparse.Namespace) -> int:
            try:
                return command(config, args)
            except Usage as error:
                print(f"{prog}: {error}", file=sys.stderr)
                return 2
            except SQLAlchemyError as error:
                print(f"{prog}: {database_error(error)}", file=sys.stderr)
                return 1
            except failures as error:
                print(f"{prog}: {error}", file=sys.stderr)
                return 1

        return run

    return decorate


@asynccontextmanager
async def database(config: Config, migrate: bool = True) -> AsyncIterator[AsyncEngine]:
    """An engine on the configured database, migrated to the latest schema first unless told not to; disposed after."""
    engine = create_engine(config.database_url)
    try:
        if migrate:
            await upgrade(engine, keyring=config.keyring())
        yield engine
    finally:
        await engine.dispose()


def run(config: Config, work: Callable[[AsyncSession], Awaitable[T]], migrate: bool = True, erases: bool = False) -> T:
    """``work`` in one transaction on the configured database, from a synchronous command.

    ``erases``: the work deletes what names a doctor, so the files are scrubbed after it
    (``storage.db.scrub``), as the running bot does after such a unit of work.
    """

    async def go() -> T:
        async with database(config, migrate) as engine:
            async with sessionmaker(engine).begin() as session:
                result = await work(session)
            if erases and not await scrub(engine, (*ERASED_TABLES, "event_counts")):
                print("kollega: the database files could not be scrubbed now; the running bot does it later", file=sys.stderr)
            return result

    return asyncio.run(go())
