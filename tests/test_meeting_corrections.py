"""A correction of the next meeting changes the group's meeting instead of proposing a second one: a protocol
proposes 12.05.; a later mail of the group ("nicht am 12.05. sondern am 19.05.", a new room, "fällt aus") moves it
(new SEQUENCE, so invitations already sent are updated), changes its room, or cancels it (the plan sends a CANCEL).
Only the group's own meeting on the corrected day is touched; a day with no meeting gets a proposal as before."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import select
from test_ingest import WEISS

from hub import filing, review, sends
from hub.alliance import unit_of_work
from hub.inbound import store
from hub.inbound.extract import extract
from hub.inbound.parse import parse
from hub.models import Group, InboundMessage, Meeting
from hub.scheduler import facts, meetings

BERLIN = ZoneInfo("Europe/Berlin")
PROTOCOLS = "protokolle@buendnis-musterhausen.example"
NOW = datetime(2026, 4, 29, 10, 0, tzinfo=UTC)  # between the protocol and the reply, before the meeting
SUBJECT = "Protokoll AG Gesundheit vom 28.04.2026"
ANNOUNCEMENT = ("Protokoll der Sitzung vom 28.04.2026\n\nTeilnehmende: Dr. Jürgen Weiß, Aylin Yılmaz\n\n"
                "1. Gesundheitstag\nDer Stand wird gemeinsam betreut.\n\n"
                "Nächstes Treffen: 12.05.2026, 18 Uhr, Rathaus, Raum 104\n\nViele Grüße\nJürgen Weiß\n")
MAY_12 = datetime(2026, 5, 12, 16, 0, tzinfo=UTC)  # 18:00 in Berlin (summer time)
MAY_19 = datetime(2026, 5, 19, 16, 0, tzinfo=UTC)


def _mail(body: str, subject: str = SUBJECT, number: int = 1, answers: int | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Dr. Jürgen Weiß <{WEISS}>"
    msg["To"] = PROTOCOLS
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 4, 28 if number == 1 else 29, 9, 30, tzinfo=BERLIN))
    msg["Message-ID"] = f"<korrektur-{number}@gesundheitsamt-musterhausen.example>"
    if answers is not None:
        msg["In-Reply-To"] = f"<korrektur-{answers}@gesundheitsamt-musterhausen.example>"
    msg.set_content(body)
    return msg.as_bytes()


def _reply(text: str, number: int = 2, subject: str = f"Korrektur: {SUBJECT}") -> bytes:
    """The writer answering their own protocol mail, with the announcement quoted. Under a subject of its own it is
    filed for the group; "AW: <subject>" answers the relay the hub sent under that subject: held as a reply."""
    quoted = "\n".join(f"> {line}" for line in ANNOUNCEMENT.splitlines())
    return _mail(f"{text}\n\nAm 28.04.2026 schrieb Jürgen Weiß:\n{quoted}\n", subject, number, answers=1)


def _ingest(config, raw: bytes) -> filing.IngestResult:
    with time_machine.travel(NOW, tick=False):
        return filing.ingest_bytes(config, raw, via="smtp", envelope_from=WEISS, envelope_to=[PROTOCOLS])


def _meetings(session, slug: str = "gesundheit") -> list[Meeting]:
    session.expire_all()
    group = session.exec(select(Group).where(Group.slug == slug)).one()
    return list(session.exec(select(Meeting).where(Meeting.group_id == group.id).order_by(Meeting.id)))


@pytest.fixture
def proposed(config, session, partners) -> Meeting:
    """The protocol of 28.04. filed for the AG Gesundheit, its next meeting proposed: 12.05., 18 Uhr."""
    assert _ingest(config, _mail(ANNOUNCEMENT)).status == "filed"
    [meeting] = _meetings(session)
    assert (meeting.start, meeting.location, meeting.status, meeting.sequence) == \
        (MAY_12, "Rathaus, Raum 104", "proposed", 0)
    return meeting


def test_a_corrected_date_moves_the_meeting_instead_of_proposing_a_second(config, session, proposed):
    result = _ingest(config, _reply("Kleine Korrektur: Das nächste Treffen ist nicht am 12.05. sondern am 19.05."))
    assert (result.data["kind"], result.status, result.data["group"]) == ("protocol", "filed", "gesundheit")
    [meeting] = _meetings(session)
    assert meeting.id == proposed.id and meeting.uid == proposed.uid
    assert (meeting.start, meeting.location, meeting.sequence) == (MAY_19, "Rathaus, Raum 104", 1)
    assert meeting.end - meeting.start == proposed.end - proposed.start


def test_a_date_only_correction_keeps_the_meeting_time(config, session, proposed):
    # The announcement is not quoted: the correction names only the day, the meeting keeps its 18 Uhr.
    _ingest(config, _mail("Hallo,\nunser Treffen wird vom 12.05. auf den 19.05. verschoben.\nGruß",
                          f"Re: Korrektur {SUBJECT}", 2))
    [meeting] = _meetings(session)
    assert (meeting.start, meeting.sequence, meeting.time_assumed) == (MAY_19, 1, False)


def test_a_moved_invited_meeting_gets_an_update(config, session, proposed):
    with time_machine.travel(NOW, tick=False), unit_of_work(config) as s:
        meetings.confirm(s, config, s.get(Meeting, proposed.id))
    with time_machine.travel(NOW, tick=False):
        assert sends.execute(config, f"meeting:{proposed.id}:invitation@seq1", force=True).kind == "invitation"
    _ingest(config, _reply("Korrektur: das Treffen ist nicht am 12.05. sondern am 19.05."))
    [meeting] = _meetings(session)
    assert (meeting.start, meeting.sequence) == (MAY_19, 2)
    with time_machine.travel(NOW, tick=False), unit_of_work(config) as s:
        planned = [(p.job, p.occurrence, p.kind) for p in facts.current_plan(s, config)]
    assert (f"meeting:{meeting.id}:invitation", "seq2", "update") in planned


def test_a_new_room_only_changes_the_location(config, session, proposed):
    _ingest(config, _reply("Hallo zusammen,\nder Raum hat sich geändert: Wir treffen uns im Familienzentrum, "
                           "Großer Saal.\nGruß"))
    [meeting] = _meetings(session)
    assert (meeting.start, meeting.location, meeting.sequence) == (MAY_12, "Familienzentrum, Großer Saal", 1)


def test_a_cancelled_meeting_is_cancelled(config, session, proposed):
    _ingest(config, _reply("Hallo,\ndie Sitzung am 12.05. fällt leider aus, neuer Termin folgt.\nGruß"))
    [meeting] = _meetings(session)
    assert (meeting.start, meeting.status, meeting.sequence) == (MAY_12, "cancelled", 1)


def test_an_invited_meeting_that_is_cancelled_gets_a_cancel(config, session, proposed):
    with time_machine.travel(NOW, tick=False), unit_of_work(config) as s:
        meetings.confirm(s, config, s.get(Meeting, proposed.id))
    with time_machine.travel(NOW, tick=False):
        sends.execute(config, f"meeting:{proposed.id}:invitation@seq1", force=True)
    _ingest(config, _reply("Hallo,\ndas Treffen am 12.05. entfällt.\nGruß"))
    with time_machine.travel(NOW, tick=False), unit_of_work(config) as s:
        planned = [(p.job, p.occurrence, p.kind) for p in facts.current_plan(s, config)]
    assert (f"meeting:{proposed.id}:cancellation", "seq2", "cancellation") in planned


def test_a_cancellation_with_a_new_date_moves_the_meeting(config, session, proposed):
    _ingest(config, _reply("Hallo,\ndas Treffen am 12.05. fällt aus – wir treffen uns stattdessen am 26.05."))
    [meeting] = _meetings(session)
    assert (meeting.start, meeting.status, meeting.sequence) == \
        (datetime(2026, 5, 26, 16, 0, tzinfo=UTC), "proposed", 1)


def test_a_correction_of_another_groups_date_leaves_this_groups_meeting(config, session, proposed, alliance):
    # The AG Erziehungslotsen meets on 12.05. too: the AG Gesundheit's correction moves only its own meeting.
    with time_machine.travel(NOW, tick=False), unit_of_work(config) as s:
        theirs = meetings.add(s, config, alliance, "erziehungslotsen", MAY_12, location="Kita Sonnenschein").id
    _ingest(config, _reply("Korrektur: das Treffen ist nicht am 12.05. sondern am 19.05."))
    [ours] = _meetings(session)
    assert (ours.start, ours.sequence) == (MAY_19, 1)
    [other] = _meetings(session, "erziehungslotsen")
    assert (other.id, other.start, other.location, other.sequence) == (theirs, MAY_12, "Kita Sonnenschein", 0)


def test_a_correction_of_a_day_without_a_meeting_proposes_one(config, session, proposed):
    result = _ingest(config, _reply("Korrektur: das Treffen ist nicht am 5.05. sondern am 19.05.", number=3))
    assert session.get(InboundMessage, result.data["id"]).corrects_meeting == date(2026, 5, 5)
    first, second = _meetings(session)
    assert (first.start, first.sequence) == (MAY_12, 0)
    assert (second.start, second.status, second.sequence) == (MAY_19, "proposed", 0)


# --- a correction answering the hub's relay ("AW: <the protocol's subject>") ------------------------------------

CORRECTION = "Kleine Korrektur: Das nächste Treffen ist nicht am 12.05. sondern am 19.05."


def _assign(config, message_id: int) -> None:
    with time_machine.travel(NOW, tick=False), unit_of_work(config) as s:
        review.assign(s, config, message_id, "gesundheit", by="geschaeftsstelle")


def test_a_held_reply_filed_by_the_coordinator_moves_the_meeting(config, session, proposed):
    raw = _reply(CORRECTION, subject=f"AW: {SUBJECT}")
    result = _ingest(config, raw)
    assert (result.data["kind"], result.status) == ("reply", "held")
    # What filing would keep of the held reply, were it extracted (see the next test).
    message = session.get(InboundMessage, result.data["id"])
    store.apply_extraction(message, extract(parse(raw), config.tz))
    session.commit()
    _assign(config, message.id)
    [meeting] = _meetings(session)
    assert (meeting.start, meeting.sequence) == (MAY_19, 1)


def test_a_held_reply_filed_by_the_coordinator_moves_the_meeting_end_to_end(config, session, proposed):
    result = _ingest(config, _reply(CORRECTION, subject=f"AW: {SUBJECT}"))
    assert (result.data["kind"], result.status) == ("reply", "held")
    _assign(config, result.data["id"])
    [meeting] = _meetings(session)
    assert (meeting.start, meeting.sequence) == (MAY_19, 1)
