"""The doctor's side of the service: triage from /start to an open case.

:class:`Intake` turns what a doctor did (a command, a button, some text) into
replies, using the triage machine and one store transaction per action. It
holds no state between calls: drafts live in the store, so a restart
resumes every conversation at its step.

Free text is read (to match a typed answer or notice crisis words) and then
dropped; nothing a doctor typed is passed to the store.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flows.casework import Casework, parse_id
from flows.catalogue import LANGUAGES, render
from flows.clock import Clock
from flows.domain import Abandoned, Actor, Barrier, CaseView, SafetyVia, Support, mask
from flows.events import Event, EventKind
from flows.inbound import Result
from flows.ports import Store, Tx
from flows.replies import Button, Outbound, Reply, Text
from flows.settings import FlowSettings
from flows.triage import Draft, Step, TriageFlow

log = logging.getLogger(__name__)
"""Case codes only: a draft has no code, so triage steps are not logged at all."""

DRAFT_REMINDER = "draft_reminder"
DRAFT_EXPIRY = "draft_expiry"


@dataclass(frozen=True)
class Person:
    """Whoever wrote: a pseudonym, and (in memory only) the chat to answer in."""

    pseudonym: str
    reach: int


GLOBAL_ACTIONS = (
    "crisis", "privacy", "cancel", "help", "forget_yes", "forget_no", "lang_nb", "lang_en", "end_case", "keep_case",
)  # fmt: skip


class Intake:
    def __init__(self, flow: TriageFlow, store: Store, clock: Clock, casework: Casework) -> None:
        self.flow = flow
        self.settings: FlowSettings = flow.settings
        self.store = store
        self.clock = clock
        self.casework = casework
        self._crisis = _crisis_pattern(self.settings)

    def is_crisis(self, text: str) -> bool:
        return bool(self._crisis.search(text))

    # --- talking with a counsellor ------------------------------------------------------
    async def crisis_in_case(self, person: Person) -> Result:
        """Crisis words written to a counsellor: they are passed on, and the numbers shown too."""
        return await self._global(person, "crisis", via=SafetyVia.WORDS)

    # --- what a doctor can do --------------------------------------------
    async def start(self, person: Person) -> Result:
        """/start: begin, or pick up where the doctor left off."""
        async with self.store.transaction() as tx:
            case = await tx.cases.of_doctor(person.pseudonym)
            if case is not None:
                return Result(case.reader_language, [self._status(case)])
            draft = await tx.drafts.get(person.pseudonym)
            if draft is not None and draft.state != Step.CONSENT:
                result = Result(draft.language, [Reply(Text("start.welcome_back"))])
                return await self._ask(tx, person, draft, result)
            draft = draft or await self._new_draft(tx, person)
            return await self._ask(tx, person, draft, Result(draft.language))

    async def press(self, person: Person, step: str, action: str) -> Result:
        """A button: answers the current step, or a global action (crisis, cancel, ...)."""
        if action in GLOBAL_ACTIONS:
            return await self._global(person, action)
        if step == "closed":
            async with self.store.transaction() as tx:
                reply, language = await self.casework.after_close_press(tx, person.pseudonym, person.reach, action)
                return Result(language or self._language(person), [reply], replace=True)
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is None:
                case = await tx.cases.of_doctor(person.pseudonym)
                if case is not None:
                    return Result(case.reader_language, [Reply(Text("stale.case_open")), self._status(case)])
                return Result(self._language(person), [Reply(Text("stale.no_conversation"))])
            if step != draft.state:
                result = Result(draft.language, [Reply(Text("stale.earlier_question"))])
                return await self._ask(tx, person, draft, result)
            return await self._answer(tx, person, draft, action)

    async def text(self, person: Person, text: str) -> Result:
        """Typed text: crisis words, or a typed answer to the current question."""
        if self._crisis.search(text):
            return await self._global(person, "crisis", via=SafetyVia.WORDS)
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is None:
                case = await tx.cases.of_doctor(person.pseudonym)
                if case is not None:
                    return Result(case.reader_language, [self._status(case)])
                draft = await self._new_draft(tx, person)
                return await self._ask(tx, person, draft, Result(draft.language))
            option = self._typed_option(draft, text)
            if option is not None:
                return await self._answer(tx, person, draft, option)
            result = Result(draft.language, [Reply(Text("hint.use_buttons"))])
            return await self._ask(tx, person, draft, result)

    async def unsupported(self, person: Person, hint: str = "hint.media") -> Result:
        """A sticker, photo, voice note or other media mid-triage (or an edited message: ``hint.edited``)."""
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is None:
                case = await tx.cases.of_doctor(person.pseudonym)
                if case is not None:
                    return Result(case.reader_language, [self._status(case)])
                return Result(self._language(person), [Reply(Text("hint.media_no_conversation"))])
            result = Result(draft.language, [Reply(Text(hint))])
            return await self._ask(tx, person, draft, result)

    async def command(self, person: Person, name: str) -> Result:
        """/help, /privacy, /cancel, /forget, /status, /language (and unknown ones)."""
        if name in ("help", "privacy", "cancel"):
            return await self._global(person, name)
        if name == "forget":
            language = await self._reader_language(person)
            buttons = ((Button(Text("forget.yes"), "forget_yes"), Button(Text("forget.no"), "forget_no")),)
            return Result(language, [Reply(Text("forget.confirm"), buttons, step="forget")])
        if name == "language":
            language = await self._reader_language(person)
            buttons = ((Button(Text("language.nb"), "lang_nb"), Button(Text("language.en"), "lang_en")),)
            return Result(language, [Reply(Text("language.choose"), buttons, step="language_ui")])
        if name == "status":
            async with self.store.transaction() as tx:
                case = await tx.cases.of_doctor(person.pseudonym)
                if case is not None:
                    return Result(case.reader_language, [self._status(case)])
                draft = await tx.drafts.get(person.pseudonym)
                if draft is not None:
                    result = Result(draft.language, [Reply(Text("status.in_triage"))])
                    return await self._ask(tx, person, draft, result)
                return Result(self._language(person), [Reply(Text("status.nothing"))])
        # An unknown command: say so kindly and show where we are.
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is not None:
                result = Result(draft.language, [Reply(Text("hint.unknown_command"))])
                return await self._ask(tx, person, draft, result)
            case = await tx.cases.of_doctor(person.pseudonym)
            language = case.reader_language if case else self._language(person)
            return Result(language, [Reply(Text("hint.unknown_command")), Reply(Text("help.text"))])

    # --- timers -----------------------------------------------------------
    async def on_due(self, tx: Tx, kind: str, subject: str) -> list[Outbound]:
        """A draft timer fell due: remind once, then let the draft expire."""
        draft = await tx.drafts.get(subject)
        reach = await tx.drafts.reach(subject)
        if draft is None or reach is None:
            return []
        now = self.clock()
        if kind == DRAFT_REMINDER:
            draft.reminded = True
            await tx.drafts.put(subject, draft, reach, now)
            await tx.timers.set(DRAFT_EXPIRY, subject, now + self.settings.draft_expire_after)
            hours = round(self.settings.draft_expire_after.total_seconds() / 3600)
            question = self._question(draft)
            # One message, not two: the reminder above the question it is about.
            reminder = Text("reminder.text", {"hours": hours})
            text = Text("reminder.with_question", {"reminder": reminder, "question": question.text})
            return [Outbound(reach, Reply(text, question.buttons, step=question.step), draft.language)]
        if kind == DRAFT_EXPIRY:
            await tx.drafts.delete(subject)
            await tx.timers.clear_all(subject)
            await tx.events.record(Event(EventKind.STEP_ABANDONED, step=str(draft.state), actor=Abandoned.EXPIRED), now)
            return [Outbound(reach, Reply(Text("reminder.expired")), draft.language)]
        return []

    # --- inside ---------------------------------------------------------------
    async def _global(self, person: Person, action: str, via: SafetyVia = SafetyVia.BUTTON) -> Result:
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            case = None if draft else await tx.cases.of_doctor(person.pseudonym)
            language = draft.language if draft else case.reader_language if case else self._language(person)
            result = Result(language)
            now = self.clock()
            if action == "crisis":
                result.replies.append(self.crisis_reply(language))
                await tx.events.record(Event(EventKind.SAFETY_SHOWN, actor=via, seeker=draft.seeker if draft else None), now)
                if draft is not None:
                    draft.urgent = True
                    await tx.drafts.put(person.pseudonym, draft, person.reach, now)
                elif case is not None:
                    if not case.urgent:
                        await tx.cases.mark_urgent(case.code)
                        result.outbound += await self.casework.urgent_opened(tx, case)
                    return result
            elif action in ("help", "privacy"):
                result.replies.append(Reply(Text(f"{action}.text")))
            elif action == "cancel":
                return await self._cancel(tx, person, draft, case, result)
            elif action == "forget_yes":
                return await self._forget(tx, person, draft, case, result)
            elif action in ("end_case", "keep_case"):
                result.replace = True
                if action == "keep_case" or case is None or not case.is_active:
                    result.replies.append(Reply(Text("case.kept")))
                    return result
                replies, result.outbound = await self.casework.close(tx, case.code, Actor.DOCTOR, person.pseudonym)
                result.replies += replies
                return result
            elif action == "forget_no":
                result.replace = True
                result.replies.append(Reply(Text("forget.kept")))
            elif action.startswith("lang_"):
                language = action.removeprefix("lang_")
                result.language = language
                result.replace = True
                result.replies.append(Reply(Text("language.changed")))
                if case is not None:
                    await tx.cases.set_reader_language(case.code, language)
                    return result
                if draft is None:
                    draft = await self._new_draft(tx, person, language)
                draft.language = language
                if draft.state == Step.CONSENT:
                    draft.case_language = language
                await tx.drafts.put(person.pseudonym, draft, person.reach, now)
            if draft is None:
                return result
            return await self._ask(tx, person, draft, result)

    async def _cancel(self, tx: Tx, person: Person, draft: Draft | None, case: CaseView | None, result: Result) -> Result:
        now = self.clock()
        if draft is not None:
            await tx.drafts.delete(person.pseudonym)
            await tx.timers.clear_all(person.pseudonym)
            await tx.events.record(Event(EventKind.STEP_ABANDONED, step=str(draft.state), actor=Abandoned.CANCEL), now)
            result.replies.append(Reply(Text("cancel.done")))
        elif case is not None and case.is_active:
            buttons = ((Button(Text("case.end_yes"), "end_case"), Button(Text("case.end_no"), "keep_case")),)
            alias = case.counsellor_alias or ""
            # Its own step name: "case" buttons belong to counsellors (flows.service.STAFF_STEPS).
            result.replies.append(Reply(Text("case.end_confirm", {"alias": alias}), buttons, step="end"))
        elif case is not None:
            result.outbound += await self.casework.withdrawn(tx, case)
            await tx.cases.withdraw(case.code, now)
            result.replies.append(Reply(Text("cancel.case_withdrawn", {"code": case.code})))
            result.outbound += await self.casework.dispatch(tx)
        else:
            result.replies.append(Reply(Text("cancel.nothing")))
        return result

    async def _forget(self, tx: Tx, person: Person, draft: Draft | None, case: CaseView | None, result: Result) -> Result:
        now = self.clock()
        if case is not None:
            result.outbound += await self.casework.withdrawn(tx, case, erased=True)
        await tx.cases.forget(person.pseudonym, person.reach)
        if case is not None:
            result.outbound += await self.casework.dispatch(tx)
        await tx.events.record(Event(EventKind.FORGET_REQUESTED, step=str(draft.state) if draft else None), now)
        result.replace = True
        result.replies.append(Reply(Text("forget.done")))
        return result

    async def _new_draft(self, tx: Tx, person: Person, language: str | None = None) -> Draft:
        draft = self.flow.new_draft(language or self._language(person))
        await tx.events.record(Event(EventKind.TRIAGE_STARTED, language=draft.language), self.clock())
        return draft

    async def _answer(self, tx: Tx, person: Person, draft: Draft, action: str) -> Result:
        before = Step(draft.state)
        if not self.flow.press(draft, action):
            known = any(o.action == action for o in self.flow.options(draft))
            hint = "support.pick_one" if known else "stale.unknown_button"
            return await self._ask(tx, person, draft, Result(draft.language, [Reply(Text(hint))]))
        now = self.clock()
        after = Step(draft.state)
        result = Result(draft.language, replace=after == before)
        if after is Step.SAFETY and before in (Step.SITUATION, Step.UNSURE_WORK, Step.UNSURE_COPING, Step.UNSURE_HOPE):
            await tx.events.record(Event(EventKind.PATHWAY_CHOSEN, pathway=draft.pathway, seeker=draft.seeker), now)
        if after is Step.CRISIS:
            await tx.events.record(Event(EventKind.SAFETY_SHOWN, actor=SafetyVia.ANSWER, seeker=draft.seeker), now)
            result.replies.append(self.crisis_reply(draft.language))
        if after is Step.WAITING:
            case = await tx.cases.open(person.pseudonym, draft, person.reach, now)
            await tx.drafts.delete(person.pseudonym)
            await tx.timers.clear_all(person.pseudonym)
            await tx.events.record(_opened_event(draft), now)
            log.info("a case was opened%s", " (urgent)" if case.urgent else "")
            log.debug("case %s opened", case.code)
            result.replies.append(self._waiting(case))
            result.outbound += await self.casework.opened(tx, case)
            return result
        return await self._ask(tx, person, draft, result)

    async def _ask(self, tx: Tx, person: Person, draft: Draft, result: Result) -> Result:
        """Save the draft, re-arm its reminder and ask the current question."""
        now = self.clock()
        if draft.reminded:
            # The reminder went out and armed the expiry; an answer calls that off.
            await tx.timers.clear(DRAFT_EXPIRY, person.pseudonym)
            draft.reminded = False
        await tx.drafts.put(person.pseudonym, draft, person.reach, now)
        await tx.timers.set(DRAFT_REMINDER, person.pseudonym, now + self.settings.draft_reminder_after)
        result.replies.append(self._question(draft))
        return result

    def _question(self, draft: Draft) -> Reply:
        return self._consent(draft) if draft.state == Step.CONSENT else self.flow.question(draft)

    def _consent(self, draft: Draft) -> Reply:
        question = self.flow.question(draft)
        other = "en" if draft.language == "nb" else "nb"
        rows = (
            (Button(Text("consent.continue"), "agree"),),
            (Button(Text("consent.privacy"), "privacy"),),
            (Button(Text(f"language.switch_to_{other}"), f"lang_{other}"),),
            (Button(Text("consent.cancel"), "cancel"),),
            *question.buttons[1:],
        )
        return Reply(question.text, rows, step=question.step)

    def crisis_reply(self, language: str) -> Reply:
        lines = "\n".join(f"☎ {n.number} – {n.label(language)}" for n in self.settings.emergency)
        return Reply(Text("crisis.text", {"numbers": lines}))

    def _waiting(self, case: CaseView) -> Reply:
        key = "waiting.urgent" if case.urgent else "waiting.text"
        return Reply(Text(key, {"code": case.code, "hours": self.settings.expected_reply_hours}))

    def _status(self, case: CaseView) -> Reply:
        if case.is_active:
            return Reply(Text("status.active", {"code": case.code, "alias": case.counsellor_alias or ""}))
        return Reply(Text("status.waiting", {"code": case.code, "hours": self.settings.expected_reply_hours}))

    def _typed_option(self, draft: Draft, text: str) -> str | None:
        """The action a typed answer stands for: a button's label or its number."""
        typed = _fold(text)
        options = self.flow.options(draft)
        number = parse_id(typed)  # ASCII digits only: "²" and "٣" are digits to str.isdigit
        if number is not None and 1 <= number <= len(options):
            return options[number - 1].action
        for option in options:
            if any(_fold(render(option.label, lang)) == typed for lang in LANGUAGES):
                return option.action
        return None

    def _language(self, person: Person) -> str:
        """Bokmål unless configured otherwise: a doctor switches with one press on the welcome."""
        return self.settings.default_language

    async def _reader_language(self, person: Person) -> str:
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is not None:
                return draft.language
            case = await tx.cases.of_doctor(person.pseudonym)
            return case.reader_language if case else self._language(person)


def _opened_event(draft: Draft) -> Event:
    return Event(
        EventKind.CASE_OPENED,
        pathway=draft.pathway,
        seeker=draft.seeker,
        county=draft.county,
        role=draft.role,
        urgent=draft.urgent,
        contact=draft.contact,
        language=draft.case_language,
        support_mask=mask(set(draft.support), Support),
        barrier_mask=mask(set(draft.barriers), Barrier),
    )


def _fold(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.casefold()).strip()


def _crisis_pattern(settings: FlowSettings) -> re.Pattern[str]:
    words = [w for lang_words in settings.crisis_words.values() for w in lang_words if w.strip()]
    if not words:
        return re.compile(r"(?!x)x")
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")", re.IGNORECASE)
