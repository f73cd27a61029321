"""alliance.created_at: when the alliance came into the hub, so that no scheduled send of a time before that is
ever made (a newsletter due the day before the installation is not late, it was never due)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:30:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alliance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_at', UTCDateTime(timezone=True), nullable=True))
    # Alliances already there count from the upgrade: sends due before it ran (or were missed) under the old rule.
    alliance = sa.table('alliance', sa.column('created_at', UTCDateTime(timezone=True)))
    op.execute(alliance.update().values(created_at=datetime.now(UTC)))
    with op.batch_alter_table('alliance', schema=None) as batch_op:
        batch_op.alter_column('created_at', existing_type=UTCDateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('alliance', schema=None) as batch_op:
        batch_op.drop_column('created_at')
