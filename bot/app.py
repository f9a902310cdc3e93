"""The composition root: builds the Application, its services and its handlers."""

from __future__ import annotations

import asyncio
import logging
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Chat, ChatMember, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot import handlers
from bot.config import Config
from bot.context import KollegaContext, Services
from bot.stats_cli import retention_policy
from flows.casework import CASE_SILENT, CASE_WAITING, COUNSELLOR_BACK, FOLLOWUP, OFFER_DEADLINE, Casework
from flows.catalogue import LANGUAGES, render
from flows.intake import DRAFT_EXPIRY, DRAFT_REMINDER, Intake
from flows.replies import Text
from flows.roster import Roster
from flows.timers import run_due
from flows.triage import TriageFlow
from storage.db import create_engine, sessionmaker, upgrade
from storage.retention import purge
from storage.sealing import Keyring
from storage.store import SqlStore

log = logging.getLogger(__name__)

DOCTOR_COMMANDS = ("help", "privacy", "cancel", "forget", "status", "language")
PURGE_EVERY = timedelta(days=1)


def utcnow() -> datetime:
    """Naive UTC: the one time zone stored anywhere."""
    return datetime.now(UTC).replace(tzinfo=None)


async def open_services(config: Config, clock: Any = utcnow) -> Services:
    """Connect to the database, apply migrations and build the services."""
    engine = create_engine(config.database_url)
    await upgrade(engine)
    keyring = Keyring(config.secret_key)
    store = SqlStore(sessionmaker(engine), keyring)
    casework = Casework(config.flow, config.timing, clock, keyring.tag)
    intake = Intake(TriageFlow(config.flow), store, clock, casework)
    roster = Roster(config.flow, store, casework, clock, keyring.invite_hash)
    timers = {
        DRAFT_REMINDER: intake.on_due,
        DRAFT_EXPIRY: intake.on_due,
        OFFER_DEADLINE: casework.on_offer_deadline,
        CASE_SILENT: casework.on_silent,
        FOLLOWUP: casework.on_followup,
        COUNSELLOR_BACK: casework.on_counsellor_back,
        CASE_WAITING: casework.on_waiting,
    }
    return Services(config, engine, store, keyring, intake, casework, roster, clock, timers)


def build_application(
    config: Config, request: BaseRequest | None = None, *, limit_rate: bool = True
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The Application with every handler registered; services attach in post_init.

    ``limit_rate=False`` is for tests against a fake Bot API, which has no limits to respect.
    """
    builder: Any = (  # Any: PTB's builder changes its generic type with the rate limiter
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.base_url)
        .context_types(ContextTypes(context=KollegaContext))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    if limit_rate:
        # Telegram allows about 30 messages a second overall. One message every 1/29 s
        # rather than 30 per second: the limiter is a leaky bucket, and a bucket of 30
        # lets a burst of 30 out at once on top of the steady 30 a second (bench/burst.py
        # measured flood errors with it). Flood-control answers are retried, not dropped.
        builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=1, overall_time_period=1 / 29, max_retries=3))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()
    application.bot_data["config"] = config
    register_handlers(application)
    return application


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    # Note: Order matters! Only the first matching handler of a group runs, and lower
    # groups run first. Group -2 leaves any group the bot is added to; group -1 stops
    # everything not from a person in a private chat, so no handler below ever sees
    # a message from a group, a channel or another bot.
    application.add_handler(ChatMemberHandler(left_alone, ChatMemberHandler.MY_CHAT_MEMBER), group=-2)
    application.add_handler(TypeHandler(Update, private_only), group=-1)

    # Everyone else, in private. Each handler finds out who wrote (doctor, counsellor,
    # coordinator) and hands over to that flow. Edits come first: an edited message is
    # never a new answer, and is not relayed.
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, handlers.on_edit))
    application.add_handler(CommandHandler("start", handlers.on_start))
    application.add_handler(MessageHandler(filters.COMMAND, handlers.on_command))
    application.add_handler(CallbackQueryHandler(handlers.on_press))
    application.add_handler(MessageHandler(filters.ALL, handlers.on_message))

    # Group 1 runs after the handler above, whether it succeeded or failed (the error
    # handler has told the person): only now is the update marked handled, so one that
    # was in flight when the process died is handled when Telegram delivers it again.
    application.add_handler(TypeHandler(Update, finished), group=1)

    application.add_error_handler(on_error)


def attach_services(application: Application[Any, Any, Any, Any, Any, Any], services: Services) -> None:
    application.bot_data["services"] = services


async def private_only(update: Update, context: KollegaContext) -> None:
    """Stop every update that is not from a person in a private chat."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None or user is None or user.is_bot or chat.type != Chat.PRIVATE:
        if chat is not None and chat.type in (Chat.GROUP, Chat.SUPERGROUP) and update.message is not None:
            await _leave(context, chat.id)
        raise ApplicationHandlerStop
    services = context.services
    if not await services.store.claim_update(update.update_id, services.clock()):
        log.info("skipped a redelivered update")
        raise ApplicationHandlerStop


async def finished(update: Update, context: KollegaContext) -> None:
    """Mark the update handled (see register_handlers)."""
    await context.services.store.finish_update(update.update_id)


async def left_alone(update: Update, context: KollegaContext) -> None:
    """Added to a group or channel: say why the bot cannot stay, and leave."""
    change = update.my_chat_member
    assert change is not None
    if change.chat.type != Chat.PRIVATE and change.new_chat_member.status in (
        ChatMember.MEMBER,
        ChatMember.ADMINISTRATOR,
    ):
        await _leave(context, change.chat.id)
    raise ApplicationHandlerStop


async def _leave(context: KollegaContext, chat_id: int) -> None:
    language = context.services.config.flow.default_language
    try:
        await context.bot.send_message(chat_id, render(Text("group.leaving"), language))
        await context.bot.leave_chat(chat_id)
    except TelegramError:
        pass  # already removed or muted: nothing more to do
    log.info("left a group chat")


async def on_error(update: object, context: KollegaContext) -> None:
    """Log what failed (never the update's content) and tell the person to retry."""
    error = context.error
    where = ""
    if error is not None and error.__traceback__ is not None:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    log.error("handler failed: %s%s", type(error).__name__, where)
    if isinstance(update, Update) and update.effective_chat is not None and update.effective_chat.type == Chat.PRIVATE:
        language = context.services.config.flow.default_language
        try:
            await context.bot.send_message(update.effective_chat.id, render(Text("error.retry"), language))
        except TelegramError:
            pass


async def tick(application: Application[Any, Any, Any, Any, Any, Any], now: datetime | None = None) -> int:
    """Run every due timer and deliver what it says; returns how many messages went out."""
    services: Services = application.bot_data["services"]
    outbound = await run_due(services.store, services.timers, now or services.clock())
    await handlers.deliver(services, application.bot, outbound)
    return len(outbound)


async def purge_now(services: Services) -> None:
    """Apply the retention rules (design.md section 9); logs counts only."""
    async with services.store.sessions.begin() as session:
        report = await purge(session, services.clock(), retention_policy(services.config))
    log.info(
        "purge: %d events, %d drafts, %d cases cleared, %d cases, %d timers",
        report.events, report.drafts, report.cases_cleared, report.cases, report.timers,
    )  # fmt: skip


async def _tick_forever(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    services: Services = application.bot_data["services"]
    last_purge: datetime | None = None
    while True:
        try:
            await tick(application)
            if last_purge is None or services.clock() - last_purge >= PURGE_EVERY:
                await purge_now(services)
                last_purge = services.clock()
        except Exception as error:  # a failing timer must not stop the others
            log.error("timer tick failed: %s", type(error).__name__)
        await asyncio.sleep(services.config.tick_seconds)


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    config: Config = application.bot_data["config"]
    attach_services(application, await open_services(config))
    for language in LANGUAGES:
        commands = [(c, render(Text(f"commands.{c}"), language)) for c in ("start", *DOCTOR_COMMANDS)]
        code = None if language == config.flow.default_language else language
        await application.bot.set_my_commands(commands, language_code=code)
    application.bot_data["ticker"] = asyncio.create_task(_tick_forever(application))


async def _post_stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    ticker = application.bot_data.pop("ticker", None)
    if ticker is not None:
        ticker.cancel()


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    services: Services | None = application.bot_data.get("services")
    if services is not None:
        await services.engine.dispose()
