"""Configuration: read once in main() into a frozen object and passed down."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from flows.casework import Timing
from flows.catalogue import LANGUAGES
from flows.crisis import CrisisWords
from flows.settings import County, DoctorHelp, EmergencyNumber, FlowSettings, county_code
from storage.retention import RetentionPolicy
from storage.sealing import MIN_SECRET_BITS, Keyring, secret_bits

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///kollega.db"
REDACTED = "…redacted…"


class ConfigError(Exception):
    """One configuration problem, naming the key: shown as one line, exit code 2."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


@dataclass(frozen=True, repr=False)
class Config:
    token: str
    secret_key: str
    base_url: str = DEFAULT_BASE_URL
    database_url: str = DEFAULT_DATABASE_URL
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: str = ""
    flow: FlowSettings = field(default_factory=FlowSettings)
    timing: Timing = field(default_factory=Timing)
    tick_seconds: float = 5.0
    """How often the running bot looks for due timers."""
    min_cell: int = 5
    retention_months: int = 24
    retired_keys: tuple[str, ...] = ()
    """Secrets replaced by ``kollega keys rotate``: they only open what they sealed."""

    def __repr__(self) -> str:
        """Every field, but secrets as ``…redacted…`` and URL passwords as ``***``: configs end up in logs and tracebacks."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = REDACTED
            elif f.name.endswith("_url"):
                value = printable_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def keyring(self) -> Keyring:
        """The keys of the secret, with the retired ones for reading."""
        return Keyring(self.secret_key, self.retired_keys)

    def retention_policy(self) -> RetentionPolicy:
        """The purge lifetimes from the configuration (``kollega purge`` and the bot's daily job)."""
        return RetentionPolicy(
            retention_months=self.retention_months,
            draft_lifetime=self.flow.draft_reminder_after + self.flow.draft_expire_after,
            followup=self.timing.followup,
        )


SECRET_KEYS = {"telegram.token", "telegram.webhook_secret", "secrets.secret_key", "secrets.retired_keys"}
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{32,256}")
"""Telegram accepts 1-256 characters of this alphabet as a secret token; fewer than 32 would be guessable."""
SECRET_FIELDS = {"token", "webhook_secret", "secret_key", "retired_keys"}
"""Config fields whose values repr() never shows."""
_PASSWORD_PARAMETER = re.compile(r"(?i)([?&][^=&#]*(?:password|passwd|pwd|secret|token)[^=&#]*=)[^&#]*")


def printable_url(url: str) -> str:
    """``url`` fit to print: a password in it (``user:PASSWORD@host``, ``?password=...``) becomes ``***``.

    Errs on the side of hiding: the password runs to the last ``@``, so one written
    unescaped (``user:p@ss@host``) is hidden whole.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    at = rest.rfind("@")
    user, colon, _ = rest[:at].partition(":") if at >= 0 else ("", "", "")
    if colon and not any(c in user for c in "/?#"):
        rest = f"{user}:***{rest[at:]}"
    return scheme + separator + _PASSWORD_PARAMETER.sub(r"\1***", rest)


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, path: str) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        # A secret's value is never repeated: error messages end up in terminals and logs.
        shown = "" if path in SECRET_KEYS or "url" in path else f" {value!r}"
        raise ConfigError(path, f"must be a {expected}, got {type(value).__name__}{shown}")
    return value


def _positive(table: dict[str, Any], key: str, default: float, path: str) -> float:
    value = _get(table, key, (int, float), default, path)
    if value <= 0:
        raise ConfigError(path, f"must be greater than 0, got {value}")
    return float(value)


_KNOWN: dict[str, tuple[str, ...]] = {
    "telegram": ("token", "base_url", "webhook_url", "webhook_secret", "webhook_port", "webhook_listen"),
    "database": ("url",),
    "secrets": ("secret_key", "retired_keys"),
    "service": ("default_language", "counties", "expected_reply_hours", "data_controller", "privacy_contact"),
    "timeouts": ("offer_minutes", "urgent_offer_minutes", "silent_case_hours", "followup_weeks", "draft_reminder_hours",
                 "draft_expire_hours", "tick_seconds"),
    "privacy": ("min_cell", "retention_months"),
    "crisis_words": LANGUAGES,
    "emergency": ("number", *LANGUAGES),
    "doctor_help": ("name", "contact", *LANGUAGES),
}  # fmt: skip
"""Every section and key the file may hold ("emergency" and "doctor_help" are arrays of tables)."""


def _check_known(data: dict[str, Any]) -> None:
    """A misspelt section or key is an error naming it, with the known one it is closest to."""
    for name, value in data.items():
        if name not in _KNOWN:
            raise ConfigError(name, f"unknown section{_did_you_mean(name, _KNOWN)}")
        tables = value if isinstance(value, list) else [value]
        for at, table in enumerate(tables):
            if not isinstance(table, dict):
                continue  # the section's own reader says what shape it must have
            for key in table:
                if key not in _KNOWN[name]:
                    where = f"{name}[{at}]" if isinstance(value, list) else name
                    raise ConfigError(f"{where}.{key}", f"unknown key{_did_you_mean(key, _KNOWN[name])}")


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(name, "must be a table")
    return section


def parse(
    data: dict[str, Any], env: dict[str, str] | None = None, require_token: bool = True, strong_secret: bool = True
) -> Config:
    """Validate a parsed TOML document; raise ConfigError naming the first bad key.

    ``strong_secret=False`` lets a guessable secret through: only ``kollega keys rotate``,
    which replaces it, asks for that.
    """
    env = dict(os.environ) if env is None else env
    _check_known(data)
    telegram = _section(data, "telegram")
    database = _section(data, "database")
    secrets = _section(data, "secrets")
    service = _section(data, "service")
    timeouts = _section(data, "timeouts")
    privacy = _section(data, "privacy")

    token = env.get("KOLLEGA_TELEGRAM_TOKEN") or _get(telegram, "token", str, "", "telegram.token")
    if require_token:
        if not token:
            raise ConfigError("telegram.token", "missing: set it in the config file or in KOLLEGA_TELEGRAM_TOKEN")
        if ":" not in token:
            raise ConfigError("telegram.token", "does not look like a bot token from @BotFather (expected '123456:ABC...')")
    secret_key = env.get("KOLLEGA_SECRET_KEY") or _get(secrets, "secret_key", str, "", "secrets.secret_key")
    if len(secret_key) < 16:
        raise ConfigError(
            "secrets.secret_key", "missing or shorter than 16 characters: run `kollega init` or set KOLLEGA_SECRET_KEY"
        )
    if strong_secret and secret_bits(secret_key) < MIN_SECRET_BITS:
        raise ConfigError(
            "secrets.secret_key",
            f"too guessable (about {secret_bits(secret_key):.0f} bits, {MIN_SECRET_BITS} needed): anyone with the database "
            "could test guesses offline. Replace it with `kollega keys rotate` (bot stopped), which re-keys "
            "what it protects; a new installation takes `kollega init`'s",
        )
    retired = _get(secrets, "retired_keys", list, [], "secrets.retired_keys")
    if not all(isinstance(old, str) and len(old) >= 16 for old in retired):
        raise ConfigError("secrets.retired_keys", "must be a list of the secrets `kollega keys rotate` retired")
    base_url = _get(telegram, "base_url", str, DEFAULT_BASE_URL, "telegram.base_url") or DEFAULT_BASE_URL
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError("telegram.base_url", f"must start with http:// or https://, got {base_url!r}")
    webhook_url = _get(telegram, "webhook_url", str, "", "telegram.webhook_url")
    webhook_secret = _get(telegram, "webhook_secret", str, "", "telegram.webhook_secret")
    if webhook_url and not webhook_secret:
        raise ConfigError("telegram.webhook_secret", "required when webhook_url is set (run `kollega init`)")
    if webhook_secret and not WEBHOOK_SECRET.fullmatch(webhook_secret):
        raise ConfigError(
            "telegram.webhook_secret",
            "must be 32 to 256 characters of A-Z, a-z, 0-9, _ and - (run `kollega init` for a fresh one)",
        )
    webhook_port = int(_get(telegram, "webhook_port", int, 8443, "telegram.webhook_port"))
    if not 0 < webhook_port < 65536:
        raise ConfigError("telegram.webhook_port", f"must be a port number, got {webhook_port}")

    database_url = _get(database, "url", str, DEFAULT_DATABASE_URL, "database.url")
    if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError("database.url", "must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    _check_sqlite_folder(database_url)

    language = _get(service, "default_language", str, "nb", "service.default_language")
    if language not in LANGUAGES:
        raise ConfigError("service.default_language", f"must be one of {', '.join(LANGUAGES)}, got {language!r}")
    names = _get(service, "counties", list, list(FlowSettings().county_names()), "service.counties")
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError("service.counties", "must be a non-empty list of county names")
    counties = tuple(County(county_code(n), n) for n in names)
    if len({c.code for c in counties}) != len(counties):
        raise ConfigError("service.counties", "has duplicate names")
    if any(not c.code or len(c.code) > 32 for c in counties):
        raise ConfigError("service.counties", "every name needs letters or digits, and at most 32 of them")

    emergency = data.get("emergency", None)
    numbers = FlowSettings().emergency
    if emergency is not None:
        if not isinstance(emergency, list) or not emergency:
            raise ConfigError("emergency", "must be a non-empty list of [[emergency]] tables")
        parsed = []
        for i, entry in enumerate(emergency):
            if not isinstance(entry, dict) or not isinstance(entry.get("number"), str) or not entry["number"].strip():
                raise ConfigError(f"emergency[{i}].number", "missing")
            labels = {lang: str(entry[lang]) for lang in LANGUAGES if isinstance(entry.get(lang), str)}
            if not labels:
                raise ConfigError(f"emergency[{i}]", f"needs a label in {_any_language()}")
            parsed.append(EmergencyNumber(entry["number"], labels))
        numbers = tuple(parsed)
    doctor_help = _doctor_help(data)

    crisis_words = _crisis_words(data)

    reminder = _positive(timeouts, "draft_reminder_hours", 24, "timeouts.draft_reminder_hours")
    expire = _positive(timeouts, "draft_expire_hours", 48, "timeouts.draft_expire_hours")
    flow = FlowSettings(
        counties=counties,
        emergency=numbers,
        crisis_words=crisis_words,
        default_language=language,
        draft_reminder_after=timedelta(hours=reminder),
        draft_expire_after=timedelta(hours=expire),
        expected_reply_hours=int(_positive(service, "expected_reply_hours", 24, "service.expected_reply_hours")),
        data_controller=_get(service, "data_controller", str, "", "service.data_controller").strip(),
        privacy_contact=_get(service, "privacy_contact", str, "", "service.privacy_contact").strip(),
        doctor_help=doctor_help,
    )
    timing = Timing(
        offer=timedelta(minutes=_positive(timeouts, "offer_minutes", 60, "timeouts.offer_minutes")),
        urgent_offer=timedelta(minutes=_positive(timeouts, "urgent_offer_minutes", 15, "timeouts.urgent_offer_minutes")),
        silent_case=timedelta(hours=_positive(timeouts, "silent_case_hours", 72, "timeouts.silent_case_hours")),
        followup=timedelta(weeks=_positive(timeouts, "followup_weeks", 4, "timeouts.followup_weeks")),
    )
    min_cell = int(_get(privacy, "min_cell", int, 5, "privacy.min_cell"))
    if min_cell < 2:
        raise ConfigError("privacy.min_cell", f"must be at least 2, got {min_cell}")
    retention = int(_get(privacy, "retention_months", int, 24, "privacy.retention_months"))
    if retention < 1:
        raise ConfigError("privacy.retention_months", f"must be at least 1, got {retention}")
    return Config(
        token=token,
        secret_key=secret_key,
        base_url=base_url,
        database_url=database_url,
        webhook_url=webhook_url,
        webhook_listen=_get(telegram, "webhook_listen", str, "127.0.0.1", "telegram.webhook_listen"),
        webhook_port=webhook_port,
        webhook_secret=webhook_secret,
        flow=flow,
        timing=timing,
        tick_seconds=_positive(timeouts, "tick_seconds", 5, "timeouts.tick_seconds"),
        min_cell=min_cell,
        retention_months=retention,
        retired_keys=tuple(retired),
    )


def _crisis_words(data: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """``[crisis_words]``: a language listed replaces its default list (``en = []`` drops the English one)."""
    crisis_words = {lang: tuple(words) for lang, words in FlowSettings().crisis_words.items()}
    for lang, words in _section(data, "crisis_words").items():
        if lang not in LANGUAGES:
            raise ConfigError(f"crisis_words.{lang}", f"unknown language: use {_any_language()}")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ConfigError(f"crisis_words.{lang}", "must be a list of strings")
        for i, phrase in enumerate(words):
            try:
                CrisisWords.validate(phrase)
            except ValueError as error:
                raise ConfigError(f"crisis_words.{lang}[{i}]", f"{phrase!r}: {error}") from None
        crisis_words[lang] = tuple(words)
    return crisis_words


def _any_language() -> str:
    """``nb, nn or en``: the languages a label may be given in."""
    return f"{', '.join(LANGUAGES[:-1])} or {LANGUAGES[-1]}"


def _doctor_help(data: dict[str, Any]) -> tuple[DoctorHelp, ...]:
    """``[[doctor_help]]``: name, optional contact, a label per language; absent means the defaults, ``[]`` none."""
    entries = data.get("doctor_help", None)
    if entries is None:
        return FlowSettings().doctor_help
    if not isinstance(entries, list):
        raise ConfigError("doctor_help", "must be a list of [[doctor_help]] tables")
    known = {"name", "contact", *LANGUAGES}
    parsed = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"doctor_help[{i}]", "must be a table")
        for key, value in entry.items():
            if key not in known:
                raise ConfigError(f"doctor_help[{i}].{key}", f"unknown key (expected name, contact, {_any_language()})")
            if not isinstance(value, str):
                raise ConfigError(f"doctor_help[{i}].{key}", f"must be a str, got {type(value).__name__} {value!r}")
        name = entry.get("name", "").strip()
        if not name:
            raise ConfigError(f"doctor_help[{i}].name", "missing")
        labels = {lang: entry[lang].strip() for lang in LANGUAGES if entry.get(lang, "").strip()}
        if not labels:
            raise ConfigError(f"doctor_help[{i}]", f"needs a label in {_any_language()}")
        parsed.append(DoctorHelp(name, entry.get("contact", "").strip(), labels))
    return tuple(parsed)


def _check_sqlite_folder(url: str) -> None:
    """A SQLite file must be creatable: its folder has to exist."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return
    folder = Path(url.removeprefix(prefix).split("?", 1)[0]).parent
    if not folder.is_dir():
        raise ConfigError("database.url", f"the folder {str(folder)!r} does not exist")


def load(path: Path, require_token: bool = True, env: dict[str, str] | None = None, strong_secret: bool = True) -> Config:
    """Read and validate a config file."""
    if not path.exists():
        raise ConfigError(str(path), "file not found (run `kollega init` to create it)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), f"is not valid TOML ({error})") from None
    return parse(data, env, require_token, strong_secret)
