"""The calendar entry of an invitation (RFC 5545, iTIP RFC 5546, iMIP RFC 6047), written with `icalendar`.

One entry per meeting and change: the UID stays, SEQUENCE rises with every change, a cancelled
meeting goes out as METHOD:CANCEL. Times carry the alliance's zone with its VTIMEZONE, so a
calendar shows 18:00 in Musterhausen whatever zone the reader's device is in. An all-day meeting has
dates instead (DTSTART;VALUE=DATE, DTEND the day after its last), which every calendar shows as the
same days wherever it is.

Each invitee must find themselves as an ATTENDEE, or Outlook, Gmail and Thunderbird offer no accept/decline
buttons and an answer names no one the hub knows. The calendar is therefore made once per mail with a
token line where the ATTENDEE goes (`calendar_template`), and each delivery carries its own ATTENDEE line
(`attendee_line`), which the outbox fills in like any other per-recipient value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import icalendar

from hub.config import Config
from hub.db import utcnow
from hub.models import Group, Meeting, MeetingStatus

PRODID = "-//Buendnis-Hub//Termine//DE"
ATTENDEE_TOKEN = "ics_attendee"  # the delivery value that holds the recipient's ATTENDEE line


@dataclass(frozen=True)
class CalendarEntry:
    """What the calendar needs to know about a meeting, as plain data."""

    uid: str
    sequence: int
    title: str
    start: datetime  # aware
    end: datetime  # aware
    location: str
    description: str
    organizer_email: str
    organizer_name: str
    cancelled: bool = False
    all_day: bool = False  # start and end are 00:00 local on the first day and after the last


def method(entry: CalendarEntry) -> str:
    return "CANCEL" if entry.cancelled else "REQUEST"


def calendar_bytes(entry: CalendarEntry, tz: ZoneInfo, stamp: datetime | None = None,
                   attendees: list[tuple[str, str]] = ()) -> bytes:
    """The .ics file with these (address, name) attendees: METHOD:REQUEST for an invitation or update,
    METHOD:CANCEL for a cancellation."""
    calendar, event = _calendar(entry, tz, stamp)
    for address, name in attendees:
        event.add("attendee", _attendee(address, name))
    return calendar.to_ical()


def calendar_template(entry: CalendarEntry, tz: ZoneInfo, stamp: datetime | None = None) -> str:
    """The calendar of one mail, with `%%ics_attendee%%` on the line where each recipient's ATTENDEE goes."""
    text = calendar_bytes(entry, tz, stamp).decode("utf-8")
    before, end, after = text.rpartition("END:VEVENT\r\n")
    return f"{before}%%{ATTENDEE_TOKEN}%%\r\n{end}{after}"


def attendee_line(address: str, name: str) -> str:
    """One recipient's ATTENDEE content line, folded, without its line end: what they answer as."""
    event = icalendar.Event()
    event.add("attendee", _attendee(address, name))
    lines = event.to_ical().decode("utf-8").split("\r\n")
    return "\r\n".join(lines[1:-2])  # between BEGIN:VEVENT and END:VEVENT (and the final empty string)


def _attendee(address: str, name: str) -> icalendar.vCalAddress:
    attendee = icalendar.vCalAddress(f"mailto:{address}")
    if name.strip():
        attendee.params["cn"] = icalendar.vText(" ".join(name.split()))
    attendee.params["cutype"] = icalendar.vText("INDIVIDUAL")
    attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = icalendar.vText("NEEDS-ACTION")
    attendee.params["rsvp"] = icalendar.vText("TRUE")
    return attendee


def _calendar(entry: CalendarEntry, tz: ZoneInfo, stamp: datetime | None) -> tuple[icalendar.Calendar,
                                                                                    icalendar.Event]:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method(entry))

    event = icalendar.Event()
    event.add("uid", entry.uid)
    event.add("sequence", entry.sequence)
    event.add("dtstamp", stamp or utcnow())
    start_local, end_local = entry.start.astimezone(tz), entry.end.astimezone(tz)
    if entry.all_day:
        event.add("dtstart", start_local.date())
        event.add("dtend", end_local.date())
    else:
        event.add("dtstart", start_local)
        event.add("dtend", end_local)
    event.add("summary", entry.title)
    if entry.location:
        event.add("location", entry.location)
    if entry.description:
        event.add("description", entry.description)
    event.add("status", "CANCELLED" if entry.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")

    organizer = icalendar.vCalAddress(f"mailto:{entry.organizer_email}")
    organizer.params["cn"] = icalendar.vText(entry.organizer_name)
    event.add("organizer", organizer)

    # Only the meeting's own year(s): a short VTIMEZONE without RDATE lists, which some parsers
    # (dateutil's, behind vobject) misread, and which keeps the file small. Dates need none.
    if not entry.all_day:
        calendar.add_component(icalendar.Timezone.from_tzid(
            tz.key, first_date=date(start_local.year, 1, 1), last_date=date(end_local.year + 1, 1, 1)
        ))
    calendar.add_component(event)
    return calendar, event


def calendar_entry(config: Config, meeting: Meeting, group: Group) -> CalendarEntry:
    """The calendar entry of a meeting as its group's invitation shows it."""
    return CalendarEntry(
        uid=meeting.uid, sequence=meeting.sequence, title=meeting.title, start=meeting.start, end=meeting.end,
        location=meeting.location, description=meeting.agenda, organizer_email=config.mail.office_address,
        organizer_name=config.alliance.name, cancelled=meeting.status == MeetingStatus.cancelled,
        all_day=meeting.all_day,
    )
