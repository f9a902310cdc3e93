"""staff choose the language the bot writes to them in; a case remembers it was offered

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # recreate='never': rebuilding cases on SQLite would cascade to its offers (ON DELETE CASCADE).
    # Null: not chosen, so the counsellor's first spoken language (or the default) as before.
    with op.batch_alter_table('counsellors', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('reader_language', sa.String(length=8), nullable=True))
    with op.batch_alter_table('coordinators', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('reader_language', sa.String(length=8), nullable=True))
    # The doctor hears "sent to a peer supporter" once; a case past its first offer has been told.
    with op.batch_alter_table('cases', recreate='never') as batch_op:
        batch_op.add_column(sa.Column('offered', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE cases SET offered = (status <> 'queued')")


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('offered')
    with op.batch_alter_table('coordinators', schema=None) as batch_op:
        batch_op.drop_column('reader_language')
    with op.batch_alter_table('counsellors', schema=None) as batch_op:
        batch_op.drop_column('reader_language')
