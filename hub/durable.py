"""Files that survive a crash: written, fsync'ed, and visible under their name only when complete.

Every file the hub keeps under its data dir (spool, archive, attachments, IMAP state, the secret key) is
written through here, so durability and permissions are decided in one place.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` (it must not exist yet) with `data`, and fsync it. The folder is not synced: callers
    that rename the file into place sync the folder once for many files."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(target: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `target` whole: a temporary file beside it, fsync'ed, renamed over it, the folder fsync'ed.
    A reader sees the old content or the new, never a part."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    write_new(tmp, data, mode)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def fsync_dir(path: Path) -> None:
    """Make the names in a folder durable (a rename or a new link is on disk once this returns)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
