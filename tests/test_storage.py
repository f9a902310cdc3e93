"""Storage: migrations from empty, drafts, cases, sealing, events, timers, forget."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text

from flows.events import Event, EventKind
from flows.triage import Draft, Step
from storage.db import create_engine, sessionmaker, upgrade
from storage.models import Base, CaseRow, DraftRow, EventCountRow
from storage.sealing import Keyring, SealBroken
from storage.store import SqlStore

NOW = datetime(2026, 11, 23, 14, 47, 12)


@pytest.fixture
async def store(database_url: str):
    engine = create_engine(database_url)
    await upgrade(engine)
    yield SqlStore(sessionmaker(engine), Keyring(secrets.token_urlsafe(32)))
    await engine.dispose()


async def test_migrations_from_empty_create_the_whole_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        version = (await connection.execute(text("select version_num from alembic_version"))).scalar_one()
        journal = (await connection.execute(text("pragma journal_mode"))).scalar_one()
    await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert version == "0004"
    assert journal == "wal"


async def test_migrations_match_the_models(database_url: str) -> None:
    """A model change without a migration fails here, not in production."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(database_url)
    await upgrade(engine)
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c, opts={"render_as_batch": True}), Base.metadata)
        )
    await engine.dispose()
    assert diff == []


async def test_upgrade_twice_is_harmless(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    await upgrade(engine)
    await engine.dispose()


async def test_draft_round_trip_keeps_codes_and_seals_the_chat(store: SqlStore) -> None:
    draft = Draft(state=Step.SUPPORT, seeker="self", pathway="advice", support=["emotional", "advice"], urgent=True)
    async with store.transaction() as tx:
        await tx.drafts.put("p1", draft, 424242, NOW)
    async with store.transaction() as tx:
        loaded = await tx.drafts.get("p1")
        reach = await tx.drafts.reach("p1")
        row = await tx.session.get(DraftRow, "p1")
    assert loaded == draft
    assert reach == 424242
    assert row is not None and b"424242" not in (row.sealed_reach or b"")
    assert b"emotional" not in row.sealed_answers and b"advice" not in row.sealed_answers
    assert row.updated_at == datetime(2026, 11, 23, 14, 0, 0)  # the hour, for the purge


def test_sealing_round_trip_and_tamper_detection() -> None:
    keyring = Keyring("a-secret-of-enough-length")
    sealed = keyring.seal(987654321, "pseudonym-a")
    assert keyring.unseal(sealed, "pseudonym-a") == 987654321
    with pytest.raises(SealBroken):
        keyring.unseal(sealed, "pseudonym-b")  # moved to another row
    with pytest.raises(SealBroken):
        Keyring("another-secret-of-length").unseal(sealed, "pseudonym-a")  # wrong key
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealBroken):
        keyring.unseal(flipped, "pseudonym-a")
    assert keyring.seal(1, "p") != keyring.seal(1, "p")  # fresh nonce each time


def test_pseudonyms_are_stable_keyed_and_reveal_nothing() -> None:
    keyring = Keyring("a-secret-of-enough-length")
    assert keyring.pseudonym(5551234) == keyring.pseudonym(5551234)
    assert keyring.pseudonym(5551234) != keyring.pseudonym(5551235)
    assert keyring.pseudonym(5551234) != Keyring("another-secret-of-length").pseudonym(5551234)
    assert "5551234" not in keyring.pseudonym(5551234)


async def test_opening_a_case_gives_a_random_code_and_withdrawing_destroys_the_seal(store: SqlStore) -> None:
    draft = Draft(state=Step.WAITING, seeker="self", pathway="not_coping", support=["emotional"], role="locum",
                  county="oslo", contact="chat", case_language="nb")  # fmt: skip
    async with store.transaction() as tx:
        case = await tx.cases.open("p1", draft, 777, NOW)
        other = await tx.cases.open("p2", draft, 778, NOW)
    assert case.code.startswith("K-") and len(case.code) == 8 and case.code != other.code
    async with store.transaction() as tx:
        assert (await tx.cases.of_doctor("p1")) == case
        assert await tx.cases.reach(case.code) == 777
        await tx.cases.withdraw(case.code, NOW)
    async with store.transaction() as tx:
        assert await tx.cases.of_doctor("p1") is None
        row = await tx.session.get(CaseRow, case.code)
    assert row is not None and row.status == "cancelled"
    assert row.sealed_reach is None and row.pseudonym is None
    assert row.closed_on == NOW.date() and row.counsellor_id is None
    assert row.sealed_details is not None and b"not_coping" not in row.sealed_details and b"oslo" not in row.sealed_details


async def test_events_are_only_counted_per_day_without_county_role_or_counsellor(store: SqlStore) -> None:
    opened = Event(EventKind.CASE_OPENED, pathway="advice", seeker="self", county="finnmark", role="locum", urgent=False,
                   contact="chat", language="nb", support_mask=1, barrier_mask=2)  # fmt: skip
    accepted = Event(EventKind.CASE_ACCEPTED, pathway="advice", urgent=False, counsellor="pseudonym-of-anna", duration_s=90)
    async with store.transaction() as tx:
        await tx.events.record(opened, NOW)
        await tx.events.record(opened, NOW + timedelta(minutes=5))
        await tx.events.record(accepted, NOW)
    async with store.transaction() as tx:
        rows = (await tx.session.scalars(select(EventCountRow))).all()
    assert {row.day for row in rows} == {NOW.date()}
    by_kind = {kind: [row for row in rows if row.kind == kind] for kind in ("case_opened", "case_accepted")}
    assert len(rows) == 4 and len(by_kind["case_opened"]) == 3, "one counter row per GROUP BY family, not per event"
    assert all(row.count == 2 for row in by_kind["case_opened"]), "the second event adds to the same rows"
    [first] = [row for row in by_kind["case_opened"] if row.pathway is not None]
    assert (first.pathway, first.seeker, first.urgent, first.contact) == ("advice", "self", False, "chat")
    [tagged] = [row for row in by_kind["case_opened"] if row.cell.startswith("t:")]
    dumped = " ".join(str(getattr(row, c.key)) for row in rows for c in EventCountRow.__table__.columns)
    assert "finnmark" not in dumped and "locum" not in dumped, "county and role only as a tag"
    assert "pseudonym-of-anna" not in dumped, "statistics never name a counsellor"
    assert (tagged.pathway, tagged.seeker, tagged.support_mask) == (None, None, None)
    [wait] = by_kind["case_accepted"]
    assert (wait.pathway, wait.urgent, wait.duration_s, wait.count) == ("advice", False, 300, 1), "90 s is kept as 5 min"


async def test_timers_fall_due_in_order_and_once(store: SqlStore) -> None:
    async with store.transaction() as tx:
        await tx.timers.set("draft_reminder", "p1", NOW + timedelta(hours=2))
        await tx.timers.set("draft_reminder", "p2", NOW + timedelta(hours=1))
        await tx.timers.set("draft_reminder", "p1", NOW + timedelta(hours=3))  # re-armed, not duplicated
    async with store.transaction() as tx:
        assert await tx.timers.next_due(NOW) is None
    taken = []
    async with store.transaction() as tx:
        while (due := await tx.timers.next_due(NOW + timedelta(hours=5))) is not None:
            taken.append(due.subject)
    assert taken == ["p2", "p1"]
    async with store.transaction() as tx:
        assert await tx.timers.next_due(NOW + timedelta(days=9)) is None


async def test_forget_removes_everything_linkable(store: SqlStore) -> None:
    draft = Draft(state=Step.WAITING, seeker="self", pathway="advice", support=["advice"], role="other",
                  county="none", contact="chat", case_language="nb")  # fmt: skip
    async with store.transaction() as tx:
        case = await tx.cases.open("p1", draft, 777, NOW)
        await tx.drafts.put("p1", Draft(state=Step.ROLE), 777, NOW)
        await tx.timers.set("draft_reminder", "p1", NOW)
        await tx.timers.set("offer_deadline", case.code, NOW)
        await tx.cases.forget("p1", 777)
    async with store.transaction() as tx:
        assert await tx.drafts.get("p1") is None
        assert await tx.cases.get(case.code) is None
        assert await tx.timers.next_due(NOW + timedelta(days=1)) is None
