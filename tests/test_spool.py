"""The spool keeps the exact bytes and the envelope durably, and gives back what was left after a crash."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
import time_machine

from hub import durable
from hub.failpoints import InjectedFault, armed
from hub.inbound import spool

RAW = "Subject: Protokoll AG Gesundheit\r\nFrom: j.weiss@example.org\r\n\r\nNächstes Treffen: 21.04.2026\r\n".encode()


def test_write_keeps_exact_bytes_and_envelope(tmp_path):
    entry = spool.write(tmp_path, RAW, via="smtp", envelope_from="j.weiss@example.org",
                        envelope_to=["protokolle+gesundheit@buendnis-musterhausen.example", "jürgen@bündnis.example"])
    assert entry.path.parent == tmp_path / "spool" / "new"
    assert entry.path.read_bytes() == RAW
    assert entry.received_at.tzinfo == UTC
    assert os.listdir(tmp_path / "spool" / "tmp") == []
    [again] = spool.pending(tmp_path)
    assert again.path == entry.path
    assert (again.via, again.envelope_from) == ("smtp", "j.weiss@example.org")
    assert again.envelope_to == ["protokolle+gesundheit@buendnis-musterhausen.example", "jürgen@bündnis.example"]
    assert again.received_at == entry.received_at


def test_pending_is_oldest_first_and_finish_removes(tmp_path):
    entries = [spool.write(tmp_path, RAW + str(i).encode(), via="file") for i in range(5)]
    assert [e.path for e in spool.pending(tmp_path)] == [e.path for e in entries]
    spool.finish(entries[2])
    spool.finish(entries[2])  # twice is harmless (two workers, or a retry after a crash)
    left = spool.pending(tmp_path)
    assert [e.path for e in left] == [e.path for i, e in enumerate(entries) if i != 2]
    assert not entries[2].sidecar.exists()


def test_half_written_files_are_not_pending(tmp_path):
    """A crash before the rename of the .eml: the sender never got 250, so nothing is pending."""
    tmp, new = spool.spool_dirs(tmp_path)
    (tmp / "00000000000000000001-1-abcd.eml").write_bytes(RAW[:10])
    (new / "00000000000000000001-1-abcd.json").write_text(json.dumps({"via": "smtp", "received_at": "x"}))
    assert spool.pending(tmp_path) == []


def test_a_long_envelope_travels_in_a_sidecar(tmp_path):
    recipients = [f"protokolle+gruppe-{n}@buendnis-musterhausen.example" for n in range(20)]
    entry = spool.write(tmp_path, RAW, via="lmtp", envelope_from="j.weiss@example.org", envelope_to=recipients)
    assert entry.sidecar.exists()
    [again] = spool.pending(tmp_path)
    assert (again.via, again.envelope_from, again.envelope_to) == ("lmtp", "j.weiss@example.org", recipients)
    spool.finish(again)
    assert sorted(os.listdir(tmp_path / "spool" / "new")) == []


def test_a_short_envelope_travels_in_the_name(tmp_path):
    entry = spool.write(tmp_path, RAW, via="smtp", envelope_from="", envelope_to=["bounces+a1b2@example.org"])
    assert os.listdir(tmp_path / "spool" / "new") == [entry.path.name]
    [again] = spool.pending(tmp_path)
    assert (again.envelope_from, again.envelope_to) == ("", ["bounces+a1b2@example.org"])


def test_the_alliance_whose_mailbox_it_came_from_travels_with_the_message(tmp_path):
    """IMAP mail has no envelope: in an installation of many, the poller's alliance says whose it is."""
    spool.write(tmp_path, RAW, via="imap", alliance="buendnis-zwei.example")
    spool.write(tmp_path, RAW, via="smtp", envelope_to=[f"protokolle+g{n}@buendnis-eins.example" for n in range(20)],
                alliance="buendnis-eins.example")  # in a sidecar
    spool.write(tmp_path, RAW, via="smtp", envelope_to=["protokolle@buendnis-eins.example"])
    assert [entry.alliance for entry in spool.pending(tmp_path)] == [
        "buendnis-zwei.example", "buendnis-eins.example", None]


def test_damaged_envelope_still_gives_the_message_back(tmp_path):
    recipients = [f"x{n}@buendnis-musterhausen.example" for n in range(30)]
    entry = spool.write(tmp_path, RAW, via="lmtp", envelope_to=recipients)
    entry.sidecar.write_text("{not json")
    (tmp_path / "spool" / "new" / "von-hand.eml").write_bytes(RAW)
    entries = spool.pending(tmp_path)
    assert [e.path.read_bytes() for e in entries] == [RAW, RAW]
    assert [(e.via, e.envelope_to) for e in entries] == [("file", []), ("file", [])]


def test_sweep_removes_only_day_old_leftovers_of_interrupted_writes(tmp_path):
    large = b"x" * 998 + b"\r\n"
    draft = spool.Draft(tmp_path)
    draft.write(b"Subject: halb empfangen\r\n")
    for _ in range(spool.SPILL // len(large) + 1):  # beyond SPILL it is written as it arrives
        draft.write(large)
    old = spool.Draft(tmp_path)
    for _ in range(spool.SPILL // len(large) + 1):
        old.write(large)
    two_days_ago = time.time() - 2 * 86400
    os.utime(old.path, (two_days_ago, two_days_ago))
    assert spool.sweep(tmp_path) == 1
    assert draft.path.exists() and not old.path.exists()
    entry = draft.commit(via="smtp", envelope_from="a@b.example", envelope_to=["protokolle@x.example"])
    assert spool.pending(tmp_path) == [entry]
    assert entry.path.read_bytes().startswith(b"Subject: halb empfangen\r\nxxx")
    assert entry.path.stat().st_size == draft.size


class FolderFsyncs:
    """A stand-in for `durable.fsync_dir` that records what each call made durable (the names in the folder
    when it began) and holds the first call until `count` writers wait behind it: no timing decides how
    they are grouped. Call number `failing` raises, as a disk error would."""

    def __init__(self, count: int, failing: int = 0):
        self.count, self.failing = count, failing
        self.lock = threading.Lock()
        self.calls: list[set[str]] = []
        self.durable: set[str] = set()
        self.first_began = threading.Event()

    def __call__(self, path: Path) -> None:
        covered = set(os.listdir(path))
        with self.lock:
            self.calls.append(covered)
            first, failing = len(self.calls) == 1, len(self.calls) == self.failing
        if first:
            self.first_began.set()
            syncer, deadline = spool._dir_syncs[path], time.monotonic() + 30
            while syncer.requested < self.count:
                assert time.monotonic() < deadline, "the writers never queued up"
                time.sleep(0.001)
        if failing:
            raise OSError(errno.EIO, "the disk failed the flush")
        with self.lock:
            self.durable.update(covered)

    def commit(self, data_dir: Path, n: int) -> spool.SpoolEntry:
        if n:  # the others write and rename while the first fsync runs: it must not count for them
            assert self.first_began.wait(30)
        entry = spool.write(data_dir, f"Subject: {n}\r\n\r\n".encode(), via="smtp")
        with self.lock:
            assert entry.path.name in self.durable  # else the sender would hear 250 before the rename is durable
        return entry


def test_messages_spooled_at_once_share_folder_fsyncs_and_each_returns_after_one_begun_after_its_rename(
        tmp_path, monkeypatch):
    fsyncs = FolderFsyncs(count=16)
    monkeypatch.setattr(durable, "fsync_dir", fsyncs)
    with ThreadPoolExecutor(fsyncs.count) as pool:
        entries = list(pool.map(partial(fsyncs.commit, tmp_path), range(fsyncs.count)))
    assert sorted(e.path for e in spool.pending(tmp_path)) == sorted(e.path for e in entries)
    assert len(fsyncs.calls) == 2  # the first writer's own, then one for the fifteen that waited behind it


def test_a_failed_folder_fsync_counts_for_nobody_the_writers_it_was_for_sync_again(tmp_path, monkeypatch):
    fsyncs = FolderFsyncs(count=8, failing=2)  # the one for the seven that waited behind the first
    monkeypatch.setattr(durable, "fsync_dir", fsyncs)
    with ThreadPoolExecutor(fsyncs.count) as pool:
        futures = [pool.submit(fsyncs.commit, tmp_path, n) for n in range(fsyncs.count)]
    errors = [future.exception() for future in futures]
    # Its leader's sender hears 451 and tries again; the six others had a third fsync run for them.
    assert sum(isinstance(error, OSError) for error in errors) == 1 and errors.count(None) == 7
    assert len(fsyncs.calls) == 3


def test_a_message_whose_bytes_are_written_but_not_yet_fsynced_is_not_spooled(tmp_path):
    with armed("raise:spool-written"), pytest.raises(InjectedFault):
        spool.write(tmp_path, RAW, via="smtp")
    tmp, _ = spool.spool_dirs(tmp_path)
    assert spool.pending(tmp_path) == [] and list(tmp.iterdir()) == []


def test_unclaimed_are_the_entries_nobody_handed_over_for_a_while(tmp_path):
    with time_machine.travel(datetime(2030, 3, 1, 9, 0, tzinfo=UTC), tick=False):
        old = spool.write(tmp_path, b"Subject: old\r\n\r\n", via="file")
    with time_machine.travel(datetime(2030, 3, 1, 9, 0, 5, tzinfo=UTC), tick=False):
        new = spool.write(tmp_path, b"Subject: new\r\n\r\n", via="smtp")
        assert [e.path for e in spool.unclaimed(tmp_path, older_than=2)] == [old.path]
        assert {e.path for e in spool.unclaimed(tmp_path, older_than=0)} == {old.path, new.path}
