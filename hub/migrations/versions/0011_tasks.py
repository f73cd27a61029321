"""task: what a group's protocol agreed on, with owner, due date and state (open / done / dropped)

Revision ID: 0011
Revises: 0010
Create Date: 2027-01-25 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'task',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('alliance_id', sa.Integer(), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('what', sa.Text(), nullable=False),
        sa.Column('who', sa.String(), nullable=True),
        sa.Column('partner_id', sa.Integer(), nullable=True),
        sa.Column('due', sa.Date(), nullable=True),
        sa.Column('state', sa.String(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('closed_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('closed_by', sa.String(), nullable=True),
        sa.ForeignKeyConstraint(['alliance_id'], ['alliance.id']),
        sa.ForeignKeyConstraint(['group_id'], ['work_group.id']),
        sa.ForeignKeyConstraint(['message_id'], ['inboundmessage.id']),
        sa.ForeignKeyConstraint(['partner_id'], ['partner.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id', 'position'),
    )
    for column in ('alliance_id', 'group_id', 'message_id', 'partner_id', 'state'):
        op.create_index(f'ix_task_{column}', 'task', [column])


def downgrade() -> None:
    for column in ('alliance_id', 'group_id', 'message_id', 'partner_id', 'state'):
        op.drop_index(f'ix_task_{column}', table_name='task')
    op.drop_table('task')
