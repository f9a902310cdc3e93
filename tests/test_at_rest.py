"""What an auditor with the database finds at rest (docs/threat-model.md section 9).

* After /forget, no byte string from the doctor's rows survives: not the pseudonym, the
  case code, the chat id, nor any sealed value their draft, case or messages ever had,
  in the database, its -wal or -shm file, or the logs (SQLite, while the bot runs); on
  PostgreSQL, in any page of any table, index or TOAST table, read raw with pageinspect.
* No timestamp finer than an hour at rest, outside the columns that schedule something.
* Statistics are counts: no integer key that orders them, no duration that joins one to
  a case, no value that names a counsellor.
* Over a few hundred generated cases, no quasi-identifier (county, role) is at rest in
  the clear, so the smallest group on them is never below ``min_cell``; the export still
  counts them (it reads the tagged cells back with the key).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from flows.periods import Period
from storage.models import CaseRow, DraftRow, OutboxRow
from storage.outbox import Method, Outgoing, lane_of
from storage.statistics import collect
from tests import auditor
from tests.population import populate
from tests.scenarios import ACCEPT, CONSENT, NOT_COPING, PREFERENCES, SAFETY_NO, SELF, add_counsellor, case_code, walk

DOCTOR = 7_391_824_650


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    for name in ("bot", "flows", "storage", "kollega"):
        caplog.set_level(logging.INFO, logger=name)
    return caplog


async def _sealed_of(harness: Any, pseudonym: str, chat: int) -> set[bytes]:
    """Every sealed value and key the doctor's rows hold right now."""
    found: set[bytes] = set()
    async with harness.services.store.transaction() as tx:
        for draft in (await tx.session.scalars(select(DraftRow).where(DraftRow.pseudonym == pseudonym))).all():
            found |= {draft.sealed_answers, draft.sealed_reach or b""}
        for case in (await tx.session.scalars(select(CaseRow).where(CaseRow.pseudonym == pseudonym))).all():
            found |= {case.code.encode(), case.sealed_details or b"", case.sealed_reach or b""}
        lane = lane_of(harness.services.keyring, chat)
        for row in (await tx.session.scalars(select(OutboxRow).where(OutboxRow.lane == lane))).all():
            found |= {row.sealed_to, row.lane.encode()}
    return {value for value in found if value}


async def _raw_pages(harness: Any) -> bytes:
    """Every page of every relation of the test's PostgreSQL database, as stored."""
    async with harness.services.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        relations = await driver.fetch(
            "SELECT c.oid::regclass::text AS name, pg_relation_size(c.oid) / current_setting('block_size')::int AS pages"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 'i', 't')"
            " AND (n.nspname = 'public' OR c.relname LIKE 'pg_toast_%')"
        )
        pages = []
        for relation in relations:
            for block in range(relation["pages"]):
                pages.append(await driver.fetchval("SELECT get_raw_page($1, $2)", relation["name"], block))
    return b"".join(pages)


async def _at_rest(harness: Any, tmp_path: Path) -> bytes:
    if harness.services.engine.dialect.name == "postgresql":
        return await _raw_pages(harness)
    return b"".join(p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.name.startswith("kollega.db"))  # noqa: ASYNC240


async def test_forget_leaves_no_byte_of_the_doctor_at_rest(harness, logs, tmp_path: Path) -> None:
    harness.services.store.inline_scrub = False  # in the background, as in `kollega run` (Harness.feed settles)
    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(DOCTOR, "Kari")
    pseudonym = harness.services.keyring.pseudonym(DOCTOR)
    seen: set[bytes] = {pseudonym.encode()}

    async def step(update: dict[str, Any]) -> None:
        await harness.feed(update)
        seen.update(await _sealed_of(harness, pseudonym, kari.chat_id))

    await step(kari.send_command("/start"))
    for label in (CONSENT, SELF, NOT_COPING, SAFETY_NO, *PREFERENCES, "Ja, send til en støttekollega"):
        await step(kari.press(label))
    code = case_code(harness.telegram.last_to(kari.chat_id).text)
    await walk(harness, anna, ACCEPT)
    await step(kari.send_text("Jeg orker snart ikke mer"))
    await step(anna.send_text("Jeg er her. Fortell."))
    # A message still owed to her when she erases everything (the sender has not taken it).
    store = harness.services.store
    handing, store.on_commit = store.on_commit, None
    async with store.transaction() as tx:
        await tx.post(Outgoing(kari.chat_id, Method.SEND, {"text": "Anna har svart deg."}), harness.clock.now)
    store.on_commit = handing
    seen.update(await _sealed_of(harness, pseudonym, kari.chat_id))
    seen.add(code.encode())
    before = await _at_rest(harness, tmp_path)
    assert any(needle in before for needle in seen), "the scan finds the doctor before /forget"

    # Her chat's messages wait (storage.outbox set_aside), so the question "erase everything?"
    # is still on its way to her: she answers it as she would once it arrives.
    await harness.feed(kari.send_command("/forget"))
    await harness.feed(kari.press_data("forget|forget_yes"))
    await harness.feed(anna.send_command("/cases"))  # another unit of work after the erasure

    async with harness.services.store.transaction() as tx:
        assert await tx.cases.of_doctor(pseudonym) is None and await tx.drafts.get(pseudonym) is None
        owed = (
            await tx.session.scalars(select(OutboxRow).where(OutboxRow.lane == lane_of(harness.services.keyring, DOCTOR)))
        ).all()
    assert [row.payload.get("text", "")[:29] for row in owed] in ([], ["Alt som kunne knyttes til deg"])
    # Her chat comes back: the answer to /forget is delivered, and its row goes too.
    await harness.tick(hours=1)
    await harness.feed(anna.send_command("/cases"))
    assert "Alt som kunne knyttes til deg er slettet" in (harness.telegram.last_to(kari.chat_id).text or "")
    at_rest = await _at_rest(harness, tmp_path)
    survivors = Counter(needle[:24] for needle in seen for _ in range(at_rest.count(needle)))
    assert survivors == Counter(), f"{sum(survivors.values())} copies of the doctor's bytes survive /forget"
    assert str(DOCTOR) not in logs.text and code not in logs.text and pseudonym not in logs.text
    assert harness.services.store.scrubs >= 1


@pytest.mark.parametrize("pragma", ["secure_delete", "journal_size_limit"])
async def test_sqlite_connections_zero_what_they_delete(harness, pragma: str) -> None:
    """The erasure does not depend on how this machine's libsqlite3 was compiled."""
    if harness.services.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite setting")
    async with harness.services.store.transaction() as tx:
        value = (await tx.session.execute(text(f"PRAGMA {pragma}"))).scalar()
    assert value == {"secure_delete": 1, "journal_size_limit": 0}[pragma]


async def test_closing_a_case_cuts_the_wal_to_nothing(harness, tmp_path: Path) -> None:
    if harness.services.engine.dialect.name != "sqlite":
        pytest.skip("the WAL is SQLite's")
    from tests.scenarios import triage

    anna = await add_counsellor(harness, 9001, "Anna")
    kari = harness.user(DOCTOR, "Kari")
    code = await triage(harness, kari, NOT_COPING)
    await walk(harness, anna, ACCEPT)
    assert (tmp_path / "kollega.db-wal").stat().st_size > 0
    await harness.feed(anna.send_command(f"/close {code}"))
    await harness.feed(anna.press("Ja, avslutt"))
    assert (tmp_path / "kollega.db-wal").stat().st_size == 0


async def test_nothing_at_rest_is_finer_than_an_hour_or_joins_or_names_a_counsellor(harness) -> None:
    population = await populate(harness, 40, seed=3)
    # And a few doctors left mid-triage, whose drafts are at rest too.
    for i in range(3):
        stranded = harness.user(5_000_000 + i, "Midt")
        await harness.feed(stranded.send_command("/start"))
        await walk(harness, stranded, CONSENT, SELF)
    rows = await auditor.rows_at_rest(harness.services.engine)
    assert rows["drafts"] and rows["cases"] and rows["event_counts"], "the audit has something to read"
    assert Counter(d.ending for d in population.doctors)["closed"] > 0

    assert auditor.sub_hour_times(rows) == []
    assert auditor.ordered_ids(rows) == 0
    if harness.services.engine.dialect.name == "sqlite":  # nor a hidden rowid that counts up
        async with harness.services.engine.connect() as connection:
            with pytest.raises(OperationalError, match="no such column: rowid"):
                await connection.execute(text("SELECT rowid FROM event_counts"))
    assert auditor.duration_joins(rows) == 0
    # Flags and small numbers (a capacity, a count) mean nothing alone; everything else must differ.
    counsellors = {
        v for v in auditor.values_in(rows, "counsellors") if v not in ("True", "False") and (not v.isdigit() or len(v) > 4)
    }
    in_statistics = auditor.values_in(rows, "event_counts")
    assert counsellors & in_statistics == set()


async def test_reidentification_audit_over_generated_cases(harness, config) -> None:
    population = await populate(harness, 200, seed=7)
    rows = await auditor.rows_at_rest(harness.services.engine)
    smallest, where = auditor.smallest_group(rows, ("county", "role"))
    report = f"smallest group on (county, role) at rest: {smallest} ({where}); cases {len(rows['cases'])}"
    assert smallest is None or smallest >= config.min_cell, report
    smallest_any, where_any = auditor.smallest_group(rows)
    assert smallest_any is None or smallest_any >= 1, where_any  # reported, for the threat model

    # The export still counts county and role: it reads the tags back with the key.
    opened = len(population.doctors)
    async with harness.services.store.transaction() as tx:
        cells = await collect(
            tx.session, Period.MONTH, since=date(2026, 1, 1), until=date(2027, 12, 31),
            counties=[c.code for c in config.flow.counties], tagger=harness.services.keyring,
        )  # fmt: skip

    def counted(dimension: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for cell in cells:
            if (cell.measure, cell.dimension, cell.statistic) == ("case_opened", dimension, "count"):
                found[cell.value] = found.get(cell.value, 0) + cell.result
        return found

    by_county, by_role = counted("county"), counted("role")
    assert sum(counted("all").values()) == opened
    assert sum(by_county.values()) == opened and by_county.get("unknown", 0) == 0, by_county
    assert sum(by_role.values()) == opened and by_role.get("unknown", 0) == 0, by_role
    assert len([n for n in by_county.values() if n]) > 5, "the cases are spread over many counties"
