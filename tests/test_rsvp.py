"""Answers come back: a partner's Accept / Tentative / Decline (iTIP REPLY) or proposed time (COUNTER), from
Outlook, Thunderbird, Gmail or Apple Mail, is kind `rsvp`, recorded with the meeting and partner (the answer
to the newest invitation wins), never filed, answered or relayed; one that does not speak for its sender is
held. `hub meetings show`, the web's meeting page and the reminder say who answered how."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from itip_replies import reply_mail
from mailcheck import Page
from sqlmodel import select
from test_sender_auth import AR_TRUSTED, checking
from test_web import PASSWORD, sign_in

from hub import accounts as users
from hub import filing, rsvp, sends
from hub.alliance import unit_of_work
from hub.inbound.classify import classify
from hub.inbound.parse import parse
from hub.models import InboundMessage, Meeting, MeetingAnswer, OutboundMail, Partner
from hub.scheduler import meetings, runner
from hub.web.app import create_app

T0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
START = datetime(2030, 3, 12, 17, 0, tzinfo=UTC)
OFFICE = "geschaeftsstelle@buendnis-musterhausen.example"
PROTOCOLS = "protokolle@buendnis-musterhausen.example"
WEISS, WEISS_NAME = "j.weiss@gesundheitsamt-musterhausen.example", "Dr. Jürgen Weiß"
YILMAZ, YILMAZ_NAME = "a.yilmaz@awo-musterhausen.example", "Aylin Yılmaz"
CLIENTS = ("outlook", "thunderbird", "gmail", "apple")


@pytest.fixture
def invited(config, partners) -> Meeting:
    """A meeting of AG Gesundheit (Weiß, Yılmaz) whose invitation went out."""
    with time_machine.travel(T0, tick=True):
        with unit_of_work(config) as s:
            alliance = runner.alliance_module.current(s, config)
            meeting = meetings.add(s, config, alliance, "gesundheit", START, location="Rathaus", now=T0)
        assert sends.execute(config, f"meeting:{meeting.id}:invitation@seq0", force=True).queued == 2
    return meeting


def ingest(config, raw: bytes, sender: str = WEISS, to: str = OFFICE, **kwargs):
    return filing.ingest_bytes(config, raw, via="smtp", envelope_from=sender, envelope_to=[to], **kwargs)


def answers(session, meeting) -> dict[str, MeetingAnswer]:
    session.expire_all()
    rows = session.exec(select(MeetingAnswer, Partner).join(Partner, Partner.id == MeetingAnswer.partner_id)
                        .where(MeetingAnswer.meeting_id == meeting.id)).all()
    return {p.email: a for a, p in rows}


def kinds_sent(session) -> list[str]:
    session.expire_all()
    return sorted(m.kind for m in session.exec(select(OutboundMail)))


@pytest.mark.parametrize("client", CLIENTS)
def test_every_clients_reply_is_kind_rsvp(client):
    raw = reply_mail(client, "uid-1@buendnis-musterhausen.example", 0, WEISS, WEISS_NAME, "ACCEPTED",
                     T0 + timedelta(days=1))
    result = classify(raw, parse(raw))
    assert result.kind == "rsvp", result.reason
    assert "REPLY" in result.reason


def test_an_invitation_forwarded_as_a_request_is_no_answer():
    raw = reply_mail("thunderbird", "uid-1@example.org", 0, WEISS, WEISS_NAME, "ACCEPTED", T0, method="REQUEST")
    assert classify(raw, parse(raw)).kind != "rsvp"


@pytest.mark.parametrize(("client", "partstat"), [("outlook", "ACCEPTED"), ("thunderbird", "TENTATIVE"),
                                                  ("gmail", "DECLINED"), ("apple", "ACCEPTED")])
def test_an_answer_is_recorded_never_filed_answered_or_relayed(config, session, invited, client, partstat):
    before = kinds_sent(session)
    raw = reply_mail(client, invited.uid, 0, WEISS, WEISS_NAME, partstat, T0 + timedelta(days=1))
    result = ingest(config, raw, to=PROTOCOLS if client == "gmail" else OFFICE)
    assert (result.data["kind"], result.status) == ("rsvp", "recorded"), result.data["reason"]
    message = session.get(InboundMessage, result.data["id"])
    assert message.group_id is None and message.followed_up_at is not None
    answer = answers(session, invited)[WEISS]
    assert (answer.partstat, answer.sequence, answer.method, answer.message_id) == (partstat, 0, "REPLY", message.id)
    filing.follow_up.follow_up(config)
    assert kinds_sent(session) == before  # no receipt, no relay


def test_the_answer_to_the_newest_invitation_wins_whatever_order_they_arrive_in(config, session, invited):
    day = T0 + timedelta(days=1)
    ingest(config, reply_mail("outlook", invited.uid, 1, WEISS, WEISS_NAME, "DECLINED", day))
    later = day + timedelta(hours=1)
    older = ingest(config, reply_mail("outlook", invited.uid, 0, WEISS, WEISS_NAME, "ACCEPTED", later))
    assert older.status == "recorded" and "Ältere Antwort" in older.data["reason"]
    assert answers(session, invited)[WEISS].partstat == "DECLINED"
    # the same SEQUENCE: the later DTSTAMP wins, also when it arrives first
    ingest(config, reply_mail("apple", invited.uid, 1, WEISS, WEISS_NAME, "TENTATIVE", day + timedelta(hours=3)))
    ingest(config, reply_mail("apple", invited.uid, 1, WEISS, WEISS_NAME, "ACCEPTED", day + timedelta(hours=2)))
    answer = answers(session, invited)[WEISS]
    assert (answer.partstat, answer.stamp) == ("TENTATIVE", day + timedelta(hours=3))
    assert session.exec(select(MeetingAnswer)).all() == [answer]


def test_an_answer_for_someone_else_is_held_not_recorded(config, session, invited):
    raw = reply_mail("gmail", invited.uid, 0, WEISS, WEISS_NAME, "DECLINED", T0 + timedelta(days=1),
                     attendee=YILMAZ)
    result = ingest(config, raw)
    assert (result.data["kind"], result.status) == ("rsvp", "held")
    assert YILMAZ in result.data["reason"] and WEISS in result.data["reason"]
    assert answers(session, invited) == {}


def test_an_answer_from_outside_the_registry_is_held(config, session, invited):
    stranger = "someone@elsewhere.example"
    result = ingest(config, reply_mail("thunderbird", invited.uid, 0, stranger, "Jemand", "ACCEPTED", T0),
                    sender=stranger)
    assert (result.data["kind"], result.status) == ("rsvp", "held")
    assert answers(session, invited) == {}


def test_an_answer_that_fails_the_sender_check_is_held_not_recorded(config, session, invited, dns_server):
    config = checking(config, dns_server, sender_check="trusted-header", trusted_authserv_id=AR_TRUSTED)
    raw = reply_mail("outlook", invited.uid, 0, WEISS, WEISS_NAME, "DECLINED", T0 + timedelta(days=1))
    result = ingest(config, raw, peer="192.0.2.7", helo="mail.evil.example")
    message = session.get(InboundMessage, result.data["id"])
    assert (message.kind, message.status, message.sender_verified) == ("rsvp", "held", False)
    assert "Absender nicht bestätigt" in message.reason
    assert answers(session, invited) == {}


def test_an_answer_to_an_unknown_meeting_is_held(config, session, invited):
    result = ingest(config, reply_mail("apple", "nicht-von-uns@example.org", 0, WEISS, WEISS_NAME, "ACCEPTED", T0))
    assert (result.data["kind"], result.status) == ("rsvp", "held")


def test_a_counter_proposal_is_recorded_and_shown_to_the_coordinator(config, session, invited, hub):
    proposed = START + timedelta(days=2)
    raw = reply_mail("outlook", invited.uid, 0, YILMAZ, YILMAZ_NAME, "TENTATIVE", T0 + timedelta(days=1),
                     method="COUNTER", start=proposed, comment="Dienstags habe ich Elternabend.")
    result = ingest(config, raw, sender=YILMAZ)
    assert (result.data["kind"], result.status) == ("rsvp", "recorded")
    assert "Gegenvorschlag" in result.data["reason"]
    answer = answers(session, invited)[YILMAZ]
    assert (answer.method, answer.partstat, answer.proposed_start) == ("COUNTER", "TENTATIVE", proposed)
    assert answer.proposed_end == proposed + timedelta(hours=2)
    shown = hub("meetings", "show", str(invited.id)).stdout
    line = next(x for x in shown.splitlines() if "Gegenvorschlag von" in x)
    assert line.strip().startswith(f"Gegenvorschlag von {YILMAZ_NAME}:") and "Elternabend" in line, shown


def test_meeting_show_lists_who_answered_how_by_name(config, session, invited, hub):
    ingest(config, reply_mail("gmail", invited.uid, 0, WEISS, WEISS_NAME, "ACCEPTED", T0 + timedelta(days=1)))
    shown = hub("meetings", "show", str(invited.id)).stdout
    assert f"Zusagen (1): {WEISS_NAME}" in shown
    assert "Vielleicht (0): –" in shown and "Absagen (0): –" in shown
    assert f"offen (1): {YILMAZ_NAME}" in shown
    data = json.loads(hub("meetings", "show", str(invited.id), "--json").stdout)
    assert data["answers"]["accepted"] == [WEISS_NAME] and data["answers"]["open"] == [YILMAZ_NAME]


def test_overview_sorts_answers_and_lists_the_rest_as_open(config, session, invited):
    ingest(config, reply_mail("thunderbird", invited.uid, 0, YILMAZ, YILMAZ_NAME, "DECLINED", T0), sender=YILMAZ)
    meeting = session.get(Meeting, invited.id)
    group = session.get(meetings.Group, meeting.group_id)
    seen = rsvp.overview(session, meeting, group)
    assert (seen.accepted, seen.tentative, seen.declined, seen.open) == ([], [], [YILMAZ_NAME], [WEISS_NAME])


def test_the_reminder_says_how_many_accepted(config, session, invited):
    ingest(config, reply_mail("outlook", invited.uid, 0, WEISS, WEISS_NAME, "ACCEPTED", T0 + timedelta(days=1)))
    ingest(config, reply_mail("apple", invited.uid, 0, YILMAZ, YILMAZ_NAME, "DECLINED", T0 + timedelta(days=1)),
           sender=YILMAZ)
    with time_machine.travel(T0 + timedelta(days=2), tick=True):
        assert sends.execute(config, f"meeting:{invited.id}:reminder@1", force=True).queued == 2
    session.expire_all()
    (reminder,) = session.exec(select(OutboundMail).where(OutboundMail.kind == "reminder")).all()
    assert "Bisher hat 1 Person zugesagt." in reminder.text
    assert "Bisher hat 1 Person zugesagt." in reminder.html


def test_the_web_meeting_page_lists_the_answers(config, session, invited):
    ingest(config, reply_mail("thunderbird", invited.uid, 0, YILMAZ, YILMAZ_NAME, "TENTATIVE", T0), sender=YILMAZ)
    with unit_of_work(config) as s:
        users.add_user(s, "koordination@buendnis-musterhausen.example", PASSWORD, "coordinator")
    page = sign_in(create_app(config)).get(f"/schedule/meetings/{invited.id}").text
    text = " ".join(Page(page).texts)
    assert "Antworten auf die Einladung" in text
    assert f"Vielleicht (1) {YILMAZ_NAME}" in text and f"offen (1) {WEISS_NAME}" in text
    assert "Zusagen (0) –" in text and "Absagen (0) –" in text
