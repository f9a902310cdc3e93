"""No log record, whoever writes it, carries a doctor's id, name, phone number or words."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from telegram import Bot

from bot import logsafety
from bot.logsafety import ContentFilter
from tests.faketelegram import FakeRequest, FakeTelegram

TOKEN = "123456789:AAHk3xYv9_fakeFAKEfake-0123456789abcdef"
USER_ID = 424242424
CONTENT = ("Ingrid", "Haugen", "dr_ingrid", "+4791234567", "91234567", "I cannot sleep after the night shift", str(USER_ID))
FORMAT = "%(levelname)s %(name)s: %(message)s"


def raw_update(**message: Any) -> dict[str, Any]:
    """An update as Telegram would send it, full of what must never reach a log."""
    person = {"id": USER_ID, "is_bot": False, "first_name": "Ingrid", "last_name": "Haugen", "username": "dr_ingrid"}
    return {
        "update_id": 5,
        "message": {
            "message_id": 11,
            "date": 1_700_000_000,
            "chat": {"id": USER_ID, "type": "private", "first_name": "Ingrid", "username": "dr_ingrid"},
            "from": person,
            "text": "I cannot sleep after the night shift",
            "contact": {"phone_number": "+4791234567", "first_name": "Ingrid", "user_id": USER_ID},
            **message,
        },
    }


class Capture:
    """Two real stream handlers on the root logger: ``raw`` first (no filter), then ``safe``.

    ``raw`` shows what would have been written without the filter (so each test proves its
    data really leaks); ``safe`` is what we write.
    """

    def __init__(self) -> None:
        self.raw_stream, self.safe_stream = io.StringIO(), io.StringIO()
        self.raw = logging.StreamHandler(self.raw_stream)
        self.safe = logging.StreamHandler(self.safe_stream)
        for handler in (self.raw, self.safe):
            handler.setFormatter(logging.Formatter(FORMAT))
        logsafety.install(self.safe)

    @property
    def unfiltered(self) -> str:
        return self.raw_stream.getvalue()

    @property
    def text(self) -> str:
        return self.safe_stream.getvalue()


@pytest.fixture
def capture() -> Iterator[Capture]:
    root = logging.getLogger()
    names = ("telegram", "telegram.Bot", "telegram.ext", "telegram.ext.Application", "httpx", "bot", "bot.app", "asyncio")
    levels = {name: logging.getLogger(name).level for name in names}
    old_root_level = root.level
    result = Capture()
    root.addHandler(result.raw)
    root.addHandler(result.safe)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.NOTSET)
    try:
        yield result
    finally:
        root.removeHandler(result.raw)
        root.removeHandler(result.safe)
        root.setLevel(old_root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def assert_no_content(text: str) -> None:
    for secret in CONTENT:
        assert secret not in text, f"{secret!r} leaked into the log: {text!r}"


def test_ptb_parse_failure_dump_keeps_level_and_gist_but_no_content(capture: Capture) -> None:
    batch = [raw_update()]
    log = logging.getLogger("telegram.Bot")
    log.critical("Error while parsing updates! Received data was %r", batch)
    log.debug("Call to Bot API endpoint `%s` finished with return value `%s`", "getUpdates", batch)
    log.critical("Received data was %(data)s", {"data": batch[0]})  # a lone mapping becomes record.args

    for secret in CONTENT:
        assert secret in capture.unfiltered
    assert_no_content(capture.text)
    lines = capture.text.splitlines()
    assert lines[0] == "CRITICAL telegram.Bot: Error while parsing updates! Received data was <list>"
    assert lines[1] == "DEBUG telegram.Bot: Call to Bot API endpoint `<str>` finished with return value `<list>`"
    assert lines[2] == "CRITICAL telegram.Bot: Received data was <dict>"


def test_numbers_are_kept_and_bad_format_strings_do_not_break_logging(capture: Capture) -> None:
    log = logging.getLogger("telegram.ext")
    log.warning("Retry %d of %s after %.1f s, ok=%s, %d%%", 3, "Ingrid", 1.25, True, 50)
    # Format strings that do not fit their arguments (logging itself would fail on these).
    for template, args in (("%d updates from %d", ("Ingrid", 7)), ("only %s", (1, "Ingrid")), ("%s and %s", ("Ingrid",))):
        capture.safe.handle(log.makeRecord(log.name, logging.WARNING, __file__, 1, template, args, None))

    assert_no_content(capture.text)
    assert capture.text.splitlines() == [
        "WARNING telegram.ext: Retry 3 of <str> after 1.2 s, ok=True, 50%",
        "WARNING telegram.ext: <str> updates from 7",
        "WARNING telegram.ext: only 1",
        "WARNING telegram.ext: <str> and <missing>",
    ]


def test_exception_from_ptb_keeps_only_its_type(capture: Capture) -> None:
    log = logging.getLogger("telegram.ext.Application")
    try:
        text = "I cannot sleep after the night shift"
        raise ValueError(f"could not handle {text!r} from dr_ingrid")
    except ValueError:
        log.exception("No error handlers are registered, logging exception.")

    assert "Traceback" in capture.unfiltered
    assert_no_content(capture.text)
    assert "Traceback" not in capture.text
    assert "test_logsafety.py" not in capture.text  # no frames either
    assert capture.text.strip() == (
        "ERROR telegram.ext.Application: No error handlers are registered, logging exception. [exception: ValueError]"
    )


def test_stack_info_and_cached_exc_text_are_dropped(capture: Capture) -> None:
    record = logging.getLogger("telegram.ext").makeRecord(
        "telegram.ext", logging.ERROR, __file__, 1, "failed", None, None, sinfo="Stack: I cannot sleep after the night shift"
    )
    record.exc_text = "KeyError: dr_ingrid"
    capture.raw.handle(record)
    capture.safe.handle(record)

    assert "dr_ingrid" in capture.unfiltered
    assert_no_content(capture.text)
    assert capture.text.strip() == "ERROR telegram.ext: failed"


def test_httpx_url_with_the_bot_token_is_masked(capture: Capture) -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates?offset=5"
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "POST", url, "HTTP/1.1", 200, "OK")
    # Even pre-formatted, and even from our own code, a token never gets through.
    logging.getLogger("httpx").info(f"HTTP Request: POST {url}")
    logging.getLogger("bot.app").warning("request to %s failed", url)

    assert TOKEN in capture.unfiltered
    assert TOKEN not in capture.text
    assert TOKEN.split(":")[1] not in capture.text
    lines = capture.text.splitlines()
    assert lines[0] == 'INFO httpx: HTTP Request: <str> <str> "<str> 200 <str>"'
    assert lines[1] == "INFO httpx: HTTP Request: POST https://api.telegram.org/bot<token>/getUpdates?offset=5"
    assert lines[2] == "WARNING bot.app: request to https://api.telegram.org/bot<token>/getUpdates?offset=5 failed"


def test_our_own_records_are_left_as_written(capture: Capture) -> None:
    log = logging.getLogger("bot.app")
    log.info("case %s: handed to counsellor after %d min", "K-7QX2", 12)
    try:
        raise RuntimeError("relay stalled for K-7QX2")
    except RuntimeError:
        log.exception("relay failed for case %s", "K-7QX2")

    assert capture.text == capture.unfiltered
    assert capture.text.startswith("INFO bot.app: case K-7QX2: handed to counsellor after 12 min\n")
    assert "ERROR bot.app: relay failed for case K-7QX2\nTraceback" in capture.text
    assert "RuntimeError: relay stalled for K-7QX2" in capture.text


def test_asyncio_never_retrieved_message_loses_its_reprs(capture: Capture) -> None:
    error = ValueError("I cannot sleep after the night shift")
    message = f"Task exception was never retrieved\nfuture: <Task finished name='Task-9' coro=<relay() done> exception={error!r}>"
    logging.getLogger("asyncio").error(message, exc_info=(ValueError, error, None))
    logging.getLogger("asyncio").error("Exception in callback deliver('dr_ingrid', 'I cannot sleep after the night shift')")
    logging.getLogger("asyncio").error(f"Unhandled error for user {USER_ID}")

    assert_no_content(capture.text)
    assert capture.text.splitlines() == [
        "ERROR asyncio: Task exception was never retrieved … [exception: ValueError]",
        "ERROR asyncio: Exception in callback deliver …",
        "ERROR asyncio: Unhandled error for user <n>",
    ]


def test_install_on_a_logger_covers_its_handlers_once() -> None:
    logger = logging.getLogger("test_logsafety.install")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    try:
        logsafety.install(logger)
        logsafety.install(logger)
        assert sum(isinstance(f, ContentFilter) for f in handler.filters) == 1
        assert sum(isinstance(f, ContentFilter) for f in logger.filters) == 1
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()


def _remove_content_filters() -> None:
    loggers = [logging.getLogger(), *(x for x in logging.Logger.manager.loggerDict.values() if isinstance(x, logging.Logger))]
    filterers: list[logging.Filterer] = [*loggers, *(h for x in loggers for h in x.handlers)]
    if logging.lastResort is not None:
        filterers.append(logging.lastResort)
    for filterer in filterers:
        for f in [f for f in filterer.filters if isinstance(f, ContentFilter)]:
            filterer.removeFilter(f)


def test_setup_logging_installs_the_filter_on_the_root_handlers() -> None:
    from bot import cli

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    names = ("", "httpx", "telegram", "transitions")
    levels = {name: logging.getLogger(name).level for name in names}
    saved_handlers = root.handlers[:]
    # Root with only our handler, so basicConfig leaves it be.
    root.handlers[:] = [handler]
    try:
        cli.setup_logging()
        logging.getLogger("telegram.Bot").critical("Error while parsing updates! Received data was %r", [raw_update()])
        assert any(isinstance(f, ContentFilter) for f in handler.filters)
        assert logging.lastResort is not None
        assert any(isinstance(f, ContentFilter) for f in logging.lastResort.filters)
    finally:
        root.handlers[:] = saved_handlers
        _remove_content_filters()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert "CRITICAL telegram.Bot: Error while parsing updates!" in stream.getvalue()
    assert_no_content(stream.getvalue())


async def test_ptbs_real_get_updates_failure_logs_no_content(capture: Capture) -> None:
    # A chat that is not an object: Update.de_list raises inside Bot.get_updates, which then
    # logs the whole raw batch at CRITICAL, with the traceback.
    telegram = FakeTelegram()
    telegram.push_update(raw_update(chat=7))
    request = FakeRequest(telegram)
    bot = Bot(TOKEN, request=request, get_updates_request=request)

    with pytest.raises(TypeError):
        await bot.get_updates()

    for secret in CONTENT:
        assert secret in capture.unfiltered
    assert TOKEN in capture.unfiltered  # PTB's debug lines show the token in the API URL
    assert_no_content(capture.text)
    assert TOKEN not in capture.text
    assert "Traceback" not in capture.text
    assert (
        "CRITICAL telegram.Bot: Error while parsing updates! Received data was <list> [exception: TypeError]"
        in capture.text.splitlines()
    )
