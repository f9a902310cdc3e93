"""The triage machine on its own: every transition and every decision-table row."""

from __future__ import annotations

import itertools

import pytest

from flows.decision import DECISION_TABLE, decide
from flows.domain import Coping, Hope, Pathway, WorkStatus
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
    value = ""
    if trigger in _DECIDING:
        value = _DECIDING[trigger] if "pathway_decided" in conditions else _UNDECIDED[trigger]
    elif trigger == "choose_county":
        value = "oslo" if "county_known" in conditions else "none"
    else:
        value = next(o.value for o in FLOW.options(draft) if o.trigger == trigger)
    return draft, f"{trigger}:{value}" if value else trigger


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
    assert FLOW.press(draft, "toggle_support:mentorship")
    assert FLOW.press(draft, "toggle_support:emotional")
    assert draft.support == ["emotional", "mentorship"]  # kept in the catalogue's order
    assert FLOW.press(draft, "toggle_support:mentorship")
    assert draft.support == ["emotional"]


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
        "a concern about a colleague", "Looking for a way back or out", "Urgent: Yes",
        "Help sharing or easing the workload", "The culture where I work", "Hospital doctor", "Trøndelag",
        "Prefers another county: Yes", "Phone call", "Language: English",
    ):  # fmt: skip
        assert expected in card


def test_the_diagram_is_drawn_from_the_table() -> None:
    from flows.diagram import mermaid

    drawing = mermaid()
    assert "stateDiagram" in drawing
    for row in TRANSITIONS:
        assert f"{row['source'].name} --> {(row['dest'] or row['source']).name}: {row['trigger']}" in drawing


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    import string

    from flows.catalogue import catalogue

    nb, en = catalogue("nb"), catalogue("en")
    assert set(nb) == set(en)
    for key in nb:
        fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}  # noqa: E731
        assert fields(nb[key]) == fields(en[key]), key
