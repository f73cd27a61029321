"""meeting_answer: partners' answers to invitations (iTIP REPLY / COUNTER), one row per meeting and partner;
outboundmail.calendar: the iCalendar text of an invitation, update or cancellation (iMIP)

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-20 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'meeting_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('meeting_id', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.Integer(), nullable=False),
        sa.Column('partstat', sa.String(), nullable=False),
        sa.Column('method', sa.String(), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('stamp', UTCDateTime(timezone=True), nullable=True),
        sa.Column('proposed_start', UTCDateTime(timezone=True), nullable=True),
        sa.Column('proposed_end', UTCDateTime(timezone=True), nullable=True),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id'], ),
        sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], ),
        sa.ForeignKeyConstraint(['message_id'], ['inboundmessage.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('meeting_id', 'partner_id'),
    )
    with op.batch_alter_table('meeting_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_answer_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meeting_answer_partner_id'), ['partner_id'], unique=False)
    with op.batch_alter_table('outboundmail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outboundmail', schema=None) as batch_op:
        batch_op.drop_column('calendar')
    with op.batch_alter_table('meeting_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_answer_partner_id'))
        batch_op.drop_index(batch_op.f('ix_meeting_answer_meeting_id'))
    op.drop_table('meeting_answer')
