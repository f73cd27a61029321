"""meeting.all_day: meetings that last whole days (00:00 local to 00:00 local after the last day)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default fills the rows already there (every meeting so far has a time) on SQLite and PostgreSQL.
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('all_day', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_column('all_day')
