"""Turn flow replies into Telegram messages and buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove

from flows.catalogue import render
from flows.replies import Button, Reply, Text

CALLBACK_SEPARATOR = "|"
MAX_MESSAGE = 4096


def label(button: Button, language: str) -> str:
    text = render(button.label, language)
    if button.checked is None:
        return text
    # Said in words too: a screen reader reads "check mark", not "chosen".
    if not button.checked:
        return f"⬜ {text}"
    chosen = render(Text("common.chosen"), language)
    return f"✅ {text} – {chosen}"


def callback_data(step: str, action: str) -> str:
    """What a button sends back: the step it answers and the action.

    The step lets a press on an old message be recognised as stale.
    """
    return f"{step}{CALLBACK_SEPARATOR}{action}"


def parse_callback(data: str | None) -> tuple[str, str]:
    """(step, action) from callback data; forged or empty data gives ("", "")."""
    if not data or CALLBACK_SEPARATOR not in data or len(data) > 64:
        return "", ""
    step, _, action = data.partition(CALLBACK_SEPARATOR)
    return step, action


def text_of(reply: Reply, language: str) -> str:
    return render(reply.text, language)[:MAX_MESSAGE]


def markup(reply: Reply, language: str) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    if reply.remove_keyboard:
        return ReplyKeyboardRemove()
    if reply.request_contact and reply.buttons:
        first = reply.buttons[0][0]
        return ReplyKeyboardMarkup(
            [[KeyboardButton(render(first.label, language), request_contact=True)]],
            one_time_keyboard=True,
            resize_keyboard=True,
        )
    return inline_markup(reply, language)


def inline_markup(reply: Reply, language: str) -> InlineKeyboardMarkup | None:
    if not reply.buttons or reply.request_contact:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label(b, language), callback_data=callback_data(reply.step, b.action)) for b in row]
            for row in reply.buttons
        ]
    )
