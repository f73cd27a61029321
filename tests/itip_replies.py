"""Answers to an invitation as four calendar clients mail them (iTIP REPLY / COUNTER inside iMIP, RFC 6047).

Each client wraps the calendar its own way, and the hub must read all of them:
  outlook      multipart/alternative: text/plain, text/html, text/calendar; method=REPLY (base64); the
               calendar from "Microsoft Exchange Server 2010" with a Windows zone name
  thunderbird  multipart/mixed: multipart/alternative (text/plain, text/calendar; method=REPLY) and the same
               calendar as application/ics "invite.ics"
  gmail        multipart/mixed: multipart/alternative (text/plain, text/html, text/calendar; method=REPLY) and
               invite.ics as application/ics (base64), Sender: Google Calendar
  apple        multipart/alternative: text/plain, text/calendar; method=REPLY (quoted-printable), from iCal
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
PRODIDS = {
    "outlook": "Microsoft Exchange Server 2010",
    "thunderbird": "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
    "gmail": "-//Google Inc//Google Calendar 70.9054//EN",
    "apple": "-//Apple Inc.//Mac OS X 14.4//EN",
}
SUBJECT_PREFIX = {"ACCEPTED": "Zugesagt", "TENTATIVE": "Mit Vorbehalt angenommen", "DECLINED": "Abgelehnt"}
OUTLOOK_ZONE = """BEGIN:VTIMEZONE\r
TZID:W. Europe Standard Time\r
BEGIN:STANDARD\r
DTSTART:16010101T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
"""


def calendar(client: str, uid: str, sequence: int, attendee: str, name: str, partstat: str,
             stamp: datetime, method: str = "REPLY", start: datetime | None = None, comment: str = "",
             organizer: str = "geschaeftsstelle@buendnis-musterhausen.example") -> str:
    """The iCalendar text a client sends back; `start` is a COUNTER's proposed time (UTC)."""
    when = (start or datetime(2030, 3, 12, 17, 0, tzinfo=UTC))
    lines = ["BEGIN:VCALENDAR", f"PRODID:{PRODIDS[client]}", "VERSION:2.0", f"METHOD:{method}"]
    zone = ""
    if client == "outlook":
        zone = OUTLOOK_ZONE
        local = when.astimezone(BERLIN).replace(tzinfo=None)
        dtstart = f"DTSTART;TZID=W. Europe Standard Time:{local:%Y%m%dT%H%M%S}"
        dtend = f"DTEND;TZID=W. Europe Standard Time:{local.replace(hour=local.hour + 2):%Y%m%dT%H%M%S}"
    else:
        dtstart = f"DTSTART:{when:%Y%m%dT%H%M%SZ}"
        dtend = f"DTEND:{when.replace(hour=when.hour + 2):%Y%m%dT%H%M%SZ}"
    cn = f'"{name}"' if client in ("outlook", "apple") else name
    event = ["BEGIN:VEVENT", f"ATTENDEE;PARTSTAT={partstat};CN={cn}:mailto:{attendee}" if client != "gmail" else
             f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};CN={attendee};X-NUM-GUESTS=0:"
             f"mailto:{attendee}",
             f"ORGANIZER;CN=Bündnis für Familie Musterhausen:mailto:{organizer}",
             f"UID:{uid}", f"SEQUENCE:{sequence}", f"DTSTAMP:{stamp.astimezone(UTC):%Y%m%dT%H%M%SZ}",
             "SUMMARY:Treffen AG Gesundheit", dtstart, dtend]
    if comment:
        event.append(f"COMMENT:{comment}")
    if client == "outlook":
        event += ["CLASS:PUBLIC", "PRIORITY:5", "TRANSP:OPAQUE", "STATUS:CONFIRMED"]
    event.append("END:VEVENT")
    return "\r\n".join(lines) + "\r\n" + zone + "\r\n".join(event) + "\r\nEND:VCALENDAR\r\n"


def reply_mail(client: str, uid: str, sequence: int, sender: str, name: str, partstat: str,
               stamp: datetime, *, attendee: str | None = None, method: str = "REPLY",
               start: datetime | None = None, comment: str = "",
               to: str = "geschaeftsstelle@buendnis-musterhausen.example",
               message_id: str | None = None, headers: dict[str, str] | None = None) -> bytes:
    """The whole mail in the client's shape."""
    text = calendar(client, uid, sequence, attendee or sender, name, partstat, stamp, method, start, comment)
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = to
    verb = "Neuer Zeitvorschlag" if method == "COUNTER" else SUBJECT_PREFIX.get(partstat, "Antwort")
    msg["Subject"] = f"{verb}: Treffen AG Gesundheit"
    msg["Date"] = format_datetime(stamp)
    msg["Message-ID"] = message_id or f"<{client}-{partstat.lower()}-{sequence}-{stamp:%H%M%S}@{sender.split('@')[1]}>"
    for key, value in (headers or {}).items():
        msg[key] = value
    summary = f"{name} hat die Einladung beantwortet: {partstat}."
    if client == "outlook":
        msg["Thread-Topic"] = "Treffen AG Gesundheit"
        msg["X-MS-Has-Attach"] = ""
        msg["X-MS-TNEF-Correlator"] = ""
        msg.set_content(summary)
        msg.add_alternative(f"<html><body><p>{summary}</p></body></html>", subtype="html")
        msg.add_alternative(text.encode("utf-8"), maintype="text", subtype="calendar", cte="base64",
                            params={"method": method, "charset": "utf-8"})
    elif client == "apple":
        msg["X-Mailer"] = "Apple Mail (2.3774.500.171.1.1)"
        msg.set_content(summary)
        msg.add_alternative(text, subtype="calendar", charset="utf-8", cte="quoted-printable",
                            params={"method": method})
    elif client == "thunderbird":
        msg["User-Agent"] = "Mozilla Thunderbird"
        msg.set_content(summary)
        msg.add_alternative(text, subtype="calendar", charset="utf-8", params={"method": method})
        msg.add_attachment(text.encode("utf-8"), maintype="application", subtype="ics", filename="invite.ics",
                           params={"name": "invite.ics"})
    else:  # gmail
        msg["Sender"] = "Google Calendar <calendar-notification@google.com>"
        msg.set_content(summary)
        msg.add_alternative(f'<html><body><span itemscope itemtype="http://schema.org/Event">{summary}</span>'
                            "</body></html>", subtype="html")
        msg.add_alternative(text, subtype="calendar", charset="utf-8", cte="7bit" if text.isascii() else "base64",
                            params={"method": method})
        msg.add_attachment(text.encode("utf-8"), maintype="application", subtype="ics", filename="invite.ics",
                           cte="base64", params={"name": "invite.ics"})
    return bytes(msg)
