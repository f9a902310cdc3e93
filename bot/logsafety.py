"""Keep doctors' content out of the logs, whoever writes the record.

Our own code logs only case codes and error types. Third-party libraries are not written
to that rule: PTB's ``telegram.Bot`` logs a whole raw update batch (names, usernames, phone
numbers, typed text) when parsing fails, and its debug lines carry every API call's
parameters and return value; httpx logs request URLs (which hold the bot token); tornado
logs request summaries; asyncio's "Task exception was never retrieved" embeds ``repr()``s.

:class:`ContentFilter` rewrites such records so that they keep their logger, level and
format string (so operators still see *that* something happened, and roughly what), but
carry nothing that came from outside:

* each ``%``-argument is rendered only when it is a plain number (``int``, ``float``,
  ``bool``, or a numeric enum); anything else becomes a placeholder naming its type
  (``<str>``, ``<dict>``, ``<URL>``...);
* a message logged without arguments may itself be pre-formatted content, so only its first
  line is kept, cut before anything that opens a ``repr()`` (a bracket or a quote), with
  long digit runs (ids, phone numbers) masked;
* an exception is reduced to its type's name appended to the message: its message and the
  traceback (whose frames can show content) are dropped, as are ``exc_text`` and
  ``stack_info``.

Records from our own packages (:data:`OWN_PACKAGES`) are left as they are. Every record,
ours included, has bot tokens masked.

:func:`install` attaches the filter where it sees every record: on handlers. (A filter on a
logger does not see records propagated from its children; a filter on a handler does.)
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from typing import Any

#: Top-level packages whose loggers are written to carry no content.
OWN_PACKAGES = frozenset({"bot", "flows", "storage", "kollega"})

#: A Telegram bot token (``<bot id>:<secret>``), also as it appears inside API URLs.
TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
TOKEN_MASK = "<token>"

#: One ``%``-conversion of printf-style formatting, as :meth:`logging.LogRecord.getMessage` uses.
_CONVERSION = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?(?P<flags>[#0\- +]*)(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?"
    r"[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])"
)
#: Where a pre-formatted message starts showing a ``repr()``: a bracket, or a quote that opens a literal.
_REPR_START = re.compile(r"""[(<\[{]|(?<![A-Za-z0-9])['"]""")
#: Digit runs long enough to be a Telegram id or a phone number.
_LONG_DIGITS = re.compile(r"\d{5,}")
_MISSING = "<missing>"


def is_own(logger_name: str) -> bool:
    """Whether a logger belongs to one of :data:`OWN_PACKAGES`."""
    return logger_name.partition(".")[0] in OWN_PACKAGES


def scrub_token(text: str) -> str:
    """``text`` with every bot token masked."""
    return TOKEN.sub(TOKEN_MASK, text)


class ContentFilter(logging.Filter):
    """Rewrite third-party log records so they carry no content; mask bot tokens everywhere.

    Never drops a record (:meth:`filter` always returns ``True``); it edits the record in
    place, so handlers after this one see the rewritten record too. Rewriting is done once
    per record, however many handlers carry the filter.
    """

    _DONE = "_kollega_content_filtered"

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, self._DONE, False):
            return True
        try:
            if is_own(record.name):
                _scrub_own(record)
            else:
                _sanitize_foreign(record)
        except Exception:
            # Never let the filter itself fail, and never fall back to the raw record.
            record.msg = "log record withheld (the content filter could not rewrite it)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        setattr(record, self._DONE, True)
        return True


def install(target: logging.Handler | logging.Logger | None = None) -> None:
    """Attach a :class:`ContentFilter` so it sees every record that reaches ``target``'s output.

    * a :class:`logging.Handler`: the filter goes on that handler;
    * a :class:`logging.Logger`: on the logger itself and on each of its handlers;
    * the root logger (or ``None``): also on :data:`logging.lastResort` and on the handlers of
      every logger that exists now (for loggers that do not propagate to root).

    Call it after the handlers are set up (e.g. after :func:`logging.basicConfig`): a handler
    added later carries no filter. Installing twice adds nothing.
    """
    if target is None:
        target = logging.getLogger()
    if isinstance(target, logging.Handler):
        _attach(target)
        return
    _attach(target)
    for handler in target.handlers:
        _attach(handler)
    if target is logging.getLogger():
        if logging.lastResort is not None:
            _attach(logging.lastResort)
        for logger in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger):
                for handler in logger.handlers:
                    _attach(handler)


def _attach(filterer: logging.Filterer) -> None:
    if not any(isinstance(existing, ContentFilter) for existing in filterer.filters):
        filterer.addFilter(ContentFilter())


def _scrub_own(record: logging.LogRecord) -> None:
    """Our records stay as written, unless a bot token slipped into them."""
    message = record.getMessage()
    if TOKEN.search(message):
        record.msg = scrub_token(message)
        record.args = None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        if TOKEN.search(text):
            record.exc_text = scrub_token(text)  # formatters use exc_text as given
    elif record.exc_text:
        record.exc_text = scrub_token(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub_token(record.stack_info)


def _sanitize_foreign(record: logging.LogRecord) -> None:
    if not isinstance(record.msg, str):
        message = _placeholder(record.msg)
    elif record.args:
        message = _render(record.msg, record.args)
    else:
        message = _first_line_without_reprs(record.msg)
    exception = _exception_type(record.exc_info)
    if exception:
        message = f"{message} [exception: {exception}]"
    record.msg = scrub_token(message)
    record.args = None
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None


def _render(template: str, args: Any) -> str:
    """``template % args``, with only plain numbers rendered and anything else a type placeholder."""
    positional = iter(args) if isinstance(args, tuple) else iter((args,))
    mapping = args if isinstance(args, Mapping) else None

    def take() -> Any:
        return next(positional, _MISSING)

    def convert(match: re.Match[str]) -> str:
        conv = match["conv"]
        if conv == "%":
            return "%"
        width, precision = match["width"], match["precision"]
        if width == "*":
            width = _star(take())
        if precision == "*":
            precision = _star(take())
        key = match["key"]
        if key is not None:
            value = mapping.get(key, _MISSING) if mapping is not None else _MISSING
        else:
            value = take()
        if value is _MISSING:
            return _MISSING
        number = _plain_number(value)
        if number is None or conv == "c":
            return _placeholder(value)
        spec = "%" + match["flags"] + (width or "") + (f".{precision}" if precision else "") + conv
        try:
            return spec % number
        except (TypeError, ValueError, OverflowError):
            return str(number)

    return _CONVERSION.sub(convert, template)


def _star(value: Any) -> str:
    return str(value) if type(value) is int and 0 <= value < 1000 else ""


def _plain_number(value: Any) -> int | float | None:
    """``value`` as a number when it is one (and so carries no text), else ``None``."""
    if type(value) in (int, float, bool):
        return value  # type: ignore[no-any-return]
    if isinstance(value, enum.Enum) and isinstance(value, int | float):
        return int(value) if isinstance(value, int) else float(value)
    return None


def _placeholder(value: Any) -> str:
    return f"<{type(value).__name__}>"


def _first_line_without_reprs(message: str) -> str:
    """What of an argument-less message can be trusted not to be content."""
    # Tokens first (their digits are not an id to mask), as a mark that opens no repr.
    lines = TOKEN.sub("\x00", message).strip().splitlines() or [""]
    first = lines[0]
    cut = _REPR_START.search(first)
    if cut:
        first = first[: cut.start()].rstrip() + " …"
    elif len(lines) > 1:
        first += " …"
    return _LONG_DIGITS.sub("<n>", first).replace("\x00", TOKEN_MASK)


def _exception_type(exc_info: Any) -> str | None:
    """The dotted name of the logged exception's type, or ``None`` when none was logged."""
    if not exc_info:
        return None
    if isinstance(exc_info, BaseException):
        kind: Any = type(exc_info)
    elif isinstance(exc_info, tuple) and exc_info and isinstance(exc_info[0], type):
        kind = exc_info[0]
    else:
        return None
    module = getattr(kind, "__module__", "")
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in ("builtins", "") else f"{module}.{name}"
