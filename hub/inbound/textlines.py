"""Protocol text as lines and table cells, and the cues that announce the next meeting."""

from __future__ import annotations

import re

_NEXT_CUE = re.compile(
    r"n(?:ä|ae)chste[nrsm]?\s+(?:[\w-]*(?:treffen|sitzung|termin|runde|zusammenkunft|plenum)\b)"
    r"|\bfolge(?:treffen|termin|sitzung)\b|wie,?\s+wann\s+und\s+wo\s+geht\s+es\s+weiter"
    r"|\b(?:wir\s+treffen\s+uns|treffen\s+wir\s+uns)\s+(?:wieder|erneut)|\bfortsetzung\b(?!\s+folgt)"
    r"|\bnext\s+(?:meeting|session)\b|\bwe\s+(?:will\s+)?meet\s+again\b",
    re.IGNORECASE,
)
# Every alternative of _NEXT_CUE contains one of these: a cheap test that spares the regex on most lines.
_CUE_WORDS = ("chste", "folge", "wann", "uns", "fortsetzung", "next", "meet")


# "bis zum nächsten Treffen" is a task's deadline, not the announcement of the next meeting.
_DEADLINE = re.compile(r"\b(?:bis|vor)\s+(?:zum|zur|dem|der)\s*$", re.IGNORECASE)


def next_cue(text: str) -> re.Match | None:
    lowered = text.lower()
    if not any(word in lowered for word in _CUE_WORDS):
        return None
    return next((m for m in _NEXT_CUE.finditer(text) if not _DEADLINE.search(text, max(0, m.start() - 12), m.start())),
                None)


def cue_lines(lines: list[str]) -> list[int]:
    """The numbers of the lines that may hold a cue: `next_cue` need not look at the others."""
    return lines_holding(lines, _CUE_WORDS)


def lines_holding(lines: list[str], words: tuple[str, ...]) -> list[int]:
    """The numbers of the lines that hold one of `words` (lower case) in any case, in order; the words that
    `re.IGNORECASE` also finds as "ſ" or "ı" count too. A few searches through the whole text cost less than a
    test per line (filing's hot path). Lowering keeps every line break, so a line's number is the count of breaks
    before a word."""
    lowered = "\n".join(lines).lower()
    if "ſ" in lowered or "ı" in lowered:
        lowered = lowered.translate(_IGNORECASE_ALSO)
    starts = []
    for word in words:
        at = lowered.find(word)
        while at >= 0:
            starts.append(at)
            at = lowered.find(word, at + len(word))
    numbers, line, counted = [], 0, 0
    for at in sorted(starts):
        line += lowered.count("\n", counted, at)
        counted = at
        if not numbers or numbers[-1] != line:
            numbers.append(line)
    return numbers


_IGNORECASE_ALSO = str.maketrans({"ſ": "s", "ı": "i"})


# A list item's mark: a dash, bullet, number or letter, then space.
BULLET = re.compile(r"^\s*(?:[-*•–·▪]|\d+[.)]|[a-z]\))\s+")
HEADING = re.compile(r"^\s*(?:\d+[.)]\s+\S|top\s*\d+|[A-ZÄÖÜ][^.!]{0,60}[?:]\s*$)", re.IGNORECASE)


def text_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def table_cells(line: str) -> list[str]:
    """A table row as rendered by the parser ("a | b | c" or tab-separated), else the line itself."""
    if "|" in line or "\t" in line:
        return [c.strip() for c in re.split(r"\s*[|\t]\s*", line.strip().strip("|")) if c.strip()]
    return [line.strip()]
