"""The limits a document read from an attachment must keep, and the check of ZIP-based documents against them.

A 256 KB mail with a DOCX zip bomb once took the filing process to 813 MB. These checks hold wherever a
document is read; the worker process of hub/inbound/sandbox.py adds hard limits of memory and time.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

MB = 1024 * 1024
MAX_TEXT_CHARS = 2_000_000  # a protocol is a few pages; keep a runaway document from filling the database
# Below this size a member's compression ratio does not matter (a small XML of repeated markup packs well).
_RATIO_FLOOR = MB
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what office programs write; bzip2/LZMA unpack unbounded
_CHUNK = 64 * 1024
NOT_EXTRACTED = "Text nicht extrahiert:"  # the start of every error that a limit gave (the sandbox recycles on it)


@dataclass(frozen=True)
class ReadLimits:
    """What one document may unpack to; defaults as in config [extraction]."""

    max_unpacked_bytes: int = 50 * MB  # all members of a ZIP-based document together; all content streams of a PDF
    max_ratio: int = 100  # unpacked : packed size of one ZIP member (of more than 1 MB)
    max_members: int = 10_000
    max_pdf_pages: int = 500
    max_chars: int = MAX_TEXT_CHARS


DEFAULT_LIMITS = ReadLimits()


class LimitExceeded(Exception):
    """A document over a limit; its message is the reason, as in `not_extracted`."""


def not_extracted(reason: str) -> str:
    """The error sentence of a document over a limit: the file is kept, only its text is missing."""
    return f"{NOT_EXTRACTED} {reason}; die Datei liegt unverändert im Anhang."


def too_big(detail: str) -> str:
    return f"zu groß ({detail})"


def out_of_time(seconds: float) -> str:
    return f"Zeitlimit ({seconds:g} s)"


def check_zip(data: bytes, limits: ReadLimits = DEFAULT_LIMITS) -> None:
    """Raise LimitExceeded for a ZIP-based document over `limits`, else return; it is then safe to hand to a reader.

    First the central directory (member count, declared sizes, ratios, methods), before any member is unpacked;
    then every member is unpacked in chunks and counted, because the directory can lie. (zipfile stops a member
    at its declared size, and a reader goes by the same directory, so what is counted here is what it reads.)"""
    mb = limits.max_unpacked_bytes // MB
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise LimitExceeded(too_big(f"über {limits.max_members} Dateien im Archiv"))
        if sum(m.file_size for m in members) > limits.max_unpacked_bytes:
            raise LimitExceeded(too_big(f"entpackt über {mb} MB"))
        for member in members:
            if member.file_size > _RATIO_FLOOR and member.file_size > limits.max_ratio * max(member.compress_size, 1):
                raise LimitExceeded(too_big(f"{member.filename} ist über {limits.max_ratio}:1 gepackt"))
            if member.compress_type not in ZIP_METHODS:
                raise LimitExceeded(f"ungewöhnlich gepackt ({member.filename})")
        unpacked = 0
        for member in members:
            with archive.open(member) as stream:
                while chunk := stream.read(_CHUNK):
                    unpacked += len(chunk)
                    if unpacked > limits.max_unpacked_bytes:
                        raise LimitExceeded(too_big(f"entpackt über {mb} MB"))


def pdf_pages_over(root: object, limit: int) -> bool:
    """Whether the page tree has more than `limit` pages, by walking it (its /Count can lie) up to that many."""
    stack, seen, pages = [root], set(), 0
    while stack:
        node = stack.pop()
        reference = getattr(node, "idnum", None)
        if reference is not None:
            if reference in seen:  # a loop or a page listed twice: pypdf skips it too
                continue
            seen.add(reference)
        node = node.get_object()
        kids = node.get("/Kids") if hasattr(node, "get") else None
        if kids is None:
            pages += 1
            if pages > limit:
                return True
        else:
            stack.extend(kids.get_object())
    return False
