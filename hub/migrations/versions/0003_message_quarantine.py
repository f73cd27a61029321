"""inboundmessage.error_stage, error_at: where and when filing a message failed (the quarantine)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:40:00
"""

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inboundmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_stage', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('error_at', hub.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inboundmessage', schema=None) as batch_op:
        batch_op.drop_column('error_at')
        batch_op.drop_column('error_stage')
