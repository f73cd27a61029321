"""Subjects built around a protocol's own subject, without saying anything twice.

A relay's subject names the group and the meeting's day ("Protokoll AG Gesundheit vom 12.03.2026"); the
protocol's subject usually says the same ("Ergebnisprotokoll AG Gesundheit vom 12.03.2026"). Only what it
adds beyond that (a topic: "Gesundheitstag") is worth a place after the colon.
"""

from __future__ import annotations

import re
from datetime import date

NOISE = re.compile(r"^\s*((re|aw|wg|fw|fwd|antw)\s*:\s*|\[[^\]]*\]\s*)+", re.IGNORECASE)
PROTOCOL_WORD = re.compile(r"\b(ergebnis|sitzungs|kurz)?protokoll\b|\b(minutes|protocol)\b", re.IGNORECASE)
DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b|\b(\d{1,2})\.\s?(\d{1,2})\.(?:\s?(\d{2,4})\b)?")
FILLER = re.compile(r"^(?:[\s:,;–—\-/|()]|\b(?:vom|von|der|des|am|zur|zum|from|of|the|on|für|for)\b)+|"
                    r"(?:[\s:,;–—\-/|()]|\b(?:vom|von|der|des|am|from|of|the|on)\b)+$", re.IGNORECASE)
MEETING_WORD = re.compile(r"^(sitzung|treffen|besprechung|meeting)$", re.IGNORECASE)  # says nothing alone


def protocol_topic(subject: str | None, group: str, day: date | None) -> str:
    """What the protocol's subject says beyond "Protokoll", the group's name and the meeting's day ("" when
    nothing): the rest of a relay's subject after "Protokoll <group> vom <day>: "."""
    text = NOISE.sub("", subject or "").strip()
    if group:
        text = re.sub(re.escape(group), " ", text, flags=re.IGNORECASE)
    if day is not None:
        text = DATE.sub(lambda m: " " if _is_day(m, day) else m.group(0), text)
    text = PROTOCOL_WORD.sub(" ", text)
    previous = None
    while previous != text:
        previous, text = text, FILLER.sub("", text.strip())
    text = " ".join(text.split())
    return "" if MEETING_WORD.match(text) else text


def _is_day(match: re.Match, day: date) -> bool:
    """A date in the subject that is the meeting's day (a year, when written, must fit too)."""
    if match.group(1):
        year, month, dom = int(match.group(1)), int(match.group(2)), int(match.group(3))
    else:
        dom, month = int(match.group(4)), int(match.group(5))
        written = match.group(6)
        year = day.year if not written else int(written) + (2000 if len(written) == 2 else 0)
    return (year, month, dom) == (day.year, day.month, day.day)
