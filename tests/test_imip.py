"""Invitations, updates and cancellations are iMIP (RFC 6047) as the big clients send it, and every calendar the
hub sends is read alike by Mozilla's ical.js (Thunderbird's parser, under Node), Python's icalendar and vobject.

ical.js is installed by `scripts/setup --test` (tests/node, `npm ci`); without it these tests fail, not skip."""

from __future__ import annotations

import email
import json
import mailbox
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import icalendar
import pytest
import time_machine
import vobject
from sqlmodel import select

from hub import delivery, sends
from hub.alliance import unit_of_work
from hub.models import Delivery, OutboundMail
from hub.scheduler import meetings, runner

NODE_DIR = Path(__file__).parent / "node"
T0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
START = datetime(2030, 3, 12, 17, 0, tzinfo=UTC)  # Tuesday 18:00 Berlin (winter time)
OFFICE = "geschaeftsstelle@buendnis-musterhausen.example"
GESUNDHEIT = {"j.weiss@gesundheitsamt-musterhausen.example": "Dr. Jürgen Weiß",
              "a.yilmaz@awo-musterhausen.example": "Aylin Yılmaz"}


def ical_js(paths: list[Path]) -> list[dict]:
    node = shutil.which("node")
    assert node, "node is missing: run scripts/setup --test (it installs nodejs and npm)"
    assert (NODE_DIR / "node_modules" / "ical.js").is_dir(), \
        "ical.js is missing: run scripts/setup --test (npm ci in tests/node)"
    done = subprocess.run([node, str(NODE_DIR / "parse_ics.mjs"), *map(str, paths)], capture_output=True,
                          text=True, timeout=60, cwd=NODE_DIR)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _send_all_kinds(config) -> int:
    """A meeting invited to, moved (update) and cancelled; every mail delivered into the Maildir outbox."""
    with time_machine.travel(T0, tick=True) as clock:
        with unit_of_work(config) as s:
            alliance = runner.alliance_module.current(s, config)
            meeting_id = meetings.add(s, config, alliance, "gesundheit", START, location="Rathaus, Raum 2; Süd",
                                      title="Treffen AG Gesundheit", now=T0).id
        assert sends.execute(config, f"meeting:{meeting_id}:invitation@seq0", force=True).queued == 2
        clock.shift(HOUR)
        with unit_of_work(config) as s:
            meeting = s.get(meetings.Meeting, meeting_id)
            meetings.edit(s, config, meeting, location="Familienzentrum, Saal 1")
            sequence = meeting.sequence
        assert sends.execute(config, f"meeting:{meeting_id}:invitation@seq{sequence}", force=True).kind == "update"
        clock.shift(HOUR)
        with unit_of_work(config) as s:
            meeting = s.get(meetings.Meeting, meeting_id)
            meetings.cancel(s, meeting)
            sequence = meeting.sequence
        assert sends.execute(config, f"meeting:{meeting_id}:cancellation@seq{sequence}", force=True).queued == 2
        delivery.flush(config)
    return meeting_id


def _messages(config) -> list[email.message.EmailMessage]:
    box = mailbox.Maildir(config.data_dir / "outbox", create=False)
    messages = []
    for item in box:
        raw = item.as_bytes().replace(b"\n", b"\r\n")  # as on the wire: the Maildir outbox stores \n line ends
        message = email.message_from_bytes(raw, policy=policy.default)
        message.raw = raw  # the parser would show headers refolded
        messages.append(message)
    return messages


@pytest.fixture
def sent(config, partners):
    _send_all_kinds(config)
    return _messages(config)


def _calendar_parts(message) -> tuple[email.message.EmailMessage, email.message.EmailMessage]:
    assert message.get_content_type() == "multipart/mixed"
    alternative, *attachments = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html", "text/calendar"]
    (attachment,) = attachments
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_content_disposition() == "attachment" and attachment.get_filename().endswith(".ics")
    return list(alternative.iter_parts())[2], attachment


def test_every_kind_is_imip_with_the_method_in_header_and_body_and_the_same_calendar_attached(sent):
    assert len(sent) == 6
    methods = []
    for message in sent:
        inline, attached = _calendar_parts(message)
        header = message.get("Subject")
        method = inline.get_param("method")
        assert inline.get_content_charset() == "utf-8", header
        assert method in ("REQUEST", "CANCEL")
        # unquoted, as Outlook and Gmail write it
        assert f'Content-Type: text/calendar; charset="utf-8"; method={method}\r\n'.encode() in message.raw
        body = inline.get_payload(decode=True)
        assert body == attached.get_payload(decode=True)
        assert f"METHOD:{method}\r\n".encode() in body
        assert body.endswith(b"END:VCALENDAR\r\n") and b"\n\n" not in body.replace(b"\r\n", b"\n")
        methods.append(method)
        assert (attached.get_filename() == "absage.ics") == (method == "CANCEL")
    assert sorted(methods) == ["CANCEL"] * 2 + ["REQUEST"] * 4


def test_each_recipient_finds_their_own_attendee_line(sent):
    for message in sent:
        inline, _attached = _calendar_parts(message)
        (event,) = icalendar.Calendar.from_ical(inline.get_payload(decode=True)).walk("VEVENT")
        attendee = event["ATTENDEE"]
        assert not isinstance(attendee, list), "one ATTENDEE per mail: no partner's address goes to the others"
        recipient = message["To"].addresses[0].addr_spec
        assert str(attendee) == f"mailto:{recipient}"
        assert attendee.params["CN"] == GESUNDHEIT[recipient]
        assert (attendee.params["RSVP"], attendee.params["PARTSTAT"]) == ("TRUE", "NEEDS-ACTION")
        organizer = event["ORGANIZER"]
        assert str(organizer) == f"mailto:{OFFICE}" and organizer.params["CN"] == "Bündnis für Familie Musterhausen"


@pytest.fixture
def vobject_zones():
    """vobject keeps every VTIMEZONE it read by TZID for the whole process: a 2030-only Europe/Berlin read here
    must not answer for another year in a later test."""
    zones = vars(vobject.icalendar)["__tzidMap"]
    kept = dict(zones)
    yield
    zones.clear()
    zones.update(kept)


def test_uid_stays_sequence_rises_and_every_parser_reads_the_same(sent, tmp_path, vobject_zones):
    files, expected = [], []
    for index, message in enumerate(sent):
        inline, _attached = _calendar_parts(message)
        data = inline.get_payload(decode=True)
        path = tmp_path / f"{index}.ics"
        path.write_bytes(data)
        files.append(path)
        calendar = icalendar.Calendar.from_ical(data)
        (event,) = calendar.walk("VEVENT")
        (zone,) = calendar.walk("VTIMEZONE")
        assert {c.name for c in zone.subcomponents} == {"STANDARD", "DAYLIGHT"}
        other = vobject.readOne(data.decode("utf-8"))
        assert other.vevent.uid.value == str(event["UID"])
        assert other.vevent.dtstart.value.astimezone(UTC) == event.decoded("DTSTART").astimezone(UTC)
        assert other.vevent.attendee.params["CN"] == [event["ATTENDEE"].params["CN"]]
        expected.append((str(calendar["METHOD"]), str(event["UID"]), int(event["SEQUENCE"]),
                         event.decoded("DTSTART").astimezone(UTC), message["To"].addresses[0].addr_spec))
    read = ical_js(files)
    for js, (method, uid, sequence, start, recipient) in zip(read, expected, strict=True):
        assert (js["method"], js["uid"], js["sequence"], js["version"]) == (method, uid, sequence, "2.0")
        assert datetime.fromisoformat(js["start_utc"]) == start == START
        # the zone ical.js resolved is the VTIMEZONE in the file, not a floating time
        assert js["tzid"] == js["zone"] == "Europe/Berlin" and js["timezones"] == ["Europe/Berlin"]
        assert {"STANDARD", "DAYLIGHT"} <= {p.upper() for p in js["zone_parts"]}
        assert js["organizer"] == {"value": f"mailto:{OFFICE}", "cn": "Bündnis für Familie Musterhausen"}
        (attendee,) = js["attendees"]
        assert attendee == {"value": f"mailto:{recipient}", "cn": GESUNDHEIT[recipient], "partstat": "NEEDS-ACTION",
                            "rsvp": "TRUE", "role": "REQ-PARTICIPANT", "cutype": "INDIVIDUAL"}
        assert js["status"] == ("CANCELLED" if method == "CANCEL" else "CONFIRMED")
    assert len({r["uid"] for r in read}) == 1
    by_kind = sorted({(r["sequence"], r["method"], r["location"]) for r in read})
    assert by_kind == [(0, "REQUEST", "Rathaus, Raum 2; Süd"), (1, "REQUEST", "Familienzentrum, Saal 1"),
                       (2, "CANCEL", "Familienzentrum, Saal 1")]


def test_dtstamp_is_fresh_for_every_mail(sent):
    stamps = {}
    for message in sent:
        inline, _attached = _calendar_parts(message)
        (event,) = icalendar.Calendar.from_ical(inline.get_payload(decode=True)).walk("VEVENT")
        stamps.setdefault(int(event["SEQUENCE"]), set()).add(event.decoded("DTSTAMP"))
    for sequence, (stamp,) in stamps.items():  # the invitation, the update an hour later, the cancellation
        assert abs(stamp - (T0 + sequence * HOUR)).total_seconds() < 60


def test_a_reminder_carries_no_second_request(config, partners):
    with time_machine.travel(T0, tick=True):
        with unit_of_work(config) as s:
            alliance = runner.alliance_module.current(s, config)
            meeting_id = meetings.add(s, config, alliance, "gesundheit", START, now=T0).id
        sends.execute(config, f"meeting:{meeting_id}:invitation@seq0", force=True)
        assert sends.execute(config, f"meeting:{meeting_id}:reminder@1", force=True).queued == 2
    with unit_of_work(config) as s:
        reminder = s.exec(select(OutboundMail).where(OutboundMail.kind == "reminder")).one()
        assert reminder.calendar is None and not reminder.attachments
        assert "Bisher liegen noch keine Zusagen vor." in reminder.text
        invitation = s.exec(select(OutboundMail).where(OutboundMail.kind == "invitation")).one()
        values = [d.values for d in s.exec(select(Delivery).where(Delivery.mail_id == invitation.id))]
    assert "%%ics_attendee%%" in invitation.calendar and "ATTENDEE" not in invitation.calendar
    assert sorted(v["ics_attendee"].replace("\r\n ", "").split("mailto:")[1] for v in values) == sorted(GESUNDHEIT)
