"""Spool: the raw bytes of every accepted message, durable on disk before anyone is told "accepted".

Layout under `<data_dir>/spool/`:
- `tmp/`  files being written (never read; leftovers from a crash are harmless),
- `new/`  the exact bytes received, one `.eml` file each, named
  `<received ns>-<pid>-<random>.<via>.<envelope>.eml`, where `<envelope>` is the JSON
  `[MAIL FROM, [RCPT TO, ...]]` in URL-safe base64 (no padding), or `[MAIL FROM, [RCPT TO, ...], client IP,
  HELO name]` when the mail came over SMTP/LMTP (the sender check's SPF needs both; older files have two).

The envelope travels in the name because one fsync fewer per message doubles the spool's rate (the
listener's cost is mostly fsync). When it does not fit in a file name (many or long recipients), the
file is `<received ns>-<pid>-<random>.eml` with a sidecar `<same stem>.json` holding via and envelope;
the sidecar is written, fsynced and renamed into `new/` before the `.eml`. Either way the `.eml` is
written into `tmp/`, fsynced, renamed into `new/`, and `new/` itself is fsynced: what `pending()`
returns survived a power cut. A sidecar without its `.eml` is a write that never completed (nobody
was told 250) and is ignored.

Messages committed at the same time share the folder's fsync (`_DirSync`); each file keeps its own fsync,
before its rename. One syncfs(2) for all files written when it starts saved a third of the disk's cache
flushes but was no faster on ext4 (issue 18: 8 writers of 10 KB), while it makes every 250 wait for all of
the filesystem's unrelated dirty data (the database, a backup being written): 1 ms became 119 ms beside 300 MB.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub import durable
from hub.failpoints import failpoint

MAX_NAME = 255  # bytes in a file name on every common Linux filesystem
SPILL = 1 << 20  # a message being received is kept in memory up to this size, then written as it arrives
_NAME = re.compile(r"^(?P<ns>\d{20})-\d+-[0-9a-f]+(?:\.(?P<via>[a-z]+)\.(?P<envelope>[A-Za-z0-9_-]+))?\.eml$")


@dataclass
class SpoolEntry:
    path: Path  # the raw .eml in <data_dir>/spool/new/
    via: str  # smtp | lmtp | imap | file
    envelope_from: str | None
    envelope_to: list[str] = field(default_factory=list)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # aware UTC
    peer: str | None = None  # the SMTP/LMTP client's IP address (None for IMAP and files)
    helo: str | None = None  # the name it gave in HELO/EHLO/LHLO
    # The domain of the alliance whose mailbox it was fetched from (IMAP: mail there has no envelope to tell).
    alliance: str | None = None

    @property
    def sidecar(self) -> Path:
        return self.path.with_suffix(".json")

    @property
    def label(self) -> str:
        """The file's name for a log line: without the envelope, whose encoding carries the sender's address."""
        return self.path.name.split(".", 1)[0]


def spool_dirs(data_dir: Path) -> tuple[Path, Path]:
    return _spool_dirs(str(data_dir))


@functools.lru_cache(maxsize=64)  # made once per process: two mkdir calls per message cost a tenth of the spool
def _spool_dirs(data_dir: str) -> tuple[Path, Path]:
    root = Path(data_dir) / "spool"
    tmp, new = root / "tmp", root / "new"
    tmp.mkdir(parents=True, exist_ok=True)
    new.mkdir(parents=True, exist_ok=True)
    return tmp, new


def write(
    data_dir: Path,
    raw: bytes,
    *,
    via: str,
    envelope_from: str | None = None,
    envelope_to: list[str] | tuple[str, ...] = (),
    peer: str | None = None,
    helo: str | None = None,
    alliance: str | None = None,
) -> SpoolEntry:
    """Write `raw` durably into the spool; only when this returns may the sender be told 250 / \\Seen."""
    draft = Draft(data_dir)
    try:
        draft.write(raw)
        return draft.commit(via=via, envelope_from=envelope_from, envelope_to=envelope_to, peer=peer, helo=helo,
                            alliance=alliance)
    except BaseException:
        draft.discard()
        raise


class Draft:
    """A message being received. Kept in memory up to `SPILL` bytes, beyond that written to `tmp/` as it
    arrives, so that a large mail is never held whole; `commit` makes it durable in `new/` (then the
    listener says 250), `discard` drops it. Small mail touches the disk only in `commit`, which the
    listener runs in a worker thread."""

    def __init__(self, data_dir: Path):
        self.tmp, self.new = spool_dirs(data_dir)
        self.now_ns = time.time_ns()
        self.stem = f"{self.now_ns:020d}-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = self.tmp / f"{self.stem}.part"
        self.size = 0
        self._buffer: list[bytes] = []
        self._file = None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._buffer.append(data)
        if self.size > SPILL:
            self._file = open(self.path, "wb")  # closed by commit or discard
            self._file.writelines(self._buffer)
            self._buffer = []

    def commit(self, *, via: str, envelope_from: str | None = None,
               envelope_to: list[str] | tuple[str, ...] = (), peer: str | None = None,
               helo: str | None = None, alliance: str | None = None) -> SpoolEntry:
        if self._file is None:
            self._file = open(self.path, "wb")
            self._file.writelines(self._buffer)
            self._buffer = []
        self._file.flush()
        failpoint("spool-written")  # in the page cache, not on disk: no 250 may have gone out for it
        os.fsync(self._file.fileno())
        self._file.close()
        envelope = [envelope_from, list(envelope_to)] + ([peer, helo] if peer or helo or alliance else [])
        envelope += [alliance] if alliance else []
        encoded = base64.urlsafe_b64encode(json.dumps(envelope, ensure_ascii=False).encode()).decode().rstrip("=")
        in_name = f"{self.stem}.{via}.{encoded}.eml"
        sidecar = len(in_name.encode()) > MAX_NAME or not via.isalpha()
        entry = SpoolEntry(
            path=self.new / (f"{self.stem}.eml" if sidecar else in_name),
            via=via,
            envelope_from=envelope_from,
            envelope_to=list(envelope_to),
            received_at=_received_at(self.now_ns),
            peer=peer,
            helo=helo,
            alliance=alliance,
        )
        if sidecar:
            tmp_sidecar = self.tmp / f"{self.stem}.json"
            data = {"via": via, "envelope_from": envelope_from, "envelope_to": list(envelope_to), "peer": peer,
                    "helo": helo, "alliance": alliance}
            durable.write_new(tmp_sidecar, json.dumps(data, ensure_ascii=False).encode("utf-8"), 0o640)
            os.rename(tmp_sidecar, entry.sidecar)
        os.rename(self.path, entry.path)
        _group_fsync(self.new)
        failpoint("spooled")  # durable, but nobody has been told yet: the sender must try again
        return entry

    def discard(self) -> None:
        self._buffer = []
        if self._file is not None:
            self._file.close()
            self.path.unlink(missing_ok=True)


def sweep(data_dir: Path, older_than: float = 86400) -> int:
    """Remove what crashed writers left in `tmp/` (nobody was told 250 for it); a day old, so that a
    message another process is receiving right now is never touched."""
    tmp, _ = spool_dirs(data_dir)
    cutoff = time.time() - older_than
    removed = 0
    for path in tmp.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def pending(data_dir: Path) -> list[SpoolEntry]:
    """What is spooled but not yet finished (after a crash or a stop), oldest first."""
    _, new = spool_dirs(data_dir)
    entries = []
    for path in sorted(new.glob("*.eml")):
        entry = _read_entry(path)
        if entry is not None:
            entries.append(entry)
    return entries


def unclaimed(data_dir: Path, older_than: float) -> list[SpoolEntry]:
    """What waits in the spool since more than `older_than` seconds: mail that no listener of this hub handed
    over (written by `hub ingest --queue` or left by another process); a listener hands its own over at once."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    return [entry for entry in pending(data_dir) if entry.received_at <= cutoff]


def finish(entry: SpoolEntry) -> None:
    """Drop the message from the spool once it is stored (the store keeps its own hard link of the bytes).

    No directory fsync: if a crash undoes the unlink, recovery finds the message stored (a duplicate)
    and finishes it again; that costs less than an fsync per message."""
    entry.path.unlink(missing_ok=True)
    entry.sidecar.unlink(missing_ok=True)


def _read_entry(path: Path) -> SpoolEntry | None:
    match = _NAME.match(path.name)
    if match is None:  # put here by hand: filed like `hub ingest FILE`
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        return SpoolEntry(path=path, via="file", envelope_from=None, envelope_to=[],
                          received_at=datetime.fromtimestamp(mtime, UTC))
    received_at = _received_at(int(match["ns"]))
    try:
        if match["envelope"]:
            padded = match["envelope"] + "=" * (-len(match["envelope"]) % 4)
            envelope_from, envelope_to, *client = json.loads(base64.urlsafe_b64decode(padded))
            peer, helo, alliance = (client + [None, None, None])[:3]
            via = match["via"]
        else:
            data = json.loads(path.with_suffix(".json").read_bytes())
            via, envelope_from, envelope_to = data["via"], data.get("envelope_from"), data.get("envelope_to")
            peer, helo, alliance = data.get("peer"), data.get("helo"), data.get("alliance")
        return SpoolEntry(path=path, via=via, envelope_from=envelope_from, envelope_to=list(envelope_to or []),
                          received_at=received_at, peer=_text(peer), helo=_text(helo), alliance=_text(alliance))
    except (OSError, ValueError, KeyError, TypeError):
        # The bytes are what matters: a lost or damaged envelope must not lose the message.
        return SpoolEntry(path=path, via="file", envelope_from=None, envelope_to=[], received_at=received_at)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _received_at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1000 / 1e6, UTC)


class _DirSync:
    """Group commit for a folder's fsync: renames that happened before a sync started are durable when
    it ends, so messages spooled at the same time by several connections share one fsync."""

    def __init__(self, path: Path):
        self.path = path
        self.changed = threading.Condition()
        self.requested = self.done = 0
        self.syncing = False

    def sync(self) -> None:
        with self.changed:
            self.requested += 1
            mine = self.requested
            while self.done < mine:
                if not self.syncing:
                    self.syncing, batch = True, self.requested
                    break
                self.changed.wait()
            else:
                return
        synced = False
        try:
            durable.fsync_dir(self.path)
            synced = True
        finally:
            with self.changed:
                self.syncing = False
                if synced:  # after a failure the waiting writers try again themselves
                    self.done = max(self.done, batch)
                self.changed.notify_all()


_dir_syncs: dict[Path, _DirSync] = {}
_dir_syncs_lock = threading.Lock()


def _group_fsync(path: Path) -> None:
    with _dir_syncs_lock:
        syncer = _dir_syncs.setdefault(path, _DirSync(path))
    syncer.sync()
