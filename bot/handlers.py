"""Every update's first stop: who wrote (doctor, counsellor, coordinator), then the
matching flow. Thin: the decisions are made in ``flows``."""

from __future__ import annotations

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest

from bot import coordinator
from bot.context import KollegaContext, Services
from bot.delivery import send, send_outbound, with_retries
from bot.relay import copy, copy_by_id
from bot.render import inline_markup, parse_callback, text_of
from flows.casework import Target
from flows.catalogue import render
from flows.intake import Person, Result
from flows.ports import CounsellorView
from flows.replies import Button, Outbound, Reply, Text

COUNSELLOR_COMMANDS = ("available", "away", "cases", "case", "close")
COORDINATOR_COMMANDS = ("queue", "stats")
STAFF_STEPS = ("offer", "case", "enrol", "route")


def person(update: Update, context: KollegaContext) -> Person:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None  # guaranteed by the private-chat guard
    return Person(context.services.keyring.pseudonym(user.id), chat.id)


async def show(update: Update, context: KollegaContext, result: Result, pressed: CallbackQuery | None = None) -> None:
    """Send a result: edit the pressed message where that reads better, then send the rest."""
    chat = update.effective_chat
    assert chat is not None
    replies = list(result.replies)
    if pressed is not None and isinstance(pressed.message, Message):
        message = pressed.message
        try:
            if result.replace and replies and not replies[0].request_contact:
                first = replies.pop(0)
                await message.edit_text(text_of(first, result.language), reply_markup=inline_markup(first, result.language))
            elif message.text:
                # Keep the question on screen with the chosen answer, without live buttons.
                chosen = _pressed_label(pressed)
                await message.edit_text(f"{message.text}\n\n→ {chosen}" if chosen else message.text, reply_markup=None)
        except BadRequest:
            pass  # too old to edit, or unchanged: sending below is enough
    for reply in replies:
        await send(context.bot, chat.id, reply, result.language)
    await deliver(context.services, context.bot, result.outbound)


async def deliver(services: Services, bot: object, outbound: list[Outbound]) -> None:
    """Messages for other people; tracked ones report their message id to the flows."""
    for message in outbound:
        sent = await send_outbound(bot, message)  # type: ignore[arg-type]
        if sent is not None and message.track:
            async with services.store.transaction() as tx:
                await services.casework.on_sent(tx, message.track, sent.message_id)


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
        await coordinator.command(update, context, name, argument)
        return
    await show(update, context, await services.intake.command(me, name))


def _refusal(key: str, services: Services) -> Result:
    return Result(services.config.flow.default_language, [Reply(Text(key))])


async def on_press(update: Update, context: KollegaContext) -> None:
    """A button press: staff buttons for staff, otherwise the doctor's conversation."""
    query = update.callback_query
    assert query is not None
    step, action = parse_callback(query.data)
    services = context.services
    counsellor = await _counsellor(update, context) if step in STAFF_STEPS else None
    if counsellor is not None and step == "route":
        await with_retries(query.answer)
        await _route_chosen(update, context, counsellor, action)
        return
    if counsellor is not None:
        result = await services.roster.press(counsellor, step, action)
    elif step in ("offer", "enrol", "route"):
        # A staff button pressed by someone who is not on the roster: forged or forwarded.
        result = _refusal("offer.not_yours", services)
    else:
        result = await services.intake.press(person(update, context), step, action)
    await with_retries(query.answer)
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
async def _from_doctor(update: Update, context: KollegaContext, me: Person, target: Target, message: Message) -> None:
    services = context.services
    # Only the number behind the share button (a contact whose user id is the sender's own).
    if message.contact is not None and message.contact.user_id != update.effective_user.id:  # type: ignore[union-attr]
        await show(update, context, Result(target.language, [Reply(Text("doctor.phone_not_own"))]))
        return
    header = render(Text("relay.from_doctor", {"code": target.code}), target.language)
    if message.contact is not None:
        header = render(Text("relay.contact_header", {"code": target.code}), target.language)
    arrived = await copy(context.bot, message, target.reach, header)
    language = await _reader_language(services, me)
    if arrived is None:
        await show(update, context, Result(language, [Reply(Text("relay.failed"))]))
        return
    async with services.store.transaction() as tx:
        await services.casework.on_sent(tx, f"relay:{target.code}:{target.counsellor_id}", arrived)
        await services.casework.relayed(tx, target.code)
    if message.contact is not None:
        done = Reply(Text("doctor.phone_shared", {"alias": target.alias}), remove_keyboard=True)
        await show(update, context, Result(language, [done]))
    elif message.text is not None and services.intake.is_crisis(message.text):
        await show(update, context, await services.intake.crisis_in_case(me))


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
        route = services.casework.route_action
        buttons = tuple(
            (Button(Text("counsellor.send_to", {"code": c.code}), route(counsellor, c.code, message.message_id)),)
            for c in target
        )
        await show(update, context, Result(counsellor.language, [Reply(Text("counsellor.which_case"), buttons, step="route")]))
        return True
    header = render(Text("relay.from_counsellor", {"alias": counsellor.alias}), target.language)
    await _counsellor_relay(update, context, counsellor, target, await copy(context.bot, message, target.reach, header))
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
    header = render(Text("relay.from_counsellor", {"alias": counsellor.alias}), target.language)
    arrived = await copy_by_id(context.bot, counsellor.telegram_id, message_id, target.reach, header)
    await _counsellor_relay(update, context, counsellor, target, arrived)


async def _counsellor_relay(
    update: Update, context: KollegaContext, counsellor: CounsellorView, target: Target, arrived: int | None
) -> None:
    services = context.services
    if arrived is None:
        await show(update, context, Result(counsellor.language, [Reply(Text("relay.failed"))]))
        return
    async with services.store.transaction() as tx:
        await services.casework.relayed(tx, target.code)
        if counsellor.focus_case != target.code:
            await tx.set_focus(counsellor.id, target.code)
