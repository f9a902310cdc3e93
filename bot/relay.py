"""Copying messages between a doctor and a counsellor, never forwarding them.

A forward carries "forwarded from" and can expose a Telegram account; a copy
does not. Every relayed message starts with a header (the case code for the
counsellor, the alias for the doctor). Text passes through memory only: it is
never logged or stored.
"""

from __future__ import annotations

from telegram import Message, MessageId
from telegram.ext import ExtBot

from bot.delivery import with_retries
from bot.render import MAX_MESSAGE

CAPTIONED = ("photo", "video", "document", "audio", "voice", "animation")
MAX_CAPTION = 1024


async def copy(bot: ExtBot[None], message: Message, reach: int, header: str) -> int | None:
    """Relay one message under a header; the id of the message that arrived, or None."""
    if message.text is not None and len(header) + 1 + len(message.text) <= MAX_MESSAGE:
        text = f"{header}\n{message.text}"
        sent = await with_retries(lambda: bot.send_message(reach, text))
        return sent.message_id if sent else None
    if message.contact is not None:
        phone = message.contact.phone_number
        # Only the number: no user id, no name, so the counsellor cannot open the account.
        sent = await with_retries(lambda: bot.send_contact(reach, phone_number=phone, first_name=header[:64]))
        return sent.message_id if sent else None
    if any(getattr(message, kind) for kind in CAPTIONED):
        caption = f"{header}\n{message.caption or ''}".strip()[:MAX_CAPTION]
        copied = await with_retries(lambda: message.copy(reach, caption=caption))
        return copied.message_id if isinstance(copied, MessageId) else None
    return await copy_by_id(bot, message.chat_id, message.message_id, reach, header)


async def copy_by_id(bot: ExtBot[None], from_chat: int, message_id: int, reach: int, header: str) -> int | None:
    """Relay a message by its id, with the header as a message of its own just before it."""
    sent = await with_retries(lambda: bot.send_message(reach, header))
    if sent is None:
        return None
    copied = await with_retries(lambda: bot.copy_message(reach, from_chat, message_id))
    return copied.message_id if copied else None
