"""One writer at a time across the hub's processes on SQLite, handed over by an flock beside the database
(hub/sqlite_writer.py) instead of SQLite's growing sleeps; readers take no lock."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from hub.db import engine_for, read_scope, session_scope

WRITER = """
import sys, time
import sqlalchemy as sa
from hub.db import session_scope
with session_scope(sys.argv[1]) as s:
    s.execute(sa.text("INSERT INTO t VALUES (2)"))
    print("began", flush=True)
"""


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    with session_scope(url) as session:
        session.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    yield url
    engine_for(url).dispose()


def _lock_is_free(url: str) -> bool:
    fd = os.open(url.removeprefix("sqlite:///") + ".writer", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_writing_transaction_holds_the_lock_until_commit_or_rollback(url):
    with session_scope(url) as session:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert not _lock_is_free(url)
    assert _lock_is_free(url)
    with pytest.raises(RuntimeError), session_scope(url) as session:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("a step failed")
    assert _lock_is_free(url)


def test_a_reader_takes_no_lock(url):
    with session_scope(url) as session:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        with read_scope(url) as reading:
            assert reading.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0  # before the commit
        assert not _lock_is_free(url)


def test_a_writer_in_another_process_waits_and_goes_on_when_the_lock_is_let_go(url):
    with session_scope(url) as session:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        other = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # enough for it to start and wait; it must not get in before the commit
        assert other.poll() is None
    assert other.communicate(timeout=60)[0] == "began\n" and other.returncode == 0
    with session_scope(url) as session:
        assert session.execute(sa.text("SELECT x FROM t ORDER BY rowid")).scalars().all() == [1, 2]


def test_a_writer_that_waits_too_long_gets_the_databases_error(url, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from hub import sqlite_writer

    monkeypatch.setattr(sqlite_writer, "WAIT_SECONDS", 0.2)
    fd = os.open(url.removeprefix("sqlite:///") + ".writer", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process's writer, stuck
    try:
        with pytest.raises(OperationalError, match="database is locked"), session_scope(url) as session:
            session.execute(sa.text("INSERT INTO t VALUES (1)"))
    finally:
        os.close(fd)
    with session_scope(url) as session:  # and the lock it never got is not left held
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
    assert _lock_is_free(url)
