"""Mail bytes for property tests: the project's own sample mails, the public corpus when it lies beside the
repository, and random splices of either (bytes cut out and put in at random places)."""

from __future__ import annotations

from pathlib import Path

from conftest import CORPUS
from hypothesis import strategies as st

MAILS = Path(__file__).parent / "mails"
REAL = [p.read_bytes() for p in sorted(MAILS.glob("*.eml"))]
# Every 7th corpus mail (a spread over its folders) when the corpus is there; the sample mails either way.
CORPUS_SAMPLE = [p.read_bytes() for p in sorted(CORPUS.glob("*/**/*.eml"))[::7]] if CORPUS.is_dir() else []

edits = st.lists(st.tuples(st.floats(0, 1), st.binary(max_size=8), st.integers(0, 12)), max_size=6)


def spliced(raw: bytes, changes: list[tuple[float, bytes, int]]) -> bytes:
    data = bytearray(raw)
    for where, insert, delete in changes:
        at = int(where * len(data))
        data[at:at + delete] = insert
    return bytes(data)
