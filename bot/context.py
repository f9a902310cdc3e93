"""Typed access to Kollega's services from handlers (PTB's contexttypesbot pattern)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import CallbackContext, ExtBot

from bot.config import Config
from bot.outbox import Sender
from flows.clock import Clock
from flows.service import Service
from storage.sealing import Keyring
from storage.store import SqlStore


@dataclass
class Services:
    """Everything the handlers need, built once in the composition root."""

    config: Config
    engine: AsyncEngine
    store: SqlStore
    keyring: Keyring
    service: Service
    """The flows, behind their one entry point."""
    clock: Clock
    sender: Sender | None = None
    """Delivers the outbox; attached with the bot (bot.app.attach_services)."""


class KollegaContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[str, Any]]):
    @property
    def services(self) -> Services:
        return self.bot_data["services"]  # type: ignore[no-any-return]
