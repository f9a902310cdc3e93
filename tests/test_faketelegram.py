"""The fake Bot API works with the real python-telegram-bot, in-process and over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.faketelegram import (
    BOT_ID,
    FakeRequest,
    FakeTelegram,
    coerce_wire_params,
    sent_to,
)
from tests.standin import BotApiStandin, decode_body

ADMIN_CHAT = 4242
CHOICES = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Yes", callback_data="yes"), InlineKeyboardButton("No", callback_data="no")]]
)


# ------------------------------------------------------------------ a tiny bot under test


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_user and update.effective_message
    await update.effective_message.reply_text(f"Hello, {update.effective_user.first_name}! Continue?", reply_markup=CHOICES)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message and update.effective_message.text
    await update.effective_message.reply_text(f"echo: {update.effective_message.text}")


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message and update.effective_chat
    await context.bot.copy_message(
        chat_id=ADMIN_CHAT,
        from_chat_id=update.effective_chat.id,
        message_id=update.effective_message.message_id,
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(f"You chose {query.data}")


async def on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.my_chat_member is not None
    await context.bot.leave_chat(update.my_chat_member.chat.id)


def add_handlers(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest_asyncio.fixture
async def app(fake: FakeTelegram) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    application = ApplicationBuilder().token("123:ABC").request(FakeRequest(fake)).get_updates_request(FakeRequest(fake)).build()
    add_handlers(application)
    async with application:
        yield application


async def feed(app: Application, update: dict) -> None:  # type: ignore[type-arg]
    await app.process_update(Update.de_json(update, app.bot))


# ------------------------------------------------------------------ in-process


@pytest.mark.asyncio
async def test_get_me_and_echo(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    assert app.bot.id == BOT_ID
    assert app.bot.username == "kollega_test_bot"
    me = await app.bot.get_me()
    assert me.first_name == "Kollega" and me.can_join_groups

    ann = fake.user(1001, "Ann", username="ann", language_code="de")
    update = ann.send_text("hi there")
    assert update["message"]["message_id"] == 1
    await feed(app, update)

    reply = fake.last_to(1001)
    assert (reply.method, reply.text, reply.message_id) == ("sendMessage", "echo: hi there", 2)
    assert reply.message and reply.message["from"]["id"] == BOT_ID
    assert reply.message["chat"] == {"id": 1001, "type": "private", "first_name": "Ann", "username": "ann"}
    assert [name for name, _ in fake.calls] == ["getMe", "getMe", "sendMessage"]


@pytest.mark.asyncio
async def test_press_button_by_label(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    ann = fake.user(1001, "Ann")
    command = ann.send_command("/start")
    assert command["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    await feed(app, command)
    assert fake.last_to(1001).text == "Hello, Ann! Continue?"
    assert fake.last_to(1001).button_rows == [["Yes", "No"]]

    with pytest.raises(AssertionError, match=r"'Maybe'.*\['Yes', 'No'\]"):
        ann.press("Maybe")

    press = ann.press("Yes")
    assert press["callback_query"]["data"] == "yes"
    assert press["callback_query"]["message"]["message_id"] == 2
    await feed(app, press)

    assert len(fake.calls_of("answerCallbackQuery")) == 1
    edit = fake.last_to(1001)
    assert (edit.method, edit.message_id, edit.text, edit.buttons) == ("editMessageText", 2, "You chose yes", [])
    assert [s.method for s in fake.messages_to(1001)] == ["sendMessage", "editMessageText"]
    # The edit removed the keyboard, so the button is gone.
    with pytest.raises(AssertionError, match="no inline keyboards"):
        ann.press("Yes")


@pytest.mark.asyncio
async def test_stale_press_and_double_answer(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    ann = fake.user(1001)
    update = Update.de_json(ann.press_data("forged", message_id=77), app.bot)
    assert update.callback_query and update.callback_query.message
    assert not update.callback_query.message.is_accessible
    await update.callback_query.answer()
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await update.callback_query.answer()


@pytest.mark.asyncio
async def test_copy_message_of_photo(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    bob = fake.user(1002, "Bob")
    photo = bob.send_photo(caption="look")
    await feed(app, photo)

    copy = fake.last_to(ADMIN_CHAT)
    assert copy.method == "copyMessage" and copy.text == "look"
    assert copy.message and copy.message["photo"] == photo["message"]["photo"]
    assert copy.params["from_chat_id"] == 1002

    voice = bob.send_voice()
    result = await app.bot.copy_message(ADMIN_CHAT, 1002, voice["message"]["message_id"])
    assert result.message_id == (copy.message_id or 0) + 1
    assert fake.last_to(ADMIN_CHAT).message["voice"] == voice["message"]["voice"]  # type: ignore[index]

    with pytest.raises(BadRequest, match=r"(?i)message to copy not found"):
        await app.bot.copy_message(ADMIN_CHAT, 1002, 999)


@pytest.mark.asyncio
async def test_injected_failures(
    app: Application,
    fake: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[type-arg]
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as timedelta, no warning
    fake.fail_next("sendMessage", error_code=429, retry_after=7, chat_id=1001)
    await app.bot.send_message(2002, "other chat is unaffected")
    with pytest.raises(RetryAfter) as excinfo:
        await app.bot.send_message(1001, "hi")
    assert excinfo.value.retry_after == dtm.timedelta(seconds=7)
    await app.bot.send_message(1001, "works again")
    assert fake.texts_to(1001) == ["works again"]

    fake.fail_next("editMessageText", error_code=500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await app.bot.edit_message_text("x", chat_id=1001, message_id=1)

    fake.block(1001)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await app.bot.send_message(1001, "hello?")
    assert fake.handle("sendMessage", {"chat_id": 1001, "text": "x"}) == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    fake.fail_next("sendMessage", error_code=429, retry_after=3)
    fake.unblock(1001)
    assert fake.handle("sendMessage", {"chat_id": 1001, "text": "x"}) == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }


@pytest.mark.asyncio
async def test_edits_deletes_and_documents(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    bot = app.bot
    msg = await bot.send_message(1001, "v1", reply_markup=CHOICES)
    assert msg.reply_markup == CHOICES
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("v1", chat_id=1001, message_id=msg.message_id, reply_markup=CHOICES)
    edited = await bot.edit_message_reply_markup(chat_id=1001, message_id=msg.message_id)
    assert isinstance(edited, type(msg)) and edited.reply_markup is None
    assert await bot.delete_message(1001, msg.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("v2", chat_id=1001, message_id=msg.message_id)

    doc = await bot.send_document(1001, document=b"%PDF-1.4 fake", filename="report.pdf", caption="Report")
    assert doc.document and doc.document.file_name == "report.pdf" and doc.caption == "Report"
    sent = fake.last_to(1001)
    assert (sent.method, sent.file_name, sent.file_bytes, sent.text) == (
        "sendDocument",
        "report.pdf",
        b"%PDF-1.4 fake",
        "Report",
    )
    photo = await bot.send_photo(1001, photo=b"\x89PNG fake")
    assert photo.photo and fake.last_to(1001).file_bytes == b"\x89PNG fake"
    downloaded = await (await bot.get_file(doc.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"%PDF-1.4 fake"

    await bot.send_chat_action(1001, "typing")
    assert fake.calls_of("sendChatAction") == [{"chat_id": 1001, "action": "typing"}]
    assert [s.at for s in fake.sent] == sorted(s.at for s in fake.sent)


@pytest.mark.asyncio
async def test_groups_and_updates_queue(app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
    ann = fake.user(1001, "Ann")
    first_id = fake.next_update_id
    added = ann.added_to_group(-5001, title="Team")
    assert added["update_id"] == first_id
    await feed(app, added)
    assert fake.calls_of("leaveChat") == [{"chat_id": -5001}]
    with pytest.raises(Forbidden, match=r"(?i)not a member"):
        await app.bot.send_message(-5001, "still here?")

    in_group = ann.send_text_in_group(-5001, "hello group")
    assert in_group["message"]["chat"] == {"id": -5001, "type": "group", "title": "Team"}
    assert [u["update_id"] for u in fake.pending_updates()] == [first_id, first_id + 1]

    updates = await app.bot.get_updates(offset=first_id + 1, limit=5)
    assert [u.update_id for u in updates] == [first_id + 1]
    assert [u["update_id"] for u in fake.pending_updates()] == [first_id + 1]

    await app.bot.set_my_commands([("start", "Start")])
    assert [c.command for c in await app.bot.get_my_commands()] == ["start"]
    await app.bot.set_webhook("https://example.invalid/hook")
    assert (await app.bot.get_webhook_info()).url == "https://example.invalid/hook"
    await app.bot.delete_webhook(drop_pending_updates=True)
    assert fake.pending_updates() == []


def test_edited_message_and_wire_decoding(fake: FakeTelegram) -> None:
    ann = fake.user(1001)
    first = ann.send_text("tpyo")
    edited = ann.edit_text(first["message"]["message_id"], "typo")
    assert edited["edited_message"]["text"] == "typo" and "edit_date" in edited["edited_message"]
    assert fake.user(1001).first_name == "Test"

    decoded = coerce_wire_params(
        {
            "chat_id": "5",
            "text": "123",
            "disable_notification": "true",
            "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}',
        }
    )
    assert decoded == {
        "chat_id": 5,
        "text": "123",
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
    }
    as_string = json.dumps(decoded["reply_markup"])
    result = fake.handle("sendMessage", {"chat_id": "1001", "text": "x", "reply_markup": as_string})
    assert result["ok"] and fake.last_to(1001).buttons == ["A"]
    assert fake.handle("noSuchMethod", {})["error_code"] == 404


# ------------------------------------------------------------------ over HTTP


@pytest.fixture
def standin() -> Iterator[BotApiStandin]:
    with BotApiStandin() as running:
        yield running


@pytest.mark.asyncio
async def test_http_polling_roundtrip(standin: BotApiStandin) -> None:
    app = ApplicationBuilder().token("123:ABC").base_url(standin.base_url).base_file_url(standin.base_file_url).build()
    add_handlers(app)
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]
        await app.start()
        try:
            cleo = standin.fake.user(3003, "Cleo")
            cleo.send_text("ping")
            reply = await standin.wait_for_async(sent_to(3003, contains="echo: ping"))
            assert reply.message_id == 2

            cleo.send_command("/start")
            await standin.wait_for_async(sent_to(3003, contains="Continue?"))
            assert standin.fake.last_to(3003).buttons == ["Yes", "No"]
            cleo.press("No")
            await standin.wait_for_async(sent_to(3003, contains="You chose no", method="editMessageText"))

            doc = await app.bot.send_document(
                3003,
                document=b"\x00binary\r\n--x\r\n",
                filename='we"ird.bin',
                caption="123",
                reply_markup=CHOICES,
            )
            sent = standin.fake.last_to(3003)
            assert (sent.file_name, sent.file_bytes, sent.text) == ('we"ird.bin', b"\x00binary\r\n--x\r\n", "123")
            assert sent.buttons == ["Yes", "No"] and doc.reply_markup == CHOICES
            assert (
                doc.document
                and bytes(await (await app.bot.get_file(doc.document.file_id)).download_as_bytearray())
                == b"\x00binary\r\n--x\r\n"
            )
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
    assert standin.fake.pending_updates() == []


def _post(url: str, body: bytes, content_type: str) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        with exc:
            return json.loads(exc.read())  # type: ignore[no-any-return]


def test_http_encodings_and_long_poll(standin: BotApiStandin) -> None:
    api = standin.base_url + "123:ABC/"
    markup = json.dumps({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]})
    form = urllib.parse.urlencode({"chat_id": "7", "text": "42", "reply_markup": markup}).encode()
    assert _post(api + "sendMessage", form, "application/x-www-form-urlencoded")["result"]["text"] == "42"
    as_json = json.dumps({"chat_id": 7, "text": "hi", "reply_markup": json.loads(markup)}).encode()
    assert _post(api + "sendMessage", as_json, "application/json")["ok"]
    assert [s.buttons for s in standin.fake.messages_to(7)] == [["Go"], ["Go"]]

    with urllib.request.urlopen(api + "getMe", timeout=5) as response:
        assert json.loads(response.read())["result"]["username"] == "kollega_test_bot"
    missing = _post(api + "editMessageText", b'{"chat_id": 7, "message_id": 99, "text": "x"}', "application/json")
    assert missing == {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}

    params, files = decode_body(
        "multipart/form-data; boundary=XyZ",
        b'--XyZ\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n7\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="p.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n",
    )
    assert params == {"chat_id": 7} and files == {"photo": ("p.png", b"\x89PNG", "image/png")}

    # A long poll waits for a queued update, and does not block other requests meanwhile.
    def queue_later() -> None:
        time.sleep(0.3)
        standin.fake.user(8).send_text("wake up")

    thread = threading.Thread(target=queue_later)
    thread.start()
    with urllib.request.urlopen(api + "getUpdates?timeout=5&offset=0", timeout=10) as response:
        updates = json.loads(response.read())["result"]
    thread.join()
    assert [u["message"]["text"] for u in updates] == ["wake up"]


SUBPROCESS_BOT = """
import sys
from telegram.ext import ApplicationBuilder, MessageHandler, filters

async def echo(update, context):
    await update.effective_message.reply_text("sub: " + update.effective_message.text)

app = ApplicationBuilder().token("1:T").base_url(sys.argv[1]).build()
app.add_handler(MessageHandler(filters.TEXT, echo))
app.run_polling(poll_interval=0, timeout=1)
"""


def test_subprocess_bot_against_standin(standin: BotApiStandin) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SUBPROCESS_BOT, standin.base_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            standin.fake.user(77).send_text("hello")
            sent = standin.wait_for(sent_to(77, contains="sub: hello"), timeout=30)
        finally:
            proc.terminate()  # PTB's run_polling stops gracefully on SIGTERM
            _, errors = proc.communicate(timeout=15)
    assert sent.method == "sendMessage", errors
    assert standin.fake.pending_updates() == []


def test_stop_with_open_client_connections() -> None:
    standin = BotApiStandin().start()
    api = standin.base_url + "1:T/"
    result: list[object] = []
    poller = threading.Thread(target=lambda: result.append(_post(api + "getUpdates", b'{"timeout": 30}', "application/json")))
    poller.start()
    time.sleep(0.2)
    started = time.monotonic()
    standin.stop()
    poller.join(5)
    assert time.monotonic() - started < 3
    assert result == [{"ok": True, "result": []}]


def test_standin_script_console() -> None:
    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen(
        [sys.executable, "-m", "tests.standin", "--port", "0", "--quiet"],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin and proc.stdout
        base_url = proc.stdout.readline().strip().removeprefix("base_url=")
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/bot")
        proc.stdin.write("55 /start\n")
        proc.stdin.flush()
        with urllib.request.urlopen(base_url + "1:T/getUpdates?timeout=5", timeout=10) as response:
            update = json.loads(response.read())["result"][0]
        assert update["message"]["text"] == "/start"
        assert update["message"]["entities"][0]["type"] == "bot_command"
        _post(
            base_url + "1:T/sendMessage",
            b'{"chat_id": 55, "text": "Menu", "reply_markup": '
            b'{"inline_keyboard": [[{"text": "Open", "callback_data": "open"}]]}}',
            "application/json",
        )
        proc.stdin.write("55 !press Open\nshow 55\nquit\n")
        proc.stdin.flush()
        output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "#2 sendMessage -> 55: Menu" in output and "[Open]" in output


@pytest.mark.asyncio
async def test_fake_request_long_poll_mode(fake: FakeTelegram) -> None:
    app = (
        ApplicationBuilder()
        .token("1:T")
        .request(FakeRequest(fake))
        .get_updates_request(FakeRequest(fake, long_poll=True))
        .build()
    )
    add_handlers(app)
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)  # type: ignore[union-attr]
        await app.start()
        try:
            fake.user(9).send_text("polled")
            await fake.wait_for_sent_async(sent_to(9, contains="echo: polled"), timeout=5)
            await asyncio.sleep(0)
        finally:
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
