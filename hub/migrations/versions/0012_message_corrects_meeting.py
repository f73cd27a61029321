"""inboundmessage.corrects_meeting: the day of a meeting a reply corrects (moved, a new room, or cancelled), so
that filing it changes that meeting instead of proposing a second one

Revision ID: 0012
Revises: 0011
Create Date: 2027-01-26 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inboundmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrects_meeting', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inboundmessage', schema=None) as batch_op:
        batch_op.drop_column('corrects_meeting')
