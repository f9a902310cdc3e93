"""Cases after the doctor confirms: routing, offers, relay routing, closing.

Routing follows docs/design.md section 6:

- eligible: active, available, below capacity, speaks the case language,
  takes the pathway, serves the doctor's county (when they list counties),
  and not from the doctor's county when the doctor asked for someone outside it;
  a counsellor who declined this case is not asked again;
- queue: urgent first, then oldest first;
- counsellors: fewest open cases (held or offered), then longest since their
  last offer (fair rotation);
- one offer at a time per case, with a deadline (shorter when urgent); a
  missed deadline marks the counsellor away and passes the case on;
- nobody left: coordinators are alerted once and the case waits in the queue
  until someone becomes available or frees capacity (every such change calls
  :meth:`Casework.dispatch`).

Nothing here sees a message's content: relaying is the adapter's job; this
module only says where a message goes.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from flows.cards import card
from flows.clock import Clock
from flows.domain import NO_COUNTY, WAITING_CASE, Actor, CaseStatus, CaseView, ContactMode, CounsellorView, Pathway
from flows.events import Event, EventKind
from flows.ports import Tx
from flows.replies import Button, Lines, Outbound, ParamValue, Plural, Reply, Text
from flows.settings import FlowSettings

log = logging.getLogger(__name__)
"""Case codes and what happened to them; never who, never what was written."""

OFFER_DEADLINE = "offer_deadline"
CASE_SILENT = "case_silent"
FOLLOWUP = "followup"
COUNSELLOR_BACK = "counsellor_back"
CASE_WAITING = "case_waiting"

Signer = Callable[[str], str]


@dataclass(frozen=True)
class Timing:
    offer: timedelta = timedelta(minutes=60)
    urgent_offer: timedelta = timedelta(minutes=15)
    silent_case: timedelta = timedelta(hours=72)
    followup: timedelta = timedelta(weeks=4)


@dataclass(frozen=True)
class OfferAnswer:
    """What pressing Accept or Decline does: replies to the presser, messages to others."""

    replies: list[Reply]
    outbound: list[Outbound] = field(default_factory=list)
    replaces_card: bool = True
    """The first reply takes the place of the offer card (not so for a button that was not theirs)."""


@dataclass(frozen=True)
class Target:
    """Where a relayed message goes: the other side of one active case."""

    code: str
    reach: int
    language: str
    """The reader's language."""
    alias: str
    counsellor_id: int
    writer_language: str
    """The writer's language (for what they are told about the message)."""


# --- the rules, as pure functions ------------------------------------------------
def is_available(counsellor: CounsellorView, now: datetime) -> bool:
    if not counsellor.active or counsellor.enrolling:
        return False
    return counsellor.available or (counsellor.away_until is not None and counsellor.away_until <= now)


def eligible(counsellor: CounsellorView, case: CaseView, now: datetime, declined: set[int]) -> bool:
    """Whether this counsellor may be offered this case now."""
    if counsellor.id in declined or not is_available(counsellor, now):
        return False
    if case.pseudonym is not None and case.pseudonym == counsellor.pseudonym:
        return False  # a counsellor seeking help is never offered their own request
    if counsellor.open_cases >= counsellor.capacity:
        return False
    if case.language not in counsellor.languages or case.pathway not in counsellor.pathways:
        return False
    if counsellor.serves and case.county != NO_COUNTY and case.county not in counsellor.serves:
        return False
    return not (case.outside_county and case.county == counsellor.home_county)


def choose(counsellors: Sequence[CounsellorView], case: CaseView, now: datetime, declined: set[int]) -> CounsellorView | None:
    """The counsellor to offer the case to: fewest open cases, then longest since an offer."""
    candidates = [c for c in counsellors if eligible(c, case, now, declined)]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.open_cases, c.last_offer_turn or 0, c.id))


def queue_order(cases: Sequence[CaseView]) -> list[CaseView]:
    """Urgent first, then oldest first."""
    return sorted(cases, key=lambda c: (not c.urgent, c.opened_at, c.code))


def parse_id(raw: str) -> int | None:
    """A row id from callback data: ASCII digits that fit a 64-bit integer, else None.

    ``str.isdigit`` alone accepts "²" and "٣", and an id past 2**63 overflows the database.
    """
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def seconds_between(start: datetime | None, end: datetime) -> int | None:
    return None if start is None else max(0, int((end - start).total_seconds()))


class Casework:
    def __init__(self, settings: FlowSettings, timing: Timing, clock: Clock, signer: Signer) -> None:
        self.settings = settings
        self.timing = timing
        self.clock = clock
        self.signer = signer

    # --- routing ------------------------------------------------------------------
    async def dispatch(self, tx: Tx) -> list[Outbound]:
        """Offer every queued case that someone can take; escalate the rest once."""
        now = self.clock()
        counsellors = {c.id: c for c in await tx.roster.counsellors()}
        out: list[Outbound] = []
        for case in queue_order(await tx.cases.queued()):
            # Who could take it at all comes first and costs no query: when everyone is busy,
            # a long queue is walked without touching the database for each case.
            free = [c for c in counsellors.values() if eligible(c, case, now, set())]
            declined = await tx.offers.declined_by(case.code) if free else set()
            pick = choose(free, case, now, declined)
            if pick is None:
                if not case.escalated and await tx.cases.escalate(case.code, now):
                    log.info("a case was escalated: no counsellor can take it now")
                    log.debug("case %s escalated", case.code)
                    await tx.events.record(Event(EventKind.CASE_ESCALATED, pathway=case.pathway, urgent=case.urgent), now)
                    out += await self._alert(tx, Text("coordinator.no_one", {"code": case.code, "pathway": _pathway(case)}))
                continue
            deadline = now + (self.timing.urgent_offer if case.urgent else self.timing.offer)
            offer = await tx.offers.create(case.code, pick.id, now, deadline)
            latest = max((c.last_offer_turn or 0 for c in counsellors.values()), default=0)
            counsellors[pick.id] = replace(pick, open_cases=pick.open_cases + 1, last_offer_turn=latest + 1)
            await tx.timers.set(OFFER_DEADLINE, str(offer.id), deadline)
            await tx.events.record(
                Event(EventKind.CASE_OFFERED, pathway=case.pathway, urgent=case.urgent, counsellor=pick.pseudonym), now
            )
            log.info("a case was offered")
            log.debug("case %s offered (offer %d)", case.code, offer.id)
            minutes = round((deadline - now).total_seconds() / 60)
            out.append(Outbound(pick.telegram_id, self._offer_card(case, offer.id, minutes), pick.language, f"offer:{offer.id}"))
            if case.status is CaseStatus.QUEUED and not case.offered_before:
                # Said once: a re-offer after a decline or a missed deadline changes nothing for them.
                out += await self._to_doctor(tx, case, Reply(Text("doctor.offered", {"code": case.code})))
        return out

    def _offer_card(self, case: CaseView, offer_id: int, minutes: int) -> Reply:
        buttons = ((Button(Text("offer.accept"), f"accept:{offer_id}"), Button(Text("offer.decline"), f"decline:{offer_id}")),)
        params: dict[str, ParamValue] = {"code": case.code, "card": self.card(case), "minutes": minutes}
        if case.urgent:
            return Reply(Plural("offer.card_urgent", "offer.card_urgent.plural", "minutes", params), buttons, step="offer")
        return Reply(Plural("offer.card", "offer.card.plural", "minutes", params), buttons, step="offer")

    def card(self, case: CaseView) -> Text:
        return card(self.settings, case, case.language)

    async def answer_offer(self, tx: Tx, telegram_id: int, action: str) -> OfferAnswer:
        """Accept or Decline on an offer card.

        The offer must be this person's: a forged or forwarded button does nothing, and
        its refusal does not replace the card it was pressed on.
        """
        verb, _, raw_id = action.partition(":")
        counsellor = await tx.roster.by_telegram(telegram_id)
        offer_id = parse_id(raw_id)
        offer = await tx.offers.get(offer_id) if offer_id is not None else None
        if counsellor is None or offer is None or offer.counsellor_id != counsellor.id or verb not in ("accept", "decline"):
            return OfferAnswer([Reply(Text("offer.not_yours"))], replaces_card=False)
        now = self.clock()
        case = await tx.cases.get(offer.case_code)
        if case is None:
            return OfferAnswer([Reply(Text("offer.gone", {"code": offer.case_code}))])
        if verb == "decline":
            if not await tx.offers.decline(offer):
                return OfferAnswer([Reply(Text("offer.gone", {"code": case.code}))])
            await tx.timers.clear(OFFER_DEADLINE, str(offer.id))
            log.info("an offer was declined")
            log.debug("case %s declined (offer %d)", case.code, offer.id)
            await tx.events.record(
                Event(EventKind.OFFER_DECLINED, pathway=case.pathway, urgent=case.urgent, counsellor=counsellor.pseudonym), now
            )
            return OfferAnswer([Reply(Text("offer.declined", {"code": case.code}))], await self.dispatch(tx))
        # Accept: atomic, so of two presses at once exactly one wins.
        if not await tx.cases.accept(offer, now):
            return OfferAnswer([Reply(Text("offer.gone", {"code": case.code}))])
        await tx.timers.clear(OFFER_DEADLINE, str(offer.id))
        log.info("a case was accepted")
        log.debug("case %s accepted (offer %d)", case.code, offer.id)
        await tx.timers.set(CASE_SILENT, case.code, now + self.timing.silent_case)
        await tx.events.record(
            Event(
                EventKind.CASE_ACCEPTED,
                pathway=case.pathway,
                urgent=case.urgent,
                counsellor=counsellor.pseudonym,
                duration_s=seconds_between(case.opened_at, now),
            ),
            now,
        )
        accepted = Reply(
            Text("offer.accepted", {"code": case.code, "card": self.card(case)}),
            ((Button(Text("case.end_button", {"code": case.code}), f"end:{case.code}"),),),
            step="case",
        )
        to_doctor = [Reply(Text("doctor.accepted", {"code": case.code, "alias": counsellor.alias}))]
        if case.contact == ContactMode.PHONE:
            to_doctor.append(
                Reply(
                    Text("doctor.share_phone_offer", {"alias": counsellor.alias}),
                    ((Button(Text("doctor.share_phone_button"), "share_phone"),),),
                    request_contact=True,
                )
            )
        out = []
        for reply in to_doctor:
            out += await self._to_doctor(tx, case, reply)
        return OfferAnswer([accepted], out)

    async def on_offer_deadline(self, tx: Tx, kind: str, subject: str) -> list[Outbound]:
        """Nobody answered in time: the counsellor is marked away and the case moves on."""
        offer = await tx.offers.get(int(subject))
        if offer is None or not await tx.offers.expire(offer):
            return []
        now = self.clock()
        case = await tx.cases.get(offer.case_code)
        counsellor = await tx.roster.counsellor(offer.counsellor_id)
        out: list[Outbound] = []
        if case is not None:
            log.info("an offer timed out")
            log.debug("case %s: offer %d timed out", case.code, offer.id)
            await tx.events.record(
                Event(
                    EventKind.OFFER_TIMED_OUT,
                    pathway=case.pathway,
                    urgent=case.urgent,
                    counsellor=counsellor.pseudonym if counsellor else None,
                ),
                now,
            )
        if counsellor is not None:
            await tx.roster.set_away(counsellor.id, None)
            expired = Reply(Text("offer.expired", {"code": offer.case_code}))
            if offer.message_id is not None:
                out.append(Outbound(counsellor.telegram_id, expired, counsellor.language, edit=offer.message_id))
            out.append(Outbound(counsellor.telegram_id, Reply(Text("offer.set_away")), counsellor.language))
        return out + await self.dispatch(tx)

    async def on_sent(self, tx: Tx, track: str, message_id: int) -> None:
        """The adapter sent a tracked message: remember its id."""
        kind, _, rest = track.partition(":")
        if kind == "offer":
            await tx.offers.shown(int(rest), message_id)
        elif kind == "relay":
            code, _, counsellor_id = rest.partition(":")
            await tx.cases.remember_copy(int(counsellor_id), message_id, code)

    # --- the doctor withdrawing -------------------------------------------------------
    async def withdrawn(self, tx: Tx, case: CaseView, erased: bool = False) -> list[Outbound]:
        """The doctor cancelled or erased a case: tell whoever had it or was offered it."""
        log.info("a case was %s by the doctor", "erased" if erased else "withdrawn")
        log.debug("case %s ended by the doctor", case.code)
        now = self.clock()
        out: list[Outbound] = []
        offer = await tx.offers.pending_for(case.code)
        if offer is not None:
            await tx.offers.withdraw(offer)
            await tx.timers.clear(OFFER_DEADLINE, str(offer.id))
            counsellor = await tx.roster.counsellor(offer.counsellor_id)
            if counsellor is not None:
                gone = Reply(Text("offer.withdrawn", {"code": case.code}))
                target = Outbound(counsellor.telegram_id, gone, counsellor.language, edit=offer.message_id)
                out.append(target)
        if case.is_active and case.counsellor_id is not None:
            counsellor = await tx.roster.counsellor(case.counsellor_id)
            await tx.events.record(self._closed_event(case, Actor.DOCTOR, counsellor, now), now)
            if counsellor is not None:
                key = "case.erased_by_doctor" if erased else "case.closed_by_doctor"
                out.append(Outbound(counsellor.telegram_id, Reply(Text(key, {"code": case.code})), counsellor.language))
                if counsellor.focus_case == case.code:
                    await tx.roster.focus(counsellor.id, None)
        else:
            await tx.events.record(
                Event(
                    EventKind.CASE_WITHDRAWN,
                    pathway=case.pathway,
                    urgent=case.urgent,
                    duration_s=seconds_between(case.opened_at, now),
                ),
                now,
            )
        return out

    # --- relay routing ------------------------------------------------------------------
    async def doctor_target(self, tx: Tx, pseudonym: str) -> Target | None:
        """Where a doctor's message goes: their counsellor, if a case is active."""
        case = await tx.cases.of_doctor(pseudonym)
        if case is None or not case.is_active or case.counsellor_id is None:
            return None
        counsellor = await tx.roster.counsellor(case.counsellor_id)
        if counsellor is None:
            return None
        return Target(
            case.code, counsellor.telegram_id, counsellor.language, counsellor.alias, counsellor.id, case.reader_language
        )

    async def counsellor_target(
        self, tx: Tx, counsellor: CounsellorView, reply_to: int | None, code: str | None = None
    ) -> Target | list[CaseView]:
        """Where a counsellor's message goes; a list of cases when they must choose."""
        cases = await tx.cases.active_for(counsellor.id)
        by_code = {c.code: c for c in cases}
        chosen = code
        if chosen is None and reply_to is not None:
            chosen = await tx.cases.of_copy(counsellor.id, reply_to)
        if chosen is None and counsellor.focus_case in by_code:
            chosen = counsellor.focus_case
        if chosen is None and len(cases) == 1:
            chosen = cases[0].code
        case = by_code.get(chosen or "")
        if case is None:
            return cases
        reach = await tx.cases.reach(case.code)
        if reach is None:
            return cases
        return Target(case.code, reach, case.reader_language, counsellor.alias, counsellor.id, counsellor.language)

    async def relayed(self, tx: Tx, code: str) -> None:
        """A message went through: the case is not silent."""
        await tx.cases.relayed(code, self.clock())
        await tx.timers.set(CASE_SILENT, code, self.clock() + self.timing.silent_case)

    # --- closing, feedback, follow-up -------------------------------------------------
    async def close(self, tx: Tx, code: str, by: Actor, pseudonym: str | None = None) -> tuple[list[Reply], list[Outbound]]:
        """End an active case (``by`` = doctor or counsellor): both sides are told.

        Returns replies for whoever closed it and messages for the other side.
        """
        case = await tx.cases.get(code)
        if case is None or not case.is_active or case.counsellor_id is None:
            return [Reply(Text("case.not_open", {"code": code}))], []
        now = self.clock()
        counsellor = await tx.roster.counsellor(case.counsellor_id)
        reach = await tx.cases.reach(code)
        doctor_pseudonym = pseudonym or await tx.cases.pseudonym(code)
        await tx.cases.close(code, by, now)
        await tx.timers.clear_all(code)
        log.info("a case was closed by the %s", by)
        log.debug("case %s closed", code)
        await tx.events.record(self._closed_event(case, by, counsellor, now), now)
        if counsellor is not None and counsellor.focus_case == code:
            await tx.roster.focus(counsellor.id, None)
        alias = counsellor.alias if counsellor else ""
        after = self._after_close(case, doctor_pseudonym)
        doctor_replies = [Reply(Text(f"doctor.closed_by_{by}", {"code": code, "alias": alias}))]
        if case.urgent:
            doctor_replies.append(Reply(Text("doctor.closed_urgent")))
        if case.pathway in (Pathway.NOT_COPING, Pathway.WAY_BACK_OR_OUT) and self.settings.doctor_help:
            doctor_replies.append(self.doctor_help(case.reader_language))
        doctor_replies += after
        counsellor_reply = Reply(Text(f"case.closed_by_{by}", {"code": code}))
        out: list[Outbound] = []
        if by is Actor.DOCTOR:
            if counsellor is not None:
                out.append(Outbound(counsellor.telegram_id, counsellor_reply, counsellor.language))
            replies = doctor_replies
        else:
            if reach is not None:
                out += [Outbound(reach, r, case.reader_language) for r in doctor_replies]
            replies = [counsellor_reply]
        return replies, out + await self.dispatch(tx)

    def _after_close(self, case: CaseView, pseudonym: str | None) -> list[Reply]:
        if pseudonym is None:
            return []
        tag = self.tag(pseudonym, case.code)
        scores = tuple(Button(Text("feedback.score", {"score": n}), f"feedback:{case.code}:{n}:{tag}") for n in range(1, 6))
        weeks = round(self.timing.followup.days / 7)
        return [
            Reply(Text("feedback.question"), (scores, (Button(Text("feedback.skip"), "feedback_skip"),)), step="closed"),
            Reply(
                Plural("followup.question", "followup.question.plural", "weeks", {"weeks": weeks}),
                (
                    (
                        Button(
                            Plural("followup.yes", "followup.yes.plural", "weeks", {"weeks": weeks}),
                            f"followup:{case.code}:{tag}",
                        ),
                    ),
                    (Button(Text("followup.no"), "followup_no"),),
                ),
                step="closed",
            ),
        ]

    def tag(self, pseudonym: str, code: str) -> str:
        """Binds a closed-case button to the doctor it was sent to."""
        return self.signer(f"{pseudonym}:{code}")[:12]

    def route_action(self, counsellor: CounsellorView, code: str, message_id: int) -> str:
        """The "send to this case" button for one message: signed, so a forged press copies nothing."""
        tag = self.signer(f"route:{counsellor.pseudonym}:{code}:{message_id}")[:12]
        return f"send:{code}:{message_id}:{tag}"

    def routed(self, counsellor: CounsellorView, action: str) -> tuple[str, int] | None:
        """(case code, message id) from a "send to this case" press, if it is genuine."""
        verb, _, rest = action.partition(":")
        code, _, rest = rest.partition(":")
        raw_id, _, tag = rest.partition(":")
        message_id = parse_id(raw_id)
        if verb != "send" or message_id is None or not tag:
            return None
        if not hmac.compare_digest(self.route_action(counsellor, code, message_id), action):
            return None
        return code, message_id

    async def after_close_press(self, tx: Tx, pseudonym: str, reach: int, action: str) -> tuple[Reply, str | None]:
        """Feedback or follow-up answers: (the reply, the doctor's reading language if known).

        The buttons carry a tag bound to the doctor they were sent to, so they work for nobody else.
        """
        verb, _, rest = action.partition(":")
        if verb in ("feedback_skip", "followup_no"):
            return Reply(Text("feedback.thanks_anyway")), None
        parts = rest.split(":")
        code, tag = parts[0], parts[-1]
        if len(parts) < 2 or not hmac.compare_digest(tag, self.tag(pseudonym, code)):
            return Reply(Text("stale.unknown_button")), None
        case = await tx.cases.get(code)
        if case is None or case.status is not CaseStatus.CLOSED:
            return Reply(Text("stale.case_open")), None
        now = self.clock()
        if verb == "feedback" and len(parts) == 3 and parts[1] in {"1", "2", "3", "4", "5"}:
            if not await tx.cases.take_feedback(code):
                return Reply(Text("feedback.already")), case.reader_language
            await tx.events.record(Event(EventKind.FEEDBACK, pathway=case.pathway, score=int(parts[1])), now)
            return Reply(Text("feedback.thanks")), case.reader_language
        if verb == "followup":
            await tx.cases.keep_for_followup(code, reach, pseudonym)
            await tx.timers.set(FOLLOWUP, code, now + self.timing.followup)
            weeks = round(self.timing.followup.days / 7)
            return Reply(Plural("followup.booked", "followup.booked.plural", "weeks", {"weeks": weeks})), case.reader_language
        return Reply(Text("stale.unknown_button")), None

    async def on_followup(self, tx: Tx, kind: str, subject: str) -> list[Outbound]:
        """The opted-in check-in: sent once, then the sealed chat id is destroyed."""
        reach = await tx.cases.followup_reach(subject)
        case = await tx.cases.get(subject)
        await tx.cases.drop_followup(subject)
        if reach is None or case is None:
            return []
        return [Outbound(reach, Reply(Text("followup.checkin")), case.reader_language)]

    async def on_silent(self, tx: Tx, kind: str, subject: str) -> list[Outbound]:
        """An accepted case with no messages: prompt the counsellor, then the coordinators."""
        case = await tx.cases.get(subject)
        if case is None or not case.is_active or case.counsellor_id is None:
            return []
        counsellor = await tx.roster.counsellor(case.counsellor_id)
        hours = round(self.timing.silent_case.total_seconds() / 3600)
        if not case.silent_prompted:
            await tx.cases.prompted_silent(case.code)
            await tx.timers.set(CASE_SILENT, case.code, self.clock() + self.timing.silent_case)
            if counsellor is None:
                return []
            prompt = Reply(Plural("case.silent", "case.silent.plural", "hours", {"code": case.code, "hours": hours}))
            return [Outbound(counsellor.telegram_id, prompt, counsellor.language)]
        return await self._alert(
            tx, Plural("coordinator.silent", "coordinator.silent.plural", "hours", {"code": case.code, "hours": 2 * hours})
        )

    async def opened(self, tx: Tx, case: CaseView) -> list[Outbound]:
        """A case was confirmed: alert coordinators if urgent, start the waiting clock, route it."""
        out = await self.urgent_opened(tx, case) if case.urgent else []
        hours = timedelta(hours=self.settings.expected_reply_hours)
        await tx.timers.set(CASE_WAITING, case.code, case.opened_at + hours)
        return out + await self.dispatch(tx)

    async def on_waiting(self, tx: Tx, kind: str, subject: str) -> list[Outbound]:
        """The promised reply time has passed and nobody has taken the case: nobody waits in silence."""
        case = await tx.cases.get(subject)
        if case is None or case.status not in WAITING_CASE:
            return []
        log.info("a case is still waiting after the promised time")
        log.debug("case %s still waiting", case.code)
        still = Reply(Text("doctor.still_waiting", {"code": case.code}))
        alert = Plural(
            "coordinator.overdue",
            "coordinator.overdue.plural",
            "hours",
            {"code": case.code, "hours": self.settings.expected_reply_hours},
        )
        return [*await self._to_doctor(tx, case, still), *await self._alert(tx, alert)]

    async def on_counsellor_back(self, tx: Tx, kind: str, subject: str) -> list[Outbound]:
        """A counsellor's /away ran out: they are available again."""
        counsellor = await tx.roster.counsellor(int(subject))
        if counsellor is None or counsellor.available:
            return []
        await tx.roster.set_available(counsellor.id)
        back = Outbound(counsellor.telegram_id, Reply(Text("counsellor.back")), counsellor.language)
        return [back, *await self.dispatch(tx)]

    # --- inside -------------------------------------------------------------------------
    def _closed_event(self, case: CaseView, by: Actor, counsellor: CounsellorView | None, now: datetime) -> Event:
        return Event(
            EventKind.CASE_CLOSED,
            pathway=case.pathway,
            urgent=case.urgent,
            actor=by,
            counsellor=counsellor.pseudonym if counsellor else None,
            duration_s=seconds_between(case.accepted_at, now),
        )

    async def _to_doctor(self, tx: Tx, case: CaseView, reply: Reply) -> list[Outbound]:
        reach = await tx.cases.reach(case.code)
        return [] if reach is None else [Outbound(reach, reply, case.reader_language)]

    async def _alert(self, tx: Tx, text: Text) -> list[Outbound]:
        language = self.settings.default_language
        chosen = await tx.roster.coordinator_languages()
        return [Outbound(chat, Reply(text), mine or language) for chat, mine in chosen.items()]

    async def urgent_opened(self, tx: Tx, case: CaseView) -> list[Outbound]:
        """Coordinators hear of every urgent case at once (docs/design.md principle 3)."""
        return await self._alert(tx, Text("coordinator.urgent", {"code": case.code, "pathway": _pathway(case)}))

    async def turned_urgent(self, tx: Tx, case: CaseView) -> list[Outbound]:
        """A case became urgent after it was sent: its counsellor, if it has one, and the coordinators hear."""
        out: list[Outbound] = []
        counsellor = await tx.roster.counsellor(case.counsellor_id) if case.counsellor_id is not None else None
        if counsellor is not None and case.is_active:
            out.append(
                Outbound(counsellor.telegram_id, Reply(Text("case.turned_urgent", {"code": case.code})), counsellor.language)
            )
        params: dict[str, ParamValue] = {"code": case.code, "pathway": _pathway(case)}
        if case.is_active:
            return out + await self._alert(tx, Text("coordinator.turned_urgent_active", params))
        return out + await self._alert(tx, Text("coordinator.turned_urgent_waiting", params))

    def doctor_help(self, language: str) -> Reply:
        """Help made for doctors (Villa Sana, the støttekollega scheme), as configured."""
        lines = Lines(f"• {h.name}: {h.label(language)} {h.contact}".rstrip() for h in self.settings.doctor_help)
        return Reply(Text("help_for_doctors.text", {"lines": lines}))


def _pathway(case: CaseView) -> Text:
    return Text(f"pathway.{case.pathway}")
