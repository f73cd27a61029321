"""provideraccount: the accounts of the provider that runs an installation of many alliances; they belong to the
installation, not to an alliance, and sign in at the web admin of each alliance (issue 17)

Revision ID: 0014
Revises: 0013
Create Date: 2027-02-10 10:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from hub.db import UTCDateTime

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'provideraccount',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_login_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('session_version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('email', name='uq_provideraccount_email'),
    )


def downgrade() -> None:
    op.drop_table('provideraccount')
