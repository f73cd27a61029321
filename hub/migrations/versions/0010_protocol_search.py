"""Full-text search of filed protocols (subject and text, the attachments' text included): on SQLite an FTS5 table
`protocol_fts` of German stems kept by triggers on inboundmessage, on PostgreSQL a generated tsvector column
`search_vector` (german) with a GIN index; every protocol already filed is indexed here (hub.search_store).

The SQLite triggers call `hub_search_terms()`, which hub.db and the migration environment register on each
connection: a program that changes a protocol's text with another SQLite client must register it too
(hub.search_terms.register).

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-25 10:00:00
"""

from alembic import op

from hub import search_store

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    search_store.install(op.get_bind())


def downgrade() -> None:
    search_store.uninstall(op.get_bind())
