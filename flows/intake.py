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
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from flows.casework import Casework, parse_id
from flows.catalogue import LANGUAGES, render
from flows.clock import Clock
from flows.crisis import CrisisWords
from flows.domain import Abandoned, Actor, Barrier, CaseView, Pathway, SafetyVia, Seeker, Support, mask
from flows.events import Event, EventKind
from flows.inbound import Result
from flows.ports import Store, Tx
from flows.replies import Button, Outbound, ParamValue, Plural, Reply, Text
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
    language: str = ""
    """The language Telegram reports for them, when it is one of ours: the first message's."""


GLOBAL_ACTIONS = (
    "crisis", "crisis_undo", "crisis_back", "crisis_now_yes", "crisis_now_no", "privacy", "cancel", "help", "resume",
    "forget_yes", "forget_no", *(f"lang_{language}" for language in LANGUAGES), "end_case", "keep_case",
)  # fmt: skip
CRISIS_CHECK = "crisis_check"
"""The step of "does this concern you now?", asked after crisis words before anything is escalated."""


class Intake:
    def __init__(self, flow: TriageFlow, store: Store, clock: Clock, casework: Casework) -> None:
        self.flow = flow
        self.settings: FlowSettings = flow.settings
        self.store = store
        self.clock = clock
        self.casework = casework
        self.crisis_words = CrisisWords(self.settings.crisis_words)
        # The language a doctor chose, remembered in memory only (never on disk) for a while after
        # /cancel deletes the draft that held it, so the next /start or /forget answers in it.
        self._chosen: OrderedDict[str, tuple[str, datetime]] = OrderedDict()

    def is_crisis(self, text: str) -> bool:
        return self.crisis_words.matches(text)

    # --- talking with a counsellor ------------------------------------------------------
    async def crisis_in_case(self, person: Person) -> Result:
        """Crisis words written to a counsellor: passed on, the numbers shown, and one question.

        Nothing is escalated on words alone: a doctor may be writing about a patient. "Does
        this concern you now?" decides; yes makes the case urgent, and its counsellor and the
        coordinators are told.
        """
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
                return await self._ask(tx, person, draft, result, again=True)
            return await self._answer(tx, person, draft, action)

    async def text(self, person: Person, text: str) -> Result:
        """Typed text: crisis words, or a typed answer to the current question."""
        if self.is_crisis(text):
            return await self._global(person, "crisis", via=SafetyVia.WORDS)
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is None:
                case = await tx.cases.of_doctor(person.pseudonym)
                if case is not None:
                    return Result(case.reader_language, [Reply(Text("doctor.not_passed_on")), self._status(case)])
                # Perhaps a first "hei", perhaps a word after a case ended (an ended case is not
                # linked to anyone, so which is not known): either way, say it went nowhere.
                draft = await self._new_draft(tx, person)
                result = Result(draft.language, [Reply(Text("hint.nothing_open"))])
                return await self._ask(tx, person, draft, result)
            option = self._typed_option(draft, text)
            if option is not None:
                return await self._answer(tx, person, draft, option)
            result = Result(draft.language, [Reply(Text("hint.use_buttons"))])
            return await self._ask(tx, person, draft, result, again=True)

    async def unsupported(self, person: Person, hint: str = "hint.media") -> Result:
        """A sticker, photo, voice note or other media mid-triage (or an edited message: ``hint.edited``)."""
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is None:
                case = await tx.cases.of_doctor(person.pseudonym)
                if case is not None:
                    return Result(case.reader_language, [Reply(Text("doctor.not_passed_on")), self._status(case)])
                return Result(self._language(person), [Reply(Text("hint.media_no_conversation"))])
            result = Result(draft.language, [Reply(Text(hint))])
            return await self._ask(tx, person, draft, result, again=True)

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
            choices = (tuple(Button(_SWITCH_TO[lang], f"lang_{lang}") for lang in LANGUAGES),)
            return Result(language, [Reply(Text("language.choose"), choices, step="language_ui")])
        if name == "status":
            async with self.store.transaction() as tx:
                case = await tx.cases.of_doctor(person.pseudonym)
                if case is not None:
                    return Result(case.reader_language, [self._status(case)])
                draft = await tx.drafts.get(person.pseudonym)
                if draft is not None:
                    result = Result(draft.language, [Reply(Text("status.in_triage"))])
                    return await self._ask(tx, person, draft, result, again=True)
                return Result(self._language(person), [Reply(Text("status.nothing"))])
        # An unknown command: say so kindly and show where we are.
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is not None:
                result = Result(draft.language, [Reply(Text("hint.unknown_command"))])
                return await self._ask(tx, person, draft, result, again=True)
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
            # Not the question itself: a lock screen shows the start of a message, and "Har du
            # tanker om å skade deg selv?" must not be what it shows. One press brings it back.
            reminder = Plural("reminder.text", "reminder.text.plural", "hours", {"hours": hours})
            buttons = ((Button(Text("reminder.resume"), "resume"),),)
            return [Outbound(reach, Reply(reminder, buttons, step="reminder"), draft.language)]
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
                return await self._crisis(tx, person, draft, case, result, via)
            if action.startswith("crisis_"):
                return await self._crisis_answer(tx, person, draft, case, result, action)
            if action == "help":
                result.replies.append(Reply(Text("help.text")))
            elif action == "privacy":
                result.replies.append(self.privacy_reply())
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
            elif action.startswith("lang_") and action.removeprefix("lang_") in LANGUAGES:
                language = action.removeprefix("lang_")
                self._chosen.pop(person.pseudonym, None)  # the draft or the case holds it from now on
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
            return await self._ask(tx, person, draft, result, again=not action.startswith("lang_"))

    async def _crisis(
        self, tx: Tx, person: Person, draft: Draft | None, case: CaseView | None, result: Result, via: SafetyVia
    ) -> Result:
        """The numbers at once, whatever the step; then what may be escalated, and how to undo it.

        Words escalate nothing on their own ("pasienten min begikk selvmord" is work talk): one
        question, "does this concern you now?", decides. The 🆘 button is a plain "yes", so it
        marks the draft urgent at once, and one more press takes an accidental press back.
        """
        now = self.clock()
        colleague = _colleague(draft, case)
        await tx.events.record(Event(EventKind.SAFETY_SHOWN, actor=via, seeker=draft.seeker if draft else None), now)
        if via is SafetyVia.WORDS and draft is None and case is None:
            # A first message, or one after a case ended: the numbers, then the welcome, so the
            # doctor sees where they are and how to go on (nothing to escalate yet).
            result.replies.append(self.crisis_reply(result.language))
            return await self._ask(tx, person, await self._new_draft(tx, person), result)
        if via is SafetyVia.WORDS:
            result.replies.append(self.crisis_reply(result.language, colleague))
            question = Text("crisis.concerns_now_colleague") if colleague else Text("crisis.concerns_now")
            buttons = ((Button(Text("crisis.now_yes"), "crisis_now_yes"), Button(Text("crisis.now_no"), "crisis_now_no")),)
            result.replies.append(Reply(question, buttons, step=CRISIS_CHECK))
            return result
        if case is not None:
            # A 🆘 pressed on an old triage message once the case is open: a plain yes.
            return await self._case_turns_urgent(tx, case, result, shown=True)
        rows: list[tuple[Button, ...]] = []
        if draft is not None:
            if not draft.urgent:
                draft.urgent = draft.urgent_by_button = True
                await tx.drafts.put(person.pseudonym, draft, person.reach, now)
            rows.append((Button(Text("crisis.back"), "crisis_back"),))
            if draft.urgent_by_button:
                rows.append((Button(Text("crisis.undo"), "crisis_undo"),))
        reply = self.crisis_reply(result.language, colleague)
        result.replies.append(Reply(reply.text, tuple(rows), step=CRISIS_CHECK))
        return result

    async def _crisis_answer(
        self, tx: Tx, person: Person, draft: Draft | None, case: CaseView | None, result: Result, action: str
    ) -> Result:
        """ "Does this concern you now?" answered, an accidental 🆘 taken back, or "carry on"."""
        result.replace = True
        if action == "crisis_now_yes":
            if case is not None:
                return await self._case_turns_urgent(tx, case, result, shown=False)
            if draft is not None:
                draft.urgent, draft.urgent_by_button = True, False
                result.replies.append(Reply(Text("crisis.marked_urgent")))
        elif action == "crisis_now_no":
            result.replies.append(Reply(Text("crisis.not_now")))
        elif action == "crisis_undo" and draft is not None and draft.urgent_by_button:
            draft.urgent, draft.urgent_by_button = False, False
            result.replies.append(Reply(Text("crisis.undone")))
        else:
            # "Carry on", or an undo that no longer applies: the numbers stay in the chat (only
            # their buttons go), and what follows comes below them.
            result.replies.append(self.crisis_reply(result.language, _colleague(draft, case)))
            if action == "crisis_undo" and draft is not None and draft.urgent:
                result.replies.append(Reply(Text("crisis.still_urgent")))
            elif draft is None and case is None:
                result.replies.append(Reply(Text("stale.no_conversation")))
        if draft is None:
            if case is not None and action in ("crisis_back", "crisis_undo"):
                result.replies.append(self._status(case))
            return result
        return await self._ask(tx, person, draft, result, again=True)

    async def _case_turns_urgent(self, tx: Tx, case: CaseView, result: Result, *, shown: bool) -> Result:
        """Urgent from now on: first in the queue, and the counsellor (if any) and coordinators told."""
        if shown:
            result.replies.append(self.crisis_reply(result.language, _colleague(None, case)))
        if not case.urgent:
            await tx.cases.mark_urgent(case.code)
            result.outbound += await self.casework.turned_urgent(tx, case)
        params: dict[str, ParamValue] = {"code": case.code, "alias": case.counsellor_alias or ""}
        said = Text("crisis.case_urgent_active", params) if case.is_active else Text("crisis.case_urgent_waiting", params)
        result.replies.append(Reply(said))
        return result

    async def _cancel(self, tx: Tx, person: Person, draft: Draft | None, case: CaseView | None, result: Result) -> Result:
        now = self.clock()
        if draft is not None:
            await tx.drafts.delete(person.pseudonym)
            await tx.timers.clear_all(person.pseudonym)
            await tx.events.record(Event(EventKind.STEP_ABANDONED, step=str(draft.state), actor=Abandoned.CANCEL), now)
            self._remember_language(person, draft.language)
            result.replies.append(Reply(Text("cancel.done")))
        elif case is not None and case.is_active:
            buttons = ((Button(Text("case.end_yes"), "end_case"), Button(Text("case.end_no"), "keep_case")),)
            alias = case.counsellor_alias or ""
            # Its own step name: "case" buttons belong to counsellors (flows.service.STAFF_STEPS).
            result.replies.append(Reply(Text("case.end_confirm", {"alias": alias}), buttons, step="end"))
        elif case is not None:
            result.outbound += await self.casework.withdrawn(tx, case)
            await tx.cases.withdraw(case.code, now)
            self._remember_language(person, case.reader_language)
            result.replies.append(Reply(Text("cancel.case_withdrawn", {"code": case.code})))
            result.outbound += await self.casework.dispatch(tx)
        else:
            result.replies.append(Reply(Text("cancel.nothing")))
        return result

    async def _forget(self, tx: Tx, person: Person, draft: Draft | None, case: CaseView | None, result: Result) -> Result:
        self._chosen.pop(person.pseudonym, None)  # erase everything: the remembered language too
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
            hint = Text("support.pick_one") if known else Text("stale.unknown_button")
            return await self._ask(tx, person, draft, Result(draft.language, [Reply(hint)]), again=True)
        now = self.clock()
        after = Step(draft.state)
        result = Result(draft.language, replace=after == before)
        if after is Step.SAFETY and before in (Step.SITUATION, Step.UNSURE_WORK, Step.UNSURE_COPING, Step.UNSURE_HOPE):
            await tx.events.record(Event(EventKind.PATHWAY_CHOSEN, pathway=draft.pathway, seeker=draft.seeker), now)
        if after is Step.CRISIS:
            await tx.events.record(Event(EventKind.SAFETY_SHOWN, actor=SafetyVia.ANSWER, seeker=draft.seeker), now)
            result.replies.append(self.crisis_reply(draft.language, draft.seeker == Seeker.COLLEAGUE))
        if after is Step.WAITING:
            case = await tx.cases.open(person.pseudonym, draft, person.reach, now)
            await tx.drafts.delete(person.pseudonym)
            await tx.timers.clear_all(person.pseudonym)
            await tx.events.record(_opened_event(draft), now)
            log.info("a case was opened%s", " (urgent)" if case.urgent else "")
            log.debug("case %s opened", case.code)
            if case.pathway in (Pathway.NOT_COPING, Pathway.WAY_BACK_OR_OUT) and self.settings.doctor_help:
                result.replies.append(self.casework.doctor_help(result.language))
            # Messages will come now, unasked: how to keep them off the lock screen. The case
            # code comes last, where the eye lands.
            result.replies.append(Reply(Text("privacy.preview_tip")))
            result.replies.append(self._waiting(case))
            result.outbound += await self.casework.opened(tx, case)
            return result
        return await self._ask(tx, person, draft, result)

    async def _ask(self, tx: Tx, person: Person, draft: Draft, result: Result, *, again: bool = False) -> Result:
        """Save the draft, re-arm its reminder and ask the current question.

        ``again``: asked once more after a hint or an aside, so a long screen (the welcome)
        is asked in its short form rather than repeated whole.
        """
        now = self.clock()
        if draft.reminded:
            # The reminder went out and armed the expiry; an answer calls that off.
            await tx.timers.clear(DRAFT_EXPIRY, person.pseudonym)
            draft.reminded = False
        await tx.drafts.put(person.pseudonym, draft, person.reach, now)
        await tx.timers.set(DRAFT_REMINDER, person.pseudonym, now + self.settings.draft_reminder_after)
        result.replies.append(self._question(draft, again))
        return result

    def _question(self, draft: Draft, again: bool = False) -> Reply:
        return self._consent(draft, again) if draft.state == Step.CONSENT else self.flow.question(draft)

    def _consent(self, draft: Draft, again: bool = False) -> Reply:
        question = self.flow.question(draft)
        switch = tuple(Button(_SWITCH_TO[lang], f"lang_{lang}") for lang in LANGUAGES if lang != draft.language)
        rows = (
            (Button(Text("consent.continue"), "agree"),),
            (Button(Text("consent.privacy"), "privacy"),),
            switch,
            (Button(Text("consent.cancel"), "cancel"),),
            *question.buttons[1:],
        )
        return Reply(Text("consent.again") if again else question.text, rows, step=question.step)

    def privacy_reply(self) -> Reply:
        """/privacy: what is kept, for how long, who answers for it, and what Telegram keeps."""
        unset = Text("privacy.controller_unset")
        params: dict[str, ParamValue] = {
            "controller": self.settings.data_controller or unset,
            "contact": self.settings.privacy_contact or unset,
        }
        return Reply(Text("privacy.text", params))

    def crisis_reply(self, language: str, colleague: bool = False) -> Reply:
        """The emergency numbers; for a worried colleague, with what a helper should do."""
        lines = "\n".join(f"☎ {n.number} – {n.label(language)}" for n in self.settings.emergency)
        if colleague:
            return Reply(Text("crisis.text_colleague", {"numbers": lines}))
        return Reply(Text("crisis.text", {"numbers": lines}))

    def _status(self, case: CaseView) -> Reply:
        hours = self.settings.expected_reply_hours
        params: dict[str, ParamValue] = {"code": case.code, "alias": case.counsellor_alias or "", "hours": hours}
        if case.is_active:
            return Reply(Text("status.active_urgent", params) if case.urgent else Text("status.active", params))
        if case.urgent:
            return Reply(Text("status.waiting_urgent", params))
        return Reply(Plural("status.waiting", "status.waiting.plural", "hours", params))

    def _waiting(self, case: CaseView) -> Reply:
        if case.urgent:
            return Reply(Text("waiting.urgent", {"code": case.code}))
        params: dict[str, ParamValue] = {"code": case.code, "hours": self.settings.expected_reply_hours}
        return Reply(Plural("waiting.text", "waiting.text.plural", "hours", params))

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
        """Telegram's language when it is one of ours, else the configured default (Bokmål).

        Whoever has no draft and no case yet is met in it; a doctor switches with one press on
        the welcome, and the choice is kept in the draft and then the case; after /cancel, in
        this process's memory (not on disk) for as long as a draft would have lived.
        """
        chosen = self._chosen.get(person.pseudonym)
        if chosen is not None and chosen[1] > self.clock():
            return chosen[0]
        return person.language if person.language in LANGUAGES else self.settings.default_language

    def _remember_language(self, person: Person, language: str) -> None:
        """Keep a chosen language in memory for as long as a draft would live (bounded, oldest out)."""
        self._chosen.pop(person.pseudonym, None)
        self._chosen[person.pseudonym] = (language, self.clock() + self.settings.draft_expire_after)
        while len(self._chosen) > _CHOSEN_KEPT:
            self._chosen.popitem(last=False)

    async def _reader_language(self, person: Person) -> str:
        async with self.store.transaction() as tx:
            draft = await tx.drafts.get(person.pseudonym)
            if draft is not None:
                return draft.language
            case = await tx.cases.of_doctor(person.pseudonym)
            return case.reader_language if case else self._language(person)


def _colleague(draft: Draft | None, case: CaseView | None) -> bool:
    """Whether a worried colleague is writing (their crisis screen says what a helper does)."""
    seeker = draft.seeker if draft is not None else case.seeker if case is not None else None
    return seeker == Seeker.COLLEAGUE


_CHOSEN_KEPT = 10_000
"""At most this many languages remembered after /cancel; the oldest is forgotten first."""

_SWITCH_TO = {
    "nb": Text("language.switch_to_nb"),
    "nn": Text("language.switch_to_nn"),
    "en": Text("language.switch_to_en"),
}
"""Each written in its own language ("Bytt til nynorsk", "Switch to English"): found by whoever needs it."""


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
