"""What a flow says: catalogue keys with parameters and buttons.

A flow never produces finished sentences. It produces :class:`Reply` objects
that name a catalogue entry; an adapter (Telegram, terminal) renders them in
the reader's language. That keeps every sentence in the catalogues and lets
the same conversation run anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Union

from flows.periods import Period

ParamValue = Union[str, int, float, "Text", "Dated", Sequence[Union["Text", str]]]


class Lines(tuple[Union["Text", str], ...]):
    """A parameter shown one item per line (a plain sequence is joined with commas)."""


@dataclass(frozen=True)
class Text:
    """A catalogue entry with its parameters, rendered later in some language."""

    key: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    plural: str = ""
    """For a message with plural forms, its plural key (see :func:`Plural`)."""
    count: str = ""
    """The parameter whose number picks the plural form."""


def Plural(key: str, plural: str, count: str, params: Mapping[str, ParamValue]) -> Text:
    """A message with plural forms: ``params[count]`` picks the form by the language's own rule.

    ``plural`` is the entry's ``msgid_plural`` (by habit ``key`` + ``.plural``); both are
    literals at the call so that ``pybabel extract`` finds them.
    """
    return Text(key, params, plural=plural, count=count)


@dataclass(frozen=True)
class Dated:
    """A date parameter, written by Babel in the reader's language (``LLLL y``: "november 2026")."""

    day: date
    pattern: str


@dataclass(frozen=True)
class Button:
    """One button: a label from the catalogue and the action it stands for."""

    label: Text
    action: str
    checked: bool | None = None
    """For multi-select answers: whether this one is chosen (None: not a toggle)."""


FigureKey = tuple[str, str, str, str, str]
"""One published figure: (period label, measure, dimension, value, statistic)."""


@dataclass(frozen=True)
class Chart:
    """A statistics chart as data: what an adapter needs to draw it (flows draw nothing)."""

    figures: Mapping[FigureKey, int | None]
    """The published figures; None where a small number is suppressed."""
    labels: tuple[str, ...]
    """The periods shown, oldest first, as in the export (``2026-11``)."""
    starts: tuple[date, ...]
    """The first day of each of those periods."""
    period: Period
    language: str
    """The reader's: the chart's words are rendered in it."""


@dataclass(frozen=True)
class Reply:
    """One message to one person."""

    text: Text
    buttons: tuple[tuple[Button, ...], ...] = ()
    step: str = ""
    """The step the buttons answer; a press from another step is stale."""
    request_contact: bool = False
    """Show Telegram's one-tap "share my phone number" keyboard."""
    remove_keyboard: bool = False
    """Take away a keyboard shown with ``request_contact``."""
    document: tuple[str, bytes] | None = None
    """(file name, content) to send as a document, e.g. a CSV export."""
    picture: bytes | None = None
    """A PNG to send as a photo, e.g. a statistics chart."""
    chart: Chart | None = None
    """A chart still to be drawn; the adapter turns it into ``picture`` before sending."""


@dataclass(frozen=True)
class Outbound:
    """A message to someone other than the person who acted (or to anyone, from a timer)."""

    reach: int
    """The chat to send to: a doctor's unsealed chat id (in memory only) or a staff member's id."""
    reply: Reply
    language: str
    track: str = ""
    """Tell the flows the sent message's id (``offer:<id>``, ``relay:<code>:<counsellor id>``)."""
    edit: int | None = None
    """Edit this earlier message instead of sending a new one."""
