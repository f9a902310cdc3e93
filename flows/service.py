"""The one way in: every inbound event, one unit of work, everything that follows.

:meth:`Service.handle` takes a plain event (:mod:`flows.inbound`) from an adapter, claims
its update, finds out who wrote (a doctor, a counsellor, a coordinator; staff may seek
help as doctors too), hands it to the flow it belongs to and gives the answer to the
adapter's :class:`~flows.ports.Channel`, all inside one transaction. Either all of it
is committed (the claim, the state, the anonymous events, every message owed) or none
of it; if handling fails, a fresh unit says "something went wrong, please try again".

Who may do what, and what a message inside a case means, is decided here:

- ``/join CODE`` is for anyone; counsellors' commands are for counsellors, and for them
  ``/help`` is the counsellors' help; ``/queue`` and ``/stats`` are for coordinators.
  Anyone else gets a polite "not for you" and nothing else.
- A button belongs to a step: staff steps (offers, cases, enrolment, routing) answer
  only people on the roster; the button on a relayed copy picks the case for a
  counsellor and shows the status to a doctor; everything else is the triage.
- A message from a counsellor with an active case is relayed to that case (or they pick
  which); from a doctor with an active case, to their counsellor, with crisis words
  passed on and the emergency numbers shown too; anything else is the triage's.
- A doctor may share only their own number (the contact's owner is the sender).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime

from flows.casework import (
    CASE_SILENT,
    CASE_WAITING,
    COUNSELLOR_BACK,
    FOLLOWUP,
    OFFER_DEADLINE,
    Casework,
    Target,
    Timing,
)
from flows.catalogue import LANGUAGES
from flows.clock import Clock
from flows.coordination import queue_replies, stats_period, stats_replies, stats_window
from flows.domain import CounsellorView
from flows.inbound import Command, Copy, Edited, Incoming, InGroup, Press, Result, Wrote
from flows.intake import DRAFT_EXPIRY, DRAFT_REMINDER, Intake, Person
from flows.ports import Channel, Store, Tx
from flows.replies import Button, Outbound, Reply, Text
from flows.roster import Roster
from flows.settings import FlowSettings
from flows.timers import TimerHandler, TimerRun, run_due
from flows.triage import TriageFlow

log = logging.getLogger(__name__)

DOCTOR_COMMANDS = ("start", "help", "privacy", "cancel", "forget", "status", "language")
"""The doctor's commands (shown in Telegram's command menu)."""
COUNSELLOR_COMMANDS = ("available", "away", "cases", "case", "close")
COORDINATOR_COMMANDS = ("queue", "stats")
STAFF_LANGUAGE = "staff_language"
"""The step of a counsellor's or coordinator's /language buttons (a doctor's language is their draft's)."""
STAFF_STEPS = ("offer", "case", "enrol", "route")
"""Steps whose buttons are counsellors' (a doctor's own step for ending a case is "end")."""
STAFF_ONLY = ("offer", "enrol", "route")
"""Staff steps that anyone else is refused outright (a "case" press is stale for them)."""
RELAY_STEP = "relay"
"""The step of the one button on a relayed copy."""


class Service:
    """Kollega's flows behind one entry point; built once, from settings, by the composition root."""

    def __init__(
        self,
        settings: FlowSettings,
        timing: Timing,
        store: Store,
        clock: Clock,
        *,
        signer: Callable[[str], str],
        invite_hash: Callable[[str], str],
        min_cell: int,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.min_cell = min_cell
        self.casework = Casework(settings, timing, clock, signer)
        self.intake = Intake(TriageFlow(settings), store, clock, self.casework)
        self.roster = Roster(settings, store, self.casework, clock, invite_hash)
        self.on_failure: Callable[[BaseException], None] | None = None
        """Told of every failure rolled back and apologised for (a test fails on them)."""
        self.timers: Mapping[str, TimerHandler] = {
            DRAFT_REMINDER: self.intake.on_due,
            DRAFT_EXPIRY: self.intake.on_due,
            OFFER_DEADLINE: self.casework.on_offer_deadline,
            CASE_SILENT: self.casework.on_silent,
            FOLLOWUP: self.casework.on_followup,
            COUNSELLOR_BACK: self.casework.on_counsellor_back,
            CASE_WAITING: self.casework.on_waiting,
        }

    # --- the entry points -------------------------------------------------------------
    async def handle(self, event: Incoming, channel: Channel) -> None:
        """One event, one unit of work: claimed, decided, its messages owed, committed.

        Raises only when even that cannot be written (the database is away): the adapter
        then does not confirm the update, and it comes again.
        """
        try:
            async with self.store.update(event.update_id, self.clock()) as tx:
                if tx is None:
                    log.info("skipped a redelivered update")
                    return
                try:
                    await channel.deliver(event, await self._decide(tx, event, channel))
                except Exception as error:
                    raise _RolledBack from error
        except _RolledBack as failed:
            cause = failed.__cause__
            log.error("handler failed: %s%s", type(cause).__name__, _where(cause))
            if isinstance(event, InGroup):
                # Leaving is all a group ever gets, so that is what the fresh unit says too.
                async with self.store.update(event.update_id, self.clock()) as tx:
                    if tx is not None:
                        await channel.deliver(event, self._leaving(event))
                self._failed(cause)
            else:
                await self.apologise(event.update_id, event.who.chat, channel, cause)

    async def apologise(self, update_id: int, chat: int, channel: Channel, error: BaseException | None = None) -> None:
        """Claim an update whose handling failed and tell its writer to try again.

        Nothing of the failed handling is kept; the apology is what the update leaves behind,
        so it is not handled (and failed) over and over.
        """
        async with self.store.update(update_id, self.clock()) as tx:
            if tx is not None:
                sorry = Result(self.settings.default_language, [Reply(Text("error.retry"))])
                await channel.deliver(None, _to(chat, sorry))
        self._failed(error)

    def _failed(self, error: BaseException | None) -> None:
        if self.on_failure is not None and error is not None:
            self.on_failure(error)

    async def run_timers(self, channel: Channel, now: datetime | None = None) -> TimerRun:
        """Every due timer, each with its messages in its own unit of work."""

        async def post(tx: Tx, messages: list[Outbound]) -> None:
            if messages:
                await channel.deliver(None, Result(self.settings.default_language, outbound=messages))

        return await run_due(self.store, self.timers, now or self.clock(), post)

    # --- who wrote, and which flow it is for -----------------------------------------------
    async def _decide(self, tx: Tx, event: Incoming, channel: Channel) -> Result:
        if isinstance(event, InGroup):
            return self._leaving(event)
        me = Person(event.who.pseudonym, event.who.chat, event.who.language)
        if isinstance(event, Command):
            return await self._command(tx, event, me)
        if isinstance(event, Press):
            return await self._press(tx, event, me)
        counsellor = await tx.roster.by_telegram(event.who.user_id)
        if isinstance(event, Edited):
            return await self._edited(tx, me, counsellor)
        return await self._wrote(tx, event, me, counsellor, channel)

    def _leaving(self, event: InGroup) -> Result:
        log.info("leaving a group chat")
        return Result(self.settings.default_language, [Reply(Text("group.leaving"))], leave=event.chat)

    async def _command(self, tx: Tx, command: Command, me: Person) -> Result:
        name, argument, who = command.name, command.argument, command.who
        if name == "start":
            return await self.intake.start(me)
        if name == "join":
            return await self.roster.join(who.user_id, argument.strip(), who.pseudonym, self.settings.default_language)
        counsellor = await tx.roster.by_telegram(who.user_id)
        # Only the commands that may be a coordinator's look them up: a doctor's /status costs no query.
        staff_commands = ("help", "language", *COORDINATOR_COMMANDS)
        coordinator = await self._coordinator_language(tx, who.user_id) if name in staff_commands else None
        if name in ("help", "language") and (counsellor is not None or coordinator is not None):
            return await self._staff_command(counsellor, coordinator, name, argument)
        if name in COUNSELLOR_COMMANDS:
            if counsellor is None:
                return self._refusal("counsellor.not_for_you", me)
            return await self.roster.command(counsellor, name, argument)
        if name in COORDINATOR_COMMANDS:
            if coordinator is None:
                return self._refusal("coordinator.not_for_you", me)
            return await self._coordinator(tx, name, argument, coordinator)
        return await self.intake.command(me, name)

    async def _coordinator_language(self, tx: Tx, telegram_id: int) -> str | None:
        """The language a coordinator reads (None: not a coordinator)."""
        chosen = await tx.roster.coordinator_languages()
        if telegram_id not in chosen:
            return None
        return chosen[telegram_id] or self.settings.default_language

    async def _staff_command(
        self, counsellor: CounsellorView | None, coordinator: str | None, name: str, argument: str
    ) -> Result:
        """/help and /language for staff: their own help, and a language kept on the roster, not in a draft.

        Staff who want to talk with a peer supporter themselves use /start like any doctor.
        """
        language = counsellor.language if counsellor is not None else coordinator or self.settings.default_language
        if name == "language":
            buttons = (tuple(Button(Text(f"language.switch_to_{lang}"), f"lang_{lang}") for lang in LANGUAGES),)
            return Result(language, [Reply(Text("language.choose"), buttons, step=STAFF_LANGUAGE)])
        result = await self.roster.command(counsellor, name, argument) if counsellor is not None else Result(language)
        if coordinator is not None:
            result.replies.append(Reply(Text("coordinator.help")))
        return result

    async def _coordinator(self, tx: Tx, name: str, argument: str, language: str) -> Result:
        """/queue, or /stats [week|month]: case codes, pathways, urgency and ages, anonymous counts."""
        now = self.clock()
        if name == "queue":
            return Result(language, queue_replies(await tx.cases.all_open(), await tx.timers.parked(), now))
        period = stats_period(argument)
        starts = stats_window(now, period)
        counties = [county.code for county in self.settings.counties]
        rows = await tx.statistics.published(period, self.min_cell, starts[0], now.date(), counties)
        return Result(language, stats_replies(rows, starts, period, self.min_cell, language))

    async def _press(self, tx: Tx, press: Press, me: Person) -> Result:
        step, action = press.step, press.action
        if step == STAFF_LANGUAGE:
            return await self._staff_language(tx, press, me)
        staff = step in (*STAFF_STEPS, RELAY_STEP)
        counsellor = await tx.roster.by_telegram(press.who.user_id) if staff else None
        if step == RELAY_STEP:
            # The button on a relayed copy. The copy's text is someone's words, so it is never
            # edited or quoted back: a counsellor's press picks that case for their next
            # messages, a doctor's shows where their case stands.
            if counsellor is not None and action.startswith("focus:"):
                result = await self.roster.press(counsellor, "case", action)
            else:
                result = await self.intake.command(me, "status")
            result.leave_pressed = True
            return result
        if counsellor is not None and step == "route":
            result = await self._route_chosen(tx, counsellor, action)
            result.leave_pressed = True
            return result
        if counsellor is not None:
            return await self.roster.press(counsellor, step, action)
        if step in STAFF_ONLY:
            # A staff button pressed by someone who is not on the roster: forged or forwarded.
            return self._refusal("offer.not_yours", me)
        return await self.intake.press(me, step, action)

    async def _staff_language(self, tx: Tx, press: Press, me: Person) -> Result:
        language = press.action.removeprefix("lang_")
        user_id = press.who.user_id
        is_staff = await tx.roster.by_telegram(user_id) is not None or await self._coordinator_language(tx, user_id)
        if not is_staff:
            return self._refusal("offer.not_yours", me)
        if language not in LANGUAGES:
            return Result(self.settings.default_language, [Reply(Text("stale.unknown_button"))])
        await tx.roster.set_language(user_id, language)
        return Result(language, [Reply(Text("language.changed"))], replace=True)

    async def _edited(self, tx: Tx, me: Person, counsellor: CounsellorView | None) -> Result:
        """An edited message is never a new answer, and edits are not relayed."""
        doctor_in_case = await self.casework.doctor_target(tx, me.pseudonym) is not None
        if doctor_in_case or (counsellor is not None and counsellor.focus_case):
            language = counsellor.language if counsellor else self.settings.default_language
            return Result(language, [Reply(Text("relay.edit_not_sent"))])
        return await self.intake.unsupported(me, hint="hint.edited")

    async def _wrote(self, tx: Tx, message: Wrote, me: Person, counsellor: CounsellorView | None, channel: Channel) -> Result:
        """Text, media or a contact: relayed inside an active case, else the triage's business."""
        if counsellor is not None and counsellor.enrolling:
            return await self.roster.enrol_text(counsellor, message.text or "")
        if counsellor is not None:
            relayed = await self._from_counsellor(tx, counsellor, message, channel)
            if relayed is not None:
                return relayed
        target = await self.casework.doctor_target(tx, me.pseudonym)
        if target is not None:
            return await self._from_doctor(tx, me, message, target, channel)
        if counsellor is not None or await tx.roster.is_coordinator(message.who.user_id):
            # Staff with nothing open: their words go nowhere, and they are told so. Unless they
            # are asking for help themselves (/start made them a draft, or a waiting case is theirs). Asked
            # only once the message is not a doctor's to relay: the relay path costs no staff lookup.
            if await tx.drafts.get(me.pseudonym) is None and await tx.cases.of_doctor(me.pseudonym) is None:
                language = counsellor.language if counsellor else await self._coordinator_language(tx, message.who.user_id)
                said = Text("counsellor.nothing_open") if counsellor else Text("coordinator.nothing_open")
                return Result(language or self.settings.default_language, [Reply(said)])
        if message.text is not None:
            return await self.intake.text(me, message.text)
        return await self.intake.unsupported(me)

    def _refusal(self, key: str, me: Person) -> Result:
        return Result(me.language or self.settings.default_language, [Reply(Text(key))])

    # --- relaying: a copy of the original, by its id; its words never pass through storage -------
    async def _from_doctor(self, tx: Tx, me: Person, message: Wrote, target: Target, channel: Channel) -> Result:
        language = target.writer_language
        if message.contact is not None:
            # Only the number behind the share button (a contact whose owner is the sender).
            if message.contact.owner != message.who.user_id:
                return Result(language, [Reply(Text("doctor.phone_not_own"))])
            header = Text("relay.contact_header", {"code": target.code})
            arrived = await channel.send_contact(target.reach, message.contact.phone, header, target.language)
            if arrived is None:
                return Result(language, [Reply(Text("relay.failed"))])
            await self.casework.on_sent(tx, _relay_track(target), arrived)
            await self.casework.relayed(tx, target.code)
            done = Reply(Text("doctor.phone_shared", {"alias": target.alias}), remove_keyboard=True)
            return Result(language, [done])
        label = Text("relay.doctor_button", {"code": target.code})
        copy = Copy(
            target.reach, me.reach, message.message_id, label, target.language, f"focus:{target.code}", language,
            track=_relay_track(target),
        )  # fmt: skip
        await self.casework.relayed(tx, target.code)
        if message.text is not None and self.intake.is_crisis(message.text):
            # Passed on to the counsellor like any message, and the numbers shown at once.
            result = await self.intake.crisis_in_case(me)
        else:
            result = Result(language)
        result.copies.append(copy)
        return result

    async def _from_counsellor(self, tx: Tx, counsellor: CounsellorView, message: Wrote, channel: Channel) -> Result | None:
        """Relay a counsellor's message to one of their doctors; None if they hold no case."""
        target = await self.casework.counsellor_target(tx, counsellor, message.reply_to)
        if isinstance(target, Target):
            return await self._counsellor_relay(tx, counsellor, target, message.message_id, message, channel)
        if not target:
            return None  # no open case: whatever they wrote is for the triage (or a hint)
        if message.contact is not None:
            # A contact is only ever sent as a bare number; the route buttons would copy the
            # whole contact card, so the case is picked first.
            return Result(counsellor.language, [Reply(Text("counsellor.contact_pick_case"))])
        route = self.casework.route_action
        buttons = tuple(
            (Button(Text("counsellor.send_to", {"code": c.code}), route(counsellor, c.code, message.message_id)),) for c in target
        )
        return Result(counsellor.language, [Reply(Text("counsellor.which_case"), buttons, step="route")])

    async def _route_chosen(self, tx: Tx, counsellor: CounsellorView, action: str) -> Result:
        """The counsellor picked which case a message was for: copy it from their chat now."""
        routed = self.casework.routed(counsellor, action)
        if routed is None:
            return Result(counsellor.language, [Reply(Text("stale.unknown_button"))])
        code, message_id = routed
        target = await self.casework.counsellor_target(tx, counsellor, None, code)
        if not isinstance(target, Target):
            return Result(counsellor.language, [Reply(Text("counsellor.no_such_case"))])
        return await self._counsellor_relay(tx, counsellor, target, message_id, None, None)

    async def _counsellor_relay(
        self,
        tx: Tx,
        counsellor: CounsellorView,
        target: Target,
        message_id: int,
        message: Wrote | None,
        channel: Channel | None,
    ) -> Result:
        result = Result(counsellor.language)
        if message is not None and message.contact is not None and channel is not None:
            header = Text("relay.from_counsellor", {"alias": counsellor.alias})
            if await channel.send_contact(target.reach, message.contact.phone, header, target.language) is None:
                return Result(counsellor.language, [Reply(Text("relay.failed"))])
        else:
            label = Text("relay.counsellor_button", {"alias": counsellor.alias})
            result.copies.append(
                Copy(target.reach, counsellor.telegram_id, message_id, label, target.language, "status", counsellor.language)
            )
        await self.casework.relayed(tx, target.code)
        if counsellor.focus_case != target.code:
            await tx.roster.focus(counsellor.id, target.code)
        return result


class _RolledBack(Exception):
    """Handling failed: nothing the event did is kept."""


def _relay_track(target: Target) -> str:
    return f"relay:{target.code}:{target.counsellor_id}"


def _to(chat: int, result: Result) -> Result:
    """The replies of ``result`` as messages to ``chat`` (there is no pressed message to edit)."""
    outbound = [Outbound(chat, reply, result.language) for reply in result.replies]
    return Result(result.language, outbound=outbound)


def _where(error: BaseException | None) -> str:
    """Where it failed, as file:line (never the message, which may quote someone's words)."""
    if error is None or error.__traceback__ is None:
        return ""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
