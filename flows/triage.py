"""The doctor's triage conversation (docs/design.md section 5) as a state machine.

One :class:`TriageFlow` (one ``transitions.Machine``) serves every doctor;
each conversation is a :class:`Draft` model that is attached while an answer
is handled and detached afterwards, so the process holds no conversation
between updates. The steps and their transitions are the table
``TRANSITIONS`` below; ``kollega flow`` draws it.

A draft holds only codes (pathway, kinds of support, county code, ...):
never anything the doctor typed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from transitions import EventData, Machine

from flows.cards import card
from flows.decision import decide
from flows.domain import (
    NO_COUNTY,
    Barrier,
    ContactMode,
    Coping,
    Hope,
    Language,
    Pathway,
    Role,
    Seeker,
    Support,
    WorkStatus,
    ticked,
)
from flows.replies import Button, Reply, Text
from flows.settings import FlowSettings


class Step(StrEnum):
    CONSENT = "consent"
    WHO = "who"
    SITUATION = "situation"
    UNSURE_WORK = "unsure_work"
    UNSURE_COPING = "unsure_coping"
    UNSURE_HOPE = "unsure_hope"
    SAFETY = "safety"
    CRISIS = "crisis"
    SUPPORT = "support"
    BARRIERS = "barriers"
    ROLE = "role"
    COUNTY = "county"
    OUTSIDE_COUNTY = "outside_county"
    CONTACT = "contact"
    LANGUAGE = "language"
    SUMMARY = "summary"
    CHANGE = "change"
    WAITING = "waiting"


S = Step

# Order matters: for one trigger and source the first row whose conditions
# hold is taken, so every "editing" row (back to the summary after a change)
# stands before the row that walks on to the next step.
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "agree", "source": S.CONSENT, "dest": S.WHO},
    {"trigger": "choose_seeker", "source": S.WHO, "dest": S.SITUATION, "before": "set_seeker"},
    # Situation: one of three pathways, or "not sure" and up to three questions.
    {"trigger": "choose_pathway", "source": S.SITUATION, "dest": S.SUMMARY, "conditions": "editing", "before": "set_pathway"},
    {"trigger": "choose_pathway", "source": S.SITUATION, "dest": S.SAFETY, "before": "set_pathway"},
    {"trigger": "not_sure", "source": S.SITUATION, "dest": S.UNSURE_WORK, "before": "clear_unsure"},
    {"trigger": "answer_work", "source": S.UNSURE_WORK, "dest": S.SUMMARY, "prepare": "set_work", "conditions": ["pathway_decided", "editing"]},
    {"trigger": "answer_work", "source": S.UNSURE_WORK, "dest": S.SAFETY, "prepare": "set_work", "conditions": "pathway_decided"},
    {"trigger": "answer_work", "source": S.UNSURE_WORK, "dest": S.UNSURE_COPING, "prepare": "set_work"},
    {"trigger": "answer_coping", "source": S.UNSURE_COPING, "dest": S.SUMMARY, "prepare": "set_coping", "conditions": ["pathway_decided", "editing"]},
    {"trigger": "answer_coping", "source": S.UNSURE_COPING, "dest": S.SAFETY, "prepare": "set_coping", "conditions": "pathway_decided"},
    {"trigger": "answer_coping", "source": S.UNSURE_COPING, "dest": S.UNSURE_HOPE, "prepare": "set_coping"},
    {"trigger": "answer_hope", "source": S.UNSURE_HOPE, "dest": S.SUMMARY, "prepare": "set_hope", "conditions": ["pathway_decided", "editing"]},
    {"trigger": "answer_hope", "source": S.UNSURE_HOPE, "dest": S.SAFETY, "prepare": "set_hope", "conditions": "pathway_decided"},
    # Safety is asked on every path; "yes" shows the numbers and marks the case urgent.
    {"trigger": "safety_yes", "source": S.SAFETY, "dest": S.CRISIS, "before": "mark_urgent"},
    {"trigger": "safety_no", "source": S.SAFETY, "dest": S.SUPPORT},
    {"trigger": "go_on", "source": S.CRISIS, "dest": S.SUPPORT},
    # Multi-select steps tick and untick in place (internal transitions) until "done". A button
    # carries the state it sets (":on"/":off"), not "flip": a double tap on a slow bot sends the
    # same data twice, and the second tap must not undo the first.
    {"trigger": "toggle_support", "source": S.SUPPORT, "dest": None, "before": "set_support_kind"},
    {"trigger": "support_done", "source": S.SUPPORT, "dest": S.SUMMARY, "conditions": ["has_support", "editing"]},
    {"trigger": "support_done", "source": S.SUPPORT, "dest": S.BARRIERS, "conditions": "has_support"},
    {"trigger": "toggle_barrier", "source": S.BARRIERS, "dest": None, "before": "set_barrier_kind"},
    {"trigger": "barriers_done", "source": S.BARRIERS, "dest": S.SUMMARY, "conditions": "editing"},
    {"trigger": "barriers_done", "source": S.BARRIERS, "dest": S.ROLE},
    # Preferences.
    {"trigger": "choose_role", "source": S.ROLE, "dest": S.SUMMARY, "conditions": "editing", "before": "set_role"},
    {"trigger": "choose_role", "source": S.ROLE, "dest": S.COUNTY, "before": "set_role"},
    {"trigger": "choose_county", "source": S.COUNTY, "dest": S.OUTSIDE_COUNTY, "prepare": "set_county", "conditions": "county_known"},
    {"trigger": "choose_county", "source": S.COUNTY, "dest": S.SUMMARY, "prepare": "set_county", "conditions": "editing"},
    {"trigger": "choose_county", "source": S.COUNTY, "dest": S.CONTACT, "prepare": "set_county"},
    {"trigger": "choose_outside", "source": S.OUTSIDE_COUNTY, "dest": S.SUMMARY, "conditions": "editing", "before": "set_outside"},
    {"trigger": "choose_outside", "source": S.OUTSIDE_COUNTY, "dest": S.CONTACT, "before": "set_outside"},
    {"trigger": "choose_contact", "source": S.CONTACT, "dest": S.SUMMARY, "conditions": "editing", "before": "set_contact"},
    {"trigger": "choose_contact", "source": S.CONTACT, "dest": S.LANGUAGE, "before": "set_contact"},
    {"trigger": "choose_case_language", "source": S.LANGUAGE, "dest": S.SUMMARY, "before": "set_case_language"},
    # Summary: confirm, or change one part and come back here.
    {"trigger": "confirm", "source": S.SUMMARY, "dest": S.WAITING},
    {"trigger": "change", "source": S.SUMMARY, "dest": S.CHANGE},
    {"trigger": "edit_situation", "source": S.CHANGE, "dest": S.SITUATION, "before": "start_editing"},
    {"trigger": "edit_support", "source": S.CHANGE, "dest": S.SUPPORT, "before": "start_editing"},
    {"trigger": "edit_barriers", "source": S.CHANGE, "dest": S.BARRIERS, "before": "start_editing"},
    {"trigger": "edit_role", "source": S.CHANGE, "dest": S.ROLE, "before": "start_editing"},
    {"trigger": "edit_county", "source": S.CHANGE, "dest": S.COUNTY, "before": "start_editing"},
    {"trigger": "edit_contact", "source": S.CHANGE, "dest": S.CONTACT, "before": "start_editing"},
    {"trigger": "edit_language", "source": S.CHANGE, "dest": S.LANGUAGE, "before": "start_editing"},
    {"trigger": "back_to_summary", "source": S.CHANGE, "dest": S.SUMMARY},
]  # fmt: skip


@dataclass
class Draft:
    """One doctor's triage answers so far: codes only, never typed text."""

    state: str = Step.CONSENT
    language: str = "nb"
    """The language the doctor reads the bot in."""
    seeker: str | None = None
    pathway: str | None = None
    work: str | None = None
    coping: str | None = None
    hope: str | None = None
    urgent: bool = False
    urgent_by_button: bool = False
    """Urgent only because of a 🆘 press, which one more press takes back (an accident)."""
    support: list[str] = field(default_factory=list)
    barriers: list[str] = field(default_factory=list)
    role: str | None = None
    county: str | None = None
    outside_county: bool = False
    contact: str | None = None
    case_language: str | None = None
    """The language the doctor wants to talk with a counsellor in."""
    editing: bool = False
    reminded: bool = False

    # --- bound by the machine (transitions' model_override: only what is declared is bound) ---
    def trigger(self, name: str, **kwargs: Any) -> bool:
        """Fire the trigger ``name``; True if a transition happened.

        Declared so that mypy knows it; the triage machine binds the real one when the draft is
        added to it (transitions' ``model_override``), so answer through ``TriageFlow.press``.
        """
        raise RuntimeError("a draft answers through TriageFlow.press")

    # --- persistence -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Draft:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    # --- callbacks named in TRANSITIONS ------------------------------------
    def set_seeker(self, event: EventData) -> None:
        self.seeker = Seeker(event.kwargs["value"]).value

    def set_pathway(self, event: EventData) -> None:
        self.pathway = Pathway(event.kwargs["value"]).value
        self.work = self.coping = self.hope = None

    def clear_unsure(self, event: EventData) -> None:
        self.work = self.coping = self.hope = None

    def set_work(self, event: EventData) -> None:
        self.work = WorkStatus(event.kwargs["value"]).value
        self._decide()

    def set_coping(self, event: EventData) -> None:
        self.coping = Coping(event.kwargs["value"]).value
        self._decide()

    def set_hope(self, event: EventData) -> None:
        self.hope = Hope(event.kwargs["value"]).value
        self._decide()

    def _decide(self) -> None:
        pathway = decide(
            WorkStatus(self.work) if self.work else None,
            Coping(self.coping) if self.coping else None,
            Hope(self.hope) if self.hope else None,
        )
        self.pathway = pathway.value if pathway else None

    def pathway_decided(self, event: EventData) -> bool:
        return self.pathway is not None

    def mark_urgent(self, event: EventData) -> None:
        self.urgent = True
        self.urgent_by_button = False

    def set_support_kind(self, event: EventData) -> None:
        self.support = ticked(self.support, Support(event.kwargs["value"]).value, event.kwargs["on"], Support)

    def has_support(self, event: EventData) -> bool:
        return bool(self.support)

    def set_barrier_kind(self, event: EventData) -> None:
        self.barriers = ticked(self.barriers, Barrier(event.kwargs["value"]).value, event.kwargs["on"], Barrier)

    def set_role(self, event: EventData) -> None:
        self.role = Role(event.kwargs["value"]).value

    def set_county(self, event: EventData) -> None:
        self.county = event.kwargs["value"]
        if self.county == NO_COUNTY:
            self.outside_county = False

    def county_known(self, event: EventData) -> bool:
        return self.county not in (None, NO_COUNTY)

    def set_outside(self, event: EventData) -> None:
        self.outside_county = event.kwargs["value"] == "yes"

    def set_contact(self, event: EventData) -> None:
        self.contact = ContactMode(event.kwargs["value"]).value

    def set_case_language(self, event: EventData) -> None:
        self.case_language = Language(event.kwargs["value"]).value

    def start_editing(self, event: EventData) -> None:
        self.editing = True

    def stop_editing(self, event: EventData) -> None:
        self.editing = False


@dataclass(frozen=True)
class Option:
    """One answer to a question: its button label and the trigger it fires."""

    label: Text
    trigger: str
    value: str = ""
    on: bool | None = None
    """A multi-select button: the state pressing it sets (True: ticked). None: not such a button."""

    @property
    def action(self) -> str:
        action = f"{self.trigger}:{self.value}" if self.value else self.trigger
        return action if self.on is None else f"{action}:{'on' if self.on else 'off'}"

    @property
    def opposite(self) -> Option | None:
        """A multi-select button's opposite (":off" for ":on"), or None."""
        return None if self.on is None else replace(self, on=not self.on)


class TriageFlow:
    """The triage machine, shared by all drafts, and the questions it asks."""

    def __init__(self, settings: FlowSettings) -> None:
        self.settings = settings
        quiet_skipped_bindings()
        self.machine = Machine(
            model=None,
            states=[*(s for s in Step if s is not Step.SUMMARY), {"name": Step.SUMMARY, "on_enter": "stop_editing"}],
            transitions=TRANSITIONS,
            initial=Step.CONSENT,
            auto_transitions=False,
            send_event=True,
            model_override=True,
        )

    def new_draft(self, language: str) -> Draft:
        return Draft(state=Step.CONSENT, language=language, case_language=language)

    def press(self, draft: Draft, action: str) -> bool:
        """Apply one answer to the draft; False when it is not an answer to this step.

        A multi-select step takes both ":on" and ":off" of every kind, whichever is shown: a
        second tap of the same button (sent before the first was answered) sets what the first
        set, changes nothing, and is still an answer, so the same question is shown again.
        """
        option = next((o for o in self._accepted(draft) if o.action == action), None)
        if option is None:
            return False
        self.machine.add_model(draft, initial=Step(draft.state))
        try:
            kwargs: dict[str, Any] = {"value": option.value} if option.value else {}
            if option.on is not None:
                kwargs["on"] = option.on
            return draft.trigger(option.trigger, **kwargs)
        finally:
            self.machine.remove_model(draft)

    # --- the questions ----------------------------------------------------
    def options(self, draft: Draft) -> list[Option]:
        """The answers the current step accepts, in the order they are shown."""
        step = Step(draft.state)
        builder = _OPTIONS.get(step)
        return builder(self, draft) if builder else []

    def _accepted(self, draft: Draft) -> list[Option]:
        """The shown options, and the opposite of every multi-select one."""
        options = self.options(draft)
        return [*options, *(o.opposite for o in options if o.opposite is not None)]

    def question(self, draft: Draft) -> Reply:
        """The current step's question, with its buttons."""
        step = Step(draft.state)
        options = self.options(draft)
        per_row = 2 if step in _TWO_PER_ROW else 1
        rows: list[tuple[Button, ...]] = []
        for i in range(0, len(options), per_row):
            rows.append(tuple(self._button(draft, o) for o in options[i : i + per_row]))
        if step not in (Step.CRISIS, Step.WAITING):
            # A crisis button on every question: help must never be a command away.
            rows.append((Button(Text("crisis.button"), "crisis"),))
        return Reply(self._question_text(draft), tuple(rows), step=step.value)

    def _button(self, draft: Draft, option: Option) -> Button:
        checked: bool | None = None
        if option.trigger == "toggle_support":
            checked = option.value in draft.support
        elif option.trigger == "toggle_barrier":
            checked = option.value in draft.barriers
        return Button(option.label, option.action, checked=checked)

    def _question_text(self, draft: Draft) -> Text:
        step = Step(draft.state)
        if step is Step.SUMMARY:
            return Text("summary.text", {"card": self.card(draft)})
        if step in ABOUT_THEM and draft.seeker == Seeker.COLLEAGUE:
            return Text(f"{step.value}.question_colleague")
        return Text(f"{step.value}.question")

    def card(self, draft: Draft) -> Text:
        """Exactly what a counsellor will see about this case."""
        return card(self.settings, draft, draft.case_language)


class _SkippedBinding(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().endswith("to model due to model override policy.")


def quiet_skipped_bindings() -> None:
    """Under ``model_override`` transitions warns of every convenience method it leaves unbound
    (dozens each time a draft is added to the machine), by design: only the declared
    ``trigger`` is wanted, so those warnings (and only those) are dropped."""
    logger = logging.getLogger("transitions.core")
    if not any(isinstance(f, _SkippedBinding) for f in logger.filters):
        logger.addFilter(_SkippedBinding())


ABOUT_THEM = {
    Step.SITUATION, Step.UNSURE_WORK, Step.UNSURE_COPING, Step.UNSURE_HOPE, Step.SAFETY, Step.CRISIS,
    Step.SUPPORT, Step.BARRIERS, Step.ROLE, Step.COUNTY, Step.OUTSIDE_COUNTY, Step.CONTACT,
}  # fmt: skip
"""Steps asked about the colleague, in the third person, when a worried colleague writes."""
THIRD_PERSON_LABELS = ("unsure_work", "unsure_coping", "unsure_hope", "barrier")
"""Answers said in the first person ("Jeg er sykmeldt"), with a third-person twin for a colleague."""


def _prefix(prefix: str, draft: Draft) -> str:
    if draft.seeker == Seeker.COLLEAGUE and prefix in THIRD_PERSON_LABELS:
        return f"{prefix}_colleague"
    return prefix


def _choices(trigger: str, prefix: str, values: Iterable[str], draft: Draft | None = None) -> list[Option]:
    prefix = _prefix(prefix, draft) if draft is not None else prefix
    return [Option(Text(f"{prefix}.{v}"), trigger, v) for v in values]


def _ticks(trigger: str, prefix: str, values: Iterable[str], chosen: list[str], draft: Draft) -> list[Option]:
    """Multi-select buttons: each one ticks its kind, or unticks it when it is ticked already."""
    prefix = _prefix(prefix, draft)
    return [Option(Text(f"{prefix}.{v}"), trigger, v, on=v not in chosen) for v in values]


def _values(enum: Iterable[StrEnum]) -> list[str]:
    return [m.value for m in enum]


def _county_options(flow: TriageFlow, draft: Draft) -> list[Option]:
    options = [Option(Text("county.name", {"name": c.name}), "choose_county", c.code) for c in flow.settings.counties]
    return [*options, Option(Text("county.not_said"), "choose_county", NO_COUNTY)]


OptionsOf = Callable[["TriageFlow", Draft], list[Option]]

_OPTIONS: dict[Step, OptionsOf] = {
    Step.CONSENT: lambda f, d: [Option(Text("consent.continue"), "agree")],
    Step.WHO: lambda f, d: _choices("choose_seeker", "who", _values(Seeker)),
    Step.SITUATION: lambda f, d: [
        *_choices("choose_pathway", "situation", _values(Pathway)),
        Option(Text("situation.not_sure"), "not_sure"),
    ],
    Step.UNSURE_WORK: lambda f, d: _choices("answer_work", "unsure_work", _values(WorkStatus), d),
    Step.UNSURE_COPING: lambda f, d: _choices("answer_coping", "unsure_coping", _values(Coping), d),
    Step.UNSURE_HOPE: lambda f, d: _choices("answer_hope", "unsure_hope", _values(Hope), d),
    Step.SAFETY: lambda f, d: [Option(Text("safety.yes"), "safety_yes"), Option(Text("safety.no"), "safety_no")],
    Step.CRISIS: lambda f, d: [Option(Text("crisis.go_on"), "go_on")],
    Step.SUPPORT: lambda f, d: [
        *_ticks("toggle_support", "support", _values(Support), d.support, d),
        Option(Text("common.done"), "support_done"),
    ],
    Step.BARRIERS: lambda f, d: [
        *_ticks("toggle_barrier", "barrier", _values(Barrier), d.barriers, d),
        Option(Text("barriers.done") if d.barriers else Text("barriers.skip"), "barriers_done"),
    ],
    Step.ROLE: lambda f, d: _choices("choose_role", "role", _values(Role)),
    Step.COUNTY: _county_options,
    Step.OUTSIDE_COUNTY: lambda f, d: _choices("choose_outside", "outside_county", ["yes", "no"]),
    Step.CONTACT: lambda f, d: _choices("choose_contact", "contact", _values(ContactMode)),
    Step.LANGUAGE: lambda f, d: _choices("choose_case_language", "language", _values(Language)),
    Step.SUMMARY: lambda f, d: [Option(Text("summary.confirm"), "confirm"), Option(Text("summary.change"), "change")],
    Step.CHANGE: lambda f, d: [
        Option(Text("change.situation"), "edit_situation"),
        Option(Text("change.support"), "edit_support"),
        Option(Text("change.barriers"), "edit_barriers"),
        Option(Text("change.role"), "edit_role"),
        Option(Text("change.county"), "edit_county"),
        Option(Text("change.contact"), "edit_contact"),
        Option(Text("change.language"), "edit_language"),
        Option(Text("change.back"), "back_to_summary"),
    ],
}

_TWO_PER_ROW = {Step.COUNTY, Step.ROLE, Step.CHANGE}
