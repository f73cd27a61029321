"""Calendar entries: parsed back with icalendar and accepted by a second, independent parser (vobject)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import icalendar
import vobject

from hub.scheduler.ics import CalendarEntry, attendee_line, calendar_bytes, calendar_template

TZ = ZoneInfo("Europe/Berlin")


def _entry(**changes) -> CalendarEntry:
    values = dict(
        uid="abc-123@buendnis-musterhausen.example", sequence=2, title="Treffen AG Gesundheit",
        start=datetime(2027, 3, 9, 17, 0, tzinfo=UTC), end=datetime(2027, 3, 9, 19, 0, tzinfo=UTC),
        location="Rathaus, Raum 2; Eingang Süd", description="TOP 1: Rückblick\nTOP 2: Gesundheitstag",
        organizer_email="geschaeftsstelle@buendnis-musterhausen.example",
        organizer_name="Bündnis für Familie Musterhausen",
    )
    return CalendarEntry(**{**values, **changes})


def test_request_parses_back_with_local_time_and_timezone():
    data = calendar_bytes(_entry(), TZ, attendees=[("a.yilmaz@awo-musterhausen.example", "Aylin Yılmaz")])
    calendar = icalendar.Calendar.from_ical(data)
    assert calendar["METHOD"] == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == "abc-123@buendnis-musterhausen.example"
    assert int(event["SEQUENCE"]) == 2
    start = event.decoded("DTSTART")
    assert start == datetime(2027, 3, 9, 18, 0, tzinfo=TZ) and start.tzinfo.key == "Europe/Berlin"
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert str(event["LOCATION"]) == "Rathaus, Raum 2; Eingang Süd"
    assert str(event["DESCRIPTION"]).splitlines() == ["TOP 1: Rückblick", "TOP 2: Gesundheitstag"]
    assert str(event["ORGANIZER"]) == "mailto:geschaeftsstelle@buendnis-musterhausen.example"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:a.yilmaz@awo-musterhausen.example" and attendee.params["CN"] == "Aylin Yılmaz"
    assert (attendee.params["RSVP"], attendee.params["PARTSTAT"]) == ("TRUE", "NEEDS-ACTION")
    assert str(event["STATUS"]) == "CONFIRMED"
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Berlin"


def test_cancel_has_method_cancel_and_same_uid():
    calendar = icalendar.Calendar.from_ical(calendar_bytes(_entry(sequence=3, cancelled=True), TZ))
    assert calendar["METHOD"] == "CANCEL"
    (event,) = calendar.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 3
    assert str(event["UID"]) == "abc-123@buendnis-musterhausen.example"


def test_vobject_accepts_it():
    data = calendar_bytes(_entry(), TZ).decode("utf-8")
    calendar = vobject.readOne(data)
    assert calendar.method.value == "REQUEST"
    event = calendar.vevent
    assert event.uid.value == "abc-123@buendnis-musterhausen.example"
    assert event.sequence.value == "2"
    assert event.dtstart.value.astimezone(UTC) == datetime(2027, 3, 9, 17, 0, tzinfo=UTC)
    assert event.dtend.value.astimezone(UTC) == datetime(2027, 3, 9, 19, 0, tzinfo=UTC)
    assert event.summary.value == "Treffen AG Gesundheit"
    assert event.location.value == "Rathaus, Raum 2; Eingang Süd"
    # vobject resolves the VTIMEZONE itself: summer time in the file must give +02:00
    summer = vobject.readOne(calendar_bytes(_entry(start=datetime(2027, 7, 1, 16, 0, tzinfo=UTC),
                                                   end=datetime(2027, 7, 1, 18, 0, tzinfo=UTC)), TZ).decode())
    assert summer.vevent.dtstart.value.utcoffset().total_seconds() == 7200


def test_an_all_day_entry_has_dates_and_no_timezone():
    # 00:00 Berlin on 20 July 2030 to 00:00 on 22 July: two days, in summer time
    entry = _entry(start=datetime(2030, 7, 19, 22, 0, tzinfo=UTC), end=datetime(2030, 7, 21, 22, 0, tzinfo=UTC),
                   all_day=True)
    data = calendar_bytes(entry, TZ)
    text = data.decode()
    assert "DTSTART;VALUE=DATE:20300720" in text and "DTEND;VALUE=DATE:20300722" in text
    assert "VTIMEZONE" not in text and "TZID" not in text
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert event.decoded("DTSTART") == date(2030, 7, 20) and event.decoded("DTEND") == date(2030, 7, 22)
    other = vobject.readOne(text).vevent
    assert other.dtstart.value == date(2030, 7, 20) and other.dtend.value == date(2030, 7, 22)
    winter = calendar_bytes(_entry(start=datetime(2030, 1, 19, 23, 0, tzinfo=UTC),
                                   end=datetime(2030, 1, 20, 23, 0, tzinfo=UTC), all_day=True), TZ).decode()
    assert "DTSTART;VALUE=DATE:20300120" in winter and "DTEND;VALUE=DATE:20300121" in winter


def test_the_template_has_one_attendee_token_and_each_line_parses_back():
    template = calendar_template(_entry(), TZ)
    assert template.count("%%ics_attendee%%") == 1 and "ATTENDEE" not in template
    line = attendee_line("j.weiss@gesundheitsamt-musterhausen.example", 'Dr. Jürgen "Jo" Weiß; Leitung, Amt')
    assert all(len(x.encode()) <= 75 for x in line.split("\r\n"))  # folded as RFC 5545 asks
    data = template.replace("%%ics_attendee%%", line).encode()
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert event["ATTENDEE"].params["CN"] == 'Dr. Jürgen "Jo" Weiß; Leitung, Amt'
    assert vobject.readOne(data.decode()).vevent.attendee.value == "mailto:j.weiss@gesundheitsamt-musterhausen.example"
