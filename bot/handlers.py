"""Every update's first stop: who wrote (doctor, counsellor, coordinator), then the
matching flow. Thin: the decisions are made in ``flows``."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Message, Update
from telegram.error import TelegramError

from bot import coordinator, outbox
from bot.context import KollegaContext, Services
from bot.render import parse_callback
from flows.casework import Target
from flows.catalogue import render
from flows.intake import Person, Result
from flows.ports import CounsellorView
from flows.replies import Button, Reply, Text
from storage.outbox import Outgoing
from storage.store import SqlTx

log = logging.getLogger(__name__)

COUNSELLOR_COMMANDS = ("available", "away", "cases", "case", "close")
COORDINATOR_COMMANDS = ("queue", "stats")
STAFF_STEPS = ("offer", "case", "enrol", "route")
RELAY_STEP = "relay"
"""The button on a relayed copy (see ``_from_doctor``)."""


def person(update: Update, context: KollegaContext) -> Person:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None  # guaranteed by the private-chat guard
    return Person(context.services.keyring.pseudonym(user.id), chat.id)


async def show(update: Update, context: KollegaContext, result: Result, pressed: CallbackQuery | None = None) -> None:
    """Post a result into the update's unit of work: edit the pressed message where that
    reads better, then the rest; all of it is sent once the update is committed."""
    chat = update.effective_chat
    assert chat is not None
    replies = list(result.replies)
    posted: list[Outgoing] = []
    if pressed is not None and isinstance(pressed.message, Message):
        message = pressed.message
        if result.replace and replies and not replies[0].request_contact:
            posted.append(outbox.edit(chat.id, message.message_id, replies.pop(0), result.language, fallback=True))
        elif message.text and (chosen := _pressed_label(pressed)):
            # Keep the question on screen with the chosen answer, without live buttons. Only
            # when the press matches a button on that message: the bot's own question then,
            # never a relayed copy (someone's words) pressed with forged data.
            posted.append(outbox.annotate(chat.id, message.message_id, f"{message.text}\n\n→ {chosen}"))
    posted += [outbox.reply(chat.id, reply, result.language) for reply in replies]
    posted += [outbox.outbound(message) for message in result.outbound]
    await outbox.post(context.services.store, posted, context.services.clock())


def _pressed_label(query: CallbackQuery) -> str:
    keyboard = getattr(query.message, "reply_markup", None)
    for row in getattr(keyboard, "inline_keyboard", ()):
        for button in row:
            if button.callback_data == query.data:
                return str(button.text)
    return ""


async def _counsellor(update: Update, context: KollegaContext) -> CounsellorView | None:
    user = update.effective_user
    return None if user is None else await context.services.roster.counsellor(user.id)


# --- entry points ------------------------------------------------------------------
async def on_start(update: Update, context: KollegaContext) -> None:
    """/start: begin the triage or pick it up where it stopped (staff too may seek help)."""
    await show(update, context, await context.services.intake.start(person(update, context)))


async def on_command(update: Update, context: KollegaContext) -> None:
    """Any other command: by role, then the doctor's commands; unknown ones get a kind hint."""
    message = update.effective_message
    assert message is not None and message.text is not None
    words = message.text.split(maxsplit=1)
    name = words[0].lstrip("/").split("@")[0].lower()
    argument = words[1] if len(words) > 1 else ""
    services = context.services
    me = person(update, context)
    if name == "join":
        result = await services.roster.join(me.reach, argument.strip(), me.pseudonym, services.config.flow.default_language)
        await show(update, context, result)
        return
    counsellor = await _counsellor(update, context)
    if name in COUNSELLOR_COMMANDS or (name == "help" and counsellor is not None):
        if counsellor is None:
            await show(update, context, _refusal("counsellor.not_for_you", services))
            return
        await show(update, context, await services.roster.command(counsellor, name, argument))
        return
    if name in COORDINATOR_COMMANDS:
        user = update.effective_user
        if user is None or not await services.roster.is_coordinator(user.id):
            await show(update, context, _refusal("coordinator.not_for_you", services))
            return
        await show(update, context, await coordinator.command(services, name, argument))
        return
    await show(update, context, await services.intake.command(me, name))


def _refusal(key: str, services: Services) -> Result:
    return Result(services.config.flow.default_language, [Reply(Text(key))])


async def on_press(update: Update, context: KollegaContext) -> None:
    """A button press: staff buttons for staff, otherwise the doctor's conversation.

    The press is answered (the spinner stopped) once the update is committed, by the pipeline.
    """
    query = update.callback_query
    assert query is not None
    step, action = parse_callback(query.data)
    services = context.services
    counsellor = await _counsellor(update, context) if step in (*STAFF_STEPS, RELAY_STEP) else None
    if step == RELAY_STEP:
        # The button on a relayed copy. The copy's text is someone's words, so it is never
        # edited or quoted back (no ``pressed``): a counsellor's press picks that case for
        # their next messages, a doctor's shows where their case stands.
        if counsellor is not None and action.startswith("focus:"):
            await show(update, context, await services.roster.press(counsellor, "case", action))
        else:
            await show(update, context, await services.intake.command(person(update, context), "status"))
        return
    if counsellor is not None and step == "route":
        await _route_chosen(update, context, counsellor, action)
        return
    if counsellor is not None:
        result = await services.roster.press(counsellor, step, action)
    elif step in ("offer", "enrol", "route"):
        # A staff button pressed by someone who is not on the roster: forged or forwarded.
        result = _refusal("offer.not_yours", services)
    else:
        result = await services.intake.press(person(update, context), step, action)
    await show(update, context, result, pressed=query)


async def on_message(update: Update, context: KollegaContext) -> None:
    """Text, media or a contact: relayed inside an active case, else the triage's business."""
    message = update.effective_message
    assert message is not None
    services = context.services
    counsellor = await _counsellor(update, context)
    if counsellor is not None and counsellor.enrolling:
        await show(update, context, await services.roster.enrol_text(counsellor, message.text or ""))
        return
    if counsellor is not None and await _from_counsellor(update, context, counsellor, message):
        return
    me = person(update, context)
    target = await services.intake.relay_target(me)
    if target is not None:
        await _from_doctor(update, context, me, target, message)
        return
    if message.text is not None:
        await show(update, context, await services.intake.text(me, message.text))
    else:
        await show(update, context, await services.intake.unsupported(me))


async def on_edit(update: Update, context: KollegaContext) -> None:
    """An edited message is never a new answer, and edits are not relayed."""
    services = context.services
    me = person(update, context)
    counsellor = await _counsellor(update, context)
    in_case = await services.intake.relay_target(me) is not None or (counsellor is not None and counsellor.focus_case)
    if in_case:
        language = counsellor.language if counsellor else services.config.flow.default_language
        await show(update, context, Result(language, [Reply(Text("relay.edit_not_sent"))]))
        return
    await show(update, context, await services.intake.unsupported(me, hint="hint.edited"))


# --- relaying ----------------------------------------------------------------------
# A relayed message is posted as a copy of the original (copyMessage when the update is
# committed): its words never pass through Kollega's storage. The button on the copy says
# whose it is: the case code for the counsellor, the alias for the doctor.
async def _from_doctor(update: Update, context: KollegaContext, me: Person, target: Target, message: Message) -> None:
    services = context.services
    language = await _reader_language(services, me)
    if message.contact is not None:
        # Only the number behind the share button (a contact whose user id is the sender's own).
        if message.contact.user_id != me_id(update):
            await show(update, context, Result(target.language, [Reply(Text("doctor.phone_not_own"))]))
            return
        header = render(Text("relay.contact_header", {"code": target.code}), target.language)
        arrived = await _send_contact(context, message, target.reach, header)
        if arrived is None:
            await show(update, context, Result(language, [Reply(Text("relay.failed"))]))
            return
        await services.casework.on_sent(_unit(services), f"relay:{target.code}:{target.counsellor_id}", arrived)
        await services.casework.relayed(_unit(services), target.code)
        done = Reply(Text("doctor.phone_shared", {"alias": target.alias}), remove_keyboard=True)
        await show(update, context, Result(language, [done]))
        return
    label = render(Text("relay.doctor_button", {"code": target.code}), target.language)
    copy = outbox.relay(
        target.reach, message.chat_id, message.message_id, label, (RELAY_STEP, f"focus:{target.code}"), _notices(language),
        track=f"relay:{target.code}:{target.counsellor_id}",
    )  # fmt: skip
    await outbox.post(services.store, [copy], services.clock())
    await services.casework.relayed(_unit(services), target.code)
    if message.text is not None and services.intake.is_crisis(message.text):
        await show(update, context, await services.intake.crisis_in_case(me))


def _notices(language: str) -> tuple[str, str]:
    """What the writer of a relayed message is told if it is late, and if it never arrives."""
    return render(Text("relay.delayed"), language), render(Text("relay.failed"), language)


def me_id(update: Update) -> int:
    user = update.effective_user
    assert user is not None  # guaranteed by the private-chat guard
    return user.id


def _unit(services: Services) -> SqlTx:
    """The update's unit of work (every handler runs inside one, see bot.serve)."""
    tx = services.store.current()
    assert tx is not None, "handlers run inside the update's unit of work"
    return tx


async def _send_contact(context: KollegaContext, message: Message, reach: int, header: str) -> int | None:
    """A shared phone number, sent from memory: it is never written anywhere, the outbox included.

    Only the number and a header: no user id, no name, so the recipient cannot open the
    sender's account. Sent inside the update's unit of work, so a crash can repeat it but
    not lose it (the update is redelivered until its unit commits). PTB's request timeouts
    (5 s each for connecting, writing and reading) bound how long that unit stays open.
    """
    assert message.contact is not None
    phone = message.contact.phone_number
    try:
        # One try, no waiting on flood control: the update's transaction is open (and holds the
        # database's write lock). If it fails the sender is told, and can share it again.
        sent = await context.bot.send_contact(reach, phone_number=phone, first_name=header[:64])
    except TelegramError as error:
        log.warning("a shared phone number was not delivered: %s", type(error).__name__)
        return None
    return sent.message_id


async def _reader_language(services: Services, me: Person) -> str:
    async with services.store.transaction() as tx:
        case = await tx.case_of(me.pseudonym)
    return case.reader_language if case else services.config.flow.default_language


async def _from_counsellor(update: Update, context: KollegaContext, counsellor: CounsellorView, message: Message) -> bool:
    """Relay a counsellor's message to one of their doctors; False if they hold no case."""
    services = context.services
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    async with services.store.transaction() as tx:
        target = await services.casework.counsellor_target(tx, counsellor, reply_to)
    if isinstance(target, list):
        if not target:
            return False  # no open case: whatever they wrote is for the triage (or a hint)
        if message.contact is not None:
            # A contact is only ever sent as a bare number (_send_contact); the route buttons
            # would copy the whole contact card, so the case is picked first.
            await show(update, context, Result(counsellor.language, [Reply(Text("counsellor.contact_pick_case"))]))
            return True
        route = services.casework.route_action
        buttons = tuple(
            (Button(Text("counsellor.send_to", {"code": c.code}), route(counsellor, c.code, message.message_id)),)
            for c in target
        )
        await show(update, context, Result(counsellor.language, [Reply(Text("counsellor.which_case"), buttons, step="route")]))
        return True
    await _counsellor_relay(update, context, counsellor, target, message)
    return True


async def _route_chosen(update: Update, context: KollegaContext, counsellor: CounsellorView, action: str) -> None:
    """The counsellor picked which case a message was for: copy it from their chat now."""
    services = context.services
    routed = services.casework.routed(counsellor, action)
    if routed is None:
        await show(update, context, Result(counsellor.language, [Reply(Text("stale.unknown_button"))]))
        return
    code, message_id = routed
    async with services.store.transaction() as tx:
        target = await services.casework.counsellor_target(tx, counsellor, None, code)
    if isinstance(target, list):
        await show(update, context, Result(counsellor.language, [Reply(Text("counsellor.no_such_case", {"code": code}))]))
        return
    await _counsellor_relay(update, context, counsellor, target, message_id)


async def _counsellor_relay(
    update: Update, context: KollegaContext, counsellor: CounsellorView, target: Target, original: Message | int
) -> None:
    services = context.services
    if isinstance(original, Message) and original.contact is not None:
        header = render(Text("relay.from_counsellor", {"alias": counsellor.alias}), target.language)
        if await _send_contact(context, original, target.reach, header) is None:
            await show(update, context, Result(counsellor.language, [Reply(Text("relay.failed"))]))
            return
    else:
        message_id = original.message_id if isinstance(original, Message) else original
        label = render(Text("relay.counsellor_button", {"alias": counsellor.alias}), target.language)
        notices = _notices(counsellor.language)
        copy = outbox.relay(target.reach, counsellor.telegram_id, message_id, label, (RELAY_STEP, "status"), notices)
        await outbox.post(services.store, [copy], services.clock())
    tx = _unit(services)
    await services.casework.relayed(tx, target.code)
    if counsellor.focus_case != target.code:
        await tx.set_focus(counsellor.id, target.code)
