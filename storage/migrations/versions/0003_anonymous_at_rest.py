"""anonymous at rest: daily event counts instead of event rows; case details and draft
answers sealed; times at rest cut to the hour; sealed values carry their key's id

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

What was in the clear is sealed here, so this revision needs the service's keys: it is
run by `kollega db upgrade` and `kollega run`, which hand them in (storage.db.upgrade).
On a database with nothing to seal (a new one) it runs without them.
"""

import json
from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CASE_COLUMNS = (
    "seeker", "pathway", "urgent", "support", "barriers", "role", "county", "outside_county", "contact", "language",
    "reader_language", "opened_at", "accepted_at", "closed_at", "closed_by", "last_activity_at", "escalated_at",
)  # fmt: skip
EVENT_FIELDS = (
    "pathway", "seeker", "county", "role", "urgent", "contact", "language", "support_mask", "barrier_mask", "step",
    "actor", "duration_s", "score",
)  # fmt: skip


def _keyring() -> Any:
    keyring = context.config.attributes.get("keyring")
    if keyring is None:
        raise RuntimeError(
            "revision 0003 seals what was stored in the clear and needs the service's key: "
            "run `kollega db upgrade --config FILE` (or `kollega run`)"
        )
    return keyring


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _hour(value: Any) -> datetime | None:
    moment = _moment(value)
    return None if moment is None else moment.replace(minute=0, second=0, microsecond=0)


def _events_to_counts(bind: Any) -> None:
    from flows.events import Event, EventKind
    from storage.statistics import counter_rows

    op.create_table(
        'event_counts',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('family', sa.String(length=64), nullable=False),
        sa.Column('cell', sa.String(length=200), nullable=False),
        sa.Column('pathway', sa.String(length=24), nullable=True),
        sa.Column('seeker', sa.String(length=16), nullable=True),
        sa.Column('urgent', sa.Boolean(), nullable=True),
        sa.Column('contact', sa.String(length=16), nullable=True),
        sa.Column('support_mask', sa.Integer(), nullable=True),
        sa.Column('barrier_mask', sa.Integer(), nullable=True),
        sa.Column('step', sa.String(length=24), nullable=True),
        sa.Column('actor', sa.String(length=16), nullable=True),
        sa.Column('duration_s', sa.Integer(), nullable=True),
        sa.Column('score', sa.Integer(), nullable=True),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'kind', 'family', 'cell', name=op.f('pk_event_counts')),
        sqlite_with_rowid=False,
    )
    rows = bind.execute(sa.text(f"SELECT kind, hour, {', '.join(EVENT_FIELDS)} FROM events")).mappings().all()
    counts: Counter[tuple[tuple[str, Any], ...]] = Counter()
    keyring: Any = _keyring() if rows else None
    for row in rows:
        fields = {name: row[name] for name in EVENT_FIELDS}
        fields["urgent"] = None if fields["urgent"] is None else bool(fields["urgent"])
        event = Event(EventKind(row["kind"]), **fields)
        hour = _moment(row["hour"]) or datetime.min
        for counter in counter_rows(event, hour.date(), keyring):
            counts[tuple(sorted(counter.items()))] += 1
    columns = ('day', 'kind', 'family', 'cell', *(f for f in EVENT_FIELDS if f not in ('county', 'role', 'language')), 'count')
    table = sa.table('event_counts', *(sa.column(name) for name in columns))
    rows_out = [{**dict(key), "count": n} for key, n in counts.items()]
    if rows_out:
        op.bulk_insert(table, [{name: row.get(name) for name in columns} for row in rows_out])
    op.drop_table('events')


def _seal_drafts(bind: Any) -> None:
    with op.batch_alter_table('drafts') as batch_op:
        batch_op.add_column(sa.Column('sealed_answers', sa.LargeBinary(), nullable=True))
    rows = bind.execute(sa.text("SELECT pseudonym, answers, sealed_reach, updated_at FROM drafts")).mappings().all()
    for row in rows:
        keyring = _keyring()
        answers = json.dumps(_json(row["answers"]), separators=(",", ":")).encode()
        reach = None if row["sealed_reach"] is None else keyring.seal(keyring.unseal(row["sealed_reach"], row["pseudonym"]), row["pseudonym"])
        bind.execute(
            sa.text("UPDATE drafts SET sealed_answers = :a, sealed_reach = :r, updated_at = :u WHERE pseudonym = :p"),
            {"a": keyring.seal_bytes(answers, f"draft:{row['pseudonym']}"), "r": reach, "u": _hour(row["updated_at"]), "p": row["pseudonym"]},
        )
    with op.batch_alter_table('drafts') as batch_op:
        batch_op.drop_column('answers')
        batch_op.alter_column('sealed_answers', existing_type=sa.LargeBinary(), nullable=False)


def _seal_cases(bind: Any) -> None:
    # In place (ALTER TABLE, SQLite 3.35+), never a copy of the table: dropping the old one
    # would cascade to its offers, or fail on the rows that refer to it.
    with op.batch_alter_table('cases', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('sealed_details', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('escalated', sa.Boolean(), server_default=sa.false(), nullable=False))
    rows = bind.execute(sa.text(f"SELECT code, pseudonym, status, sealed_reach, followup, {', '.join(CASE_COLUMNS)} FROM cases")).mappings().all()
    for row in rows:
        keyring = _keyring()
        ended = row["closed_at"] is not None
        if ended:
            details = {"reader_language": row["reader_language"]}
        else:
            details = {name: row[name] for name in CASE_COLUMNS[:11]}
            details["support"], details["barriers"] = _json(details["support"]), _json(details["barriers"])
            details["urgent"], details["outside_county"] = bool(details["urgent"]), bool(details["outside_county"])
            opened = _moment(row["opened_at"]) or datetime.min
            details["opened_at"] = opened.isoformat()
            accepted = _moment(row["accepted_at"])
            details["accepted_at"] = accepted.isoformat() if accepted else None
        sealed = keyring.seal_bytes(json.dumps(details, separators=(",", ":")).encode(), f"case:{row['code']}")
        reach = row["sealed_reach"]
        if reach is not None:
            # Open cases seal the chat bound to the pseudonym; a follow-up's is bound to the code.
            bound = row["code"] if row["followup"] and ended else row["pseudonym"]
            reach = keyring.seal(keyring.unseal(reach, bound), bound) if bound else None
        closed = _moment(row["closed_at"])
        bind.execute(
            sa.text("UPDATE cases SET sealed_details = :d, sealed_reach = :r, closed_on = :c, escalated = :e WHERE code = :k"),
            {"d": sealed, "r": reach, "c": closed.date() if closed else None, "e": row["escalated_at"] is not None, "k": row["code"]},
        )
    # An ended case keeps no counsellor, offers or relay links (storage.repositories SqlCases._end).
    ended_codes = "SELECT code FROM cases WHERE closed_at IS NOT NULL"
    bind.execute(sa.text(f"DELETE FROM offers WHERE case_code IN ({ended_codes})"))
    bind.execute(sa.text(f"DELETE FROM relay_messages WHERE case_code IN ({ended_codes})"))
    bind.execute(sa.text("UPDATE cases SET counsellor_id = NULL WHERE closed_at IS NOT NULL"))
    with op.batch_alter_table('cases', recreate='never') as batch_op:
        for name in CASE_COLUMNS:
            batch_op.drop_column(name)


def _cut_times(bind: Any) -> None:
    for row in bind.execute(sa.text("SELECT id, offered_at FROM offers")).mappings().all():
        bind.execute(sa.text("UPDATE offers SET offered_at = :v WHERE id = :k"), {"v": _hour(row["offered_at"]), "k": row["id"]})
    # A counsellor's last offer: its order among the roster's, not its time.
    with op.batch_alter_table('counsellors') as batch_op:
        batch_op.add_column(sa.Column('last_offer_turn', sa.Integer(), nullable=True))
    offered = bind.execute(sa.text("SELECT id, last_offer_at FROM counsellors WHERE last_offer_at IS NOT NULL")).mappings().all()
    for turn, row in enumerate(sorted(offered, key=lambda r: (_moment(r["last_offer_at"]), r["id"])), start=1):
        bind.execute(sa.text("UPDATE counsellors SET last_offer_turn = :t WHERE id = :k"), {"t": turn, "k": row["id"]})
    with op.batch_alter_table('counsellors', recreate='never') as batch_op:
        batch_op.drop_column('last_offer_at')


def _reseal_outbox(bind: Any) -> None:
    rows = bind.execute(sa.text("SELECT id, sealed_to, sealed_from, sealed_notify FROM outbox")).mappings().all()
    for row in rows:
        keyring = _keyring()
        values = {}
        for column, bound in (("sealed_to", "outbox:to"), ("sealed_from", "outbox:from"), ("sealed_notify", "outbox:notify")):
            values[column] = None if row[column] is None else keyring.seal(keyring.unseal(row[column], bound), bound)
        bind.execute(
            sa.text("UPDATE outbox SET sealed_to = :sealed_to, sealed_from = :sealed_from, sealed_notify = :sealed_notify WHERE id = :id"),
            {**values, "id": row["id"]},
        )


def upgrade() -> None:
    bind = op.get_bind()
    _events_to_counts(bind)
    _seal_drafts(bind)
    _seal_cases(bind)
    _cut_times(bind)
    _reseal_outbox(bind)


def downgrade() -> None:
    raise RuntimeError("revision 0003 cannot be undone: what it sealed or counted is not kept in the clear")

