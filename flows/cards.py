"""The anonymous case card: exactly what a counsellor sees about a case.

The doctor sees the same card on the summary step, so what they confirm is
what is shared.
"""

from __future__ import annotations

from collections.abc import Sequence

from flows.replies import Text
from flows.settings import FlowSettings


def card(
    settings: FlowSettings,
    *,
    seeker: str | None,
    pathway: str | None,
    urgent: bool,
    support: Sequence[str],
    barriers: Sequence[str],
    role: str | None,
    county: str | None,
    outside_county: bool,
    contact: str | None,
    language: str | None,
) -> Text:
    name = settings.county_name(county)
    return Text(
        "card.text",
        {
            "seeker": Text(f"seeker.{seeker}"),
            "pathway": Text(f"pathway.{pathway}"),
            "urgency": Text("card.urgent" if urgent else "card.not_urgent"),
            "support": [Text(f"support.{s}") for s in support],
            "barriers": [Text(f"barrier.{b}") for b in barriers],
            "role": Text(f"role.{role}"),
            "county": name if name else Text("county.not_said"),
            "outside": Text("card.outside_yes" if outside_county else "card.outside_no"),
            "contact": Text(f"contact.{contact}"),
            "language": Text(f"language.{language}"),
        },
    )
