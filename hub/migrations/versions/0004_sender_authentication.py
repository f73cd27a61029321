"""inboundmessage.sender_verified, authentication: the sender check's verdict (DKIM/SPF/DMARC or a trusted
Authentication-Results header); messages stored before it have none (NULL, "")

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inboundmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_verified', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('authentication', sa.String(), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('inboundmessage', schema=None) as batch_op:
        batch_op.drop_column('authentication')
        batch_op.drop_column('sender_verified')
