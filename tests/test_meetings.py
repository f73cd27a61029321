"""Meetings: who is invited, edits raise SEQUENCE, bad edits are refused, protocols propose meetings."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import select

from hub.models import Group, InboundMessage, Meeting
from hub.scheduler import meetings, policies
from hub.scheduler.meetings import MeetingError

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _group(session, slug):
    return session.exec(select(Group).where(Group.slug == slug)).one()


def _emails(people):
    return sorted(p.email for p in people)


def test_invitees_by_group_kind(session, config, alliance, partners):
    gesundheit = meetings.invitees(session, _group(session, "gesundheit"))
    assert _emails(gesundheit) == ["a.yilmaz@awo-musterhausen.example", "j.weiss@gesundheitsamt-musterhausen.example"]
    plenum = meetings.invitees(session, _group(session, "plenum"))
    assert len(plenum) == 10  # every partner, also those in no group (DGB)
    circle = _emails(meetings.invitees(session, _group(session, "koordinierungskreis")))
    # representatives of every group plus the Geschäftsstelle, not plain members
    assert "p.schulze@buendnis-musterhausen.example" in circle
    assert "m.oeztuerk@familienzentrum-regenbogen.example" in circle  # representative of aktionstage
    assert "s.krueger@stadtwerke-musterhausen.example" in circle
    assert "a.yilmaz@awo-musterhausen.example" not in circle
    reps = meetings.representatives(session, _group(session, "unternehmen"))
    assert _emails(reps) == ["s.krueger@stadtwerke-musterhausen.example"]


def test_left_and_disabled_partners_are_not_invited(session, config, alliance, partners):
    from hub import partners as registry

    registry.leave(session, alliance, "a.yilmaz@awo-musterhausen.example")
    weiss = registry.get(session, alliance, "j.weiss@gesundheitsamt-musterhausen.example")
    weiss.disabled_at = NOW
    session.add(weiss)
    session.flush()
    assert meetings.invitees(session, _group(session, "gesundheit")) == []
    assert len(meetings.invitees(session, _group(session, "plenum"))) == 8


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
    with pytest.raises(MeetingError, match="already cancelled"):
        meetings.cancel(session, m, now=NOW)
    with pytest.raises(MeetingError, match="cancelled"):
        meetings.edit(session, config, m, location="x", now=NOW)


def test_bad_edits_are_refused_and_change_nothing(session, config, alliance):
    with pytest.raises(MeetingError, match="in the past"):
        meetings.add(session, config, alliance, "gesundheit", NOW - timedelta(hours=1), now=NOW)
    with pytest.raises(MeetingError, match="unknown group 'nope'"):
        meetings.add(session, config, alliance, "nope", NOW + timedelta(days=3), now=NOW)
    m = meetings.add(session, config, alliance, "gesundheit", NOW + timedelta(days=3), now=NOW)
    with pytest.raises(MeetingError, match="end is not after"):
        meetings.edit(session, config, m, end=m.start - timedelta(hours=1), now=NOW)
    with pytest.raises(MeetingError, match="in the past"):
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
    with pytest.raises(MeetingError, match="--time"):
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
    assert policies.imap_poll_seconds(config) == 120  # no [imap] section: the poller's default
    policies.set_policy(session, config, alliance, "imap_poll_seconds", "60")
    policies.set_policy(session, config, alliance, "reminder_days", "3", gesundheit)
    session.commit()
    assert policies.imap_poll_seconds(config) == 60
    loaded = policies.load(session, config, alliance)
    assert loaded.for_group(gesundheit.id).reminder_days == 3
    assert loaded.for_group(_group(session, "aktionstage").id).reminder_days == 2
    assert loaded.for_group(_group(session, "erziehungslotsen").id).auto_confirm is True  # from hub.toml
    with pytest.raises(policies.PolicyError, match="too often"):
        policies.set_policy(session, config, alliance, "imap_poll_seconds", "5")
    with pytest.raises(policies.PolicyError, match="whole alliance"):
        policies.set_policy(session, config, alliance, "digest", "off", gesundheit)
    with pytest.raises(policies.PolicyError, match="crontab"):
        policies.set_policy(session, config, alliance, "digest", "every monday")
