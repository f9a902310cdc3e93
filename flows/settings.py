"""Settings the flows need, as plain frozen data (built from config in main())."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class County:
    code: str
    name: str


@dataclass(frozen=True)
class EmergencyNumber:
    number: str
    labels: Mapping[str, str]

    def label(self, language: str) -> str:
        return self.labels.get(language) or next(iter(self.labels.values()), "")


def county_code(name: str) -> str:
    """A stable ASCII code for a county name ("Møre og Romsdal" -> "more_og_romsdal")."""
    folded = name.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    folded = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", folded).strip("_")


NORWEGIAN_COUNTIES = (
    "Agder", "Akershus", "Buskerud", "Finnmark", "Innlandet", "Møre og Romsdal",
    "Nordland", "Oslo", "Rogaland", "Telemark", "Troms", "Trøndelag", "Vestfold",
    "Vestland", "Østfold",
)  # fmt: skip

DEFAULT_EMERGENCY = (
    EmergencyNumber("113", {"nb": "Akutt fare, også ved selvmordsfare", "en": "Emergency, including acute suicide risk"}),
    EmergencyNumber("116 117", {"nb": "Legevakt", "en": "Out-of-hours doctor (legevakt)"}),
    EmergencyNumber("116 123", {"nb": "Mental Helse, døgnåpen hjelpetelefon", "en": "Mental Helse helpline, 24 h"}),
    EmergencyNumber("22 40 00 40", {"nb": "Kirkens SOS, døgnåpen", "en": "Kirkens SOS, 24 h"}),
)

DEFAULT_CRISIS_WORDS: Mapping[str, tuple[str, ...]] = {
    "nb": ("selvmord", "ta livet mitt", "ta mitt eget liv", "skade meg selv", "vil dø", "orker ikke leve"),
    "en": ("suicide", "kill myself", "end my life", "harm myself", "want to die", "self-harm"),
}


@dataclass(frozen=True)
class FlowSettings:
    counties: tuple[County, ...] = tuple(County(county_code(n), n) for n in NORWEGIAN_COUNTIES)
    emergency: tuple[EmergencyNumber, ...] = DEFAULT_EMERGENCY
    crisis_words: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CRISIS_WORDS))
    default_language: str = "nb"
    draft_reminder_after: timedelta = timedelta(hours=24)
    """Silence before the one reminder a doctor gets mid-triage."""
    draft_expire_after: timedelta = timedelta(hours=48)
    """Further silence after the reminder before the draft is deleted."""
    expected_reply_hours: int = 24
    """What the doctor is told about how soon a counsellor answers."""

    def county_names(self) -> list[str]:
        return [c.name for c in self.counties]

    def county_name(self, code: str | None) -> str | None:
        for county in self.counties:
            if county.code == code:
                return county.name
        return None
