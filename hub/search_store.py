"""The full-text index of filed protocols (subject and text, which holds the attachments' text) and its one query.

SQLite: an FTS5 table `protocol_fts` (rowid = the message's id) of the stems `hub.search_terms` makes, kept by
triggers on `inboundmessage`, so that every path that files, re-files, rejects, rewrites (erasure) or deletes a
protocol keeps the index in step without knowing of it; ranked by bm25. PostgreSQL: a generated `tsvector`
column `search_vector` (german configuration, accents folded by `unaccent` where the server has it) with a GIN
index, ranked by ts_rank. Both weigh the subject above the text. `install` is what migration 0010 runs (and
`bench/search.py`, to time building the index over rows already there).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from hub.models import Alliance, InboundMessage, MessageKind, MessageStatus
from hub.queries import messages_of
from hub.search_terms import INDEXED_CHARS

# How much more a word in the subject counts than one in the text.
SUBJECT_WEIGHT = 10.0
# A word in thousands of protocols ("Familie") ranks only the newest this many of them: ranking reads every
# match's positions, which would make such a search take seconds on a large archive. Matches are counted up to
# this many too ("more than 500"): on PostgreSQL an exact count visits every matching row (bench/search.py:
# 0.4 s for a name in 29,000 of 100,000 protocols), and no more than these can be paged through anyway. Finding
# the newest of two names that are each common reads ten times as many rows as it keeps (bench/search.py on
# PostgreSQL: 62 ms for the newest 1,000 of "Doris Groß", 39 ms for 500); ten pages of hits are more than anyone
# reads before making the words more precise.
RANKED = 500
_FILED = f"new.kind = '{MessageKind.protocol}' AND new.status = '{MessageStatus.filed}'"
_INDEX_NEW = ("INSERT INTO protocol_fts(rowid, subject, body) SELECT new.id, hub_search_terms(new.subject), "
              f"hub_search_terms(new.text) WHERE {_FILED};")
SQLITE_DDL = [
    "CREATE VIRTUAL TABLE protocol_fts USING fts5(subject, body, tokenize = 'unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER protocol_fts_insert AFTER INSERT ON inboundmessage BEGIN {_INDEX_NEW} END",
    # Any change of what is indexed (a held mail filed, a protocol rejected, a text redacted) indexes it anew.
    "CREATE TRIGGER protocol_fts_update AFTER UPDATE OF subject, text, kind, status ON inboundmessage BEGIN "
    f"DELETE FROM protocol_fts WHERE rowid = old.id; {_INDEX_NEW} END",
    "CREATE TRIGGER protocol_fts_delete AFTER DELETE ON inboundmessage BEGIN "
    "DELETE FROM protocol_fts WHERE rowid = old.id; END",
]
_PG_DOCUMENT = (
    f"CASE WHEN kind = '{MessageKind.protocol}' AND status = '{MessageStatus.filed}' THEN "
    "setweight(to_tsvector('german'::regconfig, hub_search_fold(coalesce(subject, ''))), 'A') || "
    f"setweight(to_tsvector('german'::regconfig, hub_search_fold(left(coalesce(text, ''), {INDEXED_CHARS}))), 'B') "
    "END"
)
_search_vector = sa.column("search_vector", TSVECTOR)
_fts = sa.table("protocol_fts", sa.column("rowid", sa.Integer))


def install(connection: Connection) -> None:
    """Create the index and index every filed protocol already stored."""
    if connection.dialect.name == "sqlite":
        for statement in SQLITE_DDL:
            connection.exec_driver_sql(statement)
        connection.execute(sa.text(
            "INSERT INTO protocol_fts(rowid, subject, body) SELECT id, hub_search_terms(subject), "
            "hub_search_terms(text) FROM inboundmessage WHERE kind = :kind AND status = :status"),
            {"kind": MessageKind.protocol, "status": MessageStatus.filed})
        return
    connection.exec_driver_sql(f"CREATE OR REPLACE FUNCTION hub_search_fold(text) RETURNS text LANGUAGE sql "
                               f"IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT {_fold(connection)} $$")
    connection.exec_driver_sql(f"ALTER TABLE inboundmessage ADD COLUMN search_vector tsvector "
                               f"GENERATED ALWAYS AS ({_PG_DOCUMENT}) STORED")
    connection.exec_driver_sql("CREATE INDEX ix_inboundmessage_search_vector ON inboundmessage "
                               "USING gin (search_vector)")


def _fold(connection: Connection) -> str:
    """The SQL that folds accents of $1: unaccent when the server has it (a trusted extension since PostgreSQL
    13, so the database's owner may create it), else nothing — the German stemmer folds ä, ö, ü and ß anyway."""
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    except sa.exc.DBAPIError:
        return "$1"
    schema = connection.exec_driver_sql(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'unaccent'").scalar_one()
    # Named with its dictionary, unaccent is immutable in fact, which a generated column needs.
    return f"{schema}.unaccent('{schema}.unaccent'::regdictionary, $1)"


def uninstall(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        for name in ("protocol_fts_delete", "protocol_fts_update", "protocol_fts_insert"):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        connection.exec_driver_sql("DROP TABLE IF EXISTS protocol_fts")
        return
    connection.exec_driver_sql("DROP INDEX IF EXISTS ix_inboundmessage_search_vector")
    connection.exec_driver_sql("ALTER TABLE inboundmessage DROP COLUMN IF EXISTS search_vector")
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS hub_search_fold(text)")


@dataclass(frozen=True)
class Part:
    """One word or "phrase" of a query: as typed (PostgreSQL stems it) and as stems (for SQLite's index)."""

    typed: str
    stems: tuple[str, ...]


def search(session: Session, alliance_id: int, parts: list[Part], *, group_id: int | None = None,
           since: datetime | None = None, until: datetime | None = None, offset: int = 0,
           limit: int = 50) -> tuple[int, bool, list[InboundMessage]]:
    """Filed protocols that hold every part, best first (the best of the newest RANKED when more match); with
    how many do, up to RANKED, and whether more do."""
    if not parts:
        return 0, False, []
    # Only filed protocols are in the index (the triggers, the generated column's CASE): no filter on kind or
    # status. One alliance in the database (the usual installation) owns every row: no filter on that either.
    filters = [] if session.exec(select(sa.func.count()).select_from(Alliance)).one() == 1 else [
        messages_of(alliance_id)]
    if group_id is not None:
        filters.append(InboundMessage.group_id == group_id)
    if since is not None:
        filters.append(InboundMessage.received_at >= since)
    if until is not None:
        filters.append(InboundMessage.received_at < until)
    search_ids = _sqlite_ids if session.get_bind().dialect.name == "sqlite" else _postgres_ids
    total, ids = search_ids(session, parts, filters, offset, limit)
    rows = {m.id: m for m in session.exec(select(InboundMessage).where(InboundMessage.id.in_(ids)))} if ids else {}
    return min(total, RANKED), total > RANKED, [rows[i] for i in ids]


def _sqlite_ids(session: Session, parts: list[Part], filters: list, offset: int, limit: int) -> tuple[int, list[int]]:
    """How many match (up to RANKED + 1), and one page of them, best first."""
    match = " ".join('"' + " ".join(p.stems) + '"' for p in parts)  # stems are letters and digits only
    found = sa.literal_column("protocol_fts").op("MATCH")(match)
    matches = select(_fts.c.rowid.label("id")).where(found)
    if filters:
        matches = select(InboundMessage.id.label("id")).where(InboundMessage.id.in_(matches), *filters)
    total = session.exec(select(sa.func.count()).select_from(matches.limit(RANKED + 1).subquery())).one()
    if total > RANKED:  # rank the newest RANKED: bm25 costs each match a read of its positions
        floor = session.exec(matches.order_by(sa.desc("id")).offset(RANKED - 1).limit(1)).one()
        found = sa.and_(found, _fts.c.rowid >= floor)
    # The matches first, scored by FTS5 alone (MATERIALIZED: else SQLite runs the match once per protocol).
    ranked = (select(_fts.c.rowid.label("id"),
                     sa.func.bm25(sa.literal_column("protocol_fts"), SUBJECT_WEIGHT, 1.0).label("score"))
              .where(found).cte("ranked").prefix_with("MATERIALIZED"))
    query = select(InboundMessage.id).join(ranked, ranked.c.id == InboundMessage.id).where(*filters)
    return total, list(session.exec(query.order_by(ranked.c.score, InboundMessage.received_at.desc())
                                    .offset(offset).limit(limit)).all())


def _postgres_ids(session: Session, parts: list[Part], filters: list, offset: int,
                  limit: int) -> tuple[int, list[int]]:
    """As `_sqlite_ids`, in one statement: the newest matches are found once (each a read of its tsvector),
    then counted and ranked; a count of its own would read them again."""
    tsquery = None
    for part in parts:
        make = sa.func.phraseto_tsquery if len(part.stems) > 1 else sa.func.plainto_tsquery
        one = make(sa.literal_column("'german'::regconfig"), sa.func.hub_search_fold(part.typed))
        tsquery = one if tsquery is None else tsquery.op("&&")(one)
    matches = select(InboundMessage.id).where(_search_vector.op("@@")(tsquery), *filters)
    newest = (select(InboundMessage.id, InboundMessage.received_at, _search_vector.label("vector"),
                     sa.func.row_number().over(order_by=InboundMessage.id.desc()).label("number"))
              .where(_search_vector.op("@@")(tsquery), *filters)
              .order_by(InboundMessage.id.desc()).limit(RANKED + 1)
              .cte("newest").prefix_with("MATERIALIZED"))
    counted = select(sa.func.count()).select_from(newest).scalar_subquery()
    page = session.exec(
        select(newest.c.id, counted.label("total")).where(newest.c.number <= RANKED)
        .order_by(-sa.func.ts_rank(newest.c.vector, tsquery), newest.c.received_at.desc())
        .offset(offset).limit(limit)).all()
    if page:
        return page[0].total, [row.id for row in page]
    return session.exec(select(sa.func.count()).select_from(matches.limit(RANKED + 1).subquery())).one(), []


def forget_removed(session: Session) -> None:
    """Rewrite SQLite's index without what was deleted from it: FTS5 only marks deleted entries until its
    segments merge, and after an erasure a forgotten name must not stay in the file (secure_delete zeroes the
    freed pages). PostgreSQL's old row versions go with VACUUM, as for every other erased row."""
    if session.get_bind().dialect.name == "sqlite":
        session.exec(sa.text("INSERT INTO protocol_fts(protocol_fts) VALUES ('optimize')"))
