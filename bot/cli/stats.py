"""``kollega stats export`` and ``kollega purge``: statistics and retention from the shell.

Operators run these, so like the rest of the CLI they speak English on
stdout/stderr; what they export holds codes and numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Config
from flows.disclosure import Published, write_csv, write_json
from storage.db import create_engine, sessionmaker
from storage.retention import PurgeReport, purge
from storage.statistics import Period, published_statistics


def add_commands(subparsers: Any) -> None:
    """Register ``stats export`` and ``purge`` on the ``kollega`` command."""
    stats = subparsers.add_parser("stats", help="anonymous statistics")
    stats_sub = stats.add_subparsers(title="statistics commands", metavar="TASK", required=True)
    export = stats_sub.add_parser(
        "export",
        help="export counts and durations, small numbers suppressed (see docs/statistics.md)",
        description="Export the anonymous statistics. Counts from 1 to privacy.min_cell - 1 are suppressed.",
    )
    export.add_argument("--format", choices=("csv", "json"), default="csv", help="default: csv")
    export.add_argument("--period", choices=[p.value for p in Period], default=Period.MONTH.value, help="default: month")
    export.add_argument("--since", metavar="YYYY-MM-DD", help="first day; widened to the start of its week or month")
    export.add_argument("--until", metavar="YYYY-MM-DD", help="last day; widened to the end of its week or month")
    export.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    _config_option(export)
    export.set_defaults(func=run_stats_export)

    purge_command = subparsers.add_parser(
        "purge",
        help="delete old events, expired drafts and ended cases' contact data",
        description="Apply the retention rules now (the running bot also does this daily).",
    )
    _config_option(purge_command)
    purge_command.set_defaults(func=run_purge)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="config.toml", help="config file (default: config.toml)")


def _date(args: argparse.Namespace, option: str) -> date | None:
    raw = getattr(args, option)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _Usage(f"--{option}: {raw!r} is not a date (expected YYYY-MM-DD, e.g. 2026-11-01)") from None


def _one_line(error: SQLAlchemyError) -> str:
    """The driver's message without the SQL SQLAlchemy appends (e.g. "no such table: events")."""
    cause = getattr(error, "orig", None) or error
    return (str(cause).splitlines() or [error.__class__.__name__])[0]


class _Usage(Exception):
    """A bad option: one line on stderr, exit code 2."""


def run_stats_export(config: Config, args: argparse.Namespace) -> int:
    """Write the published statistics as CSV or JSON; 2 on a bad option, 1 on a database error."""
    try:
        since, until = _date(args, "since"), _date(args, "until")
        if since and until and until < since:
            raise _Usage(f"--until: {until} is before --since {since}")
    except _Usage as problem:
        print(f"kollega stats export: {problem}", file=sys.stderr)
        return 2
    period = Period(args.period)
    try:
        rows = asyncio.run(_published(config, period, since, until))
    except SQLAlchemyError as error:
        print(f"kollega stats export: database error: {_one_line(error)}", file=sys.stderr)
        return 1
    about = {
        "period": period.value,
        "min_cell": config.min_cell,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    try:
        with _output(args.out) as out:
            if args.format == "json":
                write_json(rows, out, about)
            else:
                write_csv(rows, out)
    except BrokenPipeError:
        # Piped into `head` and the like: stop quietly; silence the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


async def _published(config: Config, period: Period, since: date | None, until: date | None) -> list[Published]:
    engine = create_engine(config.database_url)
    try:
        async with sessionmaker(engine)() as session:
            counties = [county.code for county in config.flow.counties]
            return await published_statistics(session, period, config.min_cell, since, until, counties)
    finally:
        await engine.dispose()


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        yield out


def run_purge(config: Config, args: argparse.Namespace) -> int:
    """Purge now and print how many rows of each kind went."""
    try:
        report = asyncio.run(_purge(config, datetime.now(UTC).replace(tzinfo=None)))
    except SQLAlchemyError as error:
        print(f"kollega purge: database error: {_one_line(error)}", file=sys.stderr)
        return 1
    print(describe(report))
    return 0


async def _purge(config: Config, now: datetime) -> PurgeReport:
    engine = create_engine(config.database_url)
    try:
        async with sessionmaker(engine).begin() as session:
            return await purge(session, now, config.retention_policy())
    finally:
        await engine.dispose()


def describe(report: PurgeReport) -> str:
    return "\n".join(
        [
            f"events from before {report.events_before.isoformat()} deleted: {report.events}",
            f"expired drafts deleted: {report.drafts}",
            f"ended cases with contact data erased: {report.cases_cleared}",
            f"old ended cases deleted: {report.cases}",
            f"timers deleted: {report.timers}",
        ]
    )
