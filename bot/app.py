"""The composition root: builds the Application, its services and its handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Chat, ChatMember, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot import handlers
from bot.config import Config
from bot.context import KollegaContext, Services
from bot.handlers import TelegramChannel
from bot.outbox import Sender
from bot.serve import failed_update
from flows.catalogue import LANGUAGES, render
from flows.clock import Clock, utcnow
from flows.replies import Text
from flows.service import DOCTOR_COMMANDS, Service
from flows.timers import TimerRun
from storage.db import create_engine, upgrade
from storage.runlock import holding
from storage.store import SqlStore

log = logging.getLogger(__name__)

PURGE_EVERY = timedelta(days=1)
SEND_RATE = 29.0
"""Messages a second overall: Telegram allows about 30; one every 1/29 s, evenly, so a
burst never trips flood control (bench/burst.py)."""


async def open_services(config: Config, clock: Clock = utcnow, engine: AsyncEngine | None = None) -> Services:
    """Connect to the database (or use ``engine``), apply migrations and build the services."""
    engine = engine or create_engine(config.database_url)
    keyring = config.keyring()
    await upgrade(engine, keyring=keyring)
    store = SqlStore.on(engine, keyring)
    service = Service(
        config.flow, config.timing, store, clock,
        signer=keyring.tag, invite_hash=keyring.invite_hash, min_cell=config.min_cell,
    )  # fmt: skip
    return Services(config, engine, store, keyring, service, clock)


def build_application(
    config: Config, request: BaseRequest | None = None, *, limit_rate: bool = True
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The Application with every handler registered; services attach in post_init.

    ``limit_rate=False`` is for tests against a fake Bot API, which has no limits to respect.
    The pace itself is kept by the outbox's sender (bot.outbox), not by PTB's AIORateLimiter:
    that one answers a 429 for one chat by pausing every chat.
    """
    builder: Any = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.base_url)
        .context_types(ContextTypes(context=KollegaContext))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
    application.bot_data["config"] = config
    application.bot_data["limit_rate"] = limit_rate
    register_handlers(application)
    return application


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    # Note: Order matters! Only the first matching handler of a group runs, and lower
    # groups run first. Group -2 leaves any group the bot is added to; group -1 stops
    # everything not from a person in a private chat, so no handler below ever sees
    # a message from a group, a channel or another bot.
    application.add_handler(ChatMemberHandler(left_alone, ChatMemberHandler.MY_CHAT_MEMBER), group=-2)
    application.add_handler(TypeHandler(Update, private_only), group=-1)

    # Everyone else, in private. Each handler turns its kind of update into one event for
    # the flows (flows.service), which find out who wrote and decide. Edits come first: an
    # edited command is an edit, not a command.
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, handlers.on_edit))
    application.add_handler(MessageHandler(filters.COMMAND, handlers.on_command))
    application.add_handler(CallbackQueryHandler(handlers.on_press))
    application.add_handler(MessageHandler(filters.ALL, handlers.on_message))

    # The flows handle each event in one unit of work (flows.service.Service.handle), which
    # claims the update and commits what it changed and owes; only then is the update
    # confirmed to Telegram (bot.serve). Handlers never call Telegram to send.
    application.add_error_handler(on_error)


def attach_services(application: Application[Any, Any, Any, Any, Any, Any], services: Services) -> Sender:
    """Attach the services and the outbox sender that delivers for this bot."""
    application.bot_data["services"] = services
    rate = SEND_RATE if application.bot_data.get("limit_rate", True) else None
    services.sender = Sender(
        application.bot, services.store, services.clock, services.service.casework.on_sent,
        rate=rate, scan_seconds=services.config.tick_seconds,
    )  # fmt: skip
    return services.sender


async def private_only(update: Update, context: KollegaContext) -> None:
    """Stop every update that is not from a person in a private chat."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None or user.is_bot or chat.type != Chat.PRIVATE:
        if chat is not None and chat.type in (Chat.GROUP, Chat.SUPERGROUP) and update.message is not None:
            await _leave(update, context, chat.id)
        raise ApplicationHandlerStop


async def left_alone(update: Update, context: KollegaContext) -> None:
    """Added to a group or channel: say why the bot cannot stay, and leave."""
    change = update.my_chat_member
    assert change is not None
    if change.chat.type != Chat.PRIVATE and change.new_chat_member.status in (
        ChatMember.MEMBER,
        ChatMember.ADMINISTRATOR,
    ):
        await _leave(update, context, change.chat.id)
    raise ApplicationHandlerStop


async def _leave(update: Update, context: KollegaContext, chat_id: int) -> None:
    """Leave a group; if that cannot even be written, the update comes again. Either way the
    caller stops the update here: an error must never let it on to the private handlers."""
    try:
        await handlers.in_group(update, context, chat_id)
    except Exception as error:
        log.error("update not handled: %s", type(error).__name__)
        failed_update(error)


async def on_error(update: object, context: KollegaContext) -> None:
    """An update's unit of work could not be written (the database is away): the update is not
    confirmed, and comes again (bot.serve.handle_update).

    A failure inside the flows, or in reading an update as an event, never gets here: it is
    rolled back and the person asked to try again (flows.service.Service.apologise).
    """
    error = context.error
    where = ""
    if error is not None and error.__traceback__ is not None:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    log.error("update not handled: %s%s", type(error).__name__, where)
    if error is not None:
        failed_update(error)


async def tick(application: Application[Any, Any, Any, Any, Any, Any], now: datetime | None = None) -> TimerRun:
    """Run every due timer, each with its messages in its own unit of work (sent once committed)."""
    services: Services = application.bot_data["services"]
    channel = TelegramChannel(application.bot, services.store, services.clock)
    return await services.service.run_timers(channel, now)


async def purge_now(services: Services) -> None:
    """Apply the retention rules (docs/design.md section 9); logs counts only."""
    report = await services.store.purge(services.clock(), services.config.retention_policy())
    log.info(
        "purge: %d event count rows, %d drafts, %d cases cleared, %d cases, %d timers",
        report.events, report.drafts, report.cases_cleared, report.cases, report.timers,
    )  # fmt: skip


async def _tick_forever(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Timers every ``tick_seconds``; a failing timer is dealt with in run_due, a failing
    database here (back off, try again): the loop itself never ends."""
    services: Services = application.bot_data["services"]
    pause = services.config.tick_seconds
    while True:
        try:
            await tick(application)
            pause = services.config.tick_seconds
        except Exception as error:
            pause = min(pause * 2, 60.0)
            log.error("timers could not run: %s; again in %.0f s", type(error).__name__, pause)
        await asyncio.sleep(pause)


async def _purge_forever(services: Services) -> None:
    """The daily purge, on its own: a failing timer never holds it up, nor it a timer."""
    while True:
        try:
            await purge_now(services)
            await asyncio.sleep(PURGE_EVERY.total_seconds())
        except Exception as error:
            log.error("purge failed: %s; again in an hour", type(error).__name__)
            await asyncio.sleep(3600)


class RotationUnfinished(Exception):
    """Sealed values are still under a retired key: `kollega keys rotate --finish` first."""


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    config: Config = application.bot_data["config"]
    if config.retired_keys:
        raise RotationUnfinished(
            "a key rotation did not finish (the config still lists a retired key): run `kollega keys rotate --finish`"
        )
    engine = create_engine(config.database_url)
    # Held while the bot runs, from before the migrations on, so that `kollega keys rotate`
    # refuses meanwhile, and a bot started during a rotation says so (storage.runlock).
    held = contextlib.AsyncExitStack()
    application.bot_data["held"] = held
    held.push_async_callback(engine.dispose)  # last: after the lock's own connection is back
    await held.enter_async_context(holding(engine, exclusive=False))
    services = await open_services(config, engine=engine)
    left = await services.store.under_retired()
    if left:
        raise RotationUnfinished(
            f"a key rotation did not finish ({left} values under the retired key): run `kollega keys rotate --finish`"
        )
    sender = attach_services(application, services)
    for language in LANGUAGES:
        commands = [(c, render(Text(f"commands.{c}"), language)) for c in DOCTOR_COMMANDS]
        code = None if language == config.flow.default_language else language
        await application.bot.set_my_commands(commands, language_code=code)
    # What a crash left owed is delivered first. On SQLite no other process can hold a
    # lease (one `kollega run` per file), so leases left by the dead process are freed.
    application.bot_data["tasks"] = [
        asyncio.create_task(sender.run(release_leases=services.engine.dialect.name == "sqlite"), name="outbox"),
        asyncio.create_task(_tick_forever(application), name="timers"),
        asyncio.create_task(_purge_forever(services), name="purge"),
    ]


async def _post_stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    tasks: list[asyncio.Task[None]] = application.bot_data.pop("tasks", [])
    for task in tasks:
        task.cancel()
    # Waited for, not only cancelled: a timer run or the purge caught mid-transaction rolls back
    # now, while the engine is still there. Left to itself it would still be closing its
    # connection when the engine is disposed, and the process would hang on its way out.
    await asyncio.gather(*tasks, return_exceptions=True)
    services: Services | None = application.bot_data.get("services")
    if services is not None and services.sender is not None:
        await services.sender.close()


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    services: Services | None = application.bot_data.get("services")
    if services is not None:
        await services.store.settle(tries=8)  # a scrub still running or owed finishes first
    held: contextlib.AsyncExitStack | None = application.bot_data.pop("held", None)
    if held is not None:
        await held.aclose()  # the run lock, then the engine
