"""Conversation steps shared by the tests: what a doctor presses, in the labels they see."""

from __future__ import annotations

from typing import Any

from tests.faketelegram import FakeUser

CONSENT = "Ja, fortsett"
SELF = "Det gjelder meg selv"
COLLEAGUE = "Jeg er bekymret for en kollega"
ADVICE = "Råd i en krevende situasjon"
NOT_COPING = "Redd for ikke å klare mer"
WAY_BACK = "En vei tilbake eller ut"
NOT_SURE = "Jeg er ikke sikker"
SAFETY_NO = "Nei"
SAFETY_YES = "Ja"
CONTINUE_AFTER_CRISIS = "Fortsett til en støttekollega"
CRISIS_NOW = "Ja, det gjelder nå"
CRISIS_NOT_NOW = "Nei, ikke nå"
DONE = "Ferdig – gå videre"
SKIP = "Hopp over"
CONFIRM = "Ja, send til en støttekollega"

# From the support question to the summary, with typical answers.
PREFERENCES = [
    "⬜ Noen som lytter og forstår",
    DONE,
    "⬜ Kulturen der jeg jobber",
    DONE,
    "Fastlege, ansatt",
    "Oslo",
    "Ja, helst fra et annet fylke",
    "Skrive her i chatten",
    "Norsk",
]


async def walk(harness: Any, doctor: FakeUser, *labels: str) -> None:
    """Press each button, by the label the doctor sees, in order."""
    for label in labels:
        await harness.feed(doctor.press(label))


async def triage(harness: Any, doctor: FakeUser, *situation: str, safety: str = SAFETY_NO) -> str:
    """A whole triage from /start to a confirmed case; returns the case code."""
    await harness.feed(doctor.send_command("/start"))
    await walk(harness, doctor, CONSENT, SELF, *situation, safety)
    if safety == SAFETY_YES:
        await walk(harness, doctor, CONTINUE_AFTER_CRISIS)
    await walk(harness, doctor, *PREFERENCES, CONFIRM)
    return case_code(harness.telegram.last_to(doctor.chat_id).text)


def case_code(text: str | None) -> str:
    import re

    found = re.search(r"K-[A-Z2-9]{6}", text or "")
    assert found, f"no case code in {text!r}"
    return found.group(0)


ACCEPT = "Ta saken"
DECLINE = "Avslå"
ALL_PATHWAYS = ["advice", "not_coping", "way_back_or_out"]


async def add_counsellor(
    harness: Any,
    telegram_id: int,
    alias: str,
    county: str = "vestland",
    *,
    pathways: list[str] | None = None,
    languages: list[str] | None = None,
    capacity: int = 2,
    serves: list[str] | None = None,
) -> FakeUser:
    """Put a counsellor on the roster as `kollega counsellor add` does; returns their Telegram handle."""
    from storage import roster

    async with harness.services.store.transaction() as tx:
        await roster.add_counsellor(
            tx.session,
            telegram_id=telegram_id,
            alias=alias,
            pseudonym=harness.services.keyring.pseudonym(telegram_id),
            county=county,
            serves=serves or [],
            pathways=pathways or ALL_PATHWAYS,
            languages=languages or ["nb"],
            capacity=capacity,
        )
    return harness.user(telegram_id, alias)


async def add_coordinator(harness: Any, telegram_id: int) -> FakeUser:
    from storage import roster

    async with harness.services.store.transaction() as tx:
        await roster.add_coordinator(tx.session, telegram_id)
    return harness.user(telegram_id, "Koordinator")


async def event_count(harness: Any, kind: str, **where: Any) -> int:
    """How many ``kind`` events the statistics counted, where the counter columns are ``where``.

    One event adds 1 to one counter row per GROUP BY family of its kind
    (``storage.statistics.families``): CASE_OPENED, for one, adds to three rows. Only the
    rows of the kind's *first* family are summed here, so each event counts once; that
    family is the one with the duration step (``duration_s``) for the kinds that keep one.
    """
    from sqlalchemy import func, select

    from flows.events import EventKind
    from storage.models import EventCountRow
    from storage.statistics import families, family_of

    query = select(func.coalesce(func.sum(EventCountRow.count), 0)).where(
        EventCountRow.kind == kind, EventCountRow.family == family_of(families(EventKind(kind))[0])
    )
    for name, value in where.items():
        column = getattr(EventCountRow, name)
        query = query.where(column.is_(None) if value is None else column == value)
    async with harness.services.store.transaction() as tx:
        return int(await tx.session.scalar(query) or 0)


async def counter_rows(harness: Any) -> list[Any]:
    """Every statistics counter row (``storage.models.EventCountRow``)."""
    from sqlalchemy import select

    from storage.models import EventCountRow

    async with harness.services.store.transaction() as tx:
        return list((await tx.session.scalars(select(EventCountRow))).all())


def mentions(row: Any, text: str) -> bool:
    """Whether a counter row holds ``text`` anywhere (its cell or any column)."""
    from storage.models import EventCountRow

    return any(text in str(getattr(row, column.key)) for column in EventCountRow.__table__.columns)


async def counted(harness: Any) -> dict[tuple[str, str, str], int]:
    """The statistics' raw counts (before suppression) over all months, by (measure, dimension, value).

    Read as the export reads them, with the service's keys: county and role are only
    there as a tag (``storage.statistics.Tags``).
    """
    from collections import defaultdict

    from flows.disclosure import COUNT
    from flows.periods import Period
    from storage.statistics import collect

    counties = [county.code for county in harness.services.config.flow.counties]
    async with harness.services.store.transaction() as tx:
        cells = await collect(tx.session, Period.MONTH, counties=counties, tagger=harness.services.keyring)
    sums: dict[tuple[str, str, str], int] = defaultdict(int)
    for cell in cells:
        if cell.statistic == COUNT:
            sums[(cell.measure, cell.dimension, cell.value)] += cell.result
    return dict(sums)
