"""Answers to invitations: an iTIP REPLY or COUNTER (RFC 5546) found in a mail, as plain data.

Every client wraps it differently — Outlook and Apple Mail put `text/calendar; method=REPLY` into the
multipart/alternative, Thunderbird adds it once more as an attachment, Gmail attaches `invite.ics` as
`application/ics` — so every part that is a calendar is read, whatever its type says, and the first that
answers a meeting counts. The calendar is the sender's text: read with `icalendar` inside a guard, never
trusted beyond the few values taken from it; pure, never raising.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

import icalendar

from hub.addresses import InvalidAddress, normalise_address
from hub.inbound.message import Attachment, ParsedMessage

log = logging.getLogger("hub.inbound")

ANSWERS = ("REPLY", "COUNTER")
CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar", "application/x-ics")
MAX_CALENDAR = 256 * 1024  # bytes: a reply is a few KB; a larger file is no reply worth parsing
PARTSTATS = ("ACCEPTED", "TENTATIVE", "DECLINED", "NEEDS-ACTION", "DELEGATED")
MAX_COMMENT = 2000


@dataclass(frozen=True)
class Attendee:
    address: str  # normalised
    name: str
    partstat: str  # one of PARTSTATS, NEEDS-ACTION when missing or unknown


@dataclass(frozen=True)
class Answer:
    method: str  # REPLY | COUNTER
    uid: str
    sequence: int
    stamp: datetime | None  # DTSTAMP, aware (UTC when the file gives no zone)
    attendees: tuple[Attendee, ...]
    comment: str = ""
    proposed_start: datetime | date | None = None  # a COUNTER's DTSTART; naive when the file gives no zone
    proposed_end: datetime | date | None = None


def is_calendar(attachment: Attachment) -> bool:
    types = (attachment.declared_type.lower(), attachment.content_type.lower())
    return any(t in CALENDAR_TYPES for t in types) or attachment.filename.lower().endswith(".ics")


def answer(parsed: ParsedMessage) -> Answer | None:
    """The mail's answer to an invitation, or None if it carries no readable REPLY or COUNTER."""
    for attachment in parsed.attachments:
        if is_calendar(attachment) and 0 < attachment.size <= MAX_CALENDAR:
            found = _read(attachment.data)
            if found is not None:
                return found
    return None


def _read(data: bytes) -> Answer | None:
    try:
        calendar = icalendar.Calendar.from_ical(data)
        method = str(calendar.get("METHOD", "")).strip().upper()
        if method not in ANSWERS:
            return None
        event = next((e for e in calendar.walk("VEVENT") if e.get("UID")), None)
        if event is None:
            return None
        return Answer(
            method=method, uid=str(event["UID"]).strip(), sequence=_int(event.get("SEQUENCE")),
            stamp=_aware(_decoded(event, "DTSTAMP")), attendees=tuple(_attendees(event)),
            comment=str(event.get("COMMENT", ""))[:MAX_COMMENT].strip(),
            proposed_start=_decoded(event, "DTSTART") if method == "COUNTER" else None,
            proposed_end=_decoded(event, "DTEND") if method == "COUNTER" else None,
        )
    except Exception:  # a calendar the library cannot read is no answer; the mail is judged without it
        log.info("a calendar part could not be read as an iTIP answer", exc_info=True)
        return None


def _attendees(event) -> list[Attendee]:
    values = event.get("ATTENDEE", [])
    out = []
    for value in values if isinstance(values, list) else [values]:
        text = str(value).strip()
        if text.lower().startswith("mailto:"):
            text = text[len("mailto:"):]
        try:
            address = normalise_address(text)
        except InvalidAddress:
            continue
        params = getattr(value, "params", {})
        partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
        out.append(Attendee(address, " ".join(str(params.get("CN", "")).split())[:200],
                            partstat if partstat in PARTSTATS else "NEEDS-ACTION"))
    return out


def _decoded(event, name: str) -> datetime | date | None:
    if name not in event:
        return None
    value = event.decoded(name)
    return value if isinstance(value, date) else None


def _aware(value: datetime | date | None) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _int(value) -> int:
    try:
        return max(0, int(str(value)))
    except (TypeError, ValueError):
        return 0
