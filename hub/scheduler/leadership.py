"""Who may run an alliance's scheduler: one process per database and alliance — on PostgreSQL the holder of an
advisory lock, on SQLite the holder of a file lock in the data folder."""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path

import sqlalchemy as sa

from hub.config import Config
from hub.db import engine_for


class Leadership:
    """Who may run the scheduler: one process per database."""

    def __init__(self, config: Config):
        self.config = config
        self._connection = None
        self._file = None

    def acquire(self) -> bool:
        url = self.config.database_url
        if url.startswith("postgresql"):
            key = int.from_bytes(hashlib.sha256(f"hub-scheduler:{self.config.alliance.domain}".encode()).digest()[:8],
                                 "big", signed=True)
            connection = engine_for(url).connect()
            got = connection.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            connection.commit()
            if got:
                self._connection, self._key = connection, key
                return True
            connection.close()
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
        if self._connection is not None:
            try:
                self._connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
