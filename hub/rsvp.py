"""Answers to invitations (use case): what partners' calendars send back, kept with the meeting.

Each invitation names its recipient as ATTENDEE (hub.scheduler.ics), so Outlook, Gmail, Thunderbird and
Apple Mail answer Accept / Tentative / Decline with an iTIP REPLY, or propose another time with a COUNTER,
to the office. Such a mail is kind `rsvp` (hub.inbound.itip): never a protocol, never answered or relayed.
It is recorded only when it speaks for the partner who sent it — the ATTENDEE is the sender's own address,
the sender is in the registry and passed the sender check — else it is held for the Geschäftsstelle, as a
forged From must not decline for someone. Per meeting and partner the answer to the newest invitation wins
(SEQUENCE, then DTSTAMP), whatever order the mails arrive in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlmodel import Session

from hub import rsvp_store
from hub.addresses import address_key
from hub.config import Config
from hub.db import utcnow
from hub.i18n import _
from hub.inbound import itip
from hub.inbound.message import ParsedMessage
from hub.models import Group, InboundMessage, Meeting, MeetingAnswer, MessageStatus, Partner
from hub.scheduler import audience

log = logging.getLogger("hub")

EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Overview:
    """Who answered how, by name, for `hub meetings show` and the web's meeting page."""

    accepted: list[str] = field(default_factory=list)
    tentative: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    open: list[str] = field(default_factory=list)
    counters: list[dict] = field(default_factory=list)  # {"name", "start", "end", "comment"}

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "tentative": self.tentative, "declined": self.declined,
                "open": self.open, "counters": [{**c, "start": _iso(c["start"]), "end": _iso(c["end"])}
                                                for c in self.counters]}


def record(session: Session, config: Config, message: InboundMessage, parsed: ParsedMessage) -> None:
    """Record the answer the mail carries into its meeting, or hold the mail saying why not."""
    answer = itip.answer(parsed)
    message.status, message.reason = MessageStatus.held, _why_not(session, message, answer)
    if message.reason:
        return
    meeting = rsvp_store.meeting_by_uid(session, answer.uid)
    partner = session.get(Partner, message.partner_id)
    message.status = MessageStatus.recorded
    session.add(message)
    session.flush()  # the answer names the message
    row = rsvp_store.answer_of(session, meeting.id, partner.id)
    stamp = answer.stamp or EARLIEST
    if row is not None and (row.sequence, row.stamp or EARLIEST) > (answer.sequence, stamp):
        message.reason = _("Ältere Antwort auf die Einladung zu „%(title)s“ (Fassung %(old)s); die Antwort auf "
                           "Fassung %(new)s bleibt vermerkt.") % {"title": meeting.title, "old": answer.sequence,
                                                                   "new": row.sequence}
        return
    attendee = next(a for a in answer.attendees if address_key(a.address) == address_key(partner.email or ""))
    row = row or MeetingAnswer(meeting_id=meeting.id, partner_id=partner.id, partstat=attendee.partstat)
    row.partstat, row.method, row.sequence, row.stamp = attendee.partstat, answer.method, answer.sequence, stamp
    row.comment, row.message_id, row.received_at = answer.comment, message.id, utcnow()
    row.proposed_start = _when(answer.proposed_start, config) if answer.method == "COUNTER" else None
    row.proposed_end = _when(answer.proposed_end, config) if answer.method == "COUNTER" else None
    session.add(row)
    log.info("meeting %s: answer %s of partner %s recorded (sequence %s)", meeting.id, row.partstat, partner.id,
             row.sequence)
    message.reason = _describe(row, meeting)


def _why_not(session: Session, message: InboundMessage, answer: itip.Answer | None) -> str:
    """Why the answer cannot be recorded, or "" when it can."""
    if answer is None:
        return _("Kalenderantwort, die sich nicht lesen lässt: nicht vermerkt.")
    meeting = rsvp_store.meeting_by_uid(session, answer.uid)
    partner = session.get(Partner, message.partner_id) if message.partner_id else None
    if meeting is None or (partner is not None and partner.alliance_id != meeting.alliance_id):
        return _("Antwort auf einen Termin, den der Hub nicht kennt: nicht vermerkt.")
    if message.sender_verified is False:
        return _("Absender nicht bestätigt: %(check)s. Die Antwort auf die Einladung zu „%(title)s“ wurde nicht "
                 "vermerkt.") % {"check": message.authentication, "title": meeting.title}
    if partner is None or partner.forgotten_at is not None or not partner.email:
        return _("Antwort auf die Einladung zu „%(title)s“ von einer Adresse, die nicht im Verzeichnis der Partner "
                 "steht: nicht vermerkt.") % {"title": meeting.title}
    if not any(address_key(a.address) == address_key(partner.email) for a in answer.attendees):
        names = ", ".join(a.address for a in answer.attendees) or _("niemanden")
        return _("Die Antwort auf die Einladung zu „%(title)s“ gilt für %(attendees)s, gesendet hat sie "
                 "%(sender)s: nicht vermerkt.") % {"title": meeting.title, "attendees": names,
                                                   "sender": partner.email}
    return ""


def _describe(row: MeetingAnswer, meeting: Meeting) -> str:
    if row.method == "COUNTER":
        return _("Gegenvorschlag zu „%(title)s“ vermerkt; die Geschäftsstelle sieht ihn beim Termin.") % {
            "title": meeting.title}
    text = {"ACCEPTED": _("Zusage zu „%(title)s“ vermerkt."), "TENTATIVE": _("Vielleicht zu „%(title)s“ vermerkt."),
            "DECLINED": _("Absage zu „%(title)s“ vermerkt.")}.get(
        row.partstat, _("Antwort ohne Entscheidung zu „%(title)s“ vermerkt."))
    return text % {"title": meeting.title}


def _when(value: datetime | date | None, config: Config) -> datetime | None:
    """A proposed time as an aware datetime: a time without zone is the alliance's, a date its midnight."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return value if value.tzinfo else value.replace(tzinfo=config.tz)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _name(partner: Partner) -> str:
    return partner.name or partner.organisation or partner.email or f"#{partner.id}"


def overview(session: Session, meeting: Meeting, group: Group) -> Overview:
    """Zusagen / Vielleicht / Absagen by name; open: invitees without an answer; COUNTER proposals."""
    result = Overview()
    answered = set()
    for row, partner in rsvp_store.answers(session, meeting.id):
        answered.add(partner.id)
        target = {"ACCEPTED": result.accepted, "TENTATIVE": result.tentative,
                  "DECLINED": result.declined}.get(row.partstat, result.open)
        target.append(_name(partner))
        if row.method == "COUNTER":
            result.counters.append({"name": _name(partner), "start": row.proposed_start, "end": row.proposed_end,
                                    "comment": row.comment})
    result.open += [_name(p) for p in audience.invitees(session, group) if p.id not in answered]
    return result


def accepted_count(session: Session, meeting: Meeting) -> int:
    """How many partners accepted the meeting's invitation: the reminder says so."""
    return rsvp_store.count(session, meeting.id, "ACCEPTED")
