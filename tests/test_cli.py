"""The ``kollega`` command: init, config errors, db upgrade, flow, and the terminal try-out."""

from __future__ import annotations

import codecs
import os
import re
import sqlite3
import stat
import subprocess
import threading
import time
import tomllib
from pathlib import Path
from typing import IO, Any

import pytest

import bot.cli
from bot.cli import main
from bot.config import ConfigError, load, parse
from flows.triage import TRANSITIONS, Step
from storage.models import Base
from tests.process import clean_env, kollega_command, toml_value, write_config
from tests.scenarios import (
    ADVICE,
    CONFIRM,
    CONSENT,
    CONTINUE_AFTER_CRISIS,
    NOT_COPING,
    NOT_SURE,
    PREFERENCES,
    SAFETY_NO,
    SAFETY_YES,
    SELF,
    WAY_BACK,
)

TIMEOUT = 20.0
CASE_CODE = re.compile(r"K-[A-Z2-9]{6}")
GOOD_TOKEN = "123456:TEST-token"
GOOD_SECRET = "Zq3v-9XkP2mT7wYc_L5rN8bJ4hF6dS1aE0uGxQ"
"""Random-looking, as `kollega init` writes them: about 200 bits by storage.sealing.secret_bits."""
OTHER_SECRET = "Hv8-yT2qLm5Xw_9RcN4bKp6Jd7sWf3ZgE1uA"
CLOSED_API = "http://127.0.0.1:9/bot"  # nothing listens there: a wrongly accepted config cannot go online


@pytest.fixture(autouse=True)
def no_kollega_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KOLLEGA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process `kollega run` must stop at the config: starting the bot fails the test."""

    def refuse(config: Any, args: Any) -> int:
        raise AssertionError("the configuration was accepted and the bot would have started")

    monkeypatch.setattr(bot.cli, "run_bot", refuse)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run(
        [*kollega_command(), *args],
        cwd=cwd,
        env=clean_env(**(env or {})),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


# ---------------------------------------------------------------------------- init


def test_init_writes_a_private_config_with_fresh_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "one.toml", tmp_path / "two.toml"
    assert main(["init", "--config", str(first)]) == 0
    assert main(["init", "--config", str(second)]) == 0
    assert str(first) in capsys.readouterr().out

    one, two = (tomllib.loads(p.read_text(encoding="utf-8")) for p in (first, second))
    for data in (one, two):
        assert len(data["secrets"]["secret_key"]) >= 32
        assert len(data["telegram"]["webhook_secret"]) >= 32
        assert data["telegram"]["token"] == ""  # the operator's to fill in
    assert one["secrets"]["secret_key"] != two["secrets"]["secret_key"]
    assert one["telegram"]["webhook_secret"] != two["telegram"]["webhook_secret"]
    assert one["secrets"]["secret_key"] != one["telegram"]["webhook_secret"]
    for path in (first, second):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # What init writes is a valid configuration once a token is added.
    assert load(first, require_token=False).secret_key == one["secrets"]["secret_key"]


def test_init_refuses_to_overwrite_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "config.toml"
    assert main(["init", "--config", str(target)]) == 0
    before = target.read_bytes()
    capsys.readouterr()

    assert main(["init", "--config", str(target)]) == 1
    assert target.read_bytes() == before
    err = capsys.readouterr().err
    assert "already exists" in err and str(target) in err


def test_init_as_a_command_exits_1_when_the_file_exists(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    target.write_text("# mine\n", encoding="utf-8")
    result = run_cli("init", "--config", str(target))
    assert result.returncode == 1
    assert target.read_text(encoding="utf-8") == "# mine\n"


# ---------------------------------------------------------------------------- config errors


def good_sections(**changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {
        "telegram": {"token": GOOD_TOKEN, "base_url": CLOSED_API},
        "database": {"url": "sqlite+aiosqlite:///kollega.db"},
        "secrets": {"secret_key": GOOD_SECRET},
        "service": {"default_language": "nb"},
        "timeouts": {"offer_minutes": 60},
    }
    for name, table in changes.items():
        sections[name] = {**sections.get(name, {}), **table}
        sections[name] = {k: v for k, v in sections[name].items() if v is not None}  # None: leave the key out
    return sections


# (id, file sections or raw text or None for "no file", env, key the one line must name)
BAD_CONFIGS: list[tuple[str, Any, dict[str, str], str]] = [
    ("missing file", None, {}, "{path}"),
    ("invalid TOML", "[telegram\ntoken = ", {}, "{path}"),
    ("token missing", good_sections(telegram={"token": None}), {}, "telegram.token"),
    ("token empty", good_sections(telegram={"token": ""}), {}, "telegram.token"),
    ("token malformed", good_sections(telegram={"token": "not-a-bot-token"}), {}, "telegram.token"),
    ("token not a string", good_sections(telegram={"token": 123456}), {}, "telegram.token"),
    ("bad database url", good_sections(database={"url": "mysql://localhost/kollega"}), {}, "database.url"),
    ("language de", good_sections(service={"default_language": "de"}), {}, "service.default_language"),
    ("negative offer timeout", good_sections(timeouts={"offer_minutes": -1}), {}, "timeouts.offer_minutes"),
    ("secret key too short", good_sections(secrets={"secret_key": "short"}), {}, "secrets.secret_key"),
    ("secret key missing", good_sections(secrets={"secret_key": None}), {}, "secrets.secret_key"),
    # Long enough, but guessable offline by anyone holding the database.
    ("secret key one letter repeated", good_sections(secrets={"secret_key": "a" * 40}), {}, "secrets.secret_key"),
    ("secret key a word twice", good_sections(secrets={"secret_key": "passwordpassword"}), {}, "secrets.secret_key"),
    ("secret key a pattern", good_sections(secrets={"secret_key": "0123456789abcdefghij"}), {}, "secrets.secret_key"),
    # Environment variables win over the file, both ways.
    (
        "env token replaces a missing one",
        good_sections(telegram={"token": None}, secrets={"secret_key": "short"}),
        {"KOLLEGA_TELEGRAM_TOKEN": GOOD_TOKEN},
        "secrets.secret_key",
    ),
    ("env token overrides a good one", good_sections(), {"KOLLEGA_TELEGRAM_TOKEN": "garbage"}, "telegram.token"),
    (
        "env secret replaces a short one",
        good_sections(secrets={"secret_key": "short"}, database={"url": "mysql://x"}),
        {"KOLLEGA_SECRET_KEY": GOOD_SECRET},
        "database.url",
    ),
    ("env secret overrides a good one", good_sections(), {"KOLLEGA_SECRET_KEY": "short"}, "secrets.secret_key"),
    ("env secret guessable", good_sections(), {"KOLLEGA_SECRET_KEY": "k" * 32}, "secrets.secret_key"),
    # Crisis phrases are checked at start-up, each named by language and place.
    ("crisis words a misspelt language", good_sections(crisis_words={"nbb": ["vil dø"]}), {}, "crisis_words.nbb"),
    ("crisis words not a list", good_sections(crisis_words={"nb": "vil dø"}), {}, "crisis_words.nb"),
    ("crisis phrase unclosed", good_sections(crisis_words={"nn": ["vil døy", "[ta|tek livet av meg"]}), {}, "crisis_words.nn[1]"),
    ("crisis phrase gap too long", good_sections(crisis_words={"en": ["i ~9 die"]}), {}, "crisis_words.en[0]"),
    # A misspelt key or section is never silently ignored.
    ("key misspelt", good_sections(timeouts={"offer_minuts": 30}), {}, "timeouts.offer_minuts"),
    ("section misspelt", {**good_sections(), "timeout": {"offer_minutes": 30}}, {}, "timeout"),
]


def write_case(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        write_config(path, content)
    return path


@pytest.mark.parametrize(("content", "env", "key"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_run_with_a_bad_config_prints_one_line_naming_the_key_and_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    never_run: None,
    content: Any,
    env: dict[str, str],
    key: str,
) -> None:
    path = write_case(tmp_path, content)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    assert main(["run", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"kollega: config error: {key.format(path=path)}: "), lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("case", ["token missing", "invalid TOML", "env token overrides a good one"])
def test_run_as_a_command_exits_2_with_one_line_and_no_traceback(tmp_path: Path, case: str) -> None:
    [(content, env, key)] = [c[1:] for c in BAD_CONFIGS if c[0] == case]
    path = write_case(tmp_path, content)
    result = run_cli("run", "--config", str(path), cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"kollega: config error: {key.format(path=path)}: ")
    assert "Traceback" not in result.stderr


def test_run_without_a_config_file_names_the_default_file(tmp_path: Path) -> None:
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("kollega: config error: config.toml: file not found")


def test_env_token_makes_a_tokenless_file_valid(tmp_path: Path) -> None:
    """The other side of the override: with the token from the environment, the file is accepted."""
    path = write_config(tmp_path / "config.toml", good_sections(telegram={"token": None}))
    config = load(path, env={"KOLLEGA_TELEGRAM_TOKEN": GOOD_TOKEN, "KOLLEGA_SECRET_KEY": OTHER_SECRET})
    assert config.token == GOOD_TOKEN and config.secret_key == OTHER_SECRET


# ---------------------------------------------------------------------------- db upgrade


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    connection.close()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def test_db_upgrade_creates_every_table_without_a_token_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "data" / "kollega.db"
    database.parent.mkdir()
    config = write_config(
        tmp_path / "config.toml",
        {"database": {"url": f"sqlite+aiosqlite:///{database}"}, "secrets": {"secret_key": GOOD_SECRET}},
    )
    expected = set(Base.metadata.tables) | {"alembic_version"}

    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert tables(database) == expected
    with sqlite3.connect(database) as connection:
        head = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()

    result = run_cli("db", "upgrade", "--config", str(config), cwd=tmp_path)  # again, as a command
    assert result.returncode == 0, result.stderr
    assert tables(database) == expected
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == head
    connection.close()
    assert len(head) == 1


# ---------------------------------------------------------------------------- flow


def edge(transition: dict[str, Any]) -> str:
    source = Step(transition["source"]).name
    dest = Step(transition["dest"] or transition["source"]).name
    label = transition["trigger"]
    conditions = transition.get("conditions")
    if conditions:
        names = conditions if isinstance(conditions, list) else [conditions]
        label += f" [{' and '.join(names)}]"
    return f"{source} --> {dest}: {label}"


def test_flow_prints_a_mermaid_state_diagram_with_every_transition(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flow"]) == 0
    out = capsys.readouterr().out
    assert "stateDiagram" in out
    lines = {line.strip() for line in out.splitlines()}
    missing = [edge(t) for t in TRANSITIONS if edge(t) not in lines]
    assert missing == []
    assert len([line for line in lines if " --> " in line and not line.startswith("[*]")]) == len(TRANSITIONS)
    assert f"[*] --> {Step.CONSENT.name}" in lines
    for step in Step:
        assert any(line.startswith(f'state "{step.name}"') for line in lines), step


# ---------------------------------------------------------------------------- try


class Terminal:
    """`kollega try` in a subprocess, answered one prompt at a time by button label."""

    PROMPT = "\n> "
    BUTTON = re.compile(r"^  \[(\d+)\] (.*)$")

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [*kollega_command(), "try"],
            cwd=cwd,
            env=clean_env(**env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._out = ""
        self._err = ""
        self._seen = 0
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, "_out"), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, "_err"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[bytes], attr: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        while chunk := stream.read1(4096):  # type: ignore[attr-defined]
            with self._cond:
                setattr(self, attr, getattr(self, attr) + decoder.decode(chunk))
                self._cond.notify_all()
        with self._cond:
            setattr(self, attr, getattr(self, attr) + decoder.decode(b"", final=True))
            self._cond.notify_all()

    def screen(self) -> str:
        """What was printed since the last prompt, up to and including the next one."""
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while (end := self._out.find(self.PROMPT, self._seen)) < 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not any(r.is_alive() for r in self._readers)):
                    raise AssertionError(f"no prompt; output so far:\n{self._out[self._seen :]}\nstderr:\n{self._err}")
                self._cond.wait(min(remaining, 0.2))
            screen = self._out[self._seen : end + len(self.PROMPT)]
            self._seen = end + len(self.PROMPT)
            return screen

    @classmethod
    def buttons(cls, screen: str) -> dict[str, int]:
        """The numbered buttons of the last message on the screen that has any."""
        blocks: list[dict[str, int]] = []
        previous_was_button = False
        for line in screen.splitlines():
            match = cls.BUTTON.match(line)
            if match and not previous_was_button:
                blocks.append({})
            if match:
                blocks[-1][match.group(2)] = int(match.group(1))
            previous_was_button = bool(match)
        return blocks[-1] if blocks else {}

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode("utf-8"))
        self.process.stdin.flush()

    def press(self, screen: str, label: str) -> None:
        buttons = self.buttons(screen)
        assert label in buttons, f"no button {label!r} on screen; buttons: {list(buttons)}\n{screen}"
        self.type(str(buttons[label]))

    def quit(self) -> tuple[int, str, str]:
        """Ctrl-D, then the exit code and everything printed."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        return code, self._out, self._err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


PATHWAYS = {
    "advice": [ADVICE, SAFETY_NO],
    "not coping": [NOT_COPING, SAFETY_YES, CONTINUE_AFTER_CRISIS],
    "way back or out": [WAY_BACK, SAFETY_NO],
    "not sure": [NOT_SURE, "Jeg er i jobb som vanlig", "Det er tungt, men det går", "Råd om en bestemt sak", SAFETY_NO],
}


@pytest.fixture
def try_tmpdir(tmp_path: Path) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("pathway", list(PATHWAYS))
def test_try_completes_a_pathway_and_leaves_no_file_behind(tmp_path: Path, try_tmpdir: Path, pathway: str) -> None:
    terminal = Terminal({"TMPDIR": str(try_tmpdir)}, cwd=tmp_path)
    try:
        screen = terminal.screen()
        assert "velkommen til Kollega" in screen
        # The throwaway database lives in TMPDIR while the try-out runs...
        [folder] = list(try_tmpdir.iterdir())
        assert folder.name.startswith("kollega-try-") and (folder / "try.db").exists()
        for label in [CONSENT, SELF, *PATHWAYS[pathway], *PREFERENCES, CONFIRM]:
            terminal.press(screen, label)
            screen = terminal.screen()
        assert CASE_CODE.search(screen), screen
        code, out, err = terminal.quit()
    finally:
        terminal.kill()
    assert code == 0, err
    assert "Traceback" not in out + err
    assert CASE_CODE.search(out.rsplit(CONFIRM, 1)[-1])
    assert "Goodbye" in out.splitlines()[-1]
    # ...and is gone afterwards, with anything else it wrote there.
    assert list(try_tmpdir.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # nothing in the working folder either


def test_try_fed_on_stdin_answers_commands_and_cleans_up_on_end_of_input(tmp_path: Path, try_tmpdir: Path) -> None:
    # Buttons of the welcome: [1] continue; then [1] myself. Fed at once, like a pipe.
    result = run_cli("try", cwd=tmp_path, env={"TMPDIR": str(try_tmpdir)}, stdin="1\n1\n/privacy\n/cancel\n")
    assert result.returncode == 0, result.stderr
    assert "Personvern i Kollega" in result.stdout
    assert "avbrutt" in result.stdout
    assert result.stdout.rstrip().endswith("Goodbye.")
    assert "Traceback" not in result.stderr
    assert list(try_tmpdir.iterdir()) == []


def test_toml_value_writes_what_tomllib_reads() -> None:
    """The config writer the process tests rely on round-trips through tomllib."""
    values = {"s": 'a "quoted" \\ ø\nline', "i": 7, "f": 0.2, "b": True, "l": ["x", "y"]}
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items())
    assert tomllib.loads(text) == values


def test_a_sqlite_file_in_a_missing_folder_is_one_config_line(tmp_path) -> None:
    import subprocess
    import sys

    config = tmp_path / "config.toml"
    config.write_text(
        f'[telegram]\ntoken = "123:abc"\n[secrets]\nsecret_key = "{GOOD_SECRET}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/nowhere/kollega.db"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().startswith("kollega: config error: database.url: the folder")
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_alias_too_long_for_the_roster_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    from bot.cli import main

    config = tmp_path / "config.toml"
    config.write_text(
        f'[secrets]\nsecret_key = "{GOOD_SECRET}"\n[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/k.db"\n',
        encoding="utf-8",
    )
    code = main(["counsellor", "add", "--config", str(config), "--telegram-id", "1", "--alias", "A" * 65, "--county", "Oslo"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "kollega: --alias: must be 1 to 40 characters"


@pytest.mark.parametrize(
    ("sections", "line"),
    [
        (good_sections(timeouts={"offer_minuts": 30}), "timeouts.offer_minuts: unknown key (did you mean 'offer_minutes'?)"),
        ({**good_sections(), "timeout": {}}, "timeout: unknown section (did you mean 'timeouts'?)"),
        ({**good_sections(), "monitor": {}}, "monitor: unknown section"),
    ],
)
def test_a_misspelt_name_is_named_with_the_known_one_closest_to_it(tmp_path: Path, sections: Any, line: str) -> None:
    path = write_case(tmp_path, sections)
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert str(raised.value) == line


def test_a_misspelt_key_in_an_array_of_tables_names_its_place() -> None:
    data = {**good_sections(), "emergency": [{"number": "113", "nb": "Akutt"}, {"number": "116 117", "nbb": "Legevakt"}]}
    with pytest.raises(ConfigError) as raised:
        parse(data, env={})
    assert str(raised.value) == "emergency[1].nbb: unknown key (did you mean 'nb'?)"
