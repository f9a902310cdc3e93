"""The anonymous case card: exactly what a counsellor sees about a case.

The doctor sees the same card on the summary step, so what they confirm is
what is shared. A draft and a case both carry the card's answers (:class:`Answers`);
only where the language to talk in is kept differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from flows.replies import Text
from flows.settings import FlowSettings


class Answers(Protocol):
    """The triage answers a card shows (a ``Draft`` while triaging, a ``CaseView`` after)."""

    @property
    def seeker(self) -> str | None: ...
    @property
    def pathway(self) -> str | None: ...
    @property
    def urgent(self) -> bool: ...
    @property
    def support(self) -> Sequence[str]: ...
    @property
    def barriers(self) -> Sequence[str]: ...
    @property
    def role(self) -> str | None: ...
    @property
    def county(self) -> str | None: ...
    @property
    def outside_county(self) -> bool: ...
    @property
    def contact(self) -> str | None: ...


def card(settings: FlowSettings, answers: Answers, language: str | None) -> Text:
    """The card for these answers; ``language`` is the one the doctor wants to talk in."""
    name = settings.county_name(answers.county)
    barrier = "barrier_colleague" if answers.seeker == "colleague" else "barrier"
    return Text(
        "card.text",
        {
            "seeker": Text(f"seeker.{answers.seeker}"),
            # The labels the doctor pressed ("Råd i en krevende situasjon"), not a paraphrase.
            "pathway": Text(f"situation.{answers.pathway}"),
            "urgency": Text("card.urgent") if answers.urgent else Text("card.not_urgent"),
            "support": [Text(f"support.{s}") for s in answers.support],
            "barriers": [Text(f"{barrier}.{b}") for b in answers.barriers],
            "role": Text(f"role.{answers.role}"),
            "county": name if name else Text("card.county_not_said"),
            "outside": Text("card.outside_yes") if answers.outside_county else Text("card.outside_no"),
            "contact": Text(f"contact.{answers.contact}"),
            "language": Text(f"language.{language}"),
        },
    )
