"""``kollega counsellor``, ``kollega coordinator`` and ``kollega invite``: the roster from the shell."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

from bot.cli.common import Usage, config_option, one_line_errors, options, run
from bot.config import Config
from flows.clock import utcnow
from flows.domain import Language, Pathway
from flows.roster import MAX_ALIAS
from flows.settings import county_code
from storage import roster

INVITE_HOURS = 72


def add_commands(subparsers: Any) -> None:
    # A command's own options come before the shared --config, as --help has always listed them.
    config = config_option()
    counsellor = subparsers.add_parser("counsellor", parents=[config], help="manage the peer supporters on the roster")
    c_sub = counsellor.add_subparsers(title="counsellor commands", metavar="TASK", required=True)
    add_options = options()
    add_options.add_argument("--telegram-id", type=int, required=True, help="their numeric Telegram user id")
    add_options.add_argument("--alias", required=True, help="the name doctors see")
    add_options.add_argument("--county", required=True, help="home county, e.g. Oslo or 'Møre og Romsdal'")
    add_options.add_argument("--serves", nargs="*", default=[], metavar="COUNTY", help="counties served (default: all)")
    add_options.add_argument("--pathways", default=",".join(p.value for p in Pathway), help="comma-separated (default: all)")
    add_options.add_argument("--languages", default="nb", help="comma-separated: nb,en (default: nb)")
    add_options.add_argument("--capacity", type=int, default=2, help="most open cases at once (default: 2)")
    add = c_sub.add_parser("add", parents=[add_options, config], help="put a counsellor on the roster (or update one)")
    add.set_defaults(func=run_counsellor_add)
    c_sub.add_parser("list", parents=[config], help="list the roster").set_defaults(func=run_counsellor_list)
    alias = options()
    alias.add_argument("alias")
    deactivate = c_sub.add_parser("deactivate", parents=[alias, config], help="take a counsellor off duty for good")
    deactivate.set_defaults(func=run_counsellor_deactivate)

    coordinator = subparsers.add_parser("coordinator", parents=[config], help="manage coordinators")
    k_sub = coordinator.add_subparsers(title="coordinator commands", metavar="TASK", required=True)
    telegram_id = options()
    telegram_id.add_argument("--telegram-id", type=int, required=True)
    k_sub.add_parser("add", parents=[telegram_id, config], help="add a coordinator").set_defaults(func=run_coordinator_add)
    k_sub.add_parser("list", parents=[config], help="list coordinators").set_defaults(func=run_coordinator_list)

    invite_options = options()
    invite_options.add_argument("role", choices=("counsellor", "coordinator"))
    invite_options.add_argument("--hours", type=float, default=INVITE_HOURS, help=f"valid for (default: {INVITE_HOURS})")
    invite = subparsers.add_parser(
        "invite", parents=[invite_options, config], help="print a one-time code someone sends to the bot as /join CODE"
    )
    invite.set_defaults(func=run_invite)


_guarded = one_line_errors(failures=(roster.RosterError,))


def _county(config: Config, name: str, option: str) -> str:
    code = county_code(name)
    if code not in {c.code for c in config.flow.counties}:
        raise Usage(f"{option}: unknown county {name!r} (known: {', '.join(c.name for c in config.flow.counties)})")
    return code


def _choices(raw: str, allowed: type[Pathway] | type[Language], option: str) -> list[str]:
    values = [v.strip() for v in raw.split(",") if v.strip()]
    known = [m.value for m in allowed]
    wrong = [v for v in values if v not in known]
    if wrong or not values:
        raise Usage(f"{option}: expected a comma-separated list of {', '.join(known)}; got {raw!r}")
    return values


@_guarded
def run_counsellor_add(config: Config, args: argparse.Namespace) -> int:
    alias = " ".join(args.alias.split())
    if not alias or len(alias) > MAX_ALIAS:
        raise Usage(f"--alias: must be 1 to {MAX_ALIAS} characters")
    if args.capacity < 1:
        raise Usage(f"--capacity: must be at least 1, got {args.capacity}")
    county = _county(config, args.county, "--county")
    serves = [_county(config, name, "--serves") for name in args.serves]
    pathways = _choices(args.pathways, Pathway, "--pathways")
    languages = _choices(args.languages, Language, "--languages")
    pseudonym = config.keyring().pseudonym(args.telegram_id)
    run(config, lambda s: roster.add_counsellor(
        s, telegram_id=args.telegram_id, alias=alias, pseudonym=pseudonym, county=county, serves=serves,
        pathways=pathways, languages=languages, capacity=args.capacity,
    ))  # fmt: skip
    summary = f"{county}; {', '.join(pathways)}; {', '.join(languages)}; up to {args.capacity}"
    print(f"Counsellor {alias!r} is on the roster ({summary}).")
    return 0


@_guarded
def run_counsellor_list(config: Config, args: argparse.Namespace) -> int:
    entries = run(config, roster.list_counsellors)
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
    run(config, lambda s: roster.deactivate_counsellor(s, args.alias))
    print(f"Counsellor {args.alias!r} is deactivated and gets no new cases.")
    return 0


@_guarded
def run_coordinator_add(config: Config, args: argparse.Namespace) -> int:
    run(config, lambda s: roster.add_coordinator(s, args.telegram_id))
    print(f"Coordinator {args.telegram_id} added.")
    return 0


@_guarded
def run_coordinator_list(config: Config, args: argparse.Namespace) -> int:
    for telegram_id in run(config, roster.list_coordinators):
        print(telegram_id)
    return 0


@_guarded
def run_invite(config: Config, args: argparse.Namespace) -> int:
    if not 0 < args.hours <= 24 * 30:
        raise Usage(f"--hours: must be between 0 and 720, got {args.hours}")
    code = roster.new_invite_code()
    expires = utcnow() + timedelta(hours=args.hours)
    code_hash = config.keyring().invite_hash(code)
    run(config, lambda s: roster.create_invite(s, args.role, code_hash, expires))
    print(code)
    print(f"One-time {args.role} code, valid until {expires:%Y-%m-%d %H:%M} UTC. They send the bot: /join {code}",
          file=sys.stderr)  # fmt: skip
    return 0
