"""Anonymous events (docs/design.md section 8): what happened, never who or what was said."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    TRIAGE_STARTED = "triage_started"
    STEP_ABANDONED = "step_abandoned"
    """``step`` = where the doctor stopped; ``actor`` = cancel, expired or forget."""
    PATHWAY_CHOSEN = "pathway_chosen"
    SAFETY_SHOWN = "safety_shown"
    """Emergency numbers shown: ``actor`` = answer (safety question), words or button."""
    CASE_OPENED = "case_opened"
    CASE_OFFERED = "case_offered"
    OFFER_DECLINED = "offer_declined"
    OFFER_TIMED_OUT = "offer_timed_out"
    CASE_ACCEPTED = "case_accepted"
    """``duration_s`` = seconds from case opened to accepted."""
    CASE_ESCALATED = "case_escalated"
    CASE_WITHDRAWN = "case_withdrawn"
    """The doctor cancelled before a counsellor accepted; ``duration_s`` = wait."""
    CASE_CLOSED = "case_closed"
    """``actor`` = doctor, counsellor or system; ``duration_s`` = accepted to closed."""
    FEEDBACK = "feedback"
    FORGET_REQUESTED = "forget_requested"


@dataclass(frozen=True)
class Event:
    """One anonymous event. Storage counts it in its day, with durations rounded up to a step."""

    kind: EventKind
    pathway: str | None = None
    seeker: str | None = None
    county: str | None = None
    role: str | None = None
    urgent: bool | None = None
    contact: str | None = None
    language: str | None = None
    support_mask: int | None = None
    barrier_mask: int | None = None
    step: str | None = None
    actor: str | None = None
    counsellor: str | None = None
    duration_s: int | None = None
    score: int | None = None
