"""SQLite's one write lock, handed from process to process without SQLite's sleeps.

Every hub transaction that writes begins with BEGIN IMMEDIATE (hub.db). While another process holds SQLite's write
lock, SQLite's busy handler sleeps and tries again, its sleeps growing to 100 ms: with the filing process and the
outbox process writing in turns, filing spent nearly half its time there (py-spy on bench/inbound.py). So a writer
first takes an flock(2) on a file beside the database, and only then begins; it lets go right after COMMIT or
ROLLBACK. A writer that finds the flock held waits for it in the kernel, which wakes it the moment the holder lets go:
trying again every millisecond instead cost the waiting processes 7% of the machine's time during a burst (the
scheduler's job store, the outbox and the filing process, py-spy on bench/inbound.py), and a waiter that tried
again a millisecond late lost the lock to a holder that took it back at once. Reading transactions
(hub.db.read_scope) take none. A process that dies lets go of its flocks with its files, and a writer that waits
longer than SQLite's own busy timeout gets SQLite's error.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

WAIT_SECONDS = 30.0  # as PRAGMA busy_timeout in hub.db
_FD = "hub_writer_fd"
_held: dict[int, int] = {}  # id of a DB-API connection in a writing transaction -> its lock file


def install(engine: Engine, database: str) -> None:
    """Writers on `engine` take the flock of `database`.writer around each writing transaction."""
    path = f"{database}.writer"

    @event.listens_for(engine, "connect")
    def _open(dbapi_connection, record) -> None:
        record.info[_FD] = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @event.listens_for(engine, "close")
    def _close(dbapi_connection, record) -> None:
        _held.pop(id(dbapi_connection), None)
        fd = record.info.pop(_FD, None)
        if fd is not None:
            os.close(fd)  # lets go of its flock, if it held it

    dialect = engine.dialect
    do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

    def commit(dbapi_connection) -> None:
        try:
            do_commit(dbapi_connection)
        finally:
            _release(dbapi_connection)

    def rollback(dbapi_connection) -> None:
        try:
            do_rollback(dbapi_connection)
        finally:
            _release(dbapi_connection)

    dialect.do_commit, dialect.do_rollback = commit, rollback


def begin(connection) -> None:
    """BEGIN IMMEDIATE on `connection` (a SQLAlchemy Connection), holding the flock first where it is installed."""
    _acquire(connection)
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _release(connection.connection)
        raise


def _acquire(connection) -> None:
    fd = connection.info.get(_FD)
    if fd is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not _wait(fd, WAIT_SECONDS):  # what SQLite says after its busy timeout: a fault of the database
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")) from None
    _held[id(connection.connection.dbapi_connection)] = fd


def _wait(fd: int, seconds: float) -> bool:
    """Whether the flock on `fd` became this process's within `seconds`. A blocking flock cannot be given a time
    limit, so a thread blocks in it, on a duplicate of `fd` (the same open file, so the same lock: a connection
    closed meanwhile cannot leave it locking another file); if the time is up first, the thread lets go of the
    lock as soon as it gets it. The flock only orders the writers: SQLite's own lock keeps the database whole
    should one ever begin without it."""
    duplicate = os.dup(fd)
    taken, decided = threading.Event(), threading.Lock()
    abandoned = False

    def take() -> None:
        try:
            fcntl.flock(duplicate, fcntl.LOCK_EX)
            with decided:
                if abandoned:
                    fcntl.flock(duplicate, fcntl.LOCK_UN)
                else:
                    taken.set()
        finally:
            os.close(duplicate)

    threading.Thread(target=take, name="hub-sqlite-writer-wait", daemon=True).start()
    if taken.wait(seconds):
        return True
    with decided:
        abandoned = not taken.is_set()
        return not abandoned


def _release(dbapi_connection) -> None:
    """After COMMIT or ROLLBACK (SQLAlchemy passes the pool's proxy or the DB-API connection itself)."""
    fd = _held.pop(id(getattr(dbapi_connection, "dbapi_connection", dbapi_connection)), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
