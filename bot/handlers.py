"""The Telegram side of the one way in: an update becomes a plain event for the flows
(``flows.service``), and what the flows answer becomes outbox rows (:class:`TelegramChannel`).

Nothing here decides anything: who may do what, and what a message means, is the flows'.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Bot, CallbackQuery, Message, Update
from telegram.error import TelegramError

from bot import outbox
from bot.chart import with_picture
from bot.context import KollegaContext
from bot.render import parse_callback
from flows.catalogue import language_of, render
from flows.clock import Clock
from flows.inbound import Command, Contact, Edited, Incoming, InGroup, Press, Result, Who, Wrote
from flows.replies import Text
from flows.service import RELAY_STEP
from storage.outbox import Outgoing
from storage.store import SqlStore

log = logging.getLogger(__name__)


# --- PTB handlers: each turns its kind of update into an event -------------------------
async def on_command(update: Update, context: KollegaContext) -> None:
    """A /command (with its argument)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    words = message.text.split(maxsplit=1)
    name = words[0].lstrip("/").split("@")[0].lower()
    argument = words[1] if len(words) > 1 else ""
    await _handle(
        update, context, lambda: Command(update_id=update.update_id, who=_who(update, context), name=name, argument=argument)
    )


async def on_press(update: Update, context: KollegaContext) -> None:
    """A button press (answered, the spinner stopped, once the update is committed: bot.serve)."""
    query = update.callback_query
    assert query is not None
    step, action = parse_callback(query.data)
    await _handle(update, context, lambda: Press(update_id=update.update_id, who=_who(update, context), step=step, action=action))


async def on_message(update: Update, context: KollegaContext) -> None:
    """Text, media of any kind, or a shared contact."""
    message = update.effective_message
    assert message is not None

    def wrote() -> Wrote:
        contact = message.contact
        return Wrote(
            update_id=update.update_id,
            who=_who(update, context),
            message_id=message.message_id,
            text=message.text,
            reply_to=message.reply_to_message.message_id if message.reply_to_message else None,
            contact=Contact(contact.phone_number, contact.user_id) if contact is not None else None,
        )

    await _handle(update, context, wrote)


async def on_edit(update: Update, context: KollegaContext) -> None:
    """An edited message."""
    await _handle(update, context, lambda: Edited(update_id=update.update_id, who=_who(update, context)))


async def in_group(update: Update, context: KollegaContext, chat_id: int) -> None:
    """Added to a group or channel, or written to in one."""
    await _handle(update, context, lambda: InGroup(update_id=update.update_id, chat=chat_id))


def _who(update: Update, context: KollegaContext) -> Who:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None  # guaranteed by the private-chat guard
    return Who(context.services.keyring.pseudonym(user.id), user.id, chat.id, language_of(user.language_code))


async def _handle(update: Update, context: KollegaContext, read: Callable[[], Incoming]) -> None:
    services = context.services
    channel = TelegramChannel(context.bot, services.store, services.clock, update.callback_query)
    try:
        event = read()
    except Exception as error:
        # An update this adapter cannot read as an event (a bug here, not the person's doing):
        # it is claimed and the person asked to try again, as for a failure inside the flows.
        log.error("could not read update %d as an event: %s", update.update_id, type(error).__name__)
        chat = update.effective_chat
        if chat is not None and chat.type == chat.PRIVATE:
            await services.service.apologise(update.update_id, chat.id, channel, error)
        return
    await services.service.handle(event, channel)


# --- what the flows answer, as Telegram messages owed in the outbox -------------------------
class TelegramChannel:
    """``flows.ports.Channel`` for one update: renders a result into outbox rows, which are sent
    once the update's unit of work commits, and sends a shared phone number directly."""

    def __init__(self, bot: Bot, store: SqlStore, clock: Clock, pressed: CallbackQuery | None = None) -> None:
        self.bot = bot
        self.store = store
        self.clock = clock
        self.pressed = pressed

    async def deliver(self, event: Incoming | None, result: Result) -> None:
        language = result.language
        replies = [await with_picture(reply) for reply in result.replies]
        posted: list[Outgoing] = []
        if result.leave is not None:
            text = render(replies[0].text, language) if replies else ""
            posted.append(outbox.leave(result.leave, text))
            replies = []
        elif event is not None and not isinstance(event, InGroup):
            chat = event.who.chat
            pressed = self.pressed if not result.leave_pressed else None
            if pressed is not None and isinstance(pressed.message, Message):
                message = pressed.message
                if result.replace and replies and not replies[0].request_contact:
                    posted.append(outbox.edit(chat, message.message_id, replies.pop(0), language, fallback=True))
                elif message.text and (chosen := _pressed_label(pressed)):
                    # Keep the question on screen with the chosen answer, without live buttons. Only
                    # when the press matches a button on that message: the bot's own question then,
                    # never a relayed copy (someone's words) pressed with forged data.
                    posted.append(outbox.annotate(chat, message.message_id, f"{message.text}\n\n→ {chosen}"))
            posted += [outbox.reply(chat, reply, language) for reply in replies]
        posted += [outbox.outbound(message) for message in result.outbound]
        for copy in result.copies:
            label = render(copy.label, copy.language)
            notices = render(Text("relay.delayed"), copy.writer_language), render(Text("relay.failed"), copy.writer_language)
            posted.append(
                outbox.relay(copy.to, copy.source_chat, copy.message_id, label, (RELAY_STEP, copy.action), notices, copy.track)
            )
        await self.store.post(posted, self.clock())

    async def send_contact(self, to: int, phone: str, header: Text, language: str) -> int | None:
        """Only the number and a header: no user id, no name, so the recipient cannot open the
        sender's account. Sent inside the update's unit of work, so a crash can repeat it but
        not lose it (the update is redelivered until its unit commits). PTB's request timeouts
        (5 s each for connecting, writing and reading) bound how long that unit stays open.
        """
        try:
            # One try, no waiting on flood control: the update's transaction is open (and holds the
            # database's write lock). If it fails the sender is told, and can share it again.
            sent = await self.bot.send_contact(to, phone_number=phone, first_name=render(header, language)[:64])
        except TelegramError as error:
            log.warning("a shared phone number was not delivered: %s", type(error).__name__)
            return None
        return sent.message_id


def _pressed_label(query: CallbackQuery) -> str:
    keyboard = getattr(query.message, "reply_markup", None)
    for row in getattr(keyboard, "inline_keyboard", ()):
        for button in row:
            if button.callback_data == query.data:
                return str(button.text)
    return ""
