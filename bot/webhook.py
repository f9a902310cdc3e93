"""Telegram's webhook: the one HTTP endpoint of the bot, built to cost little when abused.

Telegram POSTs every update to ``WEBHOOK_PATH`` with the secret given at setWebhook in the
``X-Telegram-Bot-Api-Secret-Token`` header. Anyone who can reach the port can POST too, so:

- the secret is checked as soon as the headers are in (the body is streamed), and a request
  without it is answered 403 before a byte of its body is kept;
- a body is at most ``max_body_size`` and must arrive within ``body_timeout``; idle
  connections are closed; at most ``max_connections`` are open and ``max_in_flight``
  requests held at once (beyond that 503, which Telegram retries);
- an update is answered 200 only after ``handle`` returned and 500 if it raised, so an update
  is never confirmed before it has been handled (Telegram delivers it again);
- refusals are counted by reason and summarised in the log at most once a minute, so a flood
  cannot flood the log; no header, body or secret is ever logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import telegram
from telegram import Update
from tornado.http1connection import HTTP1Connection
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets
from tornado.web import Application as WebApplication
from tornado.web import HTTPError, RequestHandler, stream_request_body

from bot.config import Config, ConfigError

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_DIGITS = re.compile(r"[0-9]{1,18}")

Handle = Callable[[Update], Awaitable[None]]


@dataclass(frozen=True)
class WebhookLimits:
    max_body_size: int = 1024 * 1024
    """Real updates are a few KiB; anything near this is not from Telegram."""
    body_timeout: float = 10.0
    """Seconds a body may take to arrive once its headers are in."""
    idle_connection_timeout: float = 30.0
    """Seconds a connection may sit without a request (also bounds slow headers)."""
    max_in_flight: int = 64
    """Requests past the secret check and not yet answered; more are answered 503."""
    max_connections: int = 256
    """Open connections; more are closed as soon as they are accepted."""
    refusal_log_interval: float = 60.0
    """At most one summary line of refused requests per this many seconds."""
    close_timeout: float = 10.0
    """How long close() waits for requests being handled to be answered."""


DEFAULT_LIMITS = WebhookLimits()


class _State:
    """What the server, its handlers and WebhookServer share: limits, counts, the refusal log."""

    def __init__(self, limits: WebhookLimits, secret: str) -> None:
        self.limits = limits
        self.secret = secret.encode()
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.closing = False
        self.open_connections = 0
        self.handled = 0
        self.failed = 0
        self.refused: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._last_report: float | None = None
        self._report_timer: asyncio.TimerHandle | None = None

    def take(self) -> bool:
        if self.in_flight >= self.limits.max_in_flight:
            return False
        self.in_flight += 1
        self.idle.clear()
        return True

    def release(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.idle.set()

    def refuse(self, reason: str) -> None:
        self.refused[reason] += 1
        self._unreported[reason] += 1
        if self._report_timer is not None:
            return
        loop = asyncio.get_running_loop()
        # The first refusal after a quiet spell is reported at once (a wrong secret after a
        # redeploy should show up immediately); the ones after it wait for the next summary.
        wait = 0.0 if self._last_report is None else self._last_report + self.limits.refusal_log_interval - loop.time()
        if wait <= 0:
            self.report()
        else:
            self._report_timer = loop.call_later(wait, self.report)

    def report(self) -> None:
        if self._report_timer is not None:
            self._report_timer.cancel()
            self._report_timer = None
        if not self._unreported:
            return
        self._last_report = asyncio.get_running_loop().time()
        counts = ", ".join(f"{reason}={n}" for reason, n in sorted(self._unreported.items()))
        log.warning("webhook refused %d request(s): %s", self._unreported.total(), counts)
        self._unreported.clear()


def _declared_length(headers: HTTPHeaders) -> int | None:
    value = headers.get("Content-Length", "")
    # Anything but plain digits is left to tornado, which refuses it as malformed.
    return int(value) if _DIGITS.fullmatch(value) else None


class _Refusing(RequestHandler):
    """Answers without reading the body: tornado then drops what follows and closes the connection."""

    def initialize(self, state: _State) -> None:
        self.state = state

    def refuse(self, status: int, reason: str) -> None:
        self.state.refuse(reason)
        declared = _declared_length(self.request.headers)
        connection = self.request.connection
        if declared is not None and declared > self.state.limits.max_body_size and isinstance(connection, HTTP1Connection):
            # tornado's own size check would still run on the body it is dropping, and write a
            # second answer after ours with a log line per request; this body is never kept anyway.
            connection.set_max_body_size(declared)
        self.set_status(status)
        self.finish()

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        # tornado's own lines carry the request summary, and for errors the request with its headers.
        if isinstance(value, HTTPError):
            self.state.refuse(f"http_{value.status_code}")  # a method tornado does not know at all
            return
        log.error("webhook request failed (%s)", typ.__name__ if typ else "unknown error")


@stream_request_body
class _NotFound(_Refusing):
    """Every other path: refused before its body, which tornado's default 404 handler would buffer."""

    def prepare(self) -> None:
        self.refuse(404, "path")


@stream_request_body
class _UpdateHandler(_Refusing):
    """POST /telegram: check the secret once the headers are in, then read, handle and answer."""

    def initialize(self, state: _State, bot: telegram.Bot, handle: Handle) -> None:  # type: ignore[override]
        super().initialize(state)
        self.bot = bot
        self.handle = handle
        self.body = bytearray()
        self.holding = False  # one of max_in_flight places
        self.handling = False

    def prepare(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        declared = _declared_length(self.request.headers)
        if not hmac.compare_digest(given.encode(), self.state.secret):
            self.refuse(403, "secret")
        elif self.request.method != "POST":
            self.refuse(405, "method")
        elif declared is not None and declared > self.state.limits.max_body_size:
            self.refuse(413, "too_large")
        elif self.state.closing:
            self.refuse(503, "closing")
        elif not self.state.take():
            self.refuse(503, "busy")
        else:
            self.holding = True

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk  # bounded by the server's max_body_size

    async def post(self) -> None:
        if not self.holding:  # the connection closed before the handler got here: nobody to answer
            return
        self.handling = True
        update = self._read_update()
        if update is None:
            return
        try:
            await self.handle(update)
        except Exception as error:
            self.state.failed += 1
            log.error("webhook: update %d failed (%s); answered 500 to be retried", update.update_id, type(error).__name__)
            self.set_status(500)
            return
        self.state.handled += 1
        self.set_status(200)

    def _read_update(self) -> Update | None:
        try:
            data: Any = json.loads(self.body)
        except (ValueError, RecursionError):  # RecursionError: deeply nested arrays
            self._bad("not_json")
            return None
        if not isinstance(data, dict):
            self._bad("not_json")
            return None
        update_id = data.get("update_id")
        # Redeliveries are recognised by this id, so it must be a real one.
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            self._bad("not_update")
            return None
        try:
            return Update.de_json(data, self.bot)
        except Exception as error:  # de_json raises whatever the malformed part provokes
            # Past the secret, so from Telegram: worth a line of its own, by id only. Answered
            # 200 and skipped, as the poller does: Telegram would send it again after any
            # other answer, and it would fail again every time.
            log.warning("webhook: update %d could not be read (%s); skipped", update_id, type(error).__name__)
            self.state.refuse("unreadable")
            self.set_status(200)
            return None

    def _bad(self, reason: str) -> None:
        self.state.refuse(reason)
        self.set_status(400)

    def on_finish(self) -> None:
        self._release()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self.holding and not self.handling:  # the body never (fully) arrived: post() will not run
            self._release()
            self.state.refuse("incomplete")

    def _release(self) -> None:
        if self.holding:
            self.holding = False
            self.state.release()


class _Server(HTTPServer):
    """tornado's server with a cap on open connections."""

    state: _State

    def handle_stream(self, stream: IOStream, address: tuple[Any, ...]) -> None:
        if self.state.open_connections >= self.state.limits.max_connections:
            stream.close()
            self.state.refuse("connections")
            return
        self.state.open_connections += 1
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        self.state.open_connections -= 1
        super().on_close(server_conn)


class WebhookServer:
    """A listening webhook: its bound port, what it counted, and close()."""

    def __init__(self, server: _Server, state: _State, port: int) -> None:
        self._server = server
        self._state = state
        self._closed = False
        self.port = port
        """The port actually bound (the configured one, or the one chosen for port 0)."""

    @property
    def refused(self) -> Counter[str]:
        """Refused requests since start, by reason: secret (403), method (405), too_large (413),
        busy and closing (503), not_json and not_update (400), unreadable (200: skipped, so that
        Telegram stops sending it), path (404), incomplete (the body
        never arrived), connections (closed at once: too many open), http_<status> (tornado's own)."""
        return self._state.refused

    @property
    def handled(self) -> int:
        return self._state.handled

    @property
    def failed(self) -> int:
        """Updates whose handle() raised (answered 500)."""
        return self._state.failed

    @property
    def in_flight(self) -> int:
        return self._state.in_flight

    @property
    def open_connections(self) -> int:
        return self._state.open_connections

    async def close(self) -> None:
        """Stop listening, give requests being handled up to close_timeout to be answered, then drop all connections."""
        if self._closed:
            return
        self._closed = True
        self._server.stop()
        self._state.closing = True
        try:
            await asyncio.wait_for(self._state.idle.wait(), self._state.limits.close_timeout)
        except TimeoutError:
            # Not confirmed, so Telegram delivers them again.
            log.warning("webhook closed with %d request(s) still being handled", self._state.in_flight)
        await self._server.close_all_connections()
        self._state.report()


async def open_webhook(
    config: Config, bot: telegram.Bot, handle: Handle, *, limits: WebhookLimits = DEFAULT_LIMITS
) -> WebhookServer:
    """Listen on webhook_listen:webhook_port, then register the webhook with Telegram.

    ``handle`` is awaited for every update, concurrently (up to ``max_in_flight``): keeping one
    chat's updates in order is the caller's business.
    """
    if not config.webhook_secret:
        # An empty secret would match a request without the header.
        raise ConfigError("telegram.webhook_secret", "required when webhook_url is set (run `kollega init`)")
    state = _State(limits, config.webhook_secret)
    web = WebApplication(
        [(WEBHOOK_PATH, _UpdateHandler, {"state": state, "bot": bot, "handle": handle})],
        default_handler_class=_NotFound,
        default_handler_args={"state": state},
        log_function=lambda handler: None,  # an access line per update would say nothing useful
    )
    server = _Server(
        web,
        max_body_size=limits.max_body_size,
        body_timeout=limits.body_timeout,
        idle_connection_timeout=limits.idle_connection_timeout,
    )
    server.state = state
    sockets = bind_sockets(config.webhook_port, address=config.webhook_listen)
    server.add_sockets(sockets)
    webhook = WebhookServer(server, state, int(sockets[0].getsockname()[1]))
    try:
        # Listening first: Telegram may send the first update as soon as this returns.
        await bot.set_webhook(url=config.webhook_url, secret_token=config.webhook_secret, allowed_updates=Update.ALL_TYPES)
    except BaseException:
        await webhook.close()
        raise
    return webhook
