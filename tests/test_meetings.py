"""Meetings: who is invited, edits raise SEQUENCE, bad edits are refused, protocols propose meetings."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import icalendar
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlmodel import Session, select

from hub import dates, supervisor
from hub.db import alembic_config, engine_for, upgrade
from hub.errors import NotFound, UsageError
from hub.models import Group, InboundMessage, Meeting
from hub.scheduler import audience, ics, meetings, policies, schedulefile
from hub.scheduler.meetings import MeetingError

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _group(session, slug):
    return session.exec(select(Group).where(Group.slug == slug)).one()


def _emails(people):
    return sorted(p.email for p in people)


def test_invitees_by_group_kind(session, config, alliance, partners):
    gesundheit = audience.invitees(session, _group(session, "gesundheit"))
    assert _emails(gesundheit) == ["a.yilmaz@awo-musterhausen.example", "j.weiss@gesundheitsamt-musterhausen.example"]
    plenum = audience.invitees(session, _group(session, "plenum"))
    assert len(plenum) == 10  # every partner, also those in no group (DGB)
    circle = _emails(audience.invitees(session, _group(session, "koordinierungskreis")))
    # representatives of every group plus the Geschäftsstelle, not plain members
    assert "p.schulze@buendnis-musterhausen.example" in circle
    assert "m.oeztuerk@familienzentrum-regenbogen.example" in circle  # representative of aktionstage
    assert "s.krueger@stadtwerke-musterhausen.example" in circle
    assert "a.yilmaz@awo-musterhausen.example" not in circle
    reps = audience.representatives(session, _group(session, "unternehmen"))
    assert _emails(reps) == ["s.krueger@stadtwerke-musterhausen.example"]


def test_left_and_disabled_partners_are_not_invited(session, config, alliance, partners):
    from hub import partners as registry

    registry.leave(session, alliance, "a.yilmaz@awo-musterhausen.example")
    weiss = registry.get(session, alliance, "j.weiss@gesundheitsamt-musterhausen.example")
    weiss.disabled_at = NOW
    session.add(weiss)
    session.flush()
    assert audience.invitees(session, _group(session, "gesundheit")) == []
    assert len(audience.invitees(session, _group(session, "plenum"))) == 8


def test_add_edit_cancel_raise_sequence_and_version(session, config, alliance):
    start = datetime(2027, 3, 9, 17, 0, tzinfo=UTC)
    v0 = policies.version(session, alliance.id)
    m = meetings.add(session, config, alliance, "gesundheit", start, location="Rathaus", now=NOW)
    assert (m.status, m.sequence, m.end - m.start) == ("confirmed", 0, timedelta(minutes=120))
    assert m.title == "Treffen AG Gesundheit" and m.uid.endswith("@buendnis-musterhausen.example")
    uid = m.uid
    assert meetings.edit(session, config, m, location="Familienzentrum", now=NOW) is True
    assert m.sequence == 1
    assert meetings.edit(session, config, m, location="Familienzentrum", now=NOW) is False
    assert m.sequence == 1
    meetings.edit(session, config, m, start=start + timedelta(days=1), now=NOW)
    assert (m.sequence, m.end - m.start, m.uid) == (2, timedelta(minutes=120), uid)
    meetings.cancel(session, m, now=NOW)
    assert (m.status, m.sequence) == ("cancelled", 3)
    assert policies.version(session, alliance.id) == v0 + 4
    with pytest.raises(MeetingError, match="schon abgesagt"):
        meetings.cancel(session, m, now=NOW)
    with pytest.raises(MeetingError, match="abgesagt"):
        meetings.edit(session, config, m, location="x", now=NOW)


def test_bad_edits_are_refused_and_change_nothing(session, config, alliance):
    with pytest.raises(MeetingError, match="in der Vergangenheit"):
        meetings.add(session, config, alliance, "gesundheit", NOW - timedelta(hours=1), now=NOW)
    with pytest.raises(NotFound, match="unbekannte Gruppe 'nope'"):
        meetings.add(session, config, alliance, "nope", NOW + timedelta(days=3), now=NOW)
    m = meetings.add(session, config, alliance, "gesundheit", NOW + timedelta(days=3), now=NOW)
    with pytest.raises(MeetingError, match="Ende liegt nicht nach dem Beginn"):
        meetings.edit(session, config, m, end=m.start - timedelta(hours=1), now=NOW)
    with pytest.raises(MeetingError, match="in der Vergangenheit"):
        meetings.edit(session, config, m, start=NOW - timedelta(days=1), now=NOW)
    assert m.sequence == 0 and m.start == NOW + timedelta(days=3)
    assert len(session.exec(select(Meeting)).all()) == 1


def _protocol(session, alliance, group, start: str, location="Rathaus, Raum 2"):
    message = InboundMessage(message_id=f"<{start}@x>", content_hash=start, raw_path="x", kind="protocol",
                             status="filed", group_id=_group(session, group).id, next_meeting_start=start,
                             next_meeting_location=location)
    session.add(message)
    session.flush()
    return message


def test_protocol_with_time_proposes_a_meeting(session, config, alliance):
    message = _protocol(session, alliance, "gesundheit", "2027-02-03T18:30:00")
    meeting = meetings.propose_from_protocol(session, config, message)
    assert meeting.status == "proposed" and meeting.source == f"protocol:{message.id}"
    assert meeting.start == datetime(2027, 2, 3, 17, 30, tzinfo=UTC)  # 18:30 in Berlin (winter)
    assert meeting.location == "Rathaus, Raum 2" and not meeting.time_assumed
    assert meetings.propose_from_protocol(session, config, message) is None  # the same protocol again
    meetings.confirm(session, config, meeting)
    assert meeting.status == "confirmed"


def test_auto_confirm_group_and_date_only(session, config, alliance):
    timed = meetings.propose_from_protocol(session, config, _protocol(session, alliance, "erziehungslotsen",
                                                                      "2027-05-04T17:00:00"))
    assert timed.status == "confirmed"  # erziehungslotsen has auto_confirm = true
    day_only = meetings.propose_from_protocol(session, config, _protocol(session, alliance, "erziehungslotsen",
                                                                         "2027-06-08"))
    assert day_only.status == "proposed" and day_only.time_assumed  # never confirmed on a guessed time
    assert day_only.start == datetime(2027, 6, 8, 16, 0, tzinfo=UTC)  # 18:00 Berlin summer time
    with pytest.raises(MeetingError, match="nur den Tag"):
        meetings.confirm(session, config, day_only)
    meetings.confirm(session, config, day_only, at=time(19, 30))
    assert day_only.status == "confirmed" and not day_only.time_assumed
    assert day_only.start == datetime(2027, 6, 8, 17, 30, tzinfo=UTC)


def test_past_or_missing_next_meeting_proposes_nothing(session, config, alliance):
    assert meetings.propose_from_protocol(session, config, _protocol(session, alliance, "gesundheit",
                                                                     "2020-01-01T18:00:00")) is None
    message = _protocol(session, alliance, "gesundheit", "2027-01-01T18:00:00")
    message.status = "held"
    assert meetings.propose_from_protocol(session, config, message) is None


def test_policy_overrides_and_imap_interval(session, config, alliance):
    gesundheit = _group(session, "gesundheit")
    assert supervisor._imap_poll_seconds(config) == 120  # no [imap] section: the poller's default
    policies.set_policy(session, config, alliance, "imap_poll_seconds", "60")
    policies.set_policy(session, config, alliance, "reminder_days", "3", gesundheit)
    session.commit()
    assert supervisor._imap_poll_seconds(config) == 60
    loaded = policies.load(session, config, alliance)
    assert loaded.for_group(gesundheit.id).reminder_days == 3
    assert loaded.for_group(_group(session, "aktionstage").id).reminder_days == 2
    assert loaded.for_group(_group(session, "erziehungslotsen").id).auto_confirm is True  # from hub.toml
    with pytest.raises(policies.PolicyError, match="ist zu oft"):
        policies.set_policy(session, config, alliance, "imap_poll_seconds", "5")
    with pytest.raises(policies.PolicyError, match="ganze Bündnis"):
        policies.set_policy(session, config, alliance, "digest", "off", gesundheit)
    with pytest.raises(policies.PolicyError, match="crontab"):
        policies.set_policy(session, config, alliance, "digest", "every monday")


# --- typed dates and all-day meetings ------------------------------------------------------------------


def test_a_meeting_without_a_time_is_refused_with_a_hint(session, config, alliance):
    day = dates.parse_when("20.01.2030", config.tz)
    with pytest.raises(MeetingError, match=r"Bitte geben Sie eine Uhrzeit an, z\. B\. 20\.01\.2030 18:00, "
                                           r"oder --all-day"):
        meetings.add(session, config, alliance, "gesundheit", day, now=NOW)
    with pytest.raises(MeetingError, match="Das Ende braucht eine Uhrzeit"):
        meetings.add(session, config, alliance, "gesundheit", dates.parse_when("20.01.2030 18 Uhr", config.tz),
                     day, now=NOW)
    with pytest.raises(MeetingError, match="ganztägiger Termin hat keine Uhrzeit"):
        meetings.add(session, config, alliance, "gesundheit", dates.parse_when("20.01.2030 18 Uhr", config.tz),
                     all_day=True, now=NOW)
    assert session.exec(select(Meeting)).all() == []


@pytest.mark.parametrize(("typed", "begins"), [
    ("20.01.2030", datetime(2030, 1, 19, 23, 0, tzinfo=UTC)),  # CET
    ("20.7.30", datetime(2030, 7, 19, 22, 0, tzinfo=UTC)),  # CEST
])
def test_an_all_day_meeting_runs_from_midnight_to_midnight(session, config, alliance, typed, begins):
    m = meetings.add(session, config, alliance, "aktionstage", dates.parse_when(typed, config.tz), all_day=True,
                     title="Familientag", now=NOW)
    assert (m.all_day, m.start, m.end) == (True, begins, begins + timedelta(days=1))
    described = meetings.describe(m, _group(session, "aktionstage"), config.tz)
    day = begins.astimezone(config.tz).date().isoformat()
    assert (described["all_day"], described["start"], described["end"]) == (True, day, day)

    data = ics.calendar_bytes(replace(ics.calendar_entry(config, m, _group(session, "aktionstage")),
                                      all_day=m.all_day), config.tz)
    assert f"DTSTART;VALUE=DATE:{day.replace('-', '')}" in data.decode()
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert event.decoded("DTSTART") == begins.astimezone(config.tz).date()
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(days=1)


def test_an_all_day_meeting_over_days_across_the_clock_change(session, config, alliance):
    first, last = dates.parse_date("29.03.2030"), dates.parse_date("31.03.2030")  # summer time from the 31st
    m = meetings.add(session, config, alliance, "aktionstage", first, last, all_day=True, now=NOW)
    assert m.start == datetime(2030, 3, 28, 23, 0, tzinfo=UTC) and m.end == datetime(2030, 3, 31, 22, 0, tzinfo=UTC)
    assert meetings.days(m, config.tz) == (first, last)
    with pytest.raises(MeetingError, match="Ende liegt nicht nach dem Beginn"):
        meetings.add(session, config, alliance, "aktionstage", last, first, all_day=True, now=NOW)


def test_edits_between_timed_and_all_day(session, config, alliance):
    tz = config.tz
    m = meetings.add(session, config, alliance, "gesundheit", dates.parse_datetime("12.03.2030 18:00", tz), now=NOW)
    with pytest.raises(MeetingError, match=r"Uhrzeit an, z\. B\. 13\.03\.2030 18:00, oder --all-day"):
        meetings.edit(session, config, m, start=dates.parse_date("13.03.2030"), now=NOW)
    assert meetings.edit(session, config, m, all_day=True, now=NOW) is True  # the same day, all day
    assert (m.all_day, m.sequence) == (True, 1)
    assert meetings.days(m, tz) == (date(2030, 3, 12), date(2030, 3, 12))
    meetings.edit(session, config, m, end=dates.parse_date("14.03.2030"), now=NOW)
    meetings.edit(session, config, m, start=dates.parse_date("20.03.2030"), now=NOW)  # keeps its three days
    assert meetings.days(m, tz) == (date(2030, 3, 20), date(2030, 3, 22))
    assert meetings.edit(session, config, m, all_day=True, now=NOW) is False
    with pytest.raises(MeetingError, match="Für einen Termin mit Uhrzeit geben Sie den Beginn an"):
        meetings.edit(session, config, m, all_day=False, now=NOW)
    with pytest.raises(MeetingError, match="ganztägiger Termin hat keine Uhrzeit"):
        meetings.edit(session, config, m, end=dates.parse_datetime("22.03.2030 20:00", tz), now=NOW)
    meetings.edit(session, config, m, start=dates.parse_datetime("20.03.2030 18:30", tz), now=NOW)  # timed again
    assert not m.all_day and m.end - m.start == timedelta(minutes=config.schedule.meeting_minutes)
    assert m.start == datetime(2030, 3, 20, 17, 30, tzinfo=UTC) and m.sequence == 4


def _apply(session, config, alliance, text: str):
    return schedulefile.apply(session, config, alliance, tomllib.loads(text), now=NOW)


def test_the_schedule_file_takes_german_dates_and_all_day(session, config, alliance):
    text = '''
[[meeting]]
key = "gesundheit"
group = "gesundheit"
start = "20.01.2030, 18.30 Uhr"
end = "20.1.30 20 Uhr"

[[meeting]]
key = "familientag"
group = "aktionstage"
start = "20.07.2030"
all_day = true

[[meeting]]
key = "woche"
group = "aktionstage"
start = 2030-09-16
end = "20.09.2030"
all_day = true
'''
    assert _apply(session, config, alliance, text).added == ["gesundheit", "familientag", "woche"]
    rows = {m.key: m for m in session.exec(select(Meeting))}
    assert rows["gesundheit"].start == datetime(2030, 1, 20, 17, 30, tzinfo=UTC)
    assert rows["gesundheit"].end == datetime(2030, 1, 20, 19, 0, tzinfo=UTC) and not rows["gesundheit"].all_day
    assert rows["familientag"].all_day and meetings.days(rows["familientag"], config.tz) == (date(2030, 7, 20),) * 2
    assert meetings.days(rows["woche"], config.tz) == (date(2030, 9, 16), date(2030, 9, 20))
    assert len(_apply(session, config, alliance, text).unchanged) == 3  # the same file again changes nothing

    exported = schedulefile.export(session, config, alliance, NOW)
    assert 'start = "2030-07-20"\nend = "2030-07-20"\nall_day = true' in exported
    assert len(_apply(session, config, alliance, exported).unchanged) == 3

    moved = _apply(session, config, alliance, text.replace('start = "20.07.2030"', 'start = "21.07.2030 10 Uhr"')
                   .replace("all_day = true\n\n[[meeting]]\nkey = \"woche\"", "\n[[meeting]]\nkey = \"woche\""))
    assert moved.changed == ["familientag"]
    assert not rows["familientag"].all_day and rows["familientag"].start == datetime(2030, 7, 21, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("entry", "says"), [
    ('start = "20.01.2030"', 'Treffen neu: start hat keine Uhrzeit; schreiben Sie z. B. start = "20.01.2030 18:00", '
                             'oder all_day = true'),
    ('start = "31.02.2030 18:00"', "Treffen neu: „31.02.2030 18:00“: einen 31. gibt es im Februar 2030 nicht"),
    ('start = "morgen"', "Treffen neu: „morgen“ ist kein Datum"),
    ('start = "20.01.2030"\nall_day = "ja"', "Treffen neu: all_day ist true oder false"),
    ('start = "20.01.2030 18:00"\nall_day = true', "Treffen neu: Ein ganztägiger Termin hat keine Uhrzeit"),
])
def test_the_schedule_file_refuses_bad_dates_naming_the_entry(session, config, alliance, entry, says):
    with pytest.raises(UsageError) as caught:
        _apply(session, config, alliance, f'[[meeting]]\nkey = "neu"\ngroup = "gesundheit"\n{entry}\n')
    assert says in str(caught.value) and str(caught.value).startswith("schedule.toml: ")


def test_migration_0002_upgrades_a_database_made_at_0001(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001")
    with engine_for(url).begin() as conn:
        conn.exec_driver_sql("INSERT INTO alliance (id, domain, name, timezone, language) "
                             "VALUES (1, 'x.example', 'X', 'Europe/Berlin', 'de')")
        conn.exec_driver_sql("INSERT INTO work_group (id, alliance_id, slug, name, kind, aliases, active) "
                             "VALUES (1, 1, 'g', 'G', 'group', '[]', 1)")
        conn.exec_driver_sql(
            "INSERT INTO meeting (alliance_id, group_id, title, start, \"end\", time_assumed, location, agenda, "
            "status, uid, sequence, source, created_at, updated_at) VALUES (1, 1, 'T', '2030-01-20 17:00:00', "
            "'2030-01-20 19:00:00', 0, '', '', 'confirmed', 'u@x', 0, 'coordinator', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00')")
    assert upgrade(url) == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with Session(engine_for(url)) as session:
        (meeting,) = session.exec(select(Meeting)).all()
        assert meeting.all_day is False and meeting.start == datetime(2030, 1, 20, 17, 0, tzinfo=UTC)
    engine_for(url).dispose()
