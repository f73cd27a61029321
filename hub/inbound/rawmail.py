"""Raw mail bytes → an `email` Message, without copies of large bodies.

The standard library's parser with `policy.default` (header objects cached per distinct value) and the
legacy compat32 parser for headers `policy.default` gives up on. Large encoded bodies never reach the parser:
a placeholder line stands in for each, and `large_body` hands the MIME walk the raw bytes to decode.
"""

from __future__ import annotations

import contextvars
import functools
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.feedparser import BytesFeedParser
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser


class _CachingHeaderRegistry(HeaderRegistry):
    """policy.default parses a structured header (Content-Type …) anew on every access, and the walk over a
    message reads each several times; header objects are immutable, so one parse per distinct value will do."""

    @functools.lru_cache(maxsize=4096)  # noqa: B019 — one module-level instance, lives as long as the process
    def __call__(self, name: str, value: str):
        return super().__call__(name, value)


POLICY = policy.default.clone(header_factory=_CachingHeaderRegistry())
PARSER = BytesParser(policy=POLICY)
LEGACY_PARSER = BytesParser(policy=policy.compat32)
_CHUNK = 1 << 16


def message_from_bytes(raw: bytes, parser: BytesParser) -> Message:
    """Like parser.parsebytes, fed in chunks: parsebytes decodes the whole message into one string and reads it
    through a StringIO (four bytes a character), which costs eight times a 20 MB attachment in memory.

    Large encoded bodies never reach the parser at all: it would keep each of their lines, then their join,
    as strings (three times the body). A placeholder line stands in for each, and `_payload` decodes the
    body straight from the raw bytes."""
    feed = BytesFeedParser(policy=parser.parser.policy)
    view = memoryview(raw)
    bodies = _LARGE_BODIES.get()[1] if _LARGE_BODIES.get() else {}
    position = 0
    for placeholder, (start, end) in bodies.items():
        _feed(feed, view[position:start])
        feed.feed(placeholder.encode("ascii") + b"\r\n")
        position = end
    _feed(feed, view[position:])
    return feed.close()


def _feed(feed: BytesFeedParser, view: memoryview) -> None:
    for start in range(0, len(view), _CHUNK):
        feed.feed(bytes(view[start:start + _CHUNK]))


# Bodies above this size are decoded from the raw bytes (see _message_from_bytes).
LARGE_BODY = 1 << 20
_ENCODED_RUN = re.compile(rb"[A-Za-z0-9+/=\r\n]+")  # maximal runs, filtered by length: linear, never quadratic
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# The message being parsed: its raw bytes and its large bodies by placeholder.
_LARGE_BODIES: contextvars.ContextVar[tuple[memoryview, dict] | None] = contextvars.ContextVar(
    "large_bodies", default=None)


def _large_bodies(raw: bytes) -> dict[str, tuple[int, int]]:
    """Where the raw message has long runs of encoded lines: {placeholder: (start, end)} of whole lines.

    The placeholder carries a random token, so a mail cannot name one of its own."""
    if len(raw) < LARGE_BODY:
        return {}
    token = secrets.token_hex(8)
    bodies = {}
    for run in _ENCODED_RUN.finditer(raw):
        start, end = run.span()
        if end - start < LARGE_BODY:
            continue
        # A run may begin with the tail of a header line ("base64") and the blank line after the headers.
        blanks = list(_BLANK_LINE.finditer(raw, start, min(end, start + 1024)))
        if blanks:
            start = blanks[-1].end()
        elif start > 0 and raw[start - 1:start] != b"\n":
            start = raw.find(b"\n", start, end) + 1
        end = raw.rfind(b"\n", start, end) + 1
        if start <= 0 or end - start < LARGE_BODY:
            continue
        bodies[f"HUBLARGEBODY{token}{len(bodies)}"] = (start, end)
    return bodies


def large_body(payload: str) -> memoryview | None:
    current = _LARGE_BODIES.get()
    if current is None or not payload.startswith("HUBLARGEBODY") or len(payload) > 80:
        return None
    view, bodies = current
    span = bodies.get(payload.strip())
    return view[span[0]:span[1]] if span else None


@contextmanager
def reading(raw: bytes) -> Iterator[None]:
    """The message being parsed, for `message_from_bytes` and `large_body`: set for this parse only, so that
    the view never keeps a large message alive after it."""
    token = _LARGE_BODIES.set((memoryview(raw), _large_bodies(raw)))
    try:
        yield
    finally:
        _LARGE_BODIES.reset(token)
