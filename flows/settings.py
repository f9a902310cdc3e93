"""Settings the flows need, as plain frozen data (built from config in main())."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from flows.crisis import DEFAULT_PHRASES


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


@dataclass(frozen=True)
class DoctorHelp:
    """A service made for doctors that the bot points to (``[[doctor_help]]``)."""

    name: str
    contact: str
    """A phone number or web address; may be empty."""
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
    EmergencyNumber("113", {
        "nb": "Akutt fare, også ved selvmordsfare",
        "nn": "Akutt fare, òg ved sjølvmordsfare",
        "en": "Emergency, including acute suicide risk",
    }),
    EmergencyNumber("116 117", {"nb": "Legevakt", "nn": "Legevakt", "en": "Out-of-hours doctor (legevakt)"}),
    EmergencyNumber("116 123", {
        "nb": "Mental Helse, døgnåpen hjelpetelefon",
        "nn": "Mental Helse, hjelpetelefon heile døgnet",
        "en": "Mental Helse helpline, 24 h",
    }),
    EmergencyNumber("22 40 00 40", {"nb": "Kirkens SOS, døgnåpen", "nn": "Kirkens SOS, heile døgnet", "en": "Kirkens SOS, 24 h"}),
)  # fmt: skip

DEFAULT_DOCTOR_HELP = (
    DoctorHelp("Villa Sana (Modum Bad)", "www.modum-bad.no", {
        "nb": "Kurs og rådgivningssamtaler for leger og annet helsepersonell. Du kan søke selv.",
        "nn": "Kurs og rådgjevingssamtalar for legar og anna helsepersonell. Du kan søkje sjølv.",
        "en": "Courses and counselling for doctors and other health workers. You can apply yourself.",
    }),
    DoctorHelp("Legeforeningens støttekollegaordning", "www.legeforeningen.no", {
        "nb": "Gratis, fortrolige samtaler med en erfaren lege. Det finnes støttekollegaer i alle fylker, "
        "og du kan velge en i et annet fylke.",
        "nn": "Gratis, fortrulege samtalar med ein erfaren lege. Det finst støttekollegaer i alle fylke, "
        "og du kan velje ein i eit anna fylke.",
        "en": "Free, confidential conversations with an experienced doctor. There are peer supporters in every "
        "county, and you may choose one in another county.",
    }),
)  # fmt: skip
"""Services made for doctors (Norway); operators should check them against the services' own pages."""

DEFAULT_CRISIS_WORDS: Mapping[str, tuple[str, ...]] = DEFAULT_PHRASES
"""First-person phrases of suicide, self-harm or not wanting to live (flows.crisis explains the syntax)."""


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
    data_controller: str = ""
    """Who answers for the data (the data controller), named in /privacy; empty: "the organisation that runs it"."""
    privacy_contact: str = ""
    """Where to ask about privacy (an e-mail or web address), named in /privacy."""
    doctor_help: tuple[DoctorHelp, ...] = DEFAULT_DOCTOR_HELP
    """Services made for doctors that the bot points to."""

    def county_names(self) -> list[str]:
        return [c.name for c in self.counties]

    def county_name(self, code: str | None) -> str | None:
        for county in self.counties:
            if county.code == code:
                return county.name
        return None
