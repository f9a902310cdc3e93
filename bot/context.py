"""Typed access to Kollega's services from handlers (PTB's contexttypesbot pattern)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import CallbackContext, ExtBot

from bot.config import Config
from bot.outbox import Sender
from flows.casework import Casework
from flows.intake import Intake
from flows.roster import Roster
from flows.timers import TimerHandler
from storage.sealing import Keyring
from storage.store import SqlStore


@dataclass
class Services:
    """Everything the handlers need, built once in the composition root."""

    config: Config
    engine: AsyncEngine
    store: SqlStore
    keyring: Keyring
    intake: Intake
    casework: Casework
    roster: Roster
    clock: Callable[[], datetime]
    timers: Mapping[str, TimerHandler]
    sender: Sender | None = None
    """Delivers the outbox; attached with the bot (bot.app.attach_services)."""


class KollegaContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[str, Any]]):
    @property
    def services(self) -> Services:
        return self.bot_data["services"]  # type: ignore[no-any-return]
