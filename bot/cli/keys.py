"""``kollega keys rotate``: a new secret, everything re-keyed to it in one transaction.

1. Refuses while a ``kollega run`` uses the database (storage.runlock), or when the
   secret comes from ``KOLLEGA_SECRET_KEY`` (the command writes the config file).
2. Writes the config with a new ``secret_key`` and the old one under
   ``retired_keys`` (atomically, readable only by its owner). From here on the new key
   is the one everything is sealed under; the old one only reads.
3. In one transaction, re-seals and re-keys everything to the new key (storage.rekey).
4. Checks that nothing is sealed under a retired key any more, and writes the config
   again without the retired keys: the old secret is gone from the file.

If the command dies between 2 and 4, the config holds both keys and the bot refuses to
start ("a key rotation did not finish"); ``kollega keys rotate --finish`` does steps 3
and 4 without making another secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from bot.cli.common import Usage, config_option, database, one_line_errors, options
from bot.config import Config, load
from storage.db import ALL_TABLES, scrub, sessionmaker
from storage.rekey import Rekeyed, rekey, under_retired
from storage.runlock import InUse, holding
from storage.sealing import SealBroken


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="the service secret: rotate it")
    keys_sub = keys.add_subparsers(title="keys commands", metavar="COMMAND")
    own = options()
    own.add_argument("--finish", action="store_true", help="complete a rotation that was interrupted (no new secret is made)")
    rotate = keys_sub.add_parser(
        "rotate", parents=[own, config_option()], help="make a new secret and re-key everything to it (bot stopped)"
    )
    # A guessable secret is refused everywhere else; rotating is how to get rid of one.
    rotate.set_defaults(func=run_rotate, weak_secret_ok=True)


class Unfinished(Exception):
    """The re-keying left something under a retired key (and was rolled back)."""


@one_line_errors("kollega keys rotate", failures=(InUse, OSError, SealBroken, Unfinished))
def run_rotate(config: Config, args: argparse.Namespace) -> int:
    path = Path(args.config)
    if os.environ.get("KOLLEGA_SECRET_KEY"):
        raise Usage("the secret comes from KOLLEGA_SECRET_KEY, and this command writes the config file: move it there first")
    if args.finish and not config.retired_keys:
        raise Usage("no rotation to finish: the config has no retired keys")
    if not args.finish and config.retired_keys:
        raise Usage("a rotation did not finish: run `kollega keys rotate --finish` first")
    config, report = asyncio.run(_rotate(config, path, fresh=not args.finish))
    print(
        f"Re-keyed to key {config.keyring().current.id}: {report.drafts} drafts, {report.cases} cases, "
        f"{report.counsellors} counsellors, {report.outbox} messages owed, {report.statistics_cells} statistics cells."
    )
    if report.invites_voided:
        print(f"{report.invites_voided} unused invite codes no longer work: make new ones with `kollega invite`.")
    if report.dropped:
        print(f"{report.dropped} drafts or ended cases held no chat to re-key from and were erased.")
    print("The old secret is gone from the config. Buttons sent before (feedback, follow-up) now say they are out of date.")
    return 0


async def _rotate(config: Config, path: Path, *, fresh: bool) -> tuple[Config, Rekeyed]:
    """Steps 2 to 4 of the module's docstring, holding the database alone throughout."""
    async with database(config) as engine, holding(engine, exclusive=True):
        original = path.read_bytes()  # noqa: ASYNC240 - a small file, read once
        if fresh:
            _write_keys(path, secrets.token_urlsafe(32), [config.secret_key])
            config = load(path, require_token=False, strong_secret=False)
        try:
            report = await _rekey(engine, config)
        except BaseException:
            if fresh:  # the database was not changed: neither is the config
                _replace(path, original)
            raise
        # Every table was rewritten: no version of a row under the old key stays on disk.
        await scrub(engine, ALL_TABLES)
        _write_keys(path, config.secret_key, [])
    return load(path, require_token=False), report


async def _rekey(engine: Any, config: Config) -> Rekeyed:
    keyring = config.keyring()
    async with sessionmaker(engine).begin() as session:
        report = await rekey(session, keyring, [county.code for county in config.flow.counties])
        left = await under_retired(session, keyring)
        if left:
            raise Unfinished(f"{left} sealed values would still be under a retired key; the database was not changed")
    return report


SECRET_LINE = re.compile(r'^(\s*secret_key\s*=\s*)"(?:[^"\\\n]|\\.)*"[ \t]*$', re.MULTILINE)
RETIRED_LINE = re.compile(r"^\s*retired_keys\s*=.*\n?", re.MULTILINE)


def _write_keys(path: Path, secret: str, retired: list[str]) -> None:
    """Put ``secret`` (and ``retired``) in the config's [secrets] table, replacing the file at once."""
    text = path.read_text(encoding="utf-8")
    if not SECRET_LINE.search(text):
        raise Usage(f'{path} has no `secret_key = "..."` line in [secrets] for this command to replace')
    text = RETIRED_LINE.sub("", text)
    # JSON's string escapes are TOML's basic-string escapes: any secret is written as itself.
    extra = ("\nretired_keys = [" + ", ".join(json.dumps(old) for old in retired) + "]") if retired else ""
    text = SECRET_LINE.sub(lambda m: f"{m.group(1)}{json.dumps(secret)}{extra}", text, count=1)
    _replace(path, text.encode("utf-8"))


def _replace(path: Path, content: bytes) -> None:
    """Replace the file at once (a new file renamed over it), readable by its owner only."""
    temporary = path.with_name(f".{path.name}.rotating")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
