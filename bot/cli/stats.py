"""``kollega stats export`` and ``kollega purge``: statistics and retention from the shell.

Operators run these, so like the rest of the CLI they speak English on
stdout/stderr; what they export holds codes and numbers only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from bot.cli.common import Usage, config_option, one_line_errors, options, run
from bot.config import Config
from flows.clock import utcnow
from flows.disclosure import write_csv, write_json
from flows.periods import Period
from storage.retention import PurgeReport, purge
from storage.statistics import published_statistics


def add_commands(subparsers: Any) -> None:
    """Register ``stats export`` and ``purge`` on the ``kollega`` command."""
    config = config_option()
    stats = subparsers.add_parser("stats", parents=[config], help="anonymous statistics")
    stats_sub = stats.add_subparsers(title="statistics commands", metavar="TASK", required=True)
    export = options()  # before --config, as --help has always listed them
    export.add_argument("--format", choices=("csv", "json"), default="csv", help="default: csv")
    export.add_argument("--period", choices=[p.value for p in Period], default=Period.MONTH.value, help="default: month")
    export.add_argument("--since", metavar="YYYY-MM-DD", help="first day; widened to the start of its week or month")
    export.add_argument("--until", metavar="YYYY-MM-DD", help="last day; widened to the end of its week or month")
    export.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    stats_sub.add_parser(
        "export",
        parents=[export, config],
        help="export counts and durations, small numbers suppressed (see docs/statistics.md)",
        description="Export the anonymous statistics. Counts from 1 to privacy.min_cell - 1 are suppressed.",
    ).set_defaults(func=run_stats_export)

    subparsers.add_parser(
        "purge",
        parents=[config],
        help="delete old event counts, expired drafts and ended cases' contact data",
        description="Apply the retention rules now (the running bot also does this daily).",
    ).set_defaults(func=run_purge)


def _date(args: argparse.Namespace, option: str) -> date | None:
    raw = getattr(args, option)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Usage(f"--{option}: {raw!r} is not a date (expected YYYY-MM-DD, e.g. 2026-11-01)") from None


@one_line_errors("kollega stats export")
def run_stats_export(config: Config, args: argparse.Namespace) -> int:
    """Write the published statistics as CSV or JSON; 2 on a bad option, 1 on a database error."""
    since, until = _date(args, "since"), _date(args, "until")
    if since and until and until < since:
        raise Usage(f"--until: {until} is before --since {since}")
    period = Period(args.period)
    counties = [county.code for county in config.flow.counties]
    rows = run(
        config,
        lambda s: published_statistics(s, period, config.min_cell, since, until, counties, config.keyring()),
        migrate=False,
    )
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


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        yield out


@one_line_errors("kollega purge")
def run_purge(config: Config, args: argparse.Namespace) -> int:
    """Purge now and print how many rows of each kind went."""
    report = run(config, lambda s: purge(s, utcnow(), config.retention_policy()), migrate=False, erases=True)
    print(describe(report))
    return 0


def describe(report: PurgeReport) -> str:
    return "\n".join(
        [
            f"event count rows from before {report.events_before.isoformat()} deleted: {report.events}",
            f"expired drafts deleted: {report.drafts}",
            f"ended cases with contact data erased: {report.cases_cleared}",
            f"old ended cases deleted: {report.cases}",
            f"timers deleted: {report.timers}",
        ]
    )
