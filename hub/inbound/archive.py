"""The archive on disk: raw mail and attachments as plain files under the data dir, named by their SHA-256, so
the same bytes are kept once and a path never comes from a mail. A spooled message enters it as a hard link;
links and copies are durable once their folders are synced.
"""

from __future__ import annotations

import os
from pathlib import Path

from hub import durable


def archive_path(content_hash: str) -> str:
    return f"messages/{content_hash[:2]}/{content_hash}.eml"


def blob_path(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256}"


def archive_raw(data_dir: Path, spooled: Path, content_hash: str) -> str:
    """Keep the spooled bytes in the archive: a hard link (no copy), or a durable copy across filesystems.

    The new link is durable only after `sync_dirs` of its folder, which the caller does once per batch
    before the spool lets go of the file."""
    relative = archive_path(content_hash)
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return relative
    try:
        os.link(spooled, target)
    except FileExistsError:
        return relative
    except OSError:
        durable.replace(target, spooled.read_bytes())
    return relative


def folders_of(data_dir: Path, relative: str) -> set[Path]:
    """The folders whose entries make an archived file durable: its own and the one that holds it."""
    folder = (data_dir / relative).parent
    return {folder, folder.parent}


def sync_dirs(folders: set[Path]) -> None:
    for folder in folders:
        durable.fsync_dir(folder)
