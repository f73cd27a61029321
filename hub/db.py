"""Database engine and schema upgrades: SQLite (WAL, foreign keys) or PostgreSQL, one code path."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from hub import search_terms, sqlite_writer

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware datetimes stored as UTC on every backend.

    SQLite has no time zone type, so values go in as naive UTC and come back aware; PostgreSQL
    keeps `timestamptz`. Naive datetimes are refused: a naive time in this program is a bug.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; use an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """The process's one engine (and connection pool) for `url`."""
    if url not in _engines:
        _engines[url] = _new_engine(url)
    return _engines[url]


def _forget_engines() -> None:
    """In a forked child (hub serve's filing and outbox processes): a connection of the parent must never be used
    in two processes, so the child makes its own, and leaves the parent's open for the parent."""
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_engines)


def close_connections() -> None:
    """Close this process's pooled connections (the next query opens one again): before a fork from a process
    that has queried, so that the child inherits none (SQLite's must never cross a fork)."""
    for engine in _engines.values():
        engine.dispose()


def _new_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        if path and path != ":memory:":
            sqlite_writer.install(engine, path)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not pysqlite, decide when a transaction begins (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted and overwritten rows are zeroed, not left in free pages, so an erased person (DSGVO Art. 17)
    # cannot be read back out of the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


@event.listens_for(sa.pool.Pool, "connect")
def _search_function(dbapi_connection, _record) -> None:
    # The full-text index's triggers stem in Python (migration 0010): every SQLite connection of the process needs
    # the function, also those of engines the hub did not make (Alembic's, a test's, a bench's), or no protocol
    # could be filed or changed through them.
    if isinstance(dbapi_connection, sqlite3.Connection):
        search_terms.register(dbapi_connection)


def _sqlite_begin_immediate(connection) -> None:
    # Taking the write lock at BEGIN avoids "database is locked" upgrades from read to write
    # when several threads (listener, scheduler, outbox worker) share the file. A `read_scope` never writes:
    # its deferred BEGIN takes no lock at all (in WAL mode readers and the one writer do not wait for each other).
    if connection.get_execution_options().get("hub_read_only"):
        connection.exec_driver_sql("BEGIN")
        return
    sqlite_writer.begin(connection)


@contextmanager
def read_scope(url: str) -> Iterator[Session]:
    """A unit of work that only reads (rolled back at the end), for long reading work such as composing mail:
    on SQLite it does not hold the write lock that filing needs meanwhile."""
    with Session(engine_for(url).execution_options(hub_read_only=True), expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with Session(engine_for(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def checkpoint(url: str) -> None:
    """Copy SQLite's write-ahead log into the database file and empty it, so that old versions of erased rows
    do not stay readable in the WAL (after a forget). PostgreSQL has nothing to do here."""
    if not url.startswith("sqlite"):
        return
    # The driver's connection itself: through SQLAlchemy the pragma would run inside BEGIN IMMEDIATE (see
    # _sqlite_begin_immediate), where SQLite refuses to checkpoint.
    raw = engine_for(url).raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        raw.close()


def alembic_config(url: str):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, secret: bytes | None = None) -> str | None:
    """Create or upgrade the schema to the newest revision; returns the revision now in place. `secret` is the
    installation's key, for migrations that replace addresses by keyed hashes (0007)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    cfg = alembic_config(url)
    cfg.attributes["secret_key"] = secret
    command.upgrade(cfg, "head")
    with engine_for(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
