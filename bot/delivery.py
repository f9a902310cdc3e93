"""Sending to Telegram with retries, so a passing network fault loses nothing.

RetryAfter (flood control) is retried by PTB's AIORateLimiter; here we retry
network faults and time-outs a few times and report a message that still
cannot be delivered, so the caller can tell the sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import InputFile, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ExtBot

from bot.render import inline_markup, markup, text_of
from flows.replies import Outbound, Reply

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 4


async def with_retries(send: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T | None:
    """Run ``send``; retry network faults with backoff; None if it never got through."""
    for attempt in range(attempts):
        try:
            return await send()
        except RetryAfter as error:
            wait = error.retry_after
            await asyncio.sleep(min(wait if isinstance(wait, int) else wait.total_seconds(), 30))
        except (BadRequest, Forbidden) as error:
            # Final answers (blocked, chat gone, bad request): retrying will not help.
            log.warning("delivery refused by Telegram: %s", type(error).__name__)
            return None
        except (TimedOut, NetworkError):
            await asyncio.sleep(0.2 * 2**attempt)
    log.warning("delivery failed after %d attempts", attempts)
    return None


async def send(bot: ExtBot[None], chat_id: int, reply: Reply, language: str) -> Message | None:
    """Send one reply; None when it could not be delivered."""
    text = text_of(reply, language)
    caption = text[:1024]  # Telegram's caption limit
    if reply.document is not None:
        name, content = reply.document
        document = InputFile(content, filename=name)
        return await with_retries(lambda: bot.send_document(chat_id, document, caption=caption))
    if reply.picture is not None:
        photo = InputFile(reply.picture, filename="chart.png")
        return await with_retries(lambda: bot.send_photo(chat_id, photo, caption=caption))
    return await with_retries(lambda: bot.send_message(chat_id, text, reply_markup=markup(reply, language)))


async def send_outbound(bot: ExtBot[None], message: Outbound) -> Message | None:
    """Send (or edit, where the flow asks to) one message for someone else."""
    if message.edit is not None:
        text = text_of(message.reply, message.language)
        try:
            edited = await bot.edit_message_text(
                text, chat_id=message.reach, message_id=message.edit, reply_markup=inline_markup(message.reply, message.language)
            )
            return edited if isinstance(edited, Message) else None
        except BadRequest:
            pass  # too old to edit: send it as a new message instead
    return await send(bot, message.reach, message.reply, message.language)
