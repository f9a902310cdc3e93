"""What comes in: one plain event per update, and what the flows answer with.

An adapter (Telegram, the terminal try-out, a test) turns whatever it received into one
of these events and hands it to :meth:`flows.service.Service.handle`; the flows decide
everything that follows and give the adapter a :class:`Result` to send. The events hold
what was typed and who wrote in memory only: nothing here is stored as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flows.replies import Outbound, Reply, Text


@dataclass(frozen=True)
class Who:
    """Whoever wrote: their pseudonym; in memory only, their Telegram id and the chat to answer in."""

    pseudonym: str
    user_id: int
    chat: int
    language: str = ""
    """The catalogue language Telegram reports for them (``nb``, ``nn``, ``en``), or "" when it is none of ours."""


@dataclass(frozen=True, kw_only=True)
class Inbound:
    update_id: int
    """What claims the update (handled once, however often it is delivered)."""
    who: Who


@dataclass(frozen=True, kw_only=True)
class Command(Inbound):
    """``/name argument``."""

    name: str
    argument: str = ""


@dataclass(frozen=True, kw_only=True)
class Press(Inbound):
    """A button: the step it answers and its action (``("", "")`` when the data was forged)."""

    step: str
    action: str


@dataclass(frozen=True)
class Contact:
    """A shared contact: the number, and whose it is (the owner's Telegram id, if it names one)."""

    phone: str
    owner: int | None


@dataclass(frozen=True, kw_only=True)
class Wrote(Inbound):
    """A message: text, media of any kind, or a shared contact. Relayed by its id inside a case."""

    message_id: int
    text: str | None = None
    """What was typed (None for media): read to notice crisis words or a typed answer, then dropped."""
    reply_to: int | None = None
    """The message this one answers, in the writer's chat."""
    contact: Contact | None = None


@dataclass(frozen=True, kw_only=True)
class Edited(Inbound):
    """An edited message: never a new answer, and never relayed."""


@dataclass(frozen=True, kw_only=True)
class InGroup:
    """Added to a group or channel, or written to in one: the bot says why it cannot stay, and leaves."""

    update_id: int
    chat: int


Incoming = Command | Press | Wrote | Edited | InGroup
"""Every event an adapter may hand to the flows."""


@dataclass(frozen=True)
class Copy:
    """Someone's message copied to the other side of a case, by its id: its words never pass
    through Kollega's storage. One button on the copy says whose it is."""

    to: int
    source_chat: int
    message_id: int
    label: Text
    """The button's label, in the reader's language."""
    language: str
    action: str
    """The button's action (step ``relay``)."""
    writer_language: str
    """The language of what the writer is told if the copy is late, or never arrives."""
    track: str = ""
    """Tell the flows the copy's message id (``relay:<code>:<counsellor id>``)."""


@dataclass
class Result:
    """What to do after one event: replies to whoever acted, messages to others, copies."""

    language: str
    replies: list[Reply] = field(default_factory=list)
    outbound: list[Outbound] = field(default_factory=list)
    replace: bool = False
    """The first reply replaces the message whose button was pressed."""
    copies: list[Copy] = field(default_factory=list)
    leave: int | None = None
    """A group chat to leave (after saying why, in the first reply)."""
    leave_pressed: bool = False
    """Leave the pressed message as it is: a relayed copy (someone's words) is never edited."""
