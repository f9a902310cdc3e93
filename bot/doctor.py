"""Handlers for doctors writing to the bot: thin wrappers around ``flows.intake``.

Each handler turns an update into one Intake call and shows the result. The
Telegram user id becomes a pseudonym here and goes no further; the chat id is
handed to the store only to be sealed.
"""

from __future__ import annotations

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest

from bot.context import KollegaContext
from bot.delivery import send, with_retries
from bot.render import inline_markup, parse_callback, text_of
from flows.intake import Person, Result


def person(update: Update, context: KollegaContext) -> Person:
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None  # guaranteed by the private-chat filter
    return Person(context.services.keyring.pseudonym(user.id), chat.id, user.language_code)


async def show(update: Update, context: KollegaContext, result: Result, pressed: CallbackQuery | None = None) -> None:
    """Send a result: edit the pressed message where that reads better, then send the rest."""
    chat = update.effective_chat
    assert chat is not None
    replies = list(result.replies)
    if pressed is not None and isinstance(pressed.message, Message):
        message = pressed.message
        try:
            if result.replace and replies and not replies[0].request_contact:
                first = replies.pop(0)
                await message.edit_text(text_of(first, result.language), reply_markup=inline_markup(first, result.language))
            else:
                # Keep the question on screen with the chosen answer, without live buttons.
                chosen = _pressed_label(pressed)
                old = message.text or ""
                if old:
                    await message.edit_text(f"{old}\n\n→ {chosen}" if chosen else old, reply_markup=None)
        except BadRequest:
            pass  # too old to edit, or unchanged: sending below is enough
    for reply in replies:
        await send(context.bot, chat.id, reply, result.language)


def _pressed_label(query: CallbackQuery) -> str:
    keyboard = getattr(query.message, "reply_markup", None)
    for row in getattr(keyboard, "inline_keyboard", ()):
        for button in row:
            if button.callback_data == query.data:
                return str(button.text)
    return ""


async def on_start(update: Update, context: KollegaContext) -> None:
    """/start: begin the triage or pick it up where it stopped."""
    await show(update, context, await context.services.intake.start(person(update, context)))


async def on_command(update: Update, context: KollegaContext) -> None:
    """/help, /privacy, /cancel, /forget, /status, /language and unknown commands."""
    message = update.effective_message
    assert message is not None and message.text is not None
    name = message.text.split()[0].lstrip("/").split("@")[0].lower()
    await show(update, context, await context.services.intake.command(person(update, context), name))


async def on_press(update: Update, context: KollegaContext) -> None:
    """A button press: the current step's answer, or a stale or forged button."""
    query = update.callback_query
    assert query is not None
    step, action = parse_callback(query.data)
    result = await context.services.intake.press(person(update, context), step, action)
    await with_retries(query.answer)
    await show(update, context, result, pressed=query)


async def on_text(update: Update, context: KollegaContext) -> None:
    """Typed text: read for a typed answer or crisis words, then forgotten."""
    message = update.effective_message
    assert message is not None and message.text is not None
    await show(update, context, await context.services.intake.text(person(update, context), message.text))


async def on_other(update: Update, context: KollegaContext) -> None:
    """Stickers, photos, voice, edits and anything else mid-triage: a hint and the question again."""
    await show(update, context, await context.services.intake.unsupported(person(update, context)))
