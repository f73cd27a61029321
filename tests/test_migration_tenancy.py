"""Migration 0013 gives every row of an existing database its alliance (issue 17): the one it shows (a message
its group's or sender's, a delivery its partner's, a mail its deliveries'), else the first alliance, which until
then was the only one that could have filed anything. On SQLite and on PostgreSQL, and back down again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from conftest import PG_URL, scratch_pg_database

from hub.db import alembic_config, engine_for, upgrade

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def empty_url(tmp_path, db_url):
    """A database of its own (the suite's one, `db_url`, stays at head for the other tests; asking for it puts
    this test in the PostgreSQL pass too)."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'alt.db'}"
        return
    with scratch_pg_database("mig") as url:
        yield url


def _insert(conn, table: str, **values) -> int:
    """A row with these values, and a plain value in every other column that needs one."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
    for column in reflected.columns:
        if column.name in values or column.nullable or column.primary_key or column.server_default is not None:
            continue
        kind = column.type.python_type if not isinstance(column.type, sa.JSON) else list
        values[column.name] = {int: 0, float: 0.0, bool: False, str: "", datetime: NOW, list: []}.get(kind, "")
    result = conn.execute(sa.insert(reflected).values(**values))
    return result.inserted_primary_key[0] if result.inserted_primary_key else 0


def test_every_row_gets_the_alliance_it_shows_and_the_rest_the_first(empty_url):
    command.upgrade(alembic_config(empty_url), "0012")
    with engine_for(empty_url).begin() as conn:
        first = _insert(conn, "alliance", domain="eins.example", name="Eins", created_at=NOW)
        second = _insert(conn, "alliance", domain="zwei.example", name="Zwei", created_at=NOW)
        group = _insert(conn, "work_group", alliance_id=second, slug="ag", name="AG", aliases=[])
        theirs = _insert(conn, "partner", alliance_id=second, email="p@example.org", email_key="p@example.org")
        ours = _insert(conn, "partner", alliance_id=first, email="q@example.org", email_key="q@example.org")
        messages = {name: _insert(conn, "inboundmessage", message_id=f"<{name}@x>", content_hash=name, raw_path="",
                                  received_at=NOW, **fields)
                    for name, fields in {"by_group": {"group_id": group}, "by_sender": {"partner_id": theirs},
                                         "ours": {"partner_id": ours}, "stranger": {}}.items()}
        _insert(conn, "blob", sha256="b" * 64, size=1, content_type="text/plain", path="blobs/b")
        attachment = _insert(conn, "messageattachment", message_id=messages["by_group"], blob_sha256="b" * 64)
        mail = _insert(conn, "outboundmail", kind="receipt", subject="S", from_address="a@zwei.example", text="T",
                       headers={}, attachments=[], created_at=NOW)
        notice = _insert(conn, "outboundmail", kind="notice", subject="N", from_address="a@eins.example", text="T",
                         headers={}, attachments=[], created_at=NOW)
        delivery = _insert(conn, "delivery", mail_id=mail, recipient="p@example.org", partner_id=theirs,
                           dedupe_key="k1", values={}, next_attempt_at=NOW, created_at=NOW)
        stranger = _insert(conn, "delivery", mail_id=mail, recipient="x@example.org", dedupe_key="k2", values={},
                           next_attempt_at=NOW, created_at=NOW)
        bounce = _insert(conn, "bounceevent", address="p@example.org", permanent=True, at=NOW, partner_id=theirs)
        user = _insert(conn, "webuser", email="k@example.org", password_hash="-", created_at=NOW)
        audit = _insert(conn, "auditlog", at=NOW, actor="k@example.org", action="login", detail={})

    upgrade(empty_url)
    with engine_for(empty_url).connect() as conn:
        def owner(table: str, row: int) -> int:
            return conn.execute(sa.text(f"SELECT alliance_id FROM {table} WHERE id = :id"), {"id": row}).scalar_one()

        assert {name: owner("inboundmessage", row) for name, row in messages.items()} == {
            "by_group": second, "by_sender": second, "ours": first, "stranger": first}
        assert owner("messageattachment", attachment) == second
        assert (owner("outboundmail", mail), owner("outboundmail", notice)) == (second, first)
        assert (owner("delivery", delivery), owner("delivery", stranger)) == (second, second)
        assert owner("bounceevent", bounce) == second
        assert (owner("webuser", user), owner("auditlog", audit)) == (first, first)
        # The same Message-ID and bytes may now be filed once in each alliance, and one account name too.
        _insert(conn, "inboundmessage", alliance_id=second, message_id="<ours@x>", content_hash="ours", raw_path="",
                received_at=NOW)
        _insert(conn, "webuser", alliance_id=second, email="k@example.org", password_hash="-", created_at=NOW)
        with pytest.raises(sa.exc.IntegrityError):
            _insert(conn, "webuser", alliance_id=second, email="k@example.org", password_hash="-", created_at=NOW)
        conn.rollback()

    command.downgrade(alembic_config(empty_url), "0012")
    upgrade(empty_url)
    with engine_for(empty_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM inboundmessage WHERE alliance_id IS NULL")).scalar() == 0
