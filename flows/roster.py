"""Counsellors and coordinators talking to the bot: availability, cases, enrolment.

A counsellor joins with a one-time invite code (``/join CODE``) and then
answers three button questions (county, languages, pathways) and types the
alias doctors will see. Enrolment is a small state machine like the triage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from transitions import EventData, Machine

from flows.casework import COUNSELLOR_BACK, Casework
from flows.clock import Clock
from flows.domain import Actor, CounsellorView, Language, Pathway, StaffRole, ticked
from flows.inbound import Result
from flows.ports import Store, Tx
from flows.replies import Button, Lines, Plural, Reply, Text
from flows.settings import FlowSettings
from flows.triage import quiet_skipped_bindings

MAX_ALIAS = 40


class Enrol(StrEnum):
    COUNTY = "county"
    LANGUAGES = "languages"
    PATHWAYS = "pathways"
    ALIAS = "alias"
    DONE = "done"


ENROLMENT: list[dict[str, Any]] = [
    {"trigger": "choose_county", "source": Enrol.COUNTY, "dest": Enrol.LANGUAGES, "before": "set_county"},
    {"trigger": "toggle_language", "source": Enrol.LANGUAGES, "dest": None, "before": "toggle_language_value"},
    {"trigger": "languages_done", "source": Enrol.LANGUAGES, "dest": Enrol.PATHWAYS, "conditions": "has_language"},
    {"trigger": "toggle_pathway", "source": Enrol.PATHWAYS, "dest": None, "before": "toggle_pathway_value"},
    {"trigger": "pathways_done", "source": Enrol.PATHWAYS, "dest": Enrol.ALIAS, "conditions": "has_pathway"},
    {"trigger": "name", "source": Enrol.ALIAS, "dest": Enrol.DONE, "before": "set_alias"},
]


@dataclass
class Enrolment:
    """A counsellor's answers while enrolling (the model of the enrolment machine)."""

    state: str = Enrol.COUNTY
    county: str = ""
    languages: list[str] = field(default_factory=list)
    pathways: list[str] = field(default_factory=list)
    alias: str = ""

    def trigger(self, name: str, **kwargs: Any) -> bool:
        """Fire the trigger ``name``; True if a transition happened (declared for mypy; the
        enrolment machine binds the real one, transitions' ``model_override``)."""
        raise RuntimeError("an enrolment answers through Roster")

    def set_county(self, event: EventData) -> None:
        self.county = event.kwargs["value"]

    def toggle_language_value(self, event: EventData) -> None:
        language = Language(event.kwargs["value"]).value
        self.languages = ticked(self.languages, language, language not in self.languages, Language)

    def has_language(self, event: EventData) -> bool:
        return bool(self.languages)

    def toggle_pathway_value(self, event: EventData) -> None:
        pathway = Pathway(event.kwargs["value"]).value
        self.pathways = ticked(self.pathways, pathway, pathway not in self.pathways, Pathway)

    def has_pathway(self, event: EventData) -> bool:
        return bool(self.pathways)

    def set_alias(self, event: EventData) -> None:
        self.alias = event.kwargs["value"]


class Roster:
    def __init__(
        self, settings: FlowSettings, store: Store, casework: Casework, clock: Clock, invite_hash: Callable[[str], str]
    ) -> None:
        self.settings = settings
        self.store = store
        self.casework = casework
        self.clock = clock
        self.invite_hash = invite_hash
        quiet_skipped_bindings()
        self.machine = Machine(
            model=None,
            states=list(Enrol),
            transitions=ENROLMENT,
            initial=Enrol.COUNTY,
            auto_transitions=False,
            send_event=True,
            model_override=True,
        )

    # --- commands -------------------------------------------------------------------
    async def command(self, counsellor: CounsellorView, name: str, argument: str) -> Result:
        """/available, /away [hours], /cases, /case CODE, /close [CODE], /help for a counsellor."""
        result = Result(counsellor.language)
        async with self.store.transaction() as tx:
            now = self.clock()
            if counsellor.enrolling:
                result.replies += self._enrol_question(_enrolment(counsellor))
            elif name == "available":
                await tx.roster.set_available(counsellor.id)
                await tx.timers.clear(COUNSELLOR_BACK, str(counsellor.id))
                result.replies.append(Reply(Text("counsellor.available")))
                result.outbound += await self.casework.dispatch(tx)
            elif name == "away":
                hours = _hours(argument)
                until = now + timedelta(hours=hours) if hours else None
                await tx.roster.set_away(counsellor.id, until)
                if hours and until is not None:
                    await tx.timers.set(COUNSELLOR_BACK, str(counsellor.id), until)
                    result.replies.append(
                        Reply(Plural("counsellor.away_until", "counsellor.away_until.plural", "hours", {"hours": _whole(hours)}))
                    )
                else:
                    await tx.timers.clear(COUNSELLOR_BACK, str(counsellor.id))
                    result.replies.append(Reply(Text("counsellor.away")))
            elif name == "cases":
                result.replies.append(await self._cases(tx, counsellor))
            elif name == "case":
                result.replies.append(await self._focus(tx, counsellor, argument.strip().upper()))
            elif name == "close":
                result.replies.append(await self._close_request(tx, counsellor, argument.strip().upper()))
            else:
                result.replies.append(Reply(Text("counsellor.help")))
        return result

    async def press(self, counsellor: CounsellorView, step: str, action: str) -> Result:
        """A counsellor's button: an offer, a case choice, closing, or enrolment."""
        result = Result(counsellor.language)
        async with self.store.transaction() as tx:
            verb, _, rest = action.partition(":")
            if step == "enrol" and counsellor.enrolling:
                return await self._enrol_press(tx, counsellor, action)
            if step == "offer":
                answer = await self.casework.answer_offer(tx, counsellor.telegram_id, action)
                result.replies, result.outbound, result.replace = answer.replies, answer.outbound, answer.replaces_card
            elif step == "case" and verb == "focus":
                result.replies.append(await self._focus(tx, counsellor, rest))
            elif step == "case" and verb == "end":
                result.replies.append(await self._close_request(tx, counsellor, rest))
            elif step == "case" and verb == "end_yes" and rest in {c.code for c in await tx.cases.active_for(counsellor.id)}:
                result.replies, result.outbound = await self.casework.close(tx, rest, Actor.COUNSELLOR)
                result.replace = True
            elif step == "case" and verb == "end_no":
                result.replies.append(Reply(Text("case.kept")))
                result.replace = True
            else:
                result.replies.append(Reply(Text("stale.unknown_button")))
        return result

    async def _cases(self, tx: Tx, counsellor: CounsellorView) -> Reply:
        cases = await tx.cases.active_for(counsellor.id)
        if not cases:
            state = "counsellor.state_available" if counsellor.available else "counsellor.state_away"
            return Reply(Text("counsellor.no_cases", {"state": Text(state)}))
        lines = [
            Text("counsellor.case_line", {"code": c.code, "pathway": Text(f"pathway.{c.pathway}"),
                                          "focus": "→ " if c.code == counsellor.focus_case else ""})
            for c in cases
        ]  # fmt: skip
        buttons = tuple((Button(Text("counsellor.write_to", {"code": c.code}), f"focus:{c.code}"),) for c in cases)
        return Reply(Text("counsellor.cases", {"lines": Lines(lines)}), buttons, step="case")

    async def _focus(self, tx: Tx, counsellor: CounsellorView, code: str) -> Reply:
        if code not in {c.code for c in await tx.cases.active_for(counsellor.id)}:
            return Reply(Text("counsellor.no_such_case"))
        await tx.roster.focus(counsellor.id, code)
        return Reply(Text("counsellor.focus", {"code": code}))

    async def _close_request(self, tx: Tx, counsellor: CounsellorView, code: str) -> Reply:
        cases = {c.code for c in await tx.cases.active_for(counsellor.id)}
        if not code and len(cases) == 1:
            code = next(iter(cases))
        elif not code and counsellor.focus_case in cases:
            code = counsellor.focus_case or ""
        if code not in cases:
            return Reply(Text("counsellor.no_such_case"))
        buttons = ((Button(Text("case.end_yes"), f"end_yes:{code}"), Button(Text("case.end_no"), f"end_no:{code}")),)
        return Reply(Text("case.end_confirm_counsellor", {"code": code}), buttons, step="case")

    # --- joining ----------------------------------------------------------------------
    async def join(self, telegram_id: int, code: str, pseudonym: str, language: str) -> Result:
        """/join CODE: a one-time invite enrols a coordinator, or starts a counsellor's enrolment."""
        result = Result(language)
        async with self.store.transaction() as tx:
            role = await tx.roster.redeem_invite(self.invite_hash(code), self.clock()) if code else None
            if role is None:
                result.replies.append(Reply(Text("join.invalid")))
            elif role is StaffRole.COORDINATOR:
                await tx.roster.add_coordinator(telegram_id)
                result.replies.append(Reply(Text("join.coordinator")))
            else:
                counsellor = await tx.roster.start_enrolment(telegram_id, pseudonym)
                result.language = counsellor.language
                result.replies.append(Reply(Text("join.counsellor")))
                result.replies += self._enrol_question(_enrolment(counsellor))
        return result

    async def enrol_text(self, counsellor: CounsellorView, text: str) -> Result:
        """Typed text while enrolling: the alias, on the alias step."""
        async with self.store.transaction() as tx:
            enrolment = _enrolment(counsellor)
            alias = " ".join(text.split())[:MAX_ALIAS]
            if enrolment.state != Enrol.ALIAS or not alias:
                return Result(counsellor.language, self._enrol_question(enrolment))
            if await tx.roster.alias_taken(alias, counsellor.id):
                return Result(counsellor.language, [Reply(Text("enrol.alias_taken", {"alias": alias}))])
            return await self._enrol_step(tx, counsellor, enrolment, "name", alias)

    async def _enrol_press(self, tx: Tx, counsellor: CounsellorView, action: str) -> Result:
        trigger, _, value = action.partition(":")
        enrolment = _enrolment(counsellor)
        allowed = {o.action for row in self._enrol_question(enrolment)[0].buttons for o in row}
        if action not in allowed:
            return Result(counsellor.language, [Reply(Text("stale.unknown_button")), *self._enrol_question(enrolment)])
        return await self._enrol_step(tx, counsellor, enrolment, trigger, value)

    async def _enrol_step(self, tx: Tx, counsellor: CounsellorView, enrolment: Enrolment, trigger: str, value: str) -> Result:
        before = enrolment.state
        self.machine.add_model(enrolment, initial=Enrol(enrolment.state))
        try:
            moved = enrolment.trigger(trigger, value=value)
        finally:
            self.machine.remove_model(enrolment)
        result = Result(counsellor.language, replace=bool(moved) and enrolment.state == before)
        if not moved:
            result.replies.append(Reply(Text("enrol.pick_one")))
        await tx.roster.save_enrolment(
            counsellor.id, str(enrolment.state), enrolment.county, enrolment.languages, enrolment.pathways, enrolment.alias
        )
        if enrolment.state == Enrol.DONE:
            result.replies.append(Reply(Text("enrol.done", {"alias": enrolment.alias})))
            result.outbound += await self.casework.dispatch(tx)
        else:
            result.replies += self._enrol_question(enrolment)
        return result

    def _enrol_question(self, enrolment: Enrolment) -> list[Reply]:
        state = Enrol(enrolment.state)
        if state is Enrol.COUNTY:
            counties = [Button(Text("county.name", {"name": c.name}), f"choose_county:{c.code}") for c in self.settings.counties]
            rows = tuple(tuple(counties[i : i + 2]) for i in range(0, len(counties), 2))
            return [Reply(Text("enrol.county"), rows, step="enrol")]
        if state is Enrol.LANGUAGES:
            rows = tuple(
                (Button(Text(f"language.{lang}"), f"toggle_language:{lang}", checked=lang.value in enrolment.languages),)
                for lang in Language
            )
            return [Reply(Text("enrol.languages"), (*rows, (Button(Text("common.done"), "languages_done"),)), step="enrol")]
        if state is Enrol.PATHWAYS:
            rows = tuple(
                (Button(Text(f"pathway.{p.value}"), f"toggle_pathway:{p.value}", checked=p.value in enrolment.pathways),)
                for p in Pathway
            )
            return [Reply(Text("enrol.pathways"), (*rows, (Button(Text("common.done"), "pathways_done"),)), step="enrol")]
        if state is Enrol.ALIAS:
            return [Reply(Text("enrol.alias"))]
        return []


def _enrolment(counsellor: CounsellorView) -> Enrolment:
    return Enrolment(
        state=counsellor.enrolling or Enrol.DONE,
        county=counsellor.home_county,
        languages=list(counsellor.languages),
        pathways=list(counsellor.pathways),
    )


def _hours(argument: str) -> float | None:
    try:
        hours = float(argument.replace(",", ".")) if argument.strip() else None
    except ValueError:
        return None
    return hours if hours and 0 < hours <= 24 * 60 else None


def _whole(hours: float) -> int | float:
    """3.0 as 3 (said "3 timer"), 1.5 as it is (said "1,5 timer", in the reader's own decimal sign)."""
    return int(hours) if hours == int(hours) else round(hours, 1)
