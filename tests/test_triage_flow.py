"""The triage machine on its own: every transition and every decision-table row."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from flows.catalogue import render
from flows.decision import DECISION_TABLE, decide
from flows.domain import Barrier, Coping, Hope, Pathway, Support, WorkStatus
from flows.intake import Intake
from flows.replies import Button
from flows.settings import FlowSettings
from flows.triage import TRANSITIONS, Draft, Step, TriageFlow

FLOW = TriageFlow(FlowSettings())

# The answer value that makes each guarded row apply (or not) for one trigger.
_DECIDING = {"answer_work": "off_work", "answer_coping": "not_coping", "answer_hope": "guidance"}
_UNDECIDED = {"answer_work": "working", "answer_coping": "managing"}


def _setup(row: dict) -> tuple[Draft, str]:
    """A draft in the row's source state where exactly this row's conditions hold."""
    conditions = row.get("conditions") or []
    conditions = conditions if isinstance(conditions, list) else [conditions]
    draft = Draft(state=row["source"], editing="editing" in conditions, support=["emotional"], county="oslo")
    trigger = row["trigger"]
    if draft.state in (Step.UNSURE_COPING, Step.UNSURE_HOPE):
        draft.work = "working"
    if draft.state is Step.UNSURE_HOPE:
        draft.coping = "strained"
    if trigger in _DECIDING:
        return draft, f"{trigger}:{_DECIDING[trigger] if 'pathway_decided' in conditions else _UNDECIDED[trigger]}"
    if trigger == "choose_county":
        return draft, f"{trigger}:{'oslo' if 'county_known' in conditions else 'none'}"
    return draft, next(o.action for o in FLOW.options(draft) if o.trigger == trigger)


@pytest.mark.parametrize(
    "row", TRANSITIONS, ids=[f"{t['source'].value}-{t['trigger']}-{t.get('conditions', '')}" for t in TRANSITIONS]
)
def test_every_transition_reaches_its_destination(row: dict) -> None:
    draft, action = _setup(row)
    assert FLOW.press(draft, action), f"{action} refused in {draft.state}"
    assert draft.state == (row["dest"] or row["source"])


def test_doctor_who_is_not_sure_and_off_work_goes_straight_to_the_safety_question() -> None:
    draft = FLOW.new_draft("nb")
    for action in ("agree", "choose_seeker:self", "not_sure", "answer_work:off_work"):
        assert FLOW.press(draft, action)
    assert draft.state == Step.SAFETY
    assert draft.pathway == Pathway.WAY_BACK_OR_OUT


def test_support_cannot_be_finished_with_nothing_chosen() -> None:
    draft = Draft(state=Step.SUPPORT)
    assert not FLOW.press(draft, "support_done")
    assert FLOW.press(draft, "toggle_support:mentorship:on")
    assert FLOW.press(draft, "toggle_support:emotional:on")
    assert draft.support == ["emotional", "mentorship"]  # kept in the catalogue's order
    assert FLOW.press(draft, "toggle_support:mentorship:off")
    assert draft.support == ["emotional"]


# --- multi-select buttons carry the state they set -------------------------------------
LISTENS = "Noen som lytter og forstår"  # support.emotional in Bokmål


def _button(draft: Draft, label: str) -> Button:
    """The button on the current question that reads ``label`` (in Bokmål, without its box)."""
    return next(b for row in FLOW.question(draft).buttons for b in row if render(b.label, "nb") == label)


def test_a_doctor_double_taps_someone_who_listens_and_it_stays_ticked() -> None:
    draft = Draft(state=Step.SUPPORT)
    tapped = _button(draft, LISTENS)
    assert tapped.action == "toggle_support:emotional:on" and tapped.checked is False
    # A slow bot: both taps carry the data of the button as it was first shown.
    assert FLOW.press(draft, tapped.action)
    assert FLOW.press(draft, tapped.action)  # an answer to this step, not a stale button
    assert draft.support == ["emotional"] and draft.state == Step.SUPPORT
    shown = _button(draft, LISTENS)
    assert shown.checked is True and shown.action == "toggle_support:emotional:off"


def test_pressing_the_ticked_button_unticks_it() -> None:
    draft = Draft(state=Step.SUPPORT, support=["emotional", "advice"])
    assert FLOW.press(draft, _button(draft, LISTENS).action)
    assert draft.support == ["advice"]
    shown = _button(draft, LISTENS)
    assert shown.checked is False and shown.action == "toggle_support:emotional:on"


def test_a_stale_tick_after_it_was_ticked_changes_nothing() -> None:
    draft = Draft(state=Step.SUPPORT, support=["emotional"])
    assert FLOW.press(draft, "toggle_support:emotional:on")
    assert draft.support == ["emotional"]
    # And the other way round: an old ":off" for a kind already unticked.
    assert FLOW.press(draft, "toggle_support:advice:off")
    assert draft.support == ["emotional"] and draft.state == Step.SUPPORT


@pytest.mark.parametrize(
    "action",
    [
        "toggle_support:emotional",  # the old format, from a message sent before buttons carried a state
        "toggle_support:emotional:maybe",
        "toggle_support:emotional:ON",
        "toggle_support:emotional:on:on",
        "toggle_support:everything:on",
        "toggle_support::on",
        "toggle_support:on",
        "toggle_barrier:workplace:on",  # the next step's button
    ],
)
def test_a_forged_tick_is_refused(action: str) -> None:
    draft = Draft(state=Step.SUPPORT, support=["emotional"])
    assert not FLOW.press(draft, action)
    assert draft.support == ["emotional"] and draft.state == Step.SUPPORT


@pytest.mark.parametrize(
    ("step", "trigger", "kinds"),
    [(Step.SUPPORT, "toggle_support", list(Support)), (Step.BARRIERS, "toggle_barrier", list(Barrier))],
)
def test_both_states_of_every_kind_are_answers_whatever_is_ticked(step: Step, trigger: str, kinds: list) -> None:
    field = "support" if step is Step.SUPPORT else "barriers"
    for kind, ticked, on in itertools.product(kinds, (False, True), (False, True)):
        draft = Draft(state=step, **{field: [kind.value] if ticked else []})
        assert FLOW.press(draft, f"{trigger}:{kind.value}:{'on' if on else 'off'}"), (kind, ticked, on)
        assert getattr(draft, field) == ([kind.value] if on else []) and draft.state == step


def test_each_kind_is_one_button_so_typed_numbers_match_what_is_shown() -> None:
    draft = Draft(state=Step.BARRIERS, barriers=["workplace"])
    shown = [b.action for row in FLOW.question(draft).buttons for b in row if b.action != "crisis"]
    assert shown == [o.action for o in FLOW.options(draft)]
    assert shown == [
        "toggle_barrier:individual:on", "toggle_barrier:relationships:on", "toggle_barrier:workplace:off",
        "toggle_barrier:occupation:on", "barriers_done",
    ]  # fmt: skip


def test_typing_a_kind_ticks_or_unticks_it_like_its_button() -> None:
    intake = Intake(FLOW, store=None, clock=datetime.now, casework=None)  # type: ignore[arg-type]
    draft = Draft(state=Step.SUPPORT)
    assert intake._typed_option(draft, LISTENS.lower()) == "toggle_support:emotional:on"
    assert FLOW.press(draft, "toggle_support:emotional:on")
    assert intake._typed_option(draft, f"{LISTENS}!") == "toggle_support:emotional:off"
    assert intake._typed_option(draft, "1") == "toggle_support:emotional:off"  # the first button


def test_a_forged_value_is_not_an_answer() -> None:
    draft = Draft(state=Step.ROLE)
    assert not FLOW.press(draft, "choose_role:surgeon-general")
    assert not FLOW.press(draft, "confirm")
    assert draft.state == Step.ROLE and draft.role is None


def test_safety_yes_marks_the_draft_urgent_and_lets_the_doctor_continue() -> None:
    draft = Draft(state=Step.SAFETY)
    assert FLOW.press(draft, "safety_yes")
    assert draft.urgent and draft.state == Step.CRISIS
    assert FLOW.press(draft, "go_on")
    assert draft.state == Step.SUPPORT


def test_changing_one_answer_from_the_summary_returns_to_the_summary() -> None:
    draft = Draft(state=Step.SUMMARY, pathway="advice", support=["advice"], role="locum", contact="chat")
    assert FLOW.press(draft, "change")
    assert FLOW.press(draft, "edit_situation")
    assert FLOW.press(draft, "not_sure")
    assert FLOW.press(draft, "answer_work:working")
    assert FLOW.press(draft, "answer_coping:not_coping")
    assert draft.state == Step.SUMMARY and draft.pathway == Pathway.NOT_COPING
    assert not draft.editing


def test_every_step_question_has_a_crisis_button_except_the_crisis_message() -> None:
    for step in Step:
        if step in (Step.WAITING,):
            continue
        draft = Draft(state=step, seeker="self", pathway="advice", role="other", contact="chat", case_language="nb")
        actions = [b.action for row in FLOW.question(draft).buttons for b in row]
        assert ("crisis" in actions) == (step is not Step.CRISIS), step


@pytest.mark.parametrize("row", DECISION_TABLE, ids=lambda r: "-".join(str(x) for x in r))
def test_each_decision_table_row(row: tuple) -> None:
    work, coping, hope, pathway = row
    assert decide(work, coping, hope) == pathway


def test_decision_table_decides_every_combination_within_three_questions() -> None:
    for work, coping, hope in itertools.product(WorkStatus, Coping, Hope):
        after_one = decide(work, None, None)
        after_two = after_one or decide(work, coping, None)
        after_three = after_two or decide(work, coping, hope)
        assert after_three is not None, (work, coping, hope)


def test_decision_asks_only_as_much_as_needed() -> None:
    assert decide(WorkStatus.OFF_WORK, None, None) == Pathway.WAY_BACK_OR_OUT
    assert decide(WorkStatus.WORKING, None, None) is None
    assert decide(WorkStatus.WORKING, Coping.STRAINED, None) is None
    assert decide(WorkStatus.WORKING, Coping.NOT_COPING, None) == Pathway.NOT_COPING


def test_the_summary_card_shows_exactly_the_answers() -> None:
    from flows.catalogue import render

    draft = Draft(
        state=Step.SUMMARY, seeker="colleague", pathway="way_back_or_out", urgent=True, support=["workload"],
        barriers=["workplace"], role="hospital", county="trondelag", outside_county=True, contact="phone",
        case_language="en",
    )  # fmt: skip
    card = render(FLOW.card(draft), "en")
    for expected in (
        "a concern about a colleague", "Situation: A way back or out", "Urgent: Yes",
        "Help sharing or easing the workload", "The culture where they work", "Hospital doctor", "Trøndelag",
        "Prefers another county: Yes", "Phone call", "Language: English",
    ):  # fmt: skip
        assert expected in card


def test_the_diagram_is_drawn_from_the_table() -> None:
    from flows.diagram import mermaid

    drawing = mermaid()
    assert "stateDiagram" in drawing
    for row in TRANSITIONS:
        assert f"{row['source'].name} --> {(row['dest'] or row['source']).name}: {row['trigger']}" in drawing
