"""What the flows need from storage, as protocols (storage implements them).

Flows stay free of SQL: they ask a :class:`Store` for one transaction per
user action and call plain methods on it that take and return plain data.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flows.events import Event
from flows.triage import Draft


@dataclass(frozen=True)
class CaseView:
    """A case as the flows see it: codes and times, never an identity."""

    code: str
    status: str
    pathway: str
    urgent: bool
    seeker: str
    support: tuple[str, ...]
    barriers: tuple[str, ...]
    role: str
    county: str
    outside_county: bool
    contact: str
    language: str
    reader_language: str
    opened_at: datetime
    accepted_at: datetime | None = None
    counsellor_id: int | None = None
    counsellor_alias: str | None = None
    followup: bool = False


@dataclass(frozen=True)
class Due:
    kind: str
    subject: str
    due_at: datetime


class Tx(Protocol):
    """One unit of work."""

    async def get_draft(self, pseudonym: str) -> Draft | None: ...
    async def put_draft(self, pseudonym: str, draft: Draft, reach: int | None, now: datetime) -> None: ...
    async def delete_draft(self, pseudonym: str) -> None: ...
    async def reach_of_draft(self, pseudonym: str) -> int | None: ...

    async def open_case(self, pseudonym: str, draft: Draft, reach: int, now: datetime) -> CaseView: ...
    async def case_of(self, pseudonym: str) -> CaseView | None: ...
    async def case(self, code: str) -> CaseView | None: ...
    async def reach_of_case(self, code: str) -> int | None: ...
    async def mark_case_urgent(self, code: str) -> None: ...
    async def set_reader_language(self, code: str, language: str) -> None: ...
    async def withdraw_case(self, code: str, now: datetime) -> None: ...
    async def forget(self, pseudonym: str) -> None: ...

    async def record(self, event: Event, now: datetime) -> None: ...

    async def set_timer(self, kind: str, subject: str, due_at: datetime) -> None: ...
    async def clear_timer(self, kind: str, subject: str) -> None: ...
    async def clear_timers(self, subject: str) -> None: ...
    async def next_due(self, now: datetime) -> Due | None:
        """The earliest due timer, removed from the store (locked against other workers)."""
        ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...
