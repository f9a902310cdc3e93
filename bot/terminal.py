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
from pathlib import Path

from bot.config import Config
from flows.catalogue import render
from flows.intake import Result
from flows.replies import Button

TRY_USER = 1  # the terminal's one doctor; the id is only ever pseudonymised


def _print_result(result: Result) -> list[tuple[str, Button]]:
    """Print the replies; return the numbered buttons of the last one that has any."""
    from bot.render import label

    numbered: list[tuple[str, Button]] = []
    for reply in result.replies:
        print()
        print(render(reply.text, result.language))
        if reply.buttons:
            numbered = []
            for row in reply.buttons:
                for button in row:
                    numbered.append((reply.step, button))
                    print(f"  [{len(numbered)}] {label(button, result.language)}")
    return numbered


async def try_out(language: str | None = None) -> int:
    from bot.app import open_services
    from flows.intake import Person

    with tempfile.TemporaryDirectory(prefix="kollega-try-") as folder:
        database = Path(folder) / "try.db"
        config = Config(token="", secret_key=secrets.token_urlsafe(32), database_url=f"sqlite+aiosqlite:///{database}")
        if language:
            from dataclasses import replace

            config = replace(config, flow=replace(config.flow, default_language=language))
        services = await open_services(config)
        me = Person(services.keyring.pseudonym(TRY_USER), TRY_USER)
        intake = services.intake
        print("Kollega – try-out in the terminal. Type a number to press a button, /help for commands, Ctrl-D to quit.")
        try:
            buttons = _print_result(await intake.start(me))
            loop = asyncio.get_running_loop()
            while True:
                print("\n> ", end="", flush=True)
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line:
                    break
                typed = line.strip()
                if not typed:
                    continue
                if typed.isdigit() and 1 <= int(typed) <= len(buttons):
                    step, button = buttons[int(typed) - 1]
                    result = await intake.press(me, step, button.action)
                elif typed == "/start":
                    result = await intake.start(me)
                elif typed.startswith("/"):
                    result = await intake.command(me, typed[1:].split()[0].lower())
                else:
                    result = await intake.text(me, typed)
                new_buttons = _print_result(result)
                buttons = new_buttons or ([] if result.replies else buttons)
        finally:
            await services.engine.dispose()
        print("\nThe throwaway database has been deleted. Goodbye.")
    return 0
