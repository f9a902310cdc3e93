"""bot.webhook in process, on 127.0.0.1 with a port of its own choosing, in front of a fake
``handle`` and a fake Bot (only ``set_webhook``): what a hostile or broken client can make it
do, and what it answers Telegram.

Requests go over raw asyncio streams where the test needs to stop half-way (headers without
a body, a body that never ends) and over httpx otherwise. Timeouts are safety nets only:
every test asserts on status codes, counts and what ``handle`` received.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update

import bot.webhook as webhook_module
from bot.cli import main
from bot.config import Config, ConfigError, load
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH, WebhookLimits, WebhookServer, open_webhook

SECRET = secrets.token_urlsafe(32)
WRONG = secrets.token_urlsafe(32)
URL = "https://example.invalid/telegram"
SAFETY = 30.0
"""Only so that a broken server fails a test instead of hanging it."""
MiB = 1024 * 1024
CONFIDENTIAL = "CONFIDENTIAL-" + secrets.token_hex(8)
"""Put into bodies and exceptions: must never reach the log."""


class FakeBot:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def set_webhook(self, **kwargs: Any) -> bool:
        self.calls.append(kwargs)
        return True


class Handle:
    """Records the updates; blocks on ``gate`` while it is clear; raises ``fail`` once if set."""

    def __init__(self) -> None:
        self.updates: list[Update] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def __call__(self, update: Update) -> None:
        self.updates.append(update)
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        await self.gate.wait()

    @property
    def ids(self) -> list[int]:
        return [u.update_id for u in self.updates]


Opener = Callable[..., Awaitable[WebhookServer]]


@pytest.fixture
def handle() -> Handle:
    return Handle()


@pytest.fixture
def fake_bot() -> FakeBot:
    return FakeBot()


@pytest.fixture
async def serve(handle: Handle, fake_bot: FakeBot) -> AsyncIterator[Opener]:
    """Open a webhook (with the given limits); every one opened is closed at teardown."""
    opened: list[WebhookServer] = []

    async def open_one(**limits: Any) -> WebhookServer:
        config = Config(
            token="123456:TEST-token", secret_key=secrets.token_urlsafe(32), webhook_url=URL,
            webhook_listen="127.0.0.1", webhook_port=0, webhook_secret=SECRET,
        )  # fmt: skip
        server = await open_webhook(config, fake_bot, handle, limits=WebhookLimits(**limits))  # type: ignore[arg-type]
        opened.append(server)
        return server

    yield open_one
    for server in opened:
        await server.close()


def update(update_id: int, text: str = "hei") -> dict[str, Any]:
    chat = {"id": 5001, "type": "private", "first_name": "Kari"}
    message = {"message_id": update_id, "date": 1_700_000_000, "chat": chat, "from": {**chat, "is_bot": False}, "text": text}
    return {"update_id": update_id, "message": message}


def body_of(update_id: int) -> bytes:
    return json.dumps(update(update_id)).encode()


async def post(port: int, content: bytes, secret: str | None = SECRET, path: str = WEBHOOK_PATH) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with httpx.AsyncClient(timeout=SAFETY) as client:
        answer = await client.post(f"http://127.0.0.1:{port}{path}", content=content, headers=headers)
    return answer.status_code


def head(
    secret: str | None = SECRET, length: int | None = None, chunked: bool = False, method: str = "POST", path: str = WEBHOOK_PATH
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if secret is not None:
        lines.append(f"{SECRET_HEADER}: {secret}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Raw:
    """One TCP connection, spoken to byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> bool:
        """False once the server has closed the connection under us."""
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError:
            return False
        return True

    async def response(self) -> int | None:
        """The status of the next response, or None if the connection closed without one."""
        async with asyncio.timeout(SAFETY):
            try:
                header = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            lines = header.decode("latin1").split("\r\n")
            length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
            await self.reader.readexactly(length)
            return int(lines[0].split()[1])

    async def closed_by_server(self) -> bool:
        """Wait for the server to close this connection; True if it did without sending anything more."""
        async with asyncio.timeout(SAFETY):
            try:
                return await self.reader.read(1) == b""
            except ConnectionError:
                return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def until(condition: Callable[[], Any], what: str) -> None:
    """Let the server's side run until ``condition`` holds (bounded by SAFETY)."""
    try:
        async with asyncio.timeout(SAFETY):
            while not condition():  # noqa: ASYNC110 - the server's counters have no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


def webhook_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.webhook"]


def server_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Everything logged but by the test's own HTTP client (which logs the URLs it requests)."""
    return [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.name} {r.getMessage()} {r.exc_info} {r.exc_text}" for r in server_records(caplog))


# --- the happy path -----------------------------------------------------------------------------
async def test_an_update_is_answered_200_only_after_handle_returned(serve: Opener, handle: Handle, fake_bot: FakeBot) -> None:
    server = await serve()
    assert fake_bot.calls == [{"url": URL, "secret_token": SECRET, "allowed_updates": Update.ALL_TYPES}]
    assert server.port > 0
    handle.gate.clear()
    answer = asyncio.create_task(post(server.port, body_of(11)))
    await until(lambda: handle.ids == [11], "handle received the update")
    await asyncio.sleep(0.05)
    assert not answer.done(), "answered while handle was still running"
    handle.gate.set()
    assert await answer == 200
    [received] = handle.updates
    assert received.message is not None and received.message.text == "hei" and received.effective_chat is not None
    assert server.handled == 1 and not server.refused


async def test_a_failing_handle_is_answered_500_and_logged_by_type_only(
    serve: Opener, handle: Handle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await serve()
    handle.fail = RuntimeError(f"{CONFIDENTIAL} {SECRET}")
    assert await post(server.port, body_of(21)) == 500  # Telegram delivers it again
    assert await post(server.port, body_of(21)) == 200
    assert handle.ids == [21, 21] and server.failed == 1 and server.handled == 1
    [line] = webhook_records(caplog)
    assert line.levelno == logging.ERROR and "RuntimeError" in line.getMessage() and "21" in line.getMessage()
    assert CONFIDENTIAL not in server_log(caplog) and SECRET not in server_log(caplog) and line.exc_info is None


# --- 1. the secret before the body ---------------------------------------------------------------
@pytest.mark.parametrize("max_body_size", [MiB, 100 * MiB], ids=["default-limit", "limit-above-the-declared-body"])
async def test_the_secret_is_checked_before_the_body_is_read(
    serve: Opener, handle: Handle, caplog: pytest.LogCaptureFixture, max_body_size: int
) -> None:
    """50 MiB declared, not a byte of it sent: the 403 comes from the headers alone (with the
    limit above 50 MiB a server that waited for the body would never answer), and the
    connection is closed rather than left to receive the rest."""
    caplog.set_level(logging.DEBUG)
    server = await serve(max_body_size=max_body_size)
    for secret in (WRONG, None, ""):
        connection = await Raw.connect(server.port)
        await connection.send(head(secret, length=50 * MiB))
        assert await connection.response() == 403
        assert await connection.closed_by_server()
        await connection.close()
    assert server.refused == {"secret": 3}
    assert handle.updates == [] and server.in_flight == 0
    # Only the first refusal's summary: tornado did not go on to judge the body it dropped.
    assert [r.name for r in server_records(caplog)] == ["bot.webhook"]


async def test_a_refused_body_is_dropped_not_kept(serve: Opener, handle: Handle) -> None:
    """Body bytes sent after the wrong secret never reach the handler's buffer."""
    server = await serve()
    connection = await Raw.connect(server.port)
    await connection.send(head(WRONG, length=len(body_of(31))) + body_of(31))
    assert await connection.response() == 403
    await connection.close()
    assert await post(server.port, body_of(32), secret=WRONG) == 403
    assert await post(server.port, body_of(33), secret=SECRET[:-1]) == 403
    assert handle.updates == [] and server.refused == {"secret": 3}


# --- 2. body size and timeouts -------------------------------------------------------------------
async def test_a_declared_body_beyond_max_body_size_is_refused_even_with_the_secret(
    serve: Opener, handle: Handle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await serve()
    connection = await Raw.connect(server.port)
    await connection.send(head(SECRET, length=MiB + 1))
    assert await connection.response() == 413
    assert await connection.closed_by_server()
    await connection.close()
    assert server.refused == {"too_large": 1} and handle.updates == [] and server.in_flight == 0
    assert [r.name for r in server_records(caplog)] == ["bot.webhook"]


async def test_a_chunked_body_beyond_max_body_size_is_cut_off(serve: Opener, handle: Handle) -> None:
    """No Content-Length to refuse by: the server's own max_body_size stops it mid-stream."""
    server = await serve()
    padded = json.dumps({**update(41), "padding": " " * (2 * MiB)}).encode()
    connection = await Raw.connect(server.port)
    await connection.send(head(SECRET, chunked=True))
    piece = 64 * 1024
    for start in range(0, len(padded), piece):
        chunk = padded[start : start + piece]
        if not await connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk)):
            break
    else:
        await connection.send(b"0\r\n\r\n")
    assert await connection.response() in (None, 400)
    await connection.close()
    await until(lambda: server.in_flight == 0, "the place in flight given back")
    assert handle.updates == [] and server.handled == 0 and server.refused == {"incomplete": 1}


async def test_a_body_of_exactly_max_body_size_is_accepted(serve: Opener, handle: Handle) -> None:
    server = await serve(max_body_size=64 * 1024)
    body = body_of(42)
    assert await post(server.port, body + b" " * (64 * 1024 - len(body))) == 200
    assert await post(server.port, body + b" " * (64 * 1024 - len(body) + 1)) == 413
    assert handle.ids == [42]


async def test_a_body_that_never_arrives_and_an_idle_connection_are_closed(serve: Opener, handle: Handle) -> None:
    server = await serve(body_timeout=0.2, idle_connection_timeout=0.2)
    slow = await Raw.connect(server.port)
    await slow.send(head(SECRET, length=500) + b'{"update_id": 51')
    idle = await Raw.connect(server.port)
    assert await slow.closed_by_server()
    assert await idle.closed_by_server()
    for connection in (slow, idle):
        await connection.close()
    await until(lambda: server.open_connections == 0, "both connections gone")
    assert handle.updates == [] and server.in_flight == 0 and server.refused == {"incomplete": 1}


# --- 3. requests in flight and open connections ---------------------------------------------------
async def test_requests_beyond_max_in_flight_are_answered_503_at_once(serve: Opener, handle: Handle) -> None:
    server = await serve(max_in_flight=2)
    handle.gate.clear()
    held = [asyncio.create_task(post(server.port, body_of(i))) for i in (61, 62)]
    await until(lambda: len(handle.updates) == 2, "two updates being handled")
    assert await post(server.port, body_of(63)) == 503  # while the other two are still held
    assert not any(task.done() for task in held)
    handle.gate.set()
    assert await asyncio.gather(*held) == [200, 200]
    assert await post(server.port, body_of(64)) == 200  # the places are given back
    assert sorted(handle.ids) == [61, 62, 64] and server.refused == {"busy": 1} and server.in_flight == 0


async def test_connections_beyond_max_connections_are_closed(serve: Opener, handle: Handle) -> None:
    server = await serve(max_connections=2)
    kept = [await Raw.connect(server.port) for _ in range(2)]
    for n, connection in enumerate(kept):
        await connection.send(head(SECRET, length=len(body_of(70 + n))) + body_of(70 + n))
        assert await connection.response() == 200  # and the connection stays open (keep-alive)
    third = await Raw.connect(server.port)
    await third.send(head(SECRET, length=len(body_of(79))) + body_of(79))
    assert await third.response() is None
    await third.close()
    assert server.refused == {"connections": 1} and handle.ids == [70, 71]

    await kept.pop().close()
    await until(lambda: server.open_connections == 1, "the server noticed a connection closed")
    assert await post(server.port, body_of(72)) == 200
    await kept.pop().close()
    assert handle.ids == [70, 71, 72]


# --- 4. what the body may be ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{", b'"text"', b"[1, 2]", b"42", b"null", b"\xff\xfe\x00garbage", b"[" * 200_000, b"1" * 10_000],
    ids=["empty", "text", "truncated", "string", "array", "number", "null", "not-utf8", "deeply-nested", "huge-int"],
)
async def test_a_body_that_is_not_a_json_object_is_answered_400(serve: Opener, handle: Handle, body: bytes) -> None:
    server = await serve()
    assert await post(server.port, body) == 400
    assert handle.updates == [] and server.refused == {"not_json": 1}


@pytest.mark.parametrize(
    "data",
    [{}, {"update_id": "12"}, {"update_id": True}, {"update_id": None, "message": {"text": CONFIDENTIAL}}],
    ids=["empty", "string-id", "bool-id", "null-id"],
)
async def test_an_object_without_an_update_id_is_answered_400(
    serve: Opener, handle: Handle, caplog: pytest.LogCaptureFixture, data: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await serve()
    assert await post(server.port, json.dumps(data).encode()) == 400
    assert handle.updates == [] and server.refused == {"not_update": 1}
    assert CONFIDENTIAL not in server_log(caplog)


async def test_an_update_that_cannot_be_read_is_skipped_with_200_and_logged_by_its_id_only(
    serve: Opener, handle: Handle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await serve()
    unreadable = [
        {"update_id": 4242, "message": {"text": CONFIDENTIAL}},  # no date, no chat
        {"update_id": 4243, "message": CONFIDENTIAL},
        {"update_id": 4244, "message": {"message_id": 1, "date": 0, "chat": [CONFIDENTIAL]}},
    ]
    for data in unreadable:
        # 200: Telegram would redeliver it after any other answer, and it would fail every time.
        assert await post(server.port, json.dumps(data).encode()) == 200
    assert handle.updates == [] and server.refused == {"unreadable": 3}
    lines = [r.getMessage() for r in webhook_records(caplog) if "could not be read" in r.getMessage()]
    assert len(lines) == 3 and all(str(d["update_id"]) in line for d, line in zip(unreadable, lines, strict=True))
    assert CONFIDENTIAL not in server_log(caplog)
    assert await post(server.port, body_of(4245)) == 200  # and the next good one is handled


# --- 5. refusals are counted and summarised, never logged one by one -------------------------------
async def test_refusals_are_counted_and_summarised_at_most_once_per_interval(
    serve: Opener, handle: Handle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await serve(refusal_log_interval=3600)  # no second summary can fall due during the test
    leaky = json.dumps({**update(81, CONFIDENTIAL)}).encode()
    for _ in range(20):
        assert await post(server.port, leaky, secret=WRONG) == 403
    assert await post(server.port, leaky, secret=None) == 403
    assert await post(server.port, leaky, path="/elsewhere") == 404
    assert await post(server.port, b"[]") == 400
    async with httpx.AsyncClient(timeout=SAFETY) as client:
        got = await client.get(f"http://127.0.0.1:{server.port}{WEBHOOK_PATH}", headers={SECRET_HEADER: SECRET})
    assert got.status_code == 405
    assert server.refused == {"secret": 21, "path": 1, "not_json": 1, "method": 1}

    [first] = webhook_records(caplog)  # the first refusal at once, the rest held for the summary
    assert "1 request" in first.getMessage() and "secret=1" in first.getMessage()
    await server.close()
    [_, summary] = webhook_records(caplog)
    assert "23 request" in summary.getMessage()
    assert {"secret=20", "path=1", "not_json=1", "method=1"} <= set(summary.getMessage().replace(",", "").split())
    for needle in (SECRET, WRONG, CONFIDENTIAL, SECRET_HEADER, "/elsewhere"):
        assert needle not in server_log(caplog), needle
    assert handle.updates == []


# --- closing --------------------------------------------------------------------------------------
async def test_close_waits_for_updates_being_handled_and_then_stops_listening(serve: Opener, handle: Handle) -> None:
    server = await serve()
    handle.gate.clear()
    answer = asyncio.create_task(post(server.port, body_of(91)))
    await until(lambda: handle.ids == [91], "the update being handled")
    closing = asyncio.create_task(server.close())
    await asyncio.sleep(0.05)
    assert not closing.done(), "close() returned while an update was still being handled"
    handle.gate.set()
    assert await answer == 200
    await closing
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)


async def test_a_failed_set_webhook_stops_listening(handle: Handle, monkeypatch: pytest.MonkeyPatch) -> None:
    ports: list[int] = []
    bind_sockets = webhook_module.bind_sockets

    def recording(*args: Any, **kwargs: Any) -> Any:
        sockets = bind_sockets(*args, **kwargs)
        ports.append(sockets[0].getsockname()[1])
        return sockets

    class Refusing(FakeBot):
        async def set_webhook(self, **kwargs: Any) -> bool:
            raise RuntimeError("Telegram said no")

    monkeypatch.setattr(webhook_module, "bind_sockets", recording)
    config = Config(token="1:t", secret_key="k" * 32, webhook_url=URL, webhook_port=0, webhook_secret=SECRET)
    with pytest.raises(RuntimeError, match="Telegram said no"):
        await open_webhook(config, Refusing(), handle)  # type: ignore[arg-type]
    [port] = ports
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_an_empty_secret_is_refused_before_listening(handle: Handle, fake_bot: FakeBot) -> None:
    config = Config(token="1:t", secret_key="k" * 32, webhook_url=URL, webhook_port=0, webhook_secret="")
    with pytest.raises(ConfigError):
        await open_webhook(config, fake_bot, handle)  # type: ignore[arg-type]
    assert fake_bot.calls == []


# --- 6. the secret's shape in the configuration ----------------------------------------------------
SECRET_KEY = "Zq3v-9XkP2mT7wYc_L5rN8bJ4hF6dS1aE0uGxQ"
"""A service secret config loading accepts (random-looking: storage.sealing.secret_bits)."""


def write(tmp_path: Path, secret: str) -> Path:
    path = tmp_path / "config.toml"
    data = f'[telegram]\ntoken = "123456:TEST-token"\nwebhook_url = "{URL}"\nwebhook_secret = {json.dumps(secret)}\n'
    path.write_text(data + f'[secrets]\nsecret_key = "{SECRET_KEY}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "secret",
    ["s" * 31, "short", "s" * 31 + "!", "with spaces " + "s" * 32, "æøå" * 12, "s" * 257, "s" * 40 + "\n", "s" * 32 + "="],
    ids=["31-chars", "short", "bang", "spaces", "non-ascii", "257-chars", "newline", "padding"],
)
def test_a_webhook_secret_telegram_would_refuse_or_that_is_short_is_a_config_error(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(write(tmp_path, secret), env={})
    assert error.value.key == "telegram.webhook_secret"
    assert "32" in str(error.value) and "\n" not in str(error.value)
    assert secret not in str(error.value)


@pytest.mark.parametrize("secret", ["s" * 32, "A-z_09" * 40 + "abcdefghijklmnop", secrets.token_urlsafe(32)])
def test_a_webhook_secret_of_32_to_256_allowed_characters_is_accepted(tmp_path: Path, secret: str) -> None:
    assert load(write(tmp_path, secret), env={}).webhook_secret == secret


def test_what_kollega_init_writes_is_an_acceptable_webhook_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "config.toml"
    assert main(["init", "--config", str(target)]) == 0
    text = target.read_text(encoding="utf-8").replace('webhook_url = ""', f'webhook_url = "{URL}"', 1)
    target.write_text(text, encoding="utf-8")
    config = load(target, require_token=False, env={})
    assert len(config.webhook_secret) >= 32 and config.webhook_url == URL
