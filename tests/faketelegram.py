"""In-memory fake of the Telegram Bot API for tests that never reach the internet.

One core (:class:`FakeTelegram`) serves two transports:

* :class:`FakeRequest` plugs it into python-telegram-bot in-process
  (``ApplicationBuilder().request(FakeRequest(fake)).get_updates_request(FakeRequest(fake))``);
* :mod:`tests.standin` serves it over loopback HTTP for bots running as a real process.

Tests create users with :meth:`FakeTelegram.user`, make them act (send text, press buttons...),
and assert on :attr:`FakeTelegram.sent` / :meth:`FakeTelegram.messages_to`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from telegram.request import BaseRequest, RequestData

JSONDict = dict[str, Any]
ChatId = int | str
#: An uploaded file: ``(file_name, content, mime_type)``.
UploadedFile = tuple[str, bytes, str]

BOT_ID = 999000
BOT_USERNAME = "kollega_test_bot"
BOT_FIRST_NAME = "Kollega"

#: Wire fields that are always plain strings. Everything else that arrives form-encoded is
#: JSON-decoded when possible (PTB JSON-dumps every non-``str`` value, but leaves ``str`` as is,
#: so ``text="123"`` and ``chat_id=123`` look identical on the wire).
# fmt: off
STRING_FIELDS = frozenset(
    {
        "action", "address", "animation", "audio", "business_connection_id", "callback_query_id",
        "caption", "currency", "custom_title", "description", "document", "emoji", "file_id",
        "first_name", "foursquare_id", "google_place_id", "inline_message_id", "inline_query_id",
        "ip_address", "language_code", "last_name", "message_effect_id", "name", "next_offset",
        "parse_mode", "payload", "phone_number", "photo", "provider_token", "query", "question",
        "secret_token", "short_description", "start_parameter", "sticker", "switch_pm_parameter",
        "switch_pm_text", "text", "thumbnail", "title", "url", "video", "video_note", "voice",
    }
)

#: Message keys that make up a message's *content* (what copyMessage copies).
CONTENT_KEYS = (
    "text", "entities", "caption", "caption_entities", "photo", "voice", "sticker", "document",
    "audio", "video", "animation", "video_note", "contact", "location", "venue", "poll", "dice",
)

#: Methods that deliver something into a chat (subject to :meth:`FakeTelegram.block`).
CHAT_WRITE_METHODS = frozenset(
    m.lower()
    for m in (
        "sendMessage", "sendContact", "copyMessage", "forwardMessage", "sendDocument", "sendPhoto", "sendVoice",
        "sendAudio", "sendVideo", "sendAnimation", "sendSticker", "sendChatAction",
        "editMessageText", "editMessageCaption", "editMessageReplyMarkup",
    )
)

#: Methods accepted as no-ops returning ``True``.
NOOP_METHODS = frozenset(
    m.lower()
    for m in (
        "setMyDescription", "setMyShortDescription", "setMyName", "setChatMenuButton",
        "setMyDefaultAdministratorRights", "pinChatMessage", "unpinChatMessage",
        "unpinAllChatMessages", "setMessageReaction",
    )
)

# fmt: on

MAX_TEXT_LENGTH = 4096
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error; turned into an ``{"ok": false, ...}`` envelope by :meth:`handle`."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def envelope(self) -> JSONDict:
        """The Bot API JSON envelope for this error."""
        env: JSONDict = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            env["parameters"] = {"retry_after": self.retry_after}
        return env


def coerce_wire_params(raw: Mapping[str, str]) -> JSONDict:
    """Decode form/multipart/query fields as sent by PTB's ``HTTPXRequest`` into JSON values."""
    out: JSONDict = {}
    for name, value in raw.items():
        if name in STRING_FIELDS or not isinstance(value, str):
            out[name] = value
            continue
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


def parse_reply_markup(value: object) -> JSONDict | None:
    """Accept a reply markup as dict or JSON string; return it as dict (or ``None``)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    return value


def markup_rows(markup: Mapping[str, Any] | None) -> list[list[JSONDict]]:
    """Rows of buttons (as dicts) of an inline or reply keyboard markup."""
    if not markup:
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [[{"text": b} if isinstance(b, str) else b for b in row] for row in rows]


def normalize_chat_id(value: object) -> ChatId:
    """``"123"`` -> ``123``; ``"@channel"`` stays a string."""
    if isinstance(value, bool):
        raise ApiError(400, "Bad Request: chat not found")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.lstrip("-").isdigit():
            return int(stripped)
        if stripped:
            return stripped
    raise ApiError(400, "Bad Request: chat_id is empty")


@dataclass
class Sent:
    """One thing the bot sent, edited or copied into a chat."""

    method: str
    chat_id: ChatId | None
    text: str | None
    reply_markup: JSONDict | None
    message_id: int | None
    params: JSONDict
    file_name: str | None = None
    file_bytes: bytes | None = None
    #: ``time.monotonic()`` when the fake accepted the call (for flood accounting).
    at: float = field(default_factory=time.monotonic)
    #: The resulting Message object (state right after this call).
    message: JSONDict | None = None

    @property
    def button_rows(self) -> list[list[str]]:
        """Button texts of the inline (or reply) keyboard, row by row."""
        return [[str(b.get("text", "")) for b in row] for row in markup_rows(self.reply_markup)]

    @property
    def buttons(self) -> list[str]:
        """Flat list of button texts of the inline (or reply) keyboard."""
        return [label for row in self.button_rows for label in row]

    def callback_data(self, label: str) -> str | None:
        """``callback_data`` of the inline button labelled ``label`` (``KeyError`` if none)."""
        for row in markup_rows(self.reply_markup):
            for button in row:
                if button.get("text") == label:
                    return button.get("callback_data")
        raise KeyError(f"no button {label!r}; buttons: {self.buttons}")

    @property
    def is_edit(self) -> bool:
        """Whether this record is an edit of an existing message."""
        return self.method.lower().startswith("edit")


@dataclass
class _Failure:
    method: str
    error_code: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: ChatId | None


class FakeTelegram:
    """Thread-safe in-memory Bot API: records what the bot does and produces user updates."""

    bot_id = BOT_ID
    bot_username = BOT_USERNAME
    bot_first_name = BOT_FIRST_NAME

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, JSONDict]] = []
        self.left_chats: list[ChatId] = []
        self.commands: dict[str, list[JSONDict]] = {}
        self.webhook_url = ""
        self._queue: list[JSONDict] = []
        self._next_update_id = 1
        self._counters: dict[ChatId, int] = {}
        self._messages: dict[tuple[ChatId, int], JSONDict] = {}
        self._chats: dict[ChatId, JSONDict] = {}
        self._users: dict[int, FakeUser] = {}
        self._files: dict[str, UploadedFile] = {}
        self._file_seq = itertools.count(1)
        self._query_seq = itertools.count(1)
        self._open_queries: set[str] = set()
        self._failures: list[_Failure] = []
        self._blocked: set[ChatId] = set()
        self._not_member: set[ChatId] = set()
        self._wake_generation = 0
        self._handlers: dict[str, Callable[[JSONDict, dict[str, UploadedFile], bool], Any]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "close": lambda p, f, b: True,
            "logout": lambda p, f, b: True,
            "sendmessage": self._send_message,
            "sendcontact": self._send_contact,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "answercallbackquery": self._answer_callback_query,
            "leavechat": self._leave_chat,
            "copymessage": self._copy_message,
            "forwardmessage": self._forward_message,
            "sendchataction": lambda p, f, b: True,
            "getfile": self._get_file,
        }
        for kind in ("document", "photo", "voice", "audio", "video", "animation", "sticker"):
            self._handlers["send" + kind] = self._media_sender(kind)
        for name in NOOP_METHODS:
            self._handlers[name] = lambda p, f, b: True

    # ------------------------------------------------------------------ public API: core

    @property
    def bot_user(self) -> JSONDict:
        """The bot as a Telegram ``User`` object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def handle(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, UploadedFile] | None = None,
        *,
        block: bool = False,
    ) -> JSONDict:
        """Execute one Bot API call and return the full JSON envelope.

        ``files`` maps multipart part names to ``(file_name, bytes, mime_type)``. With
        ``block=True`` getUpdates long-polls for up to its ``timeout`` parameter.
        """
        params = dict(params or {})
        key = method.lower()
        with self._lock:
            self.calls.append((method, params))
            try:
                if "reply_markup" in params:
                    params["reply_markup"] = parse_reply_markup(params["reply_markup"])
                self._raise_injected_failure(key, params)
                handler = self._handlers.get(key)
                if handler is None:
                    raise ApiError(404, f"Not Found: method {method} is not implemented by FakeTelegram")
                result = handler(params, dict(files or {}), block)
            except ApiError as exc:
                return exc.envelope()
            except (ValueError, TypeError, KeyError) as exc:
                return ApiError(400, f"Bad Request: {exc}").envelope()
            return {"ok": True, "result": copy.deepcopy(result)}

    def fail_next(
        self,
        method: str,
        error_code: int = 400,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: ChatId | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (optionally only to ``chat_id``) fail."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                400: "Bad Request: injected failure",
                403: "Forbidden: injected failure",
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
            }.get(error_code, f"Error {error_code}: injected failure")
        with self._lock:
            self._failures.append(
                _Failure(
                    method=method.lower(),
                    error_code=error_code,
                    description=description,
                    retry_after=retry_after,
                    remaining=times,
                    chat_id=None if chat_id is None else normalize_chat_id(chat_id),
                )
            )

    def block(self, chat_id: ChatId) -> None:
        """Every later send/edit to ``chat_id`` fails with 403 "bot was blocked by the user"."""
        with self._lock:
            self._blocked.add(normalize_chat_id(chat_id))

    def unblock(self, chat_id: ChatId) -> None:
        """Undo :meth:`block`."""
        with self._lock:
            self._blocked.discard(normalize_chat_id(chat_id))

    # ------------------------------------------------------------------ public API: recordings

    def messages_to(self, chat_id: ChatId) -> list[Sent]:
        """Everything sent/edited/copied into ``chat_id``, in order (edits are own records)."""
        chat_id = normalize_chat_id(chat_id)
        with self._lock:
            return [s for s in self.sent if s.chat_id == chat_id]

    def last_to(self, chat_id: ChatId) -> Sent:
        """The latest record for ``chat_id`` (``AssertionError`` if there is none)."""
        messages = self.messages_to(chat_id)
        if not messages:
            raise AssertionError(f"the bot sent nothing to chat {chat_id}")
        return messages[-1]

    def texts_to(self, chat_id: ChatId) -> list[str | None]:
        """Texts (or captions) of :meth:`messages_to`."""
        return [s.text for s in self.messages_to(chat_id)]

    def calls_of(self, method: str) -> list[JSONDict]:
        """Parameters of every call of ``method`` (case-insensitive), in order."""
        key = method.lower()
        with self._lock:
            return [params for name, params in self.calls if name.lower() == key]

    def clear(self) -> None:
        """Forget recorded ``sent`` and ``calls`` (chat state and queued updates stay)."""
        with self._lock:
            self.sent.clear()
            self.calls.clear()

    def keyboards(self, chat_id: ChatId, *, inline_only: bool = True) -> list[JSONDict]:
        """Bot messages in a chat that still show buttons (inline ones only, unless told), newest first."""
        chat = normalize_chat_id(chat_id)

        def shows_buttons(message: JSONDict) -> bool:
            markup = message.get("reply_markup") or {}
            return bool(markup.get("inline_keyboard")) if inline_only else bool(markup)

        with self._lock:
            # Copies: the bot edits messages from another thread (the HTTP stand-in), and a
            # caller reading a live dict could see its buttons vanish halfway.
            found = [
                copy.deepcopy(m)
                for (c, _), m in self._messages.items()
                if c == chat and m.get("from", {}).get("id") == self.bot_id and shows_buttons(m)
            ]
        return sorted(found, key=lambda m: m["message_id"], reverse=True)

    def message(self, chat_id: ChatId, message_id: int) -> JSONDict | None:
        """Current state of a message (user's or bot's), or ``None`` if unknown/deleted."""
        with self._lock:
            msg = self._messages.get((normalize_chat_id(chat_id), message_id))
            return copy.deepcopy(msg) if msg else None

    def file_content(self, file_id_or_path: str) -> bytes | None:
        """Bytes of a file known to the fake, by file_id or ``getFile`` file_path."""
        file_id = file_id_or_path.rsplit("/", 1)[-1]
        with self._lock:
            entry = self._files.get(file_id)
        return entry[1] if entry else None

    def find_sent(self, predicate: Callable[[Sent], bool], start: int = 0) -> Sent | None:
        """First record from index ``start`` on matching ``predicate``, or ``None``."""
        with self._lock:
            return next((s for s in self.sent[start:] if predicate(s)), None)

    def wait_for_sent(self, predicate: Callable[[Sent], bool], timeout: float = 10.0, start: int = 0) -> Sent:
        """Block (thread-safe) until a record from index ``start`` on matches ``predicate``;
        ``TimeoutError`` otherwise. Pass ``start=len(fake.sent)`` to ignore earlier records."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.find_sent(predicate, start)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching message within {timeout}s; {self.describe_sent()}")
                self._cond.wait(min(remaining, 0.5))

    async def wait_for_sent_async(
        self,
        predicate: Callable[[Sent], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - mirrors wait_for_sent
        start: int = 0,
    ) -> Sent:
        """Like :meth:`wait_for_sent` but polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find_sent(predicate, start)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching message within {timeout}s; {self.describe_sent()}")
            await asyncio.sleep(0.01)

    def describe_sent(self, last: int = 10) -> str:
        """Human-readable summary of the last recorded sends (for failure messages)."""
        with self._lock:
            tail = self.sent[-last:]
        if not tail:
            return "nothing was sent"
        lines = [f"{s.method} -> {s.chat_id} #{s.message_id}: {s.text!r} {s.buttons or ''}" for s in tail]
        return "last sent:\n  " + "\n  ".join(lines)

    # ------------------------------------------------------------------ public API: updates

    def user(
        self,
        user_id: int,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        last_name: str | None = None,
    ) -> FakeUser:
        """Handle of a Telegram user; created on first use (first_name defaults to "Test"),
        later calls return the same handle, updating the fields that are given."""
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                user = FakeUser(self, user_id, first_name or "Test", username, language_code, last_name)
                self._users[user_id] = user
            else:
                user.first_name = first_name or user.first_name
                user.last_name = last_name or user.last_name
                user.username = username or user.username
                user.language_code = language_code or user.language_code
            self._chats[user_id] = user.private_chat
            return user

    @property
    def next_update_id(self) -> int:
        """The update_id the next queued update will get."""
        with self._lock:
            return self._next_update_id

    def pending_updates(self) -> list[JSONDict]:
        """Queued updates not yet confirmed via getUpdates' ``offset``."""
        with self._lock:
            return copy.deepcopy(self._queue)

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue a hand-made update (``update_id`` is assigned if missing)."""
        with self._cond:
            update = {"update_id": update.get("update_id", self._next_update_id), **copy.deepcopy(update)}
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
            self._queue.append(update)
            self._cond.notify_all()
            return copy.deepcopy(update)

    def has_updates(self, offset: int = 0) -> bool:
        """Whether getUpdates with ``offset`` would return something right now."""
        with self._lock:
            return any(u["update_id"] >= offset for u in self._queue)

    def wake_waiters(self) -> None:
        """Make every long-polling getUpdates return now (used when shutting a server down)."""
        with self._cond:
            self._wake_generation += 1
            self._cond.notify_all()

    # ------------------------------------------------------------------ internals: helpers

    def _raise_injected_failure(self, key: str, params: JSONDict) -> None:
        chat_id = self._param_chat_id(params)
        for failure in self._failures:
            if failure.method == key and (failure.chat_id is None or failure.chat_id == chat_id):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                raise ApiError(failure.error_code, failure.description, failure.retry_after)
        if key in CHAT_WRITE_METHODS and chat_id is not None:
            if chat_id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if chat_id in self._not_member:
                raise ApiError(403, "Forbidden: bot is not a member of the group chat")

    @staticmethod
    def _param_chat_id(params: JSONDict) -> ChatId | None:
        value = params.get("chat_id")
        if value is None or value == "":
            return None
        try:
            return normalize_chat_id(value)
        except ApiError:
            return None

    def _require_chat_id(self, params: JSONDict) -> ChatId:
        if params.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        return normalize_chat_id(params["chat_id"])

    def _chat(self, chat_id: ChatId) -> JSONDict:
        known = self._chats.get(chat_id)
        if known:
            return dict(known)
        if isinstance(chat_id, str):
            return {
                "id": -1000000000000 - zlib.crc32(chat_id.encode()),
                "type": "channel",
                "title": chat_id,
                "username": chat_id.lstrip("@"),
            }
        if chat_id < 0:
            return group_chat(chat_id)
        return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}

    def _next_message_id(self, chat_id: ChatId) -> int:
        self._counters[chat_id] = self._counters.get(chat_id, 0) + 1
        return self._counters[chat_id]

    def _store_user_message(self, chat: JSONDict, sender: JSONDict, content: JSONDict) -> JSONDict:
        with self._lock:
            self._chats.setdefault(chat["id"], chat)
            msg = {
                "message_id": self._next_message_id(chat["id"]),
                "from": sender,
                "chat": chat,
                "date": int(time.time()),
                **content,
            }
            self._messages[(chat["id"], msg["message_id"])] = msg
            return msg

    def _queue_update(self, kind: str, payload: JSONDict) -> JSONDict:
        return self.push_update({kind: copy.deepcopy(payload)})

    def _new_file_id(self, kind: str, name: str, content: bytes, mime: str) -> str:
        file_id = f"{kind.upper()}-{next(self._file_seq):06d}"
        self._files[file_id] = (name, content, mime)
        return file_id

    def _find_message(self, params: JSONDict, verb: str) -> tuple[ChatId, JSONDict]:
        chat_id = self._require_chat_id(params)
        message_id = params.get("message_id")
        msg = self._messages.get((chat_id, message_id)) if isinstance(message_id, int) else None
        if msg is None:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        return chat_id, msg

    def _record(
        self,
        method: str,
        chat_id: ChatId,
        params: JSONDict,
        msg: JSONDict,
        file_name: str | None = None,
        file_bytes: bytes | None = None,
    ) -> None:
        self.sent.append(
            Sent(
                method=method,
                chat_id=chat_id,
                text=msg.get("text", msg.get("caption")),
                reply_markup=params.get("reply_markup"),
                message_id=msg["message_id"],
                params=params,
                file_name=file_name,
                file_bytes=file_bytes,
                message=copy.deepcopy(msg),
            )
        )
        self._cond.notify_all()

    def _new_bot_message(self, chat_id: ChatId, params: JSONDict, content: JSONDict) -> JSONDict:
        msg: JSONDict = {
            "message_id": self._next_message_id(chat_id),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        reply_to = params.get("reply_to_message_id")
        if isinstance(params.get("reply_parameters"), dict):
            reply_to = params["reply_parameters"].get("message_id")
        original = self._messages.get((chat_id, reply_to)) if reply_to else None
        if original is not None:
            msg["reply_to_message"] = {k: v for k, v in original.items() if k != "reply_to_message"}
        msg.update({k: v for k, v in content.items() if v is not None})
        markup = params.get("reply_markup")
        if markup and "inline_keyboard" in markup:
            # Telegram only echoes inline keyboards; PTB can't parse anything else there.
            msg["reply_markup"] = markup
        self._messages[(chat_id, msg["message_id"])] = msg
        return msg

    # ------------------------------------------------------------------ internals: methods

    def _get_me(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _get_updates(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates") or None
        deadline = time.monotonic() + timeout
        generation = self._wake_generation
        while True:
            self._confirm(offset)
            if allowed:
                self._queue = [u for u in self._queue if set(u) & set(allowed)]
            if self._queue or not block or generation != self._wake_generation:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        return [copy.deepcopy(u) for u in self._queue[:limit]]

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        elif offset < 0:
            self._queue = self._queue[offset:]

    def _delete_webhook(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _set_webhook(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> bool:
        self.webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _get_webhook_info(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> JSONDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }

    @staticmethod
    def _commands_key(params: JSONDict) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        self.commands[self._commands_key(params)] = commands
        return True

    def _get_my_commands(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> list[JSONDict]:
        return self.commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _send_message(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> JSONDict:
        chat_id = self._require_chat_id(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        msg = self._new_bot_message(chat_id, params, {"text": text, "entities": params.get("entities")})
        self._record("sendMessage", chat_id, params, msg)
        return msg

    def _send_contact(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> JSONDict:
        chat_id = self._require_chat_id(params)
        phone, first_name = params.get("phone_number"), params.get("first_name")
        if not phone or not first_name:
            raise ApiError(400, "Bad Request: phone_number and first_name are required")
        contact = {k: params[k] for k in ("phone_number", "first_name", "last_name", "user_id", "vcard") if k in params}
        msg = self._new_bot_message(chat_id, params, {"contact": contact})
        self._record("sendContact", chat_id, params, msg)
        return msg

    def _edit_message_text(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> Any:
        if params.get("inline_message_id"):
            return True
        chat_id, msg = self._find_message(params, "edit")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        self._check_editable(msg)
        if "text" not in msg:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        return self._apply_edit("editMessageText", chat_id, params, msg, {"text": text})

    def _edit_message_caption(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> Any:
        if params.get("inline_message_id"):
            return True
        chat_id, msg = self._find_message(params, "edit")
        self._check_editable(msg)
        if "text" in msg:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        return self._apply_edit("editMessageCaption", chat_id, params, msg, {"caption": params.get("caption")})

    def _edit_message_reply_markup(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> Any:
        if params.get("inline_message_id"):
            return True
        chat_id, msg = self._find_message(params, "edit")
        self._check_editable(msg)
        return self._apply_edit("editMessageReplyMarkup", chat_id, params, msg, {})

    def _check_editable(self, msg: JSONDict) -> None:
        if msg.get("from", {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")

    def _apply_edit(self, method: str, chat_id: ChatId, params: JSONDict, msg: JSONDict, changes: JSONDict) -> JSONDict:
        markup = params.get("reply_markup")
        new_markup = markup if markup and "inline_keyboard" in markup else None
        entities_key = "entities" if "text" in changes else "caption_entities"
        unchanged = all(msg.get(k) == v for k, v in changes.items()) and (
            not changes or msg.get(entities_key) == params.get(entities_key)
        )
        if unchanged and msg.get("reply_markup") == new_markup:
            raise ApiError(400, NOT_MODIFIED)
        for key, value in changes.items():
            if value is None:
                msg.pop(key, None)
            else:
                msg[key] = value
        if changes:
            if params.get(entities_key):
                msg[entities_key] = params[entities_key]
            else:
                msg.pop(entities_key, None)
        if new_markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = new_markup
        msg["edit_date"] = int(time.time())
        self._record(method, chat_id, params, msg)
        return msg

    def _delete_message(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> bool:
        chat_id, msg = self._find_message(params, "delete")
        del self._messages[(chat_id, msg["message_id"])]
        return True

    def _delete_messages(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> bool:
        chat_id = self._require_chat_id(params)
        for message_id in params.get("message_ids") or []:
            self._messages.pop((chat_id, message_id), None)
        return True

    def _answer_callback_query(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        return True

    def _leave_chat(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> bool:
        chat_id = self._require_chat_id(params)
        self.left_chats.append(chat_id)
        if isinstance(chat_id, int) and chat_id < 0:
            self._not_member.add(chat_id)
        return True

    def _copy_message(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> JSONDict:
        chat_id = self._require_chat_id(params)
        from_chat = normalize_chat_id(params.get("from_chat_id"))
        original = self._messages.get((from_chat, int(params.get("message_id") or 0)))
        if original is None:
            raise ApiError(400, "Bad Request: message to copy not found")
        content = {k: copy.deepcopy(original[k]) for k in CONTENT_KEYS if k in original}
        if "caption" in params and "text" not in content:
            content["caption"] = params["caption"] or None
            content["caption_entities"] = params.get("caption_entities")
        msg = self._new_bot_message(chat_id, params, content)
        self._record("copyMessage", chat_id, params, msg)
        return {"message_id": msg["message_id"]}

    def _forward_message(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> JSONDict:
        chat_id = self._require_chat_id(params)
        from_chat = normalize_chat_id(params.get("from_chat_id"))
        original = self._messages.get((from_chat, int(params.get("message_id") or 0)))
        if original is None:
            raise ApiError(400, "Bad Request: message to forward not found")
        content = {k: copy.deepcopy(original[k]) for k in CONTENT_KEYS if k in original}
        content["forward_origin"] = {
            "type": "user",
            "date": original["date"],
            "sender_user": original.get("from", self.bot_user),
        }
        msg = self._new_bot_message(chat_id, params, content)
        self._record("forwardMessage", chat_id, params, msg)
        return msg

    def _get_file(self, params: JSONDict, files: dict[str, UploadedFile], block: bool) -> JSONDict:
        file_id = str(params.get("file_id") or "")
        entry = self._files.get(file_id)
        if entry is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(entry[1]),
            "file_path": f"files/{file_id}",
        }

    def _media_sender(self, kind: str) -> Callable[[JSONDict, dict[str, UploadedFile], bool], JSONDict]:
        method = "send" + kind.capitalize()

        def send(params: JSONDict, files: dict[str, UploadedFile], block: bool) -> JSONDict:
            chat_id = self._require_chat_id(params)
            name, content, mime, file_id = self._resolve_input_file(kind, params.get(kind), files.get(kind), files)
            media = media_object(kind, file_id, name, content, mime)
            msg = self._new_bot_message(
                chat_id,
                params,
                {
                    kind: media,
                    "caption": params.get("caption") or None,
                    "caption_entities": params.get("caption_entities"),
                },
            )
            self._record(method, chat_id, params, msg, file_name=name, file_bytes=content)
            return msg

        return send

    def _resolve_input_file(
        self,
        kind: str,
        value: object,
        direct: UploadedFile | None,
        files: dict[str, UploadedFile],
    ) -> tuple[str, bytes, str, str]:
        upload = direct
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        if upload is not None:
            name, content, mime = upload
            return name, content, mime, self._new_file_id(kind, name, content, mime)
        if isinstance(value, str) and value in self._files:
            name, content, mime = self._files[value]
            return name, content, mime, value
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1] or kind
            return name, b"", "application/octet-stream", self._new_file_id(kind, name, b"", "")
        raise ApiError(400, f"Bad Request: there is no {kind} in the request")


def group_chat(chat_id: int, title: str | None = None) -> JSONDict:
    """A group (or supergroup, for ``-100...`` ids) Chat object."""
    chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": chat_type, "title": title or f"Group {chat_id}"}


def media_object(kind: str, file_id: str, name: str, content: bytes, mime: str) -> Any:
    """A Telegram media object (Document, list of PhotoSize, Voice, ...) for a stored file."""
    base = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(content)}
    if kind == "photo":
        return [
            {**base, "file_id": f"{file_id}", "width": 90, "height": 90},
            {**base, "file_id": f"{file_id}", "width": 800, "height": 800},
        ]
    if kind == "sticker":
        return {
            **base,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "\N{THUMBS UP SIGN}",
        }
    if kind in ("voice", "audio"):
        return {**base, "duration": 2, "mime_type": mime or "audio/ogg"}
    if kind in ("video", "animation"):
        return {**base, "width": 640, "height": 480, "duration": 2, "file_name": name, "mime_type": mime or "video/mp4"}
    return {**base, "file_name": name, "mime_type": mime or "application/octet-stream"}


class FakeUser:
    """A Telegram user acting against a :class:`FakeTelegram`; every action queues an update."""

    def __init__(
        self,
        fake: FakeTelegram,
        user_id: int,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = None,
        last_name: str | None = None,
    ) -> None:
        self.fake = fake
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code

    @property
    def chat_id(self) -> int:
        """Private chat id (== user id)."""
        return self.id

    @property
    def as_dict(self) -> JSONDict:
        """This user as a Telegram ``User`` object."""
        user: JSONDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def private_chat(self) -> JSONDict:
        """This user's private Chat object."""
        chat: JSONDict = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    # ---- messages

    def _message(self, content: JSONDict, chat: JSONDict | None = None) -> JSONDict:
        msg = self.fake._store_user_message(chat or self.private_chat, self.as_dict, content)
        return self.fake._queue_update("message", msg)

    def send_text(self, text: str, reply_to_message_id: int | None = None) -> JSONDict:
        """A text message; a leading ``/command`` gets a bot_command entity like Telegram does."""
        content: JSONDict = {"text": text}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        if reply_to_message_id is not None:
            original = self.fake.message(self.id, reply_to_message_id)
            if original is not None:
                original.pop("reply_to_message", None)
                content["reply_to_message"] = original
        return self._message(content)

    def send_command(self, command: str) -> JSONDict:
        """A command like ``"/start"`` or ``"/start payload"`` (with bot_command entity)."""
        if not command.startswith("/"):
            command = "/" + command
        return self.send_text(command)

    def send_sticker(self, emoji: str = "\N{THUMBS UP SIGN}") -> JSONDict:
        """A sticker message."""
        sticker = self._upload("sticker", "sticker.webp", b"RIFF\x00\x00\x00\x00WEBPfake", "image/webp")
        sticker["emoji"] = emoji
        return self._message({"sticker": sticker})

    def send_photo(self, caption: str | None = None) -> JSONDict:
        """A photo message (two sizes), optionally captioned."""
        content: JSONDict = {"photo": self._upload("photo", "photo.jpg", b"\xff\xd8\xff fake jpeg", "image/jpeg")}
        if caption is not None:
            content["caption"] = caption
        return self._message(content)

    def send_voice(self, duration: int = 2) -> JSONDict:
        """A voice message."""
        voice = self._upload("voice", "voice.ogg", b"OggS fake voice", "audio/ogg")
        voice["duration"] = duration
        return self._message({"voice": voice})

    def send_contact(self, phone_number: str, first_name: str | None = None, own: bool = True) -> JSONDict:
        """A shared contact (by default the user's own, as with a request_contact button)."""
        contact: JSONDict = {"phone_number": phone_number, "first_name": first_name or self.first_name}
        if own:
            contact["user_id"] = self.id
        return self._message({"contact": contact})

    def edit_text(self, message_id: int, text: str) -> JSONDict:
        """The user edits an earlier text message: an ``edited_message`` update."""
        with self.fake._lock:
            msg = self.fake._messages.get((self.id, message_id))
            if msg is None or msg.get("from", {}).get("id") != self.id:
                raise AssertionError(f"user {self.id} has no message {message_id} to edit")
            msg["text"] = text
            msg["edit_date"] = int(time.time())
            entities = command_entities(text)
            if entities:
                msg["entities"] = entities
            else:
                msg.pop("entities", None)
            return self.fake._queue_update("edited_message", msg)

    def _upload(self, kind: str, name: str, content: bytes, mime: str) -> Any:
        with self.fake._lock:
            file_id = self.fake._new_file_id(kind, name, content, mime)
        return media_object(kind, file_id, name, content, mime)

    # ---- buttons

    def press(self, button_label: str, chat_id: ChatId | None = None) -> JSONDict:
        """Press the inline button labelled exactly ``button_label`` on the newest bot message
        (in this user's private chat unless ``chat_id`` is given) that currently shows it."""
        chat = self.id if chat_id is None else normalize_chat_id(chat_id)
        available: list[str] = []
        with self.fake._lock:
            for msg in self.fake.keyboards(chat, inline_only=False):
                labels = []
                for row in markup_rows(msg["reply_markup"]):
                    for button in row:
                        if button.get("text") == button_label:
                            data = button.get("callback_data")
                            if data is None:
                                raise AssertionError(f"button {button_label!r} has no callback_data: {button}")
                            return self._callback(msg, data)
                        labels.append(str(button.get("text")))
                available.append(f"#{msg['message_id']}: {labels}")
        raise AssertionError(
            f"no inline button {button_label!r} in chat {chat}; available: " + ("; ".join(available) or "no inline keyboards")
        )

    def press_data(self, callback_data: str, message_id: int | None = None, chat_id: ChatId | None = None) -> JSONDict:
        """A callback query with arbitrary data (forged or stale presses).

        ``message_id`` defaults to the newest bot message; an unknown id yields an inaccessible
        message (``date == 0``), like Telegram does for very old or deleted messages.
        """
        chat = self.id if chat_id is None else normalize_chat_id(chat_id)
        with self.fake._lock:
            msg: JSONDict | None
            if message_id is None:
                bot_messages = [
                    m
                    for (c, _), m in self.fake._messages.items()
                    if c == chat and m.get("from", {}).get("id") == self.fake.bot_id
                ]
                msg = max(bot_messages, key=lambda m: m["message_id"]) if bot_messages else None
            else:
                msg = self.fake._messages.get((chat, message_id))
            if msg is None:
                msg = {"message_id": message_id or 1, "chat": self.fake._chat(chat), "date": 0}
            return self._callback(msg, callback_data)

    def _callback(self, msg: JSONDict, data: str) -> JSONDict:
        fake = self.fake
        query_id = str(next(fake._query_seq) + 4_000_000_000_000_000)
        fake._open_queries.add(query_id)
        return fake._queue_update(
            "callback_query",
            {
                "id": query_id,
                "from": self.as_dict,
                "chat_instance": f"ci{msg['chat']['id']}",
                "message": copy.deepcopy(msg),
                "data": data,
            },
        )

    # ---- groups

    def send_text_in_group(self, group_chat_id: int, text: str, title: str | None = None) -> JSONDict:
        """A text message from this user in a group chat."""
        with self.fake._lock:
            chat = self.fake._chats.get(group_chat_id) or group_chat(group_chat_id, title)
            self.fake._chats[group_chat_id] = chat
        content: JSONDict = {"text": text}
        entities = command_entities(text)
        if entities:
            content["entities"] = entities
        return self._message(content, chat=chat)

    def added_to_group(self, group_chat_id: int, title: str | None = None) -> JSONDict:
        """This user adds the bot to a group: a ``my_chat_member`` update (left -> member)."""
        fake = self.fake
        with fake._lock:
            chat = fake._chats.get(group_chat_id) or group_chat(group_chat_id, title)
            fake._chats[group_chat_id] = chat
            fake._not_member.discard(group_chat_id)
            return fake._queue_update(
                "my_chat_member",
                {
                    "chat": chat,
                    "from": self.as_dict,
                    "date": int(time.time()),
                    "old_chat_member": {"user": fake.bot_user, "status": "left"},
                    "new_chat_member": {"user": fake.bot_user, "status": "member"},
                },
            )

    # ---- reading

    def messages(self) -> list[Sent]:
        """What the bot sent to this user's private chat."""
        return self.fake.messages_to(self.id)

    def last(self) -> Sent:
        """The latest record for this user's private chat."""
        return self.fake.last_to(self.id)


def sent_to(chat_id: ChatId, contains: str | None = None, method: str | None = None) -> Callable[[Sent], bool]:
    """Predicate for :meth:`FakeTelegram.wait_for_sent`: a record to ``chat_id`` whose text
    contains ``contains`` (if given) made by ``method`` (if given)."""
    target = normalize_chat_id(chat_id)

    def predicate(sent: Sent) -> bool:
        return (
            sent.chat_id == target
            and (contains is None or contains in (sent.text or ""))
            and (method is None or sent.method.lower() == method.lower())
        )

    return predicate


def command_entities(text: str) -> list[JSONDict]:
    """The ``bot_command`` entity Telegram attaches to a leading ``/command``."""
    if not text.startswith("/") or len(text) < 2:
        return []
    word = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(word.encode("utf-16-le")) // 2}]


def _read_field(field_tuple: Iterable[Any]) -> UploadedFile:
    name, content, mime = tuple(field_tuple)
    if hasattr(content, "read"):
        content = content.read()
    return str(name), bytes(content), str(mime)


class FakeRequest(BaseRequest):
    """A PTB request backend that answers from a :class:`FakeTelegram` in-process.

    With ``long_poll=True`` getUpdates waits (asynchronously) up to its ``timeout`` for an
    update; by default it returns immediately.
    """

    def __init__(self, fake: FakeTelegram, *, long_poll: bool = False, read_timeout: float | None = 5.0):
        self.fake = fake
        self.long_poll = long_poll
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout (unused: nothing goes over a network)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Route one PTB request to the fake; file downloads are served from its file store."""
        if method == "GET" and "/file/bot" in url:
            content = self.fake.file_content(url)
            if content is None:
                return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'
            return 200, content
        api_method = url.rstrip("/").rsplit("/", 1)[-1]
        params: JSONDict = {}
        files: dict[str, UploadedFile] = {}
        if request_data is not None:
            # Round-trip through JSON so in-process calls see exactly what the wire would carry.
            params = json.loads(json.dumps(request_data.parameters))
            files = {name: _read_field(t) for name, t in request_data.multipart_data.items()}
        if self.long_poll and api_method == "getUpdates":
            await self._await_updates(params)
        envelope = self.fake.handle(api_method, params, files)
        status = 200 if envelope["ok"] else int(envelope["error_code"])
        return status, json.dumps(envelope).encode()

    async def _await_updates(self, params: JSONDict) -> None:
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        offset = int(params.get("offset") or 0)
        # The fake may be fed from other threads, so poll rather than await an asyncio.Event.
        while not self.fake.has_updates(offset) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
