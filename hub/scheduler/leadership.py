"""Who may run an alliance's scheduler: one process per database and alliance — on PostgreSQL the holder of an
advisory lock, on SQLite the holder of a file lock in the data folder.

A process holds the advisory locks of all the alliances it leads on one connection of its own: a connection per
alliance took the connection pool (20) at the twentieth alliance, and `hub serve` of an installation of many
stopped (bench/tenancy.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from pathlib import Path

import sqlalchemy as sa

from hub.config import Config
from hub.db import engine_for


class Leadership:
    """Who may run the scheduler: one process per database."""

    def __init__(self, config: Config):
        self.config = config
        self._holder = None
        self._file = None

    def acquire(self) -> bool:
        url = self.config.database_url
        if url.startswith("postgresql"):
            key = int.from_bytes(hashlib.sha256(f"hub-scheduler:{self.config.alliance.domain}".encode()).digest()[:8],
                                 "big", signed=True)
            locks = _locks.setdefault(url, _AdvisoryLocks(url))
            if locks.try_lock(key):
                self._holder, self._key = locks, key
                return True
            return False
        own = self.config.alliance_file  # each alliance of an installation of many leads on its own
        path = Path(self.config.data_dir) / (f"scheduler-{own.stem}.lock" if own else "scheduler.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._holder is not None:
            try:
                self._holder.unlock(self._key)
            finally:
                self._holder = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class _AdvisoryLocks:
    """The advisory locks this process holds on one PostgreSQL database, on one connection taken while it holds
    any. A lock this process holds already is not taken twice (PostgreSQL would count it up and say yes)."""

    def __init__(self, url: str):
        self.url = url
        self.connection: sa.Connection | None = None
        self.held: set[int] = set()
        self.guard = threading.Lock()

    def try_lock(self, key: int) -> bool:
        with self.guard:
            if key in self.held:
                return False
            if self.connection is None:
                self.connection = engine_for(self.url).connect()
            try:
                got = self.connection.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                self.connection.commit()
            except BaseException:
                self._close_if_unused()
                raise
            if got:
                self.held.add(key)
            else:
                self._close_if_unused()
            return bool(got)

    def unlock(self, key: int) -> None:
        with self.guard:
            if key not in self.held:
                return
            self.held.discard(key)
            try:
                self.connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                self.connection.commit()
            finally:
                self._close_if_unused()

    def _close_if_unused(self) -> None:
        if not self.held and self.connection is not None:
            self.connection.close()  # its locks, if any were left, go with it
            self.connection = None


_locks: dict[str, _AdvisoryLocks] = {}
