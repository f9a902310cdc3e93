"""The ``kollega`` command: one entry point with subcommands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import secrets
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.cli import keys, roster, stats
from bot.cli.common import config_option, database, database_error
from bot.config import Config, ConfigError, load

__all__ = ["build_parser", "main"]

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def main(argv: list[str] | None = None) -> int:
    # PTB 22 reports flood-control waits as numbers with a deprecation warning, or as
    # timedeltas when asked to: the form its next major version will use (bot/outbox.py).
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "needs_config", False):
            config = load(
                Path(args.config), require_token=args.needs_token, strong_secret=not getattr(args, "weak_secret_ok", False)
            )
            return int(args.func(config, args))
        return int(args.func(args))
    except ConfigError as error:
        print(f"kollega: config error: {error}", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        print(f"kollega: {database_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kollega", description="Confidential peer support for doctors, on Telegram.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    init = sub.add_parser("init", help="write config.toml with fresh secrets")
    init.add_argument("--config", default="config.toml", help="where to write (default: config.toml)")
    init.set_defaults(func=run_init)

    run = sub.add_parser(
        "run", parents=[config_option(require_token=True)], help="run the bot (long polling, or webhook when configured)"
    )
    run.set_defaults(func=run_bot)

    try_out = sub.add_parser("try", help="play the doctor's conversation in this terminal, no bot token needed")
    try_out.add_argument("--language", choices=("nb", "en"), default=None)
    try_out.set_defaults(func=run_try)

    db = sub.add_parser("db", help="database tasks")
    db_sub = db.add_subparsers(title="database commands", metavar="TASK")
    db_sub.add_parser("upgrade", parents=[config_option()], help="apply migrations").set_defaults(func=run_db_upgrade)

    flow = sub.add_parser("flow", help="print the triage flow as a mermaid diagram")
    flow.set_defaults(func=run_flow)

    roster.add_commands(sub)
    stats.add_commands(sub)
    keys.add_commands(sub)
    return parser


def run_init(args: argparse.Namespace) -> int:
    target = Path(args.config)
    text = EXAMPLE.read_text(encoding="utf-8")
    text = _fill(text, "secret_key", secrets.token_urlsafe(32))
    text = _fill(text, "webhook_secret", secrets.token_urlsafe(32))
    try:
        # Created exclusively and private from the first byte: no window where the
        # secrets are readable by others, and no race with an existing file.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"kollega: {target} already exists; not overwriting it.", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"kollega: cannot create {target}: {error.strerror}", file=sys.stderr)
        return 1
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"Wrote {target} with fresh secrets. Put your bot token in [telegram] token, then: kollega run --config {target}")
    return 0


def _fill(text: str, key: str, value: str) -> str:
    return re.sub(rf'^({key}\s*=\s*)""', rf'\1"{value}"', text, count=1, flags=re.MULTILINE)


def setup_logging() -> None:
    from bot import logsafety

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Third-party records (PTB's raw update dumps, httpx URLs, tracebacks...) can carry a
    # doctor's content or the bot token: every handler rewrites them before they are written.
    logsafety.install(logging.getLogger())
    # httpx logs every request URL at INFO, and the URL holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(logging.WARNING)
    # transitions logs every step change with a millisecond timestamp ("mark_urgent"...):
    # event times are kept to the hour, so the logs must not keep them finer.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    # Tornado logs a line per timed-out or oversized webhook body, with the client's address;
    # bot.webhook counts refusals and logs a summary at most once a minute instead.
    logging.getLogger("tornado.general").setLevel(logging.WARNING)
    # Alembic narrates every start-up's migration check; its word is only needed when it fails.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def run_bot(config: Config, args: argparse.Namespace) -> int:
    from bot.app import RotationUnfinished, build_application
    from bot.serve import serve
    from storage.runlock import InUse

    setup_logging()
    logging.getLogger("kollega").info("starting %s", "in webhook mode" if config.webhook_url else "with long polling")
    try:
        return asyncio.run(serve(build_application(config), config))
    except (InUse, RotationUnfinished) as error:
        print(f"kollega: {error}", file=sys.stderr)
        return 2


def run_db_upgrade(config: Config, args: argparse.Namespace) -> int:
    async def go() -> None:
        async with database(config, migrate=True):
            pass

    asyncio.run(go())
    print("Database is up to date.")
    return 0


def run_try(args: argparse.Namespace) -> int:
    from bot.terminal import try_out

    return asyncio.run(try_out(args.language))


def run_flow(args: argparse.Namespace) -> int:
    from flows.diagram import mermaid

    print(mermaid())
    return 0
