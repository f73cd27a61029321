"""Replies and inline forwards: the new text of a body apart from the quoted original and from forwarded
messages (their sender, subject and date as German and English mailers write them)."""

from __future__ import annotations

import re
from datetime import datetime

from hub.inbound.datefind import MONTHS
from hub.inbound.headers import header_date, normalised_address
from hub.inbound.message import Forwarded

_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{3,}\s*(?:Urspr(?:ü|ue)ngliche Nachricht|Original(?:e)? Message|Original-Nachricht|Forwarded message"
    r"|Weitergeleitete Nachricht|Nachricht weitergeleitet|Message transféré)\s*-{3,}"
    r"|-{5,}\s*(?:Ursprüngliche|Original).{0,30}-{5,}"
    r"|(?:Anfang der weitergeleiteten Nachricht|Begin forwarded message)\s*:)\s*$", re.I)
_HEADER_LINE = re.compile(
    r"^\s*\*?(Von|From|Gesendet|Sent|Datum|Date|An|To|Cc|Kopie|Betreff|Subject|Antwort an|Reply-To)\s*:\*?\s*(.*)$",
    re.I)
_REPLY_START = re.compile(r"^\s*(Am|On|Le|El|Il)\s.{4,}", re.I)
_REPLY_END = re.compile(r"(schrieb|wrote|a écrit|escribió|ha scritto)\s*.{0,80}:\s*$", re.I)
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|antw|sv|vs|odp)\s*(\[\d+\])?\s*:", re.I)
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|wg|wtr|tr|fw)\s*:", re.I)
# a cheap first look: a body with none of these line starts has neither quotes nor forwards
_ANY_MARKER = re.compile(r"^[ \t]*(?:>|-{3}|_{10}|\*?(?:von|from)\s*:|(?:am|on|le|el|il)\s|anfang der|begin forw)",
                         re.M | re.I)
_SEPARATOR = re.compile(r"^\s*_{10,}\s*$")


def _outlook_block(lines: list[str], i: int) -> bool:
    """ "Von: … / Gesendet: … / An: … / Betreff: …" as Outlook puts above a forwarded or replied-to mail."""
    match = _HEADER_LINE.match(lines[i])
    if not match or match.group(1).lower() not in ("von", "from"):
        return False
    keys = set()
    for line in lines[i + 1: i + 8]:
        header = _HEADER_LINE.match(line)
        if header:
            keys.add(header.group(1).lower())
    return bool(keys & {"gesendet", "sent", "datum", "date"}) and bool(keys & {"betreff", "subject"})


def _attribution(lines: list[str], i: int) -> int:
    """Lines taken by a reply attribution ("Am … schrieb …:", wrapped over up to three lines) starting at i."""
    if not _REPLY_START.match(lines[i]):
        return 0
    for span in range(1, 4):
        if i + span > len(lines):
            break
        joined = " ".join(line.strip() for line in lines[i: i + span])
        if len(joined) > 300:
            break
        if _REPLY_END.search(joined):
            return span
    return 0


def split_body(text: str, subject: str = "") -> tuple[str, str, list[Forwarded]]:
    """(new text, quoted text, inline forwards) of a body."""
    if not _ANY_MARKER.search(text):
        return text.strip(), "", []
    lines = text.replace("\r\n", "\n").split("\n")
    is_reply = bool(_REPLY_SUBJECT.match(subject)) and not _FORWARD_SUBJECT.match(subject)
    new: list[str] = []
    quoted: list[str] = []
    forwards: list[tuple[list[str], list[str]]] = []  # (header lines, body lines)
    state = "new"
    i = 0
    while i < len(lines):
        line = lines[i]
        if state == "quoted_all":
            quoted.append(line)
            i += 1
            continue
        span = _attribution(lines, i)
        if span:
            quoted.extend(lines[i: i + span])
            following = next((lines[j] for j in range(i + span, len(lines)) if lines[j].strip()), "")
            if not following.lstrip().startswith(">"):
                state = "quoted_all"  # top-posting: the whole original follows unquoted
            i += span
            continue
        explicit = bool(_FORWARD_MARKER.match(line))
        block = not explicit and _outlook_block(lines, i)
        if explicit or block:
            reply_marker = is_reply and (block or re.search(r"Urspr|Original", line, re.I))
            target = quoted if reply_marker else None
            if state == "new":
                _drop_separator(new)
            elif forwards:
                _drop_separator(forwards[-1][1])
            if target is not None:
                state = "quoted_all"
                continue
            headers, i = _forward_headers(lines, i + (1 if explicit else 0))
            forwards.append((headers, []))
            state = "forward"
            continue
        if line.lstrip().startswith(">"):
            quoted.append(line)
        elif state == "forward":
            forwards[-1][1].append(line)
        else:
            new.append(line)
        i += 1
    return "\n".join(new).strip(), "\n".join(quoted).strip(), [_forward(h, b) for h, b in forwards]


def _drop_separator(lines: list[str]) -> None:
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and _SEPARATOR.match(lines[-1]):
        lines.pop()


def _forward_headers(lines: list[str], i: int) -> tuple[list[str], int]:
    headers: list[str] = []
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines):
        line = lines[i]
        if _HEADER_LINE.match(line):
            headers.append(line)
        elif line.strip() and headers and len(headers) < 10 and line.startswith((" ", "\t")):
            headers[-1] += " " + line.strip()
        else:
            break
        i += 1
    return headers, i


def _forward(headers: list[str], body: list[str]) -> Forwarded:
    fields: dict[str, str] = {}
    for line in headers:
        match = _HEADER_LINE.match(line)
        if match:
            key = {"from": "von", "sent": "datum", "gesendet": "datum", "date": "datum", "subject": "betreff"}.get(
                match.group(1).lower(), match.group(1).lower())
            fields.setdefault(key, match.group(2).strip().strip("*").strip())
    sender = fields.get("von", "")
    mailto = re.search(r"[^\s<>\[\]\"'():;,]+@[^\s<>\[\]\"'():;,]+", sender)
    address = normalised_address(mailto.group(0).removeprefix("mailto:")) if mailto else None
    name = re.sub(r"[<\[].*$", "", sender).strip(" \"'") if sender else ""
    return Forwarded(sender=address or name or None, subject=fields.get("betreff", ""),
                     sent_at=forward_date(fields.get("datum", "")), text="\n".join(body).strip())


def forward_date(value: str) -> datetime | None:
    """The date line of a forwarded header block, RFC 5322 or as German and English mailers write it."""
    if not value:
        return None
    if re.search(r"\b\d{1,2} [A-Z][a-z]{2} \d{4} \d{1,2}:\d{2}", value):  # RFC 5322, as Gmail's English forwards
        parsed = header_date(value)
        if parsed is not None:
            return parsed
    time = re.search(r"(\d{1,2})[:.](\d{2})(?:[:.]\d{2})?\s*(?:Uhr)?\s*(am|pm|AM|PM)?", value)
    hour, minute = (int(time.group(1)), int(time.group(2))) if time else (0, 0)
    if time and time.group(3) and time.group(3).lower() == "pm" and hour < 12:
        hour += 12
    numeric = re.search(r"\b(\d{1,2})\.(\d{1,2})\.(\d{2,4})\b", value)
    named = re.search(r"\b(\d{1,2})\.?\s+([A-Za-zäÄ]{3,9})\.?\s+(\d{4})\b", value)
    english = re.search(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b", value)
    try:
        if numeric:
            day, month, year = int(numeric.group(1)), int(numeric.group(2)), int(numeric.group(3))
            year += 2000 if year < 100 else 0
        elif named and named.group(2).lower() in MONTHS:
            day, month, year = int(named.group(1)), MONTHS[named.group(2).lower()], int(named.group(3))
        elif english and english.group(1).lower() in MONTHS:
            day, month, year = int(english.group(2)), MONTHS[english.group(1).lower()], int(english.group(3))
        else:
            return None
        if time and time.start() < (numeric or named or english).end() and numeric:
            hour, minute = 0, 0
            later = re.search(r"(\d{1,2}):(\d{2})", value[numeric.end():])
            if later:
                hour, minute = int(later.group(1)), int(later.group(2))
        return datetime(year, month, day, hour, minute)
    except ValueError:
        return None
