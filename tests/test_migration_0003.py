"""Revision 0003 on a database that already served doctors: what was in the clear is sealed or
counted, nothing a running case needs is lost, and it refuses to run without the key."""

from __future__ import annotations

import json
import os
import secrets
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import text

from flows.domain import CaseStatus
from storage.db import create_engine, upgrade
from storage.sealing import NONCE_BYTES, Keyring
from storage.store import SqlStore
from tests import auditor

pytestmark = pytest.mark.empty_database  # on PostgreSQL: a database without the migrated schema

OPENED = datetime(2026, 11, 20, 9, 41, 17, 123456)
ACCEPTED = datetime(2026, 11, 20, 10, 2, 5)


def _legacy_seal(keyring: Keyring, reach: int, bound_to: str) -> bytes:
    """How revision 0002's code sealed a value: nonce and ciphertext, no format byte or key id."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + keyring.current.aead.encrypt(nonce, str(reach).encode(), bound_to.encode())


async def _old_database(url: str, keyring: Keyring) -> Any:
    engine = create_engine(url)
    await upgrade(engine, "0002")
    async with engine.begin() as connection:
        run = connection.execute
        await run(text(
            "INSERT INTO counsellors (id, alias, telegram_id, pseudonym, home_county, serves, languages, pathways,"
            " capacity, available, active, last_offer_at) VALUES (1, 'Anna', 9001, :p, 'oslo', '[]', '[\"nb\"]',"
            " '[\"advice\"]', 2, true, true, :t)"
        ), {"p": keyring.pseudonym(9001), "t": ACCEPTED})  # fmt: skip
        case = {
            "code": "K-ABCDEF", "pseudonym": keyring.pseudonym(7001), "status": "active", "seeker": "self",
            "pathway": "not_coping", "urgent": True, "support": '["listen"]', "barriers": "[]", "role": "gp_partner",
            "county": "troms", "outside_county": False, "contact": "chat", "language": "nb", "reader_language": "en",
            "sealed_reach": _legacy_seal(keyring, 7001, keyring.pseudonym(7001)), "opened_at": OPENED,
            "accepted_at": ACCEPTED, "counsellor_id": 1, "last_activity_at": ACCEPTED, "silent_prompted": False,
            "feedback_given": False, "followup": False,
        }  # fmt: skip
        await run(text(f"INSERT INTO cases ({', '.join(case)}) VALUES ({', '.join(':' + k for k in case)})"), case)
        # An ended case whose doctor booked a follow-up: its chat is sealed bound to the code.
        ended = {**case, "code": "K-ENDED2", "status": "closed", "closed_at": ACCEPTED, "closed_by": "counsellor",
                 "followup": True, "sealed_reach": _legacy_seal(keyring, 7003, "K-ENDED2"),
                 "pseudonym": keyring.pseudonym(7003)}  # fmt: skip
        await run(text(f"INSERT INTO cases ({', '.join(ended)}) VALUES ({', '.join(':' + k for k in ended)})"), ended)
        await run(text(
            "INSERT INTO relay_messages (counsellor_id, message_id, case_code) VALUES (1, 55, 'K-ENDED2')"
        ))  # fmt: skip
        await run(
            text("INSERT INTO outbox (lane, sealed_to, method, payload, attempts, due_at) VALUES ('l', :t, 'send', '{}', 0, :d)"),
            {"t": _legacy_seal(keyring, 9001, "outbox:to"), "d": ACCEPTED},
        )
        await run(text(
            "INSERT INTO offers (case_code, counsellor_id, status, offered_at, deadline)"
            " VALUES ('K-ABCDEF', 1, 'accepted', :t, :d)"
        ), {"t": OPENED, "d": ACCEPTED})  # fmt: skip
        answers = json.dumps({"state": "pathway", "language": "nb", "seeker": "self"})
        await run(
            text("INSERT INTO drafts (pseudonym, answers, sealed_reach, updated_at) VALUES (:p, :a, :r, :u)"),
            {"p": keyring.pseudonym(7002), "a": answers, "r": _legacy_seal(keyring, 7002, keyring.pseudonym(7002)), "u": OPENED},
        )
        for kind, extra in (("case_opened", {"pathway": "not_coping", "county": "troms", "role": "gp_partner"}),
                            ("case_accepted", {"pathway": "not_coping", "urgent": True, "duration_s": 1268}),
                            ("feedback", {"pathway": "advice", "score": 4})):  # fmt: skip
            row = {"kind": kind, "hour": OPENED.replace(minute=0, second=0, microsecond=0), "counsellor": "x" * 64, **extra}
            await run(text(f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
    return engine


async def test_revision_0003_seals_and_counts_what_was_in_the_clear(database_url: str) -> None:
    keyring = Keyring(secrets.token_urlsafe(32))
    engine = await _old_database(database_url, keyring)
    await upgrade(engine, keyring=keyring)
    store = SqlStore.on(engine, keyring)
    async with store.transaction() as tx:
        case = await tx.cases.get("K-ABCDEF")
        assert case is not None and case.status is CaseStatus.ACTIVE
        assert (case.pathway, case.urgent, case.county, case.role, case.reader_language) == (
            "not_coping", True, "troms", "gp_partner", "en"
        )  # fmt: skip
        assert (case.opened_at, case.accepted_at) == (OPENED, ACCEPTED)
        assert await tx.cases.reach("K-ABCDEF") == 7001
        draft = await tx.drafts.get(keyring.pseudonym(7002))
        assert draft is not None and draft.seeker == "self"
        assert await tx.drafts.reach(keyring.pseudonym(7002)) == 7002
        counts = (await tx.session.execute(text("SELECT kind, family, duration_s, score, count FROM event_counts"))).all()
        assert await tx.offers.pending_for("K-ABCDEF") is None
        offers = (await tx.session.execute(text("SELECT case_code, status FROM offers"))).all()
        anna = await tx.roster.counsellor(1)
        ended = await tx.cases.get("K-ENDED2")
        assert ended is not None and ended.counsellor_id is None and ended.reader_language == "en"
        assert await tx.cases.followup_reach("K-ENDED2") == 7003
        assert await tx.cases.of_copy(1, 55) is None, "an ended case keeps no relay links"
        owed = await store.take_owed(ACCEPTED, [])
    rows = await auditor.rows_at_rest(engine)
    await engine.dispose()

    assert "events" not in rows
    assert [tuple(o) for o in offers] == [("K-ABCDEF", "accepted")], "the open case's offer survives"
    assert anna is not None and anna.last_offer_turn == 1 and anna.open_cases == 1
    assert [message.to for message in owed] == [9001], "a message owed before is still delivered"
    assert {(kind, family, duration, score, n) for kind, family, duration, score, n in counts} >= {
        ("case_accepted", "pathway,urgent,duration", 1800, None, 1),  # 21 min, kept as "within 30 minutes"
        ("feedback", "score", None, 4, 1),
    }
    assert auditor.sub_hour_times(rows) == []
    assert auditor.smallest_group(rows, ("county", "role"))[0] is None
    sealed = [v for table in ("cases", "drafts") for row in rows[table] for k, v in row.items() if k.startswith("sealed") and v]
    assert sealed and all(keyring.sealed_under(v) == keyring.current.id for v in sealed)
    assert date(2026, 11, 20) in {
        row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"]) for row in rows["event_counts"]
    }


async def test_revision_0003_refuses_to_run_without_the_key(database_url: str) -> None:
    keyring = Keyring(secrets.token_urlsafe(32))
    engine = await _old_database(database_url, keyring)
    with pytest.raises(RuntimeError, match="needs the service's key"):
        await upgrade(engine)
    await engine.dispose()


async def test_revision_0003_needs_no_key_on_a_new_database(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
