"""alliance_id on every row that belongs to an alliance: messages and their attachments, outgoing mail and its
deliveries, bounces, web accounts and the audit log (hub.tenancy keeps each unit of work to one alliance)

Existing rows get the alliance they show: a message its group's or sender's, an attachment its message's, a
delivery its partner's, a mail its deliveries', a bounce its partner's or message's. What shows none belongs to
the first alliance: until now a database served one alliance only (a second one added to it saw the first
one's mail, which is what this migration ends). Web accounts, and a message's Message-ID with its bytes, are
unique per alliance, not per installation: the same mail sent to two alliances is filed in each.

Revision ID: 0013
Revises: 0012
Create Date: 2027-02-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from hub import search_store

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# In the order they are filled: each one's fallback may read the ones before.
OWNERS = {
    'inboundmessage': [
        "SELECT alliance_id FROM work_group WHERE work_group.id = inboundmessage.group_id",
        "SELECT alliance_id FROM partner WHERE partner.id = inboundmessage.partner_id",
    ],
    'messageattachment': [
        "SELECT alliance_id FROM inboundmessage WHERE inboundmessage.id = messageattachment.message_id",
    ],
    'delivery': ["SELECT alliance_id FROM partner WHERE partner.id = delivery.partner_id"],
    'outboundmail': [
        "SELECT min(alliance_id) FROM delivery WHERE delivery.mail_id = outboundmail.id",
    ],
    'bounceevent': [
        "SELECT alliance_id FROM partner WHERE partner.id = bounceevent.partner_id",
        "SELECT alliance_id FROM inboundmessage WHERE inboundmessage.id = bounceevent.message_id",
    ],
    'webuser': [],
    'auditlog': [],
}
FIRST = "(SELECT min(id) FROM alliance)"


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    for table in OWNERS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('alliance_id', sa.Integer(), nullable=True))
    for table, owners in OWNERS.items():
        for owner in owners:
            op.execute(f"UPDATE {table} SET alliance_id = ({owner}) WHERE alliance_id IS NULL")
        if table != 'delivery':  # a delivery to no partner goes with its mail, known only below
            op.execute(f"UPDATE {table} SET alliance_id = {FIRST} WHERE alliance_id IS NULL")
    op.execute("UPDATE delivery SET alliance_id = (SELECT alliance_id FROM outboundmail "
               "WHERE outboundmail.id = delivery.mail_id) WHERE alliance_id IS NULL")
    if sqlite:
        search_store.uninstall(bind)  # its triggers go with the table SQLite copies below; installed again after
    for table in OWNERS:
        with op.batch_alter_table(
                table, naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"}) as batch_op:
            batch_op.alter_column('alliance_id', existing_type=sa.Integer(), nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_alliance_id'), ['alliance_id'], unique=False)
            batch_op.create_foreign_key(f'fk_{table}_alliance_id', 'alliance', ['alliance_id'], ['id'])
            if table == 'webuser':
                batch_op.drop_constraint('uq_webuser_email' if sqlite else 'webuser_email_key', type_='unique')
                batch_op.create_unique_constraint('uq_webuser_alliance_email', ['alliance_id', 'email'])
            if table == 'inboundmessage':
                batch_op.drop_constraint('uq_inboundmessage_message_id' if sqlite else
                                         'inboundmessage_message_id_content_hash_key', type_='unique')
                batch_op.create_unique_constraint('uq_inboundmessage_alliance_message',
                                                  ['alliance_id', 'message_id', 'content_hash'])
    if sqlite:
        search_store.install(bind)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        search_store.uninstall(op.get_bind())
    for table in reversed(OWNERS):
        with op.batch_alter_table(table) as batch_op:
            if table == 'webuser':
                batch_op.drop_constraint('uq_webuser_alliance_email', type_='unique')
                batch_op.create_unique_constraint('uq_webuser_email' if sqlite else 'webuser_email_key', ['email'])
            if table == 'inboundmessage':
                batch_op.drop_constraint('uq_inboundmessage_alliance_message', type_='unique')
                batch_op.create_unique_constraint(
                    'uq_inboundmessage_message_id' if sqlite else 'inboundmessage_message_id_content_hash_key',
                    ['message_id', 'content_hash'])
            batch_op.drop_constraint(f'fk_{table}_alliance_id', type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_alliance_id'))
            batch_op.drop_column('alliance_id')
    if sqlite:
        search_store.install(op.get_bind())
