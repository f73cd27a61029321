"""A filing helper beside the filing process during a burst (`[inbound] filing_processes`, issue 12): a burst is
filed on two cores, each message once, each process taking its share of what waits; the helper ends after the
burst, and the hub stops the filing process without taking that for a death."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from test_outbox_worker import _spool

from hub import filing_helpers, spool_worker
from hub.inbound import spool


class _Recording(spool_worker.Filer):
    """A real filer that also notes the size of each batch it files."""

    sizes: list[int]

    def file(self, batch):
        self.sizes.append(len(batch))
        super().file(batch)


def test_each_filing_process_takes_its_share_of_what_waits(config, partners):
    entries: queue.Queue = queue.Queue()
    for entry in _spool(config, 41, "share"):
        entries.put(entry)
    entries.put(None)
    stop = threading.Event()
    filer = _Recording(config, stop, spool_worker.Backoff(), read_document=None)
    filer.sizes = []
    spool_worker._filing_loop(entries, stop, None, filer, helping=2)
    # 41 waiting, two processes: the first batch is one and half of the other 40, not all of them.
    assert filer.sizes[0] == 21
    assert sum(filer.sizes) == 41
    assert _stored(config) == 41


def test_the_filing_process_alone_takes_a_whole_batch(config, partners):
    entries: queue.Queue = queue.Queue()
    for entry in _spool(config, 41, "whole"):
        entries.put(entry)
    entries.put(None)
    filer = _Recording(config, threading.Event(), spool_worker.Backoff(), read_document=None)
    filer.sizes = []
    spool_worker._filing_loop(entries, threading.Event(), None, filer)
    assert filer.sizes == [41]


def test_a_helper_files_a_burst_beside_the_filing_process_and_ends_after_it(config, partners):
    assert config.inbound.filing_processes == 2  # the default
    died = threading.Event()
    worker, burst = _started(config, died, 150, "burst")
    try:
        filing_pid = worker._process.pid
        helpers, deadline = set(), time.monotonic() + 60
        while _stored(config) < len(burst) and time.monotonic() < deadline:
            helpers.update(_children(filing_pid))
            time.sleep(0.05)
        assert _stored(config) == len(burst)
        assert len(helpers) == 1, "no helper filed beside the filing process"
        # After the burst the helper ends and gives its memory back; the filing process stays.
        deadline = time.monotonic() + filing_helpers.IDLE_SECONDS + 10
        while _children(filing_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _children(filing_pid) == []
        assert worker._process.is_alive()
    finally:
        worker.stop()
    assert _distinct_message_ids(config) == len(burst)
    assert spool.pending(config.data_dir) == []
    time.sleep(0.5)
    assert not died.is_set() and worker._process.exitcode == 0


def test_a_killed_helper_loses_nothing(config, partners):
    """A helper killed in the middle of its batch: what it held stays in the spool and the filing process files
    it, once no helper runs; the hub goes on."""
    died = threading.Event()
    worker, burst = _started(config, died, 300, "killed")
    try:
        filing_pid = worker._process.pid
        deadline = time.monotonic() + 60
        while not (helpers := _children(filing_pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert helpers, "no helper started"
        time.sleep(0.2)  # in the middle of its work
        os.kill(helpers[0], signal.SIGKILL)
        deadline = time.monotonic() + 90
        while (_stored(config) < len(burst) or spool.pending(config.data_dir)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker._process.is_alive()
    finally:
        worker.stop()
    assert _stored(config) == len(burst) == _distinct_message_ids(config)
    assert spool.pending(config.data_dir) == []
    assert not died.is_set()


def test_no_helper_when_the_filing_process_is_to_file_alone(hub_dir, partners):
    from hub import config as config_module

    path = hub_dir / "config" / "hub.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("[inbound]\n", "[inbound]\nfiling_processes = 1\n", 1),
                    encoding="utf-8")
    config = config_module.load(path)
    worker, burst = _started(config, threading.Event(), 100, "alone")
    try:
        seen = set()
        deadline = time.monotonic() + 60
        while _stored(config) < len(burst) and time.monotonic() < deadline:
            seen.update(_children(worker._process.pid))
            time.sleep(0.05)
    finally:
        worker.stop()
    assert _stored(config) == len(burst) and seen == set()


def test_filing_processes_is_checked(hub_dir):
    from hub import config as config_module

    path = hub_dir / "config" / "hub.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[inbound]\n", "[inbound]\nfiling_processes = 0\n", 1), encoding="utf-8")
    try:
        config_module.load(path)
    except config_module.ConfigError as exc:
        assert "filing_processes" in str(exc)
    else:
        raise AssertionError("filing_processes = 0 was accepted")


def _started(config, died: threading.Event, count: int, prefix: str):
    """A running filing process with a burst of `count` protocols handed over at once."""
    worker = spool_worker.SpoolWorker(config, on_death=died.set)
    burst = _spool(config, count, prefix)
    worker.start()
    assert _children(worker._process.pid) == []  # no helper while nothing waits
    for entry in burst:
        worker.submit(entry)
    return worker, burst


def _children(pid: int) -> list[int]:
    """The processes the filing process started (a helper; no sandbox worker starts for plain-text mail)."""
    try:
        return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()]
    except FileNotFoundError:
        return []


def _stored(config) -> int:
    return _count(config, "SELECT count(*) FROM inboundmessage")


def _distinct_message_ids(config) -> int:
    return _count(config, "SELECT count(DISTINCT message_id) FROM inboundmessage")


def _count(config, query: str) -> int:
    engine = sa.create_engine(config.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


def test_closing_the_connections_before_a_fork_leaves_none_open(config, alliance):
    """What a helper inherits holds no database connection: one of SQLite's must never cross a fork."""
    from hub import db
    from hub.alliance import current, unit_of_work

    with unit_of_work(config, read_only=True) as session:
        current(session, config)
    engine = db.engine_for(config.database_url)
    assert engine.pool.checkedin() >= 1
    db.close_connections()
    assert db.engine_for(config.database_url).pool.checkedin() == 0
