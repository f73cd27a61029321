"""partner.audience ("partner" | "public": a self-subscriber, a newsletter reader only until approved); the
addresses already stored brought to the one normal form (IDNA domain, NFC local part)

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from hub.addresses import InvalidAddress, normalise_address

revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('partner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.String(), server_default='partner', nullable=False))
    bind = op.get_bind()
    # Whoever came in through the public double opt-in (their first consent says so) is a reader only.
    first = sa.text("SELECT c.partner_id FROM consent c WHERE c.source = 'opt-in' AND c.id = "
                    "(SELECT MIN(f.id) FROM consent f WHERE f.partner_id = c.partner_id)")
    for (partner_id,) in bind.execute(first).all():
        bind.execute(sa.text("UPDATE partner SET audience = 'public' WHERE id = :id"), {"id": partner_id})
    rows = bind.execute(sa.text("SELECT id, email, email_key FROM partner WHERE email IS NOT NULL")).all()
    for partner_id, email, key in rows:
        try:
            address = normalise_address(email)
        except InvalidAddress:
            continue
        if (address, address.lower()) != (email, key):
            bind.execute(sa.text("UPDATE partner SET email = :email, email_key = :key WHERE id = :id"),
                         {"email": address, "key": address.lower(), "id": partner_id})


def downgrade() -> None:
    with op.batch_alter_table('partner', schema=None) as batch_op:
        batch_op.drop_column('audience')
