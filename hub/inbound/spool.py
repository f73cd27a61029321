"""Spool: the raw bytes of every accepted message, durable on disk before anyone is told "accepted".

Layout under `<data_dir>/spool/`:
- `tmp/`  files being written (never read; leftovers from a crash are harmless),
- `new/`  `<received ns>-<pid>-<random>.eml`, the exact bytes received, and beside it
  `<same name>.json`, the envelope (via, MAIL FROM, RCPT TOs, received time).

The envelope travels in the sidecar because addresses can be long and contain anything, which a
file name cannot hold. Both files are written into `tmp/` and fsynced; the sidecar is renamed into
`new/` first, then the `.eml`, then `new/` itself is fsynced. So an `.eml` in `new/` always has its
sidecar, and what `pending()` returns survived a power cut. A sidecar without its `.eml` is a write
that never completed (nobody was told 250) and is ignored.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hub.failpoints import failpoint


@dataclass
class SpoolEntry:
    path: Path  # the raw .eml in <data_dir>/spool/new/
    via: str  # smtp | lmtp | imap | file
    envelope_from: str | None
    envelope_to: list[str] = field(default_factory=list)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # aware UTC

    @property
    def sidecar(self) -> Path:
        return self.path.with_suffix(".json")


def spool_dirs(data_dir: Path) -> tuple[Path, Path]:
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
) -> SpoolEntry:
    """Write `raw` durably into the spool; only when this returns may the sender be told 250 / \\Seen."""
    tmp, new = spool_dirs(data_dir)
    now_ns = time.time_ns()
    name = f"{now_ns:020d}-{os.getpid()}-{secrets.token_hex(4)}"
    entry = SpoolEntry(
        path=new / f"{name}.eml",
        via=via,
        envelope_from=envelope_from,
        envelope_to=list(envelope_to),
        received_at=datetime.fromtimestamp(now_ns / 1e9, UTC),
    )
    envelope = {
        "via": via,
        "envelope_from": envelope_from,
        "envelope_to": list(envelope_to),
        "received_at": entry.received_at.isoformat(),
    }
    tmp_sidecar, tmp_eml = tmp / f"{name}.json", tmp / f"{name}.eml"
    _write_synced(tmp_sidecar, json.dumps(envelope, ensure_ascii=False).encode("utf-8"))
    _write_synced(tmp_eml, raw)
    os.rename(tmp_sidecar, entry.sidecar)
    os.rename(tmp_eml, entry.path)
    fsync_dir(new)
    failpoint("spooled")  # durable, but nobody has been told yet: the sender must try again
    return entry


def pending(data_dir: Path) -> list[SpoolEntry]:
    """What is spooled but not yet finished (after a crash or a stop), oldest first."""
    _, new = spool_dirs(data_dir)
    entries = []
    for path in sorted(new.glob("*.eml")):
        entry = _read_entry(path)
        if entry is not None:
            entries.append(entry)
    return entries


def finish(entry: SpoolEntry) -> None:
    """Drop the message from the spool once it is stored (the store keeps its own hard link of the bytes)."""
    entry.path.unlink(missing_ok=True)
    entry.sidecar.unlink(missing_ok=True)
    fsync_dir(entry.path.parent)


def _read_entry(path: Path) -> SpoolEntry | None:
    try:
        envelope = json.loads(path.with_suffix(".json").read_bytes())
        return SpoolEntry(
            path=path,
            via=envelope["via"],
            envelope_from=envelope.get("envelope_from"),
            envelope_to=list(envelope.get("envelope_to") or []),
            received_at=datetime.fromisoformat(envelope["received_at"]),
        )
    except FileNotFoundError:
        if not path.exists():  # finished by another process meanwhile
            return None
    except (ValueError, KeyError, TypeError):
        pass
    # The bytes are what matters: a lost or damaged envelope must not lose the message.
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return SpoolEntry(path=path, via="file", envelope_from=None, envelope_to=[],
                      received_at=datetime.fromtimestamp(mtime, UTC))


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
