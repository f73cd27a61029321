"""Outbox dedupe keys hold a keyed hash of the recipient's address (hub.signing.pseudonym), never the address, so
that erasing a partner (DSGVO Art. 17) leaves no copy of it in a unique key. No schema change: the data only.

The key is the installation's secret, which `hub init` hands over (hub.db.upgrade), else $HUB_SECRET_KEY.
Without either, the addresses are replaced by a plain digest: still no address, but a send that was cut short
before the upgrade would then not recognise its earlier rows.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-15 10:00:00
"""

import hashlib
import os
import re

import sqlalchemy as sa
from alembic import op

from hub.addresses import address_key
from hub.signing import pseudonym

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    secret = op.get_context().config.attributes.get("secret_key") or os.environ.get("HUB_SECRET_KEY", "").encode()
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.text("SELECT id, recipient, dedupe_key FROM delivery WHERE id > :last ORDER BY id "
                                    "LIMIT :n"), {"last": last, "n": BATCH}).all()
        if not rows:
            break
        last = rows[-1][0]
        for delivery_id, recipient, key in rows:
            new = hashed(key, recipient, secret)
            if new != key:
                bind.execute(sa.text("UPDATE delivery SET dedupe_key = :key WHERE id = :id"),
                             {"key": new, "id": delivery_id})


def hashed(key: str, recipient: str | None, secret: bytes) -> str:
    """The key with every spelling of the recipient's address in it replaced by its pseudonym."""
    if not recipient or not key:
        return key
    normal = address_key(recipient)
    tag = pseudonym(secret, normal) if secret else \
        hashlib.sha256(normal.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return re.sub("|".join(re.escape(a) for a in {normal, recipient.strip().lower()}), tag, key, flags=re.I)


def downgrade() -> None:
    # A keyed hash cannot be turned back into the address; the keys stay as they are (they are unique either way).
    pass
