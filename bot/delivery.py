"""Calling Telegram directly, with a few retries, for the few calls that are not outbox messages.

Everything the bot says goes through the outbox (``bot.outbox``). Two things do not:
answering a button press (it only stops the spinner, and is worth nothing later) and a
shared phone number, which is never written anywhere (``bot.handlers._send_contact``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

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
