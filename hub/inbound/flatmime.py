"""Reading a message whose MIME tree is nested deeper than the parser can follow.

The standard library's parser recurses once per level of multipart: 2,000 levels raise RecursionError and
the whole message, sender and subject included, would be lost. A message that declares more boundaries than
any mailer nests (`MAX_BOUNDARIES`), or whose parse runs out of recursion, is read flat instead: its headers
alone, then every part between any two of its boundary lines as a message of its own. The tree is lost, the
parts are not: the text the sender wrote, the attachments and their text survive, and deeper parts are
opaque no more than they must be.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesParser

MAX_BOUNDARIES = 50  # distinct multipart boundaries; real mail (a forward of a forward of a reply) has a dozen
MAX_PARTS = 10_000  # parts read of a flat message; beyond that the rest is left in the raw mail
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE)
_DELIMITER = re.compile(rb"^--([^\r\n]{1,202}?)(--)?[ \t]*\r?$", re.MULTILINE)


def boundaries(raw: bytes) -> set[bytes]:
    return {quoted or bare for quoted, bare in _BOUNDARY.findall(raw)}


def too_deep(raw: bytes) -> bool:
    return len(boundaries(raw)) > MAX_BOUNDARIES


def parts(raw: bytes, parser: BytesParser) -> Iterator[Message]:
    """The parts of the message that are not multiparts themselves, in order, each parsed on its own."""
    known = boundaries(raw)
    start, count = None, 0
    for line in _DELIMITER.finditer(raw):
        if line.group(1) not in known:
            continue
        if start is not None and count < MAX_PARTS:
            part = _part(raw[start:line.start()], parser)
            if part is not None:
                count += 1
                yield part
        start = line.end() + 1  # after the line's newline


def _part(chunk: bytes, parser: BytesParser) -> Message | None:
    if not chunk.strip():
        return None
    part = parser.parsebytes(chunk)
    return None if part.get_content_maintype() == "multipart" else part
