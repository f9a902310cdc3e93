"""outbox; timers retried and parked; an update's claim is its commit

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lane', sa.String(length=32), nullable=False),
    sa.Column('sealed_to', sa.LargeBinary(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('sealed_from', sa.LargeBinary(), nullable=True),
    sa.Column('sealed_notify', sa.LargeBinary(), nullable=True),
    sa.Column('track', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('leased_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_lane'), ['lane'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_due_at'), ['due_at'], unique=False)

    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('parked', sa.Boolean(), server_default=sa.false(), nullable=False))

    # A claim is now written in the update's own transaction: a row exists only for an
    # update whose effects were committed, so "claimed but not done" no longer exists.
    op.execute("DELETE FROM processed_updates WHERE NOT done")
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.drop_column('done')


def downgrade() -> None:
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('done', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('timers', schema=None) as batch_op:
        batch_op.drop_column('parked')
        batch_op.drop_column('attempts')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_due_at'))
        batch_op.drop_index(batch_op.f('ix_outbox_lane'))
    op.drop_table('outbox')
