"""The calendar entry of an invitation (RFC 5545 / iTIP RFC 5546), written with `icalendar`.

One entry per meeting and change: the UID stays, SEQUENCE rises with every change, a cancelled
meeting goes out as METHOD:CANCEL. Times carry the alliance's zone with its VTIMEZONE, so a
calendar shows 18:00 in Musterhausen whatever zone the reader's device is in. An all-day meeting has
dates instead (DTSTART;VALUE=DATE, DTEND the day after its last), which every calendar shows as the
same days wherever it is.
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
    attendee_email: str  # the group's own address: no partner's address goes to the others
    attendee_name: str
    cancelled: bool = False
    all_day: bool = False  # start and end are 00:00 local on the first day and after the last


def calendar_bytes(entry: CalendarEntry, tz: ZoneInfo, stamp: datetime | None = None) -> bytes:
    """The .ics file: METHOD:REQUEST for an invitation or update, METHOD:CANCEL for a cancellation."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if entry.cancelled else "REQUEST")

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
    # iTIP requires an ATTENDEE in a REQUEST; the group stands for its members (CUTYPE=GROUP) so
    # that one calendar file serves every recipient without listing their addresses.
    attendee = icalendar.vCalAddress(f"mailto:{entry.attendee_email}")
    attendee.params["cn"] = icalendar.vText(entry.attendee_name)
    attendee.params["cutype"] = icalendar.vText("GROUP")
    attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    attendee.params["rsvp"] = icalendar.vText("FALSE")
    event.add("attendee", attendee)

    # Only the meeting's own year(s): a short VTIMEZONE without RDATE lists, which some parsers
    # (dateutil's, behind vobject) misread, and which keeps the file small. Dates need none.
    if not entry.all_day:
        calendar.add_component(icalendar.Timezone.from_tzid(
            tz.key, first_date=date(start_local.year, 1, 1), last_date=date(end_local.year + 1, 1, 1)
        ))
    calendar.add_component(event)
    return calendar.to_ical()


def content_type(entry: CalendarEntry) -> str:
    """The MIME type mail clients look for to show accept/decline or remove-from-calendar buttons."""
    method = "CANCEL" if entry.cancelled else "REQUEST"
    return f'text/calendar; charset="utf-8"; method={method}'


def calendar_entry(config: Config, meeting: Meeting, group: Group) -> CalendarEntry:
    """The calendar entry of a meeting as its group's invitation shows it."""
    alias = group.aliases[0] if group.aliases else group.slug
    return CalendarEntry(
        uid=meeting.uid, sequence=meeting.sequence, title=meeting.title, start=meeting.start, end=meeting.end,
        location=meeting.location, description=meeting.agenda, organizer_email=config.mail.office_address,
        organizer_name=config.alliance.name, attendee_email=f"{alias}@{config.alliance.domain}",
        attendee_name=group.name, cancelled=meeting.status == MeetingStatus.cancelled, all_day=meeting.all_day,
    )
