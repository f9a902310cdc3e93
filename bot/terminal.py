"""``kollega try``: the doctor's side of the conversation in a terminal.

Runs the same ``flows`` code on a throwaway SQLite database in a temporary
folder, deleted on exit. Buttons are numbered: type a number to press one,
a /command, or any text as a doctor would.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
from dataclasses import replace
from itertools import count
from pathlib import Path

from bot.config import Config
from bot.render import label
from flows.catalogue import render
from flows.inbound import Command, Incoming, Press, Result, Who, Wrote
from flows.replies import Button, Text

TRY_USER = 1  # the terminal's one doctor; the id is only ever pseudonymised


class TerminalChannel:
    """``flows.ports.Channel`` that prints: the replies of each event, buttons numbered."""

    def __init__(self) -> None:
        self.buttons: list[tuple[str, Button]] = []

    async def deliver(self, event: Incoming | None, result: Result) -> None:
        replies = [*result.replies, *(m.reply for m in result.outbound if m.reach == TRY_USER)]
        numbered: list[tuple[str, Button]] = []
        for reply in replies:
            print()
            print(render(reply.text, result.language))
            if reply.buttons:
                numbered = []
                for row in reply.buttons:
                    for button in row:
                        numbered.append((reply.step, button))
                        print(f"  [{len(numbered)}] {label(button, result.language)}")
        if replies:
            self.buttons = numbered

    async def send_contact(self, to: int, phone: str, header: Text, language: str) -> int | None:
        return None  # nobody to send it to in the terminal


async def try_out(language: str | None = None) -> int:
    from bot.app import open_services

    with tempfile.TemporaryDirectory(prefix="kollega-try-") as folder:
        database = Path(folder) / "try.db"
        config = Config(token="", secret_key=secrets.token_urlsafe(32), database_url=f"sqlite+aiosqlite:///{database}")
        if language:
            config = replace(config, flow=replace(config.flow, default_language=language))
        services = await open_services(config)
        me = Who(services.keyring.pseudonym(TRY_USER), TRY_USER, TRY_USER)
        channel = TerminalChannel()
        updates = count(1)
        print("Kollega – try-out in the terminal. Type a number to press a button, /help for commands, Ctrl-D to quit.")
        try:
            await services.service.handle(Command(update_id=next(updates), who=me, name="start"), channel)
            loop = asyncio.get_running_loop()
            message_ids = count(1)
            while True:
                print("\n> ", end="", flush=True)
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line:
                    break
                typed = line.strip()
                if not typed:
                    continue
                event: Incoming
                if typed.isdigit() and 1 <= int(typed) <= len(channel.buttons):
                    step, button = channel.buttons[int(typed) - 1]
                    event = Press(update_id=next(updates), who=me, step=step, action=button.action)
                elif typed.startswith("/"):
                    words = typed[1:].split(maxsplit=1)
                    name = words[0].lower() if words else ""
                    event = Command(update_id=next(updates), who=me, name=name, argument=words[1] if len(words) > 1 else "")
                else:
                    event = Wrote(update_id=next(updates), who=me, message_id=next(message_ids), text=typed)
                await services.service.handle(event, channel)
        finally:
            await services.engine.dispose()
        print("\nThe throwaway database has been deleted. Goodbye.")
    return 0
