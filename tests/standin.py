"""A local HTTP Bot API stand-in over loopback, backed by :class:`~tests.faketelegram.FakeTelegram`.

Use it for bots that talk real HTTP (a subprocess, or PTB's default ``HTTPXRequest``)::

    standin = BotApiStandin().start()
    app = ApplicationBuilder().token("123:ABC").base_url(standin.base_url).build()
    ...
    standin.fake.user(42).send_text("hi")
    standin.wait_for(sent_to(42, contains="hello"))
    standin.stop()

Run ``python -m tests.standin --port 8081`` for manual try-outs with a line console on stdin.
"""

from __future__ import annotations

import argparse
import email.message
import email.utils
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from tests.faketelegram import (
    FakeTelegram,
    JSONDict,
    Sent,
    UploadedFile,
    coerce_wire_params,
    normalize_chat_id,
)

_API_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)/?")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)")


def decode_body(content_type: str, body: bytes) -> tuple[JSONDict, dict[str, UploadedFile]]:
    """Decode a Bot API request body (JSON, urlencoded form or multipart) into params and files."""
    if not body:
        return {}, {}
    header = email.message.Message()
    header["content-type"] = content_type or "application/octet-stream"
    mime = header.get_content_type()
    if mime == "application/json":
        data = json.loads(body.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data, {}
    if mime == "application/x-www-form-urlencoded":
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return coerce_wire_params(fields), {}
    if mime == "multipart/form-data":
        boundary = header.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            raise ValueError("multipart body without boundary")
        fields, files = parse_multipart(body, boundary)
        return coerce_wire_params(fields), files
    raise ValueError(f"unsupported content type {content_type!r}")


def parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Split a ``multipart/form-data`` body into text fields and ``(name, bytes, mime)`` files."""
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for part in body.split(b"--" + boundary.encode("ascii"))[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        content = content.removesuffix(b"\r\n")
        headers = email.message.Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, colon, value = line.partition(":")
            if colon:
                headers[key.strip()] = value.strip()
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = headers.get_param("filename", header="content-disposition")
        if filename is None:
            fields[name] = content.decode("utf-8")
        else:
            # httpx escapes '"' as %22 and '\' as '\\' (HTML5 form encoding).
            fname = email.utils.collapse_rfc2231_value(filename)
            fname = fname.replace("%22", '"').replace("\\\\", "\\")
            files[name] = (fname, content, headers.get_content_type())
    return fields, files


class _Server(ThreadingHTTPServer):
    """Threading HTTP server that knows its fake and can cut open keep-alive connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeTelegram, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.fake = fake
        self.verbose = verbose
        self._active: dict[socket.socket, threading.Thread] = {}
        self._busy = 0
        self._active_lock = threading.Condition()

    def track(self, sock: socket.socket) -> None:
        with self._active_lock:
            self._active[sock] = threading.current_thread()

    def untrack(self, sock: socket.socket) -> None:
        with self._active_lock:
            self._active.pop(sock, None)

    def set_busy(self, busy: bool) -> None:
        """Mark a request as being handled (``True``) or answered (``False``)."""
        with self._active_lock:
            self._busy += 1 if busy else -1
            self._active_lock.notify_all()

    def cut_connections(self, join_timeout: float = 2.0) -> None:
        """Let in-flight requests answer, then shut down client sockets and join their threads."""
        with self._active_lock:
            self._active_lock.wait_for(lambda: self._busy == 0, timeout=join_timeout)
            active = list(self._active.items())
        for sock, _ in active:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + join_timeout
        for _, thread in active:
            thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away (e.g. a cancelled long poll)."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # A buffered writer, flushed once per request by BaseHTTPRequestHandler: headers and body
    # leave in one send. Unbuffered, they were two, and Nagle's algorithm with the client's
    # delayed ACK held every answer for ~40 ms (the chaos test then collapsed under load).
    wbufsize = -1

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        self._dispatch(self._read_body())

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, body: bytes) -> None:
        self.server.set_busy(True)
        try:
            self._answer(body)
        finally:
            self.server.set_busy(False)

    def _answer(self, body: bytes) -> None:
        url = urlsplit(self.path)
        file_match = _FILE_PATH.fullmatch(url.path)
        if file_match and self.command == "GET":
            content = self.server.fake.file_content(file_match["path"])
            if content is None:
                self._send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            else:
                self._send(200, content, "application/octet-stream")
            return
        api_match = _API_PATH.fullmatch(url.path)
        if not api_match:
            self._send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        try:
            params = coerce_wire_params(dict(parse_qsl(url.query, keep_blank_values=True)))
            body_params, files = decode_body(self.headers.get("Content-Type", ""), body)
            params.update(body_params)
        except (ValueError, UnicodeDecodeError) as exc:
            self._send_json(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        envelope = self.server.fake.handle(api_match["method"], params, files, block=True)
        self._send_json(200 if envelope["ok"] else int(envelope["error_code"]), envelope)

    def _send_json(self, status: int, payload: JSONDict) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class BotApiStandin:
    """Serves a :class:`FakeTelegram` as a Bot API over HTTP on 127.0.0.1."""

    def __init__(
        self,
        fake: FakeTelegram | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        self.fake = fake if fake is not None else FakeTelegram()
        self.host = host
        self._port = port
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BotApiStandin:
        """Bind (a free port unless one was given) and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._port), self.fake, self._verbose)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"bot-api-standin-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake long polls, close connections, release the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self.fake.wake_waiters()
        server.shutdown()
        server.cut_connections()
        server.server_close()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> BotApiStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (valid after :meth:`start`)."""
        return self._port

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_url(...)``; PTB appends ``{token}/{method}``."""
        return f"http://{self.host}:{self._port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``ApplicationBuilder().base_file_url(...)`` (file downloads)."""
        return f"http://{self.host}:{self._port}/file/bot"

    def wait_for(self, predicate: Callable[[Sent], bool], timeout: float = 10.0, start: int = 0) -> Sent:
        """Block until the bot sent something matching ``predicate`` (see ``sent_to``)."""
        return self.fake.wait_for_sent(predicate, timeout, start)

    async def wait_for_async(
        self,
        predicate: Callable[[Sent], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - mirrors wait_for
        start: int = 0,
    ) -> Sent:
        """:meth:`wait_for` for tests running the bot in the same event loop."""
        return await self.fake.wait_for_sent_async(predicate, timeout, start)


# ---------------------------------------------------------------------------- console

HELP = """\
commands:
  USER_ID text...          message (or /command) from that user
  USER_ID !press Label     press the inline button labelled Label
  USER_ID !data payload    callback query with arbitrary callback_data
  USER_ID !photo [caption] | !sticker | !voice | !contact PHONE
  show USER_ID [N]         last N (default 5) messages the bot sent to that user
  help | quit"""


def format_sent(sent: Sent) -> str:
    """One record with its keyboard, for humans."""
    line = f"#{sent.message_id} {sent.method} -> {sent.chat_id}: {sent.text or ''}"
    if sent.file_name:
        line += f" [file {sent.file_name}, {len(sent.file_bytes or b'')} bytes]"
    for row in sent.button_rows:
        line += "\n    " + " ".join(f"[{label}]" for label in row)
    return line


def run_console(standin: BotApiStandin, lines: TextIO, out: TextIO) -> bool:
    """Execute console commands read from ``lines``; ``True`` on ``quit``, ``False`` on EOF."""
    fake = standin.fake
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        try:
            if word in ("quit", "exit"):
                return True
            if word == "help":
                print(HELP, file=out)
            elif word == "show":
                user_id, _, count = rest.strip().partition(" ")
                records = fake.messages_to(normalize_chat_id(user_id))[-int(count or 5) :]
                print("\n".join(map(format_sent, records)) or "(nothing sent)", file=out)
            elif word.lstrip("-").isdigit():
                _console_user_action(fake, int(word), rest)
            else:
                print(f"unknown command {word!r}; type help", file=out)
        except (AssertionError, ValueError) as exc:
            print(f"error: {exc}", file=out)
        out.flush()
    return False


def _console_user_action(fake: FakeTelegram, user_id: int, rest: str) -> None:
    user = fake.user(user_id, username=None)
    action, _, arg = rest.partition(" ")
    if action == "!press":
        user.press(arg)
    elif action == "!data":
        user.press_data(arg)
    elif action == "!photo":
        user.send_photo(caption=arg or None)
    elif action == "!sticker":
        user.send_sticker()
    elif action == "!voice":
        user.send_voice()
    elif action == "!contact":
        user.send_contact(arg)
    elif rest:
        user.send_text(rest)
    else:
        raise ValueError("nothing to send")


def _echo_sent(fake: FakeTelegram, out: TextIO, stop: threading.Event) -> None:
    seen = 0
    while not stop.wait(0.1):
        with fake._cond:
            new = fake.sent[seen:]
            seen += len(new)
        for sent in new:
            print("<- " + format_sent(sent), file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Serve a stand-in until Ctrl-C, with a line console on stdin."""
    parser = argparse.ArgumentParser(description="Local fake Telegram Bot API for manual try-outs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    parser.add_argument("--quiet", action="store_true", help="don't echo what the bot sends")
    args = parser.parse_args(argv)

    standin = BotApiStandin(host=args.host, port=args.port, verbose=args.verbose).start()
    stop_echo = threading.Event()
    print(f"base_url={standin.base_url}", flush=True)
    print(f"base_file_url={standin.base_file_url}")
    print(HELP, flush=True)
    if not args.quiet:
        threading.Thread(target=_echo_sent, args=(standin.fake, sys.stdout, stop_echo), daemon=True).start()
    try:
        if not run_console(standin, sys.stdin, sys.stdout):
            while True:  # stdin closed: keep serving until Ctrl-C
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop_echo.set()
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
