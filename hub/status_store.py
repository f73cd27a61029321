"""The counts `hub status` shows, read with the database's own driver (sqlite3, psycopg) instead of the
storage layer: the command answers in a few milliseconds, like a Postfix pipe's `hub ingest --queue`.

The WHERE clauses are those of `hub.queries` (`partners`, `messages_of`); tests/test_status.py checks that
both give the same numbers. A database not set up (or not opened read-only) raises `StatusUnavailable`: the
caller then takes the storage layer's way, which says what to do.
"""

from __future__ import annotations

from hub.states import MessageStatus

ALLIANCE = "SELECT id FROM alliance WHERE domain = ?"
PARTNERS = "SELECT count(*) FROM partner WHERE alliance_id = ? AND forgotten_at IS NULL AND left_at IS NULL"
MESSAGES = "SELECT status, count(*) FROM inboundmessage WHERE alliance_id = ? GROUP BY status"


class StatusUnavailable(Exception):
    pass


def counts(database_url: str, domain: str) -> dict[str, int]:
    """{"partners", "protocols_filed", "held_for_review"} of the alliance with this domain."""
    connection, placeholder = _connect(database_url)
    try:
        cursor = connection.cursor()

        def rows(sql: str, *params):
            cursor.execute(sql.replace("?", placeholder), params)
            return cursor.fetchall()

        found = rows(ALLIANCE, domain)
        if not found:
            raise StatusUnavailable("no alliance")
        alliance = found[0][0]
        partners = rows(PARTNERS, alliance)[0][0]
        by_status = dict(rows(MESSAGES, alliance))
    except StatusUnavailable:
        raise
    except Exception as exc:  # the driver's own errors: no such table, no such database, no connection
        raise StatusUnavailable(str(exc)) from exc
    finally:
        connection.close()
    return {"partners": partners, "protocols_filed": by_status.get(MessageStatus.filed.value, 0),
            "held_for_review": by_status.get(MessageStatus.held.value, 0)}


def _connect(url: str):
    try:
        if url.startswith("sqlite:///"):
            import sqlite3
            from urllib.parse import quote

            path = quote(url.removeprefix("sqlite:///"))
            # read-only: a status must never create an empty database where the hub's is missing
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True), "?"
        if url.startswith(("postgresql+psycopg://", "postgresql://")):
            import psycopg

            return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), connect_timeout=10), "%s"
    except Exception as exc:
        raise StatusUnavailable(str(exc)) from exc
    raise StatusUnavailable(f"no driver of its own for {url.split(':', 1)[0]}")
