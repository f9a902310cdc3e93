"""Draw the triage flow from the machine's own table (transitions' mermaid engine)."""

from __future__ import annotations

from typing import Any

from transitions.extensions.diagrams import GraphMachine

from flows.triage import TRANSITIONS, Step


def mermaid() -> str:
    """The triage machine as a mermaid state diagram."""
    machine = GraphMachine(
        states=list(Step),
        transitions=[_drawable(t) for t in TRANSITIONS],
        initial=Step.CONSENT,
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title="Kollega triage",
    )
    return str(machine.get_graph().draw(None))


def _drawable(transition: dict[str, Any]) -> dict[str, Any]:
    """A transition without callbacks (the diagram has no model to call)."""
    drawn = {k: v for k, v in transition.items() if k in ("trigger", "source", "dest", "conditions")}
    drawn["dest"] = transition["dest"] or transition["source"]  # internal: a loop
    conditions = drawn.pop("conditions", None)
    if conditions:
        # Shown as the edge's guard, e.g. "choose_role [editing]".
        names = conditions if isinstance(conditions, list) else [conditions]
        drawn["trigger"] = f"{drawn['trigger']} [{' and '.join(names)}]"
    return drawn
