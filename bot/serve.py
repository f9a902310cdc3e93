"""Serving updates so that none is lost when the process dies.

PTB's own poller confirms updates to Telegram (by asking for the next offset)
before their handlers have run, and its webhook server answers 200 before
handling; a crash in between loses whatever was in flight (tests/test_faults.py
lost about ten updates per SIGKILL that way, among them messages to a
counsellor). Here an update is confirmed only once it has been handled: the
poller asks for the next offset only then, and the webhook answers only then,
so after a crash Telegram delivers it again. A redelivered update is
recognised by its id (``processed_updates``), so nothing is handled twice.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, TelegramError
from tornado.httpserver import HTTPServer
from tornado.web import Application as WebApplication
from tornado.web import RequestHandler

from bot.config import Config

log = logging.getLogger(__name__)

POLL_SECONDS = 30
"""Long-polling wait: Telegram answers at once when there is an update."""
WEBHOOK_PATH = "/telegram"
CHAT_LOCKS = 64
"""Webhook updates arrive concurrently; one chat's updates are handled in order (striped locks)."""

App = Any  # telegram.ext.Application with our context types


async def serve(application: App, config: Config) -> None:
    """Run the bot until SIGINT or SIGTERM: initialise, start, serve, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await application.initialize()
    server: HTTPServer | None = None
    poller: asyncio.Task[None] | None = None
    try:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        if config.webhook_url:
            server = await _open_webhook(application, config)
            log.info("webhook mode on %s:%d", config.webhook_listen, config.webhook_port)
        else:
            await application.bot.delete_webhook()
            poller = asyncio.create_task(_poll(application, stop))
            log.info("long polling")
        await stop.wait()
    finally:
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        if server is not None:
            server.stop()
        if application.running:
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)


async def _poll(application: App, stop: asyncio.Event) -> None:
    """Fetch, handle, and only then confirm (the next getUpdates carries the new offset)."""
    offset: int | None = None
    pause = 1.0
    while not stop.is_set():
        try:
            updates = await application.bot.get_updates(
                offset=offset, timeout=POLL_SECONDS, allowed_updates=Update.ALL_TYPES
            )
        except InvalidToken:
            log.error("Telegram refused the bot token; stopping")
            stop.set()
            return
        except TelegramError as error:
            log.warning("getUpdates failed (%s); retrying in %.0f s", type(error).__name__, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)
            continue
        pause = 1.0
        for update in updates:
            await application.process_update(update)
            offset = update.update_id + 1


class _WebhookHandler(RequestHandler):
    """POST /telegram: check Telegram's secret-token header, handle the update, then answer."""

    SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

    def initialize(self, bot_application: App, secret: str, locks: list[asyncio.Lock]) -> None:
        self.bot_application = bot_application
        self.secret = secret
        self.locks = locks

    async def post(self) -> None:
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("refused a webhook request without the right secret token")
            self.set_status(403)
            return
        try:
            update = Update.de_json(json.loads(self.request.body), self.bot_application.bot)
        except (ValueError, TypeError, KeyError):
            self.set_status(400)
            return
        chat = update.effective_chat
        lock = self.locks[(chat.id if chat else update.update_id) % len(self.locks)]
        async with lock:
            await self.bot_application.process_update(update)
        self.set_status(200)

    def log_exception(self, *args: Any) -> None:
        log.error("webhook request failed")  # tornado's own log would include the request body


async def _open_webhook(application: App, config: Config) -> HTTPServer:
    locks = [asyncio.Lock() for _ in range(CHAT_LOCKS)]
    web = WebApplication(
        [(WEBHOOK_PATH, _WebhookHandler, {"bot_application": application, "secret": config.webhook_secret, "locks": locks})],
        log_function=lambda handler: None,  # access logs would carry nothing useful and cost a line per update
    )
    server = HTTPServer(web)
    server.listen(config.webhook_port, address=config.webhook_listen)
    await application.bot.set_webhook(
        url=config.webhook_url, secret_token=config.webhook_secret, allowed_updates=Update.ALL_TYPES
    )
    return server
