"""``kollega counsellor``, ``kollega coordinator`` and ``kollega invite``: the roster from the shell."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from flows.domain import Language, Pathway
from flows.roster import MAX_ALIAS
from flows.settings import county_code
from storage import roster
from storage.db import create_engine, sessionmaker, upgrade
from storage.sealing import Keyring

T = TypeVar("T")
INVITE_HOURS = 72


def add_commands(subparsers: Any) -> None:
    counsellor = subparsers.add_parser("counsellor", help="manage the peer supporters on the roster")
    c_sub = counsellor.add_subparsers(title="counsellor commands", metavar="TASK", required=True)
    add = c_sub.add_parser("add", help="put a counsellor on the roster (or update one)")
    add.add_argument("--telegram-id", type=int, required=True, help="their numeric Telegram user id")
    add.add_argument("--alias", required=True, help="the name doctors see")
    add.add_argument("--county", required=True, help="home county, e.g. Oslo or 'Møre og Romsdal'")
    add.add_argument("--serves", nargs="*", default=[], metavar="COUNTY", help="counties served (default: all)")
    add.add_argument("--pathways", default=",".join(p.value for p in Pathway), help="comma-separated (default: all)")
    add.add_argument("--languages", default="nb", help="comma-separated: nb,en (default: nb)")
    add.add_argument("--capacity", type=int, default=2, help="most open cases at once (default: 2)")
    add.set_defaults(func=run_counsellor_add)
    c_sub.add_parser("list", help="list the roster").set_defaults(func=run_counsellor_list)
    deactivate = c_sub.add_parser("deactivate", help="take a counsellor off duty for good")
    deactivate.add_argument("alias")
    deactivate.set_defaults(func=run_counsellor_deactivate)

    coordinator = subparsers.add_parser("coordinator", help="manage coordinators")
    k_sub = coordinator.add_subparsers(title="coordinator commands", metavar="TASK", required=True)
    k_add = k_sub.add_parser("add", help="add a coordinator")
    k_add.add_argument("--telegram-id", type=int, required=True)
    k_add.set_defaults(func=run_coordinator_add)
    k_sub.add_parser("list", help="list coordinators").set_defaults(func=run_coordinator_list)

    invite = subparsers.add_parser("invite", help="print a one-time code someone sends to the bot as /join CODE")
    invite.add_argument("role", choices=("counsellor", "coordinator"))
    invite.add_argument("--hours", type=float, default=INVITE_HOURS, help=f"valid for (default: {INVITE_HOURS})")
    invite.set_defaults(func=run_invite)


class _Usage(Exception):
    """A bad argument: one line on stderr, exit code 2."""


def _run(config: Config, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def go() -> T:
        engine = create_engine(config.database_url)
        try:
            await upgrade(engine)
            async with sessionmaker(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _guarded(action: Callable[[Config, argparse.Namespace], int]) -> Callable[[Config, argparse.Namespace], int]:
    def run(config: Config, args: argparse.Namespace) -> int:
        try:
            return action(config, args)
        except _Usage as error:
            print(f"kollega: {error}", file=sys.stderr)
            return 2
        except roster.RosterError as error:
            print(f"kollega: {error}", file=sys.stderr)
            return 1

    return run


def _county(config: Config, name: str, option: str) -> str:
    code = county_code(name)
    if code not in {c.code for c in config.flow.counties}:
        raise _Usage(f"{option}: unknown county {name!r} (known: {', '.join(c.name for c in config.flow.counties)})")
    return code


def _choices(raw: str, allowed: type[Pathway] | type[Language], option: str) -> list[str]:
    values = [v.strip() for v in raw.split(",") if v.strip()]
    known = [m.value for m in allowed]
    wrong = [v for v in values if v not in known]
    if wrong or not values:
        raise _Usage(f"{option}: expected a comma-separated list of {', '.join(known)}; got {raw!r}")
    return values


@_guarded
def run_counsellor_add(config: Config, args: argparse.Namespace) -> int:
    alias = " ".join(args.alias.split())
    if not alias or len(alias) > MAX_ALIAS:
        raise _Usage(f"--alias: must be 1 to {MAX_ALIAS} characters")
    if args.capacity < 1:
        raise _Usage(f"--capacity: must be at least 1, got {args.capacity}")
    county = _county(config, args.county, "--county")
    serves = [_county(config, name, "--serves") for name in args.serves]
    pathways = _choices(args.pathways, Pathway, "--pathways")
    languages = _choices(args.languages, Language, "--languages")
    pseudonym = Keyring(config.secret_key).pseudonym(args.telegram_id)
    _run(config, lambda s: roster.add_counsellor(
        s, telegram_id=args.telegram_id, alias=alias, pseudonym=pseudonym, county=county, serves=serves,
        pathways=pathways, languages=languages, capacity=args.capacity,
    ))  # fmt: skip
    summary = f"{county}; {', '.join(pathways)}; {', '.join(languages)}; up to {args.capacity}"
    print(f"Counsellor {alias!r} is on the roster ({summary}).")
    return 0


@_guarded
def run_counsellor_list(config: Config, args: argparse.Namespace) -> int:
    entries = _run(config, roster.list_counsellors)
    if not entries:
        print("No counsellors yet. Add one with `kollega counsellor add` or `kollega invite counsellor`.")
    for e in entries:
        state = ("available" if e.available else "away") if e.active else "deactivated"
        serves = ",".join(e.serves) or "all"
        print(f"{e.alias}\t{e.telegram_id}\t{e.home_county}\tserves={serves}\t{','.join(e.pathways)}\t"
              f"{','.join(e.languages)}\tcapacity={e.capacity}\t{state}")  # fmt: skip
    return 0


@_guarded
def run_counsellor_deactivate(config: Config, args: argparse.Namespace) -> int:
    _run(config, lambda s: roster.deactivate_counsellor(s, args.alias))
    print(f"Counsellor {args.alias!r} is deactivated and gets no new cases.")
    return 0


@_guarded
def run_coordinator_add(config: Config, args: argparse.Namespace) -> int:
    _run(config, lambda s: roster.add_coordinator(s, args.telegram_id))
    print(f"Coordinator {args.telegram_id} added.")
    return 0


@_guarded
def run_coordinator_list(config: Config, args: argparse.Namespace) -> int:
    for telegram_id in _run(config, roster.list_coordinators):
        print(telegram_id)
    return 0


@_guarded
def run_invite(config: Config, args: argparse.Namespace) -> int:
    if not 0 < args.hours <= 24 * 30:
        raise _Usage(f"--hours: must be between 0 and 720, got {args.hours}")
    code = roster.new_invite_code()
    expires = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=args.hours)
    code_hash = Keyring(config.secret_key).invite_hash(code)
    _run(config, lambda s: roster.create_invite(s, args.role, code_hash, expires))
    print(code)
    print(f"One-time {args.role} code, valid until {expires:%Y-%m-%d %H:%M} UTC. They send the bot: /join {code}",
          file=sys.stderr)  # fmt: skip
    return 0
