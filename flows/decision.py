""" "I'm not sure" decision table: up to three short questions pick a pathway.

The research (Horne et al.) found the three pathways describe the doctor's
*situation*, not how ill they are. So the questions ask about work status
first (the clearest marker of "a way back or out"), then day-to-day coping,
then what the doctor hopes to get. The first row that matches decides; a
``None`` answer means "not asked yet".

| # | work status              | coping          | hope                  | pathway          |
|---|--------------------------|-----------------|-----------------------|------------------|
| 1 | off work                 | (not asked)     | (not asked)           | way back or out  |
| 2 | leaving or returning     | (not asked)     | (not asked)           | way back or out  |
| 3 | working                  | not coping      | (not asked)           | not coping       |
| 4 | working                  | managing/strain | guidance              | advice           |
| 5 | working                  | managing/strain | someone to talk to    | not coping       |
| 6 | working                  | managing/strain | way forward with work | way back or out  |

Rows 1-3 decide early, so the doctor is asked only as much as needed.
"""

from __future__ import annotations

from flows.domain import Coping, Hope, Pathway, WorkStatus

DECISION_TABLE: tuple[tuple[WorkStatus, Coping | None, Hope | None, Pathway], ...] = (
    (WorkStatus.OFF_WORK, None, None, Pathway.WAY_BACK_OR_OUT),
    (WorkStatus.LEAVING_OR_RETURNING, None, None, Pathway.WAY_BACK_OR_OUT),
    (WorkStatus.WORKING, Coping.NOT_COPING, None, Pathway.NOT_COPING),
    (WorkStatus.WORKING, Coping.MANAGING, Hope.GUIDANCE, Pathway.ADVICE),
    (WorkStatus.WORKING, Coping.STRAINED, Hope.GUIDANCE, Pathway.ADVICE),
    (WorkStatus.WORKING, Coping.MANAGING, Hope.SOMEONE_TO_TALK_TO, Pathway.NOT_COPING),
    (WorkStatus.WORKING, Coping.STRAINED, Hope.SOMEONE_TO_TALK_TO, Pathway.NOT_COPING),
    (WorkStatus.WORKING, Coping.MANAGING, Hope.WAY_FORWARD_WITH_WORK, Pathway.WAY_BACK_OR_OUT),
    (WorkStatus.WORKING, Coping.STRAINED, Hope.WAY_FORWARD_WITH_WORK, Pathway.WAY_BACK_OR_OUT),
)


def decide(work: WorkStatus | None, coping: Coping | None, hope: Hope | None) -> Pathway | None:
    """The pathway for the answers so far, or None when another question is needed."""
    for row_work, row_coping, row_hope, pathway in DECISION_TABLE:
        if work != row_work:
            continue
        if row_coping is not None and coping != row_coping:
            continue
        if row_hope is not None and hope != row_hope:
            continue
        return pathway
    return None
