"""Shared fixtures: a throwaway database, a clock the test drives, the real Application
talking to a fake Bot API, and log capture for the privacy scans."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.app import attach_services, build_application, open_services
from bot.config import Config
from bot.context import Services
from tests.faketelegram import FakeRequest, FakeTelegram, FakeUser


class Clock:
    """A clock the test moves by hand: timers fall due without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 15, 30)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'kollega.db'}"


@pytest.fixture
def config(database_url: str) -> Config:
    return Config(token="123456:TEST-TOKEN", secret_key=secrets.token_urlsafe(32), database_url=database_url)


@pytest.fixture
async def services(config: Config, clock: Clock) -> AsyncIterator[Services]:
    services = await open_services(config, clock)
    yield services
    await services.engine.dispose()


class Harness:
    """The real Application, fed updates by fake users, asserting what they were sent."""

    def __init__(self, app: Any, telegram: FakeTelegram, services: Services, clock: Clock) -> None:
        self.app = app
        self.telegram = telegram
        self.services = services
        self.clock = clock
        self.errors: list[BaseException] = []

    def user(self, user_id: int, first_name: str = "Kari", **kwargs: Any) -> FakeUser:
        return self.telegram.user(user_id, first_name=first_name, **kwargs)

    def said(self, user: FakeUser) -> list[Any]:
        """The new messages the bot sent this user (edits of earlier ones left out)."""
        return [s for s in self.telegram.messages_to(user.chat_id) if not s.is_edit]

    async def feed(self, update: dict[str, Any]) -> None:
        await self.app.process_update(Update.de_json(update, self.app.bot))
        if self.errors:
            raise self.errors[0]

    async def tick(self, **advance: float) -> int:
        from bot.app import tick

        if advance:
            self.clock.advance(**advance)
        return await tick(self.app)


@pytest.fixture
async def harness(config: Config, services: Services, clock: Clock) -> AsyncIterator[Harness]:
    telegram = FakeTelegram()
    app = build_application(config, request=FakeRequest(telegram))
    attach_services(app, services)
    harness = Harness(app, telegram, services, clock)

    async def capture(update: object, context: Any) -> None:
        harness.errors.append(context.error)

    # Errors fail the test instead of being logged (the app's own handler still runs first).
    app.add_error_handler(capture)
    async with app:
        yield harness
