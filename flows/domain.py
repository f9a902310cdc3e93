"""The words of the domain: pathways, kinds of support, barriers, roles.

Every value here is a short, stable code. Codes are what gets stored and
counted; the catalogues turn them into sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Pathway(StrEnum):
    """The three help-seeking categories of Horne et al. (BMJ Open 2021)."""

    ADVICE = "advice"
    NOT_COPING = "not_coping"
    WAY_BACK_OR_OUT = "way_back_or_out"


class Seeker(StrEnum):
    """Who the help is for: the person writing, or a colleague they worry about."""

    SELF = "self"
    COLLEAGUE = "colleague"


class Support(StrEnum):
    """The five forms of peer support of Hussan et al. (BJGP 2023)."""

    EMOTIONAL = "emotional"
    ADVICE = "advice"
    WORKLOAD = "workload"
    MENTORSHIP = "mentorship"
    PERSONAL = "personal"


class Barrier(StrEnum):
    """The four moderators of peer support (Hussan et al.), as "what made it hard"."""

    INDIVIDUAL = "individual"
    RELATIONSHIPS = "relationships"
    WORKPLACE = "workplace"
    OCCUPATION = "occupation"


class Role(StrEnum):
    GP_PARTNER = "gp_partner"
    SALARIED_GP = "salaried_gp"
    LOCUM = "locum"
    HOSPITAL = "hospital"
    TRAINING = "training"
    STUDENT = "student"
    OTHER = "other"


class ContactMode(StrEnum):
    CHAT = "chat"
    PHONE = "phone"
    MEETING = "meeting"


class Language(StrEnum):
    NB = "nb"
    EN = "en"


class WorkStatus(StrEnum):
    """ "Not sure" question 1: where the doctor stands with work."""

    WORKING = "working"
    OFF_WORK = "off_work"
    LEAVING_OR_RETURNING = "leaving_or_returning"


class Coping(StrEnum):
    """ "Not sure" question 2: how day-to-day coping is going."""

    MANAGING = "managing"
    STRAINED = "strained"
    NOT_COPING = "not_coping"


class Hope(StrEnum):
    """ "Not sure" question 3: what the doctor hopes to get."""

    GUIDANCE = "guidance"
    SOMEONE_TO_TALK_TO = "someone_to_talk_to"
    WAY_FORWARD_WITH_WORK = "way_forward_with_work"


NO_COUNTY = "none"
"""County code for "I'd rather not say"."""


def ticked(values: list[str], value: str, on: bool, enum: type[StrEnum]) -> list[str]:
    """A multi-select answer with ``value`` ticked (``on``) or not, in the enum's order: the
    same list again when it already was, so a second tap of the same button changes nothing."""
    chosen = (set(values) | {value}) if on else (set(values) - {value})
    return [m.value for m in enum if m.value in chosen]


def mask(values: frozenset[str] | set[str], enum: type[StrEnum]) -> int:
    """Bit mask of a multi-select answer, in the enum's declaration order.

    Events store support kinds and barriers as masks so statistics can count
    them with plain SQL, without a row per answer.
    """
    return sum(1 << i for i, member in enumerate(enum) if member.value in values)


class CaseStatus(StrEnum):
    """Where a case stands. Open: queued, offered, active; ended: closed, cancelled."""

    QUEUED = "queued"
    """Waiting for a counsellor (nobody is being asked right now)."""
    OFFERED = "offered"
    """One counsellor is being asked, with a deadline."""
    ACTIVE = "active"
    """A counsellor accepted: messages are relayed."""
    CLOSED = "closed"
    """Ended by either side after it was active (or by the system)."""
    CANCELLED = "cancelled"
    """Withdrawn by the doctor before anyone accepted."""


OPEN_CASE = (CaseStatus.QUEUED, CaseStatus.OFFERED, CaseStatus.ACTIVE)
WAITING_CASE = (CaseStatus.QUEUED, CaseStatus.OFFERED)


class OfferStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    """Nobody answered before the deadline."""
    WITHDRAWN = "withdrawn"
    """The doctor cancelled or erased the case while it was offered."""


class Actor(StrEnum):
    """Who ended a case (counted with ``case_closed`` events)."""

    DOCTOR = "doctor"
    COUNSELLOR = "counsellor"
    SYSTEM = "system"


class Abandoned(StrEnum):
    """How a triage ended without a case (``step_abandoned`` events)."""

    CANCEL = "cancel"
    EXPIRED = "expired"


class SafetyVia(StrEnum):
    """How the emergency numbers came to be shown (``safety_shown`` events)."""

    ANSWER = "answer"
    """The doctor said yes to the safety question."""
    WORDS = "words"
    """Crisis words in something they typed."""
    BUTTON = "button"
    """The crisis button shown under every question."""


class StaffRole(StrEnum):
    """What a one-time invite makes someone (``/join CODE``)."""

    COUNSELLOR = "counsellor"
    COORDINATOR = "coordinator"


# --- what the flows see of stored things: plain frozen views, never an identity -------------
@dataclass(frozen=True)
class CaseView:
    """A case as the flows see it: codes and times, never an identity."""

    code: str
    status: CaseStatus
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
    silent_prompted: bool = False
    escalated: bool = False
    offered_before: bool = False
    """Offered to a counsellor at least once (the doctor was told then, and is not told again)."""
    pseudonym: str | None = None
    """The doctor's pseudonym while the case can be linked to them (never shown to anyone)."""

    @property
    def is_active(self) -> bool:
        """Accepted by a counsellor, whose id is known: messages are relayed."""
        return self.status is CaseStatus.ACTIVE and self.counsellor_id is not None


@dataclass(frozen=True)
class CounsellorView:
    """A counsellor on the roster, with how many cases they hold or are offered now."""

    id: int
    alias: str
    telegram_id: int
    pseudonym: str
    home_county: str
    serves: tuple[str, ...]
    languages: tuple[str, ...]
    pathways: tuple[str, ...]
    capacity: int
    available: bool
    away_until: datetime | None
    active: bool
    last_offer_turn: int | None
    open_cases: int = 0
    focus_case: str | None = None
    enrolling: str | None = None
    reader_language: str | None = None
    """Chosen with /language; until then the first language they hold conversations in."""

    @property
    def language(self) -> str:
        """The language the bot writes to this counsellor in."""
        if self.reader_language:
            return self.reader_language
        return Language.NB if Language.NB in self.languages or not self.languages else self.languages[0]


@dataclass(frozen=True)
class OfferView:
    id: int
    case_code: str
    counsellor_id: int
    status: OfferStatus
    deadline: datetime
    message_id: int | None = None


@dataclass(frozen=True)
class Due:
    """A timer that fell due: what kind, and about whom (a pseudonym, a case code, an id)."""

    kind: str
    subject: str
    due_at: datetime
