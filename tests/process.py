"""Run ``kollega`` as a real process in end-to-end tests, against the HTTP Bot API stand-in.

    standin = BotApiStandin().start()
    config = write_config(tmp_path / "config.toml", {"telegram": {"base_url": standin.base_url}, ...})
    bot = BotProcess(config).start()
    ...
    bot.kill()          # SIGKILL: a crash, nothing flushed
    bot.start()         # same config, same database
    bot.stop()          # SIGTERM, bounded wait, SIGKILL as a last resort
    bot.output()        # stdout + stderr of every run so far

Every wait is bounded; ``stop()`` is safe to call on a process that is not running, so
fixtures can always call it in teardown.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.faketelegram import FakeUser, Sent

TIMEOUT = 15.0
"""Default bound, in seconds, of every wait in these helpers."""


def kollega_command() -> list[str]:
    """The installed ``kollega`` console script next to this interpreter, else ``python -m bot.cli``."""
    script = Path(sys.executable).parent / "kollega"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bot.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any KOLLEGA_* override, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOLLEGA_")}
    env["PYTHONUNBUFFERED"] = "1"  # a SIGKILLed process still leaves all it printed
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = TIMEOUT) -> None:
    """Block until something accepts TCP connections on ``host:port``; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def toml_value(value: Any) -> str:
    """A TOML literal for a str, bool, int, float or list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML literal for {value!r}")


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``{"telegram": {"token": ...}, ...}`` as a TOML config file; returns ``path``."""
    lines: list[str] = []
    for name, table in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in table.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class BotProcess:
    """``kollega run --config PATH`` as a subprocess whose output goes to a log file.

    The process runs in the config file's folder (so a stray file it might write lands
    where the privacy scan looks) with KOLLEGA_* variables removed from its environment
    unless passed in ``env``.
    """

    def __init__(
        self,
        config_path: Path,
        *,
        args: Sequence[str] = ("run",),
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.args = list(args)
        self.env = clean_env(**dict(env or {}))
        self.log_path = log_path or self.config_path.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self._log: IO[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> BotProcess:
        """Start a new run (the previous one must have ended); output is appended to the log."""
        if self.running:
            raise RuntimeError("the bot is already running")
        self._close_log()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*kollega_command(), *self.args, "--config", str(self.config_path)],
            cwd=self.config_path.parent,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for pytest does not reach it
        )
        self.runs += 1
        return self

    def kill(self, timeout: float = TIMEOUT) -> int | None:
        """SIGKILL, like a crash or an OOM kill: no shutdown code runs. Returns the exit code."""
        return self._signal(signal.SIGKILL, timeout)

    def stop(self, timeout: float = TIMEOUT) -> int | None:
        """SIGTERM and wait up to ``timeout``; SIGKILL if it does not end. Safe to call twice."""
        code = self._signal(signal.SIGTERM, timeout)
        if self.running:
            code = self.kill()
        self._close_log()
        return code

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for the process to end by itself (``subprocess.TimeoutExpired`` otherwise)."""
        if self.process is None:
            raise RuntimeError("the bot was never started")
        return self.process.wait(timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def output(self) -> str:
        """Everything every run printed on stdout and stderr so far."""
        if self._log is not None:
            self._log.flush()
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def _signal(self, sig: signal.Signals, timeout: float) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            try:
                process.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                if sig != signal.SIGKILL:
                    return None  # stop() escalates
                raise
        return process.returncode

    def _close_log(self) -> None:
        if self._log is not None and not self.running:
            self._log.close()
            self._log = None

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ---------------------------------------------------------------------------- conversations


class Conversation:
    """One person's chat with a bot process over the stand-in, each step waiting for the answer.

    ``wait_for`` is :meth:`tests.standin.BotApiStandin.wait_for` (or the fake's
    ``wait_for_sent``); every step waits for the bot's answer to *that* step only.
    """

    def __init__(
        self,
        user: FakeUser,
        wait_for: Callable[..., Sent],
        timeout: float = TIMEOUT,
        bot: BotProcess | None = None,
    ) -> None:
        self.user = user
        self.fake = user.fake
        self.wait_for = wait_for
        self.timeout = timeout
        self.bot = bot
        """When given, a wait fails at once (with the bot's last output) if this process has died."""

    def _mine_after(self, mark: int, test: Callable[[Sent], bool]) -> Sent:
        chat = self.user.chat_id

        def predicate(sent: Sent) -> bool:
            return sent.chat_id == chat and test(sent)

        if self.bot is None:
            return self.wait_for(predicate, self.timeout, mark)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self.wait_for(predicate, min(0.5, max(0.0, deadline - time.monotonic())), mark)
            except TimeoutError:
                if not self.bot.running:
                    tail = self.bot.output()[-3000:]
                    raise AssertionError(f"the bot process exited with {self.bot.returncode}:\n{tail}") from None
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"no matching message to chat {chat} within {self.timeout}s; {self.fake.describe_sent()}"
                    ) from None

    def mark(self) -> int:
        """Index of the next record the bot will make: pass it as ``after`` to look only at newer ones."""
        with self.fake._lock:
            return len(self.fake.sent)

    def expect(self, *, after: int, button: str | None = None, text: str | None = None) -> Sent:
        """Wait for a record to this chat, made after ``after``, showing ``button`` and/or containing ``text``."""
        return self._mine_after(
            after,
            lambda s: (button is None or button in s.buttons) and (text is None or text in (s.text or "")),
        )

    def command(self, command: str, *, button: str | None = None, text: str | None = None) -> Sent:
        """Send ``/command`` and wait for the answer (anything, unless ``button``/``text`` narrow it)."""
        mark = self.mark()
        self.user.send_command(command)
        return self.expect(after=mark, button=button, text=text)

    def say(self, text: str, *, button: str | None = None, expect: str | None = None) -> Sent:
        """Type ``text`` and wait for the answer."""
        mark = self.mark()
        self.user.send_text(text)
        return self.expect(after=mark, button=button, text=expect)

    def press(self, label: str, *, button: str | None = None, text: str | None = None) -> Sent:
        """Press the button labelled ``label`` and wait for the answer."""
        mark = self.mark()
        self.user.press(label)
        return self.expect(after=mark, button=button, text=text)

    def walk(self, *labels: str, then: str | None = None) -> Sent:
        """Press each label in turn, each time waiting until the next one is on screen;
        after the last, wait for a message containing ``then`` (or any answer)."""
        last: Sent | None = None
        for i, label in enumerate(labels):
            following = labels[i + 1] if i + 1 < len(labels) else None
            last = self.press(label, button=following, text=None if following else then)
        assert last is not None, "walk() needs at least one label"
        return last
