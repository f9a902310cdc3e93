"""A Config printed, logged or caught in a traceback shows no secret."""

from __future__ import annotations

import dataclasses

import pytest

from bot.config import Config

TOKEN = "123456:AAH-token-that-must-not-show"
SECRET_KEY = "secret-key-that-must-not-show-0123456789"
WEBHOOK_SECRET = "webhook_secret_that_must_not_show_0123456789"
PASSWORD = "db-password-that-must-not-show"
SECRETS = (TOKEN, SECRET_KEY, WEBHOOK_SECRET, PASSWORD)


def config(**changes: object) -> Config:
    values: dict[str, object] = {
        "token": TOKEN,
        "secret_key": SECRET_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "database_url": f"postgresql+asyncpg://kollega:{PASSWORD}@db.example:5432/kollega",
        "webhook_url": "https://bot.example/hook",
        "webhook_port": 8771,
        "min_cell": 7,
        "retention_months": 13,
    }
    values.update(changes)
    return Config(**values)  # type: ignore[arg-type]


def printed(value: Config) -> list[str]:
    """Every way a Config ends up as text in a terminal, a log or a traceback."""
    error = RuntimeError("could not start", value)
    return [repr(value), str(value), f"{value!r}", f"{value}", repr(error), str(error), repr([value]), repr({"c": value})]


def test_no_secret_appears_however_the_config_is_printed() -> None:
    for text in printed(config()):
        for secret in SECRETS:
            assert secret not in text, (secret, text)
        assert "redacted" in text


def test_everything_else_stays_visible() -> None:
    text = repr(config())
    assert text.startswith("Config(")
    for field in dataclasses.fields(Config):
        assert f"{field.name}=" in text, field.name
    assert "webhook_port=8771" in text
    assert "min_cell=7" in text
    assert "retention_months=13" in text
    assert "webhook_url='https://bot.example/hook'" in text
    assert "database_url='postgresql+asyncpg://kollega:***@db.example:5432/kollega'" in text, "user, host and database stay"
    assert "webhook_listen='127.0.0.1'" in text
    assert "tick_seconds=5.0" in text
    assert "FlowSettings(" in text and "Timing(" in text


def test_an_unset_secret_shows_as_empty_and_a_url_without_password_as_is() -> None:
    text = repr(config(token="", webhook_secret="", database_url="sqlite+aiosqlite:///data/kollega.db"))
    assert "token=''" in text and "webhook_secret=''" in text
    assert "database_url='sqlite+aiosqlite:///data/kollega.db'" in text


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+asyncpg://kollega:{PASSWORD}@db.example/kollega",
        f"postgresql+asyncpg://kollega:p@ss{PASSWORD}@db.example/kollega",  # an unescaped @ in the password
        f"postgresql+asyncpg://kollega:{PASSWORD}/x@db.example/kollega",  # an unescaped / in the password
        f"postgresql+asyncpg://kollega@db.example/kollega?password={PASSWORD}&ssl=require",
        f"postgresql+asyncpg://kollega@db.example/kollega?ssl=require&PASSWORD={PASSWORD}",
        f"kollega:{PASSWORD}@db.example/kollega",  # no scheme at all
    ],
)
def test_a_database_password_is_masked_wherever_the_url_carries_it(url: str) -> None:
    text = repr(config(database_url=url))
    assert PASSWORD not in text
    assert "p@ss" not in text
    assert "db.example" in text


def test_a_password_in_the_bot_api_url_is_masked_too() -> None:
    text = repr(config(base_url=f"https://operator:{PASSWORD}@botapi.example/bot"))
    assert PASSWORD not in text
    assert "base_url='https://operator:***@botapi.example/bot'" in text


def test_the_secrets_themselves_are_unchanged() -> None:
    value = config()
    assert (value.token, value.secret_key, value.webhook_secret) == (TOKEN, SECRET_KEY, WEBHOOK_SECRET)
    assert PASSWORD in value.database_url
    assert value == config(), "equality still compares every field"
