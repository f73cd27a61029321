"""Making one planned send (use case): the scheduler says what is due as plain data (`plan.PlannedSend`);
here it becomes mail — who gets it, the mail through compose, the calendar entry, the outbox rows.

Everything for one send happens in one transaction: the outbox rows and the `ScheduledSend` record
commit together or not at all. Each delivery's dedupe key is (job, occurrence, recipient), so a send
that runs twice — a restart, `hub schedule run-now` racing the scheduler — queues nothing twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_date, format_datetime, format_time
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub import alliance as alliance_module
from hub import newsletter, rsvp, signing, task_store
from hub.addresses import address_key
from hub.compose.render import by_locale, compose, locale_for, office_mail
from hub.config import Config
from hub.db import utcnow
from hub.errors import NotFound
from hub.i18n import _, translations
from hub.models import Group, GroupTask, Meeting, MeetingStatus, OutboundMail, Partner, ScheduledSend
from hub.outbound import outbox
from hub.scheduler import audience, facts, ics, plan, policies
from hub.scheduler import meetings as meetings_module
from hub.secret import secret_key

log = logging.getLogger("hub.scheduler")

# A job may fire a little before its time (clock steps, wakeups); later than this it waits.
EARLY = 5.0

# Sends made at once in a process. When many alliances' sends fall due at one instant (every alliance's
# 09:00), dozens of scheduler threads would compose at once, and each one's start (its `now`, the time it
# ran) would wait for the GIL behind all the others; a few at a time keep every start on time.
_making = threading.BoundedSemaphore(2)


@dataclass
class SendResult:
    key: str
    kind: str
    recipients: int
    queued: int
    note: str = ""


def split_key(key: str) -> tuple[str, str]:
    job, sep, occurrence = key.rpartition("@")
    if not sep:
        raise NotFound(_("%(key)r ist kein Auftragsschlüssel wie meeting:12:invitation@seq3; siehe `hub schedule list`")
                       % {"key": key})
    return job, occurrence


def find(session: Session, config: Config, alliance, key: str, now: datetime) -> plan.PlannedSend | None:
    """The planned send with this key, computed afresh from the database (or None if no longer wanted)."""
    job, _occurrence = split_key(key)
    meeting_ids = [int(job.split(":")[1])] if job.startswith("meeting:") else []  # a task's job needs none
    # Recipient counts only describe a send in listings; the send finds its recipients itself.
    inputs = facts.gather(session, config, alliance, meeting_ids=meeting_ids,
                           newsletters=job.startswith("newsletter:"), counts=False)
    return next((p for p in plan.build(inputs, now, config.tz) if p.key == key), None)


def execute(config: Config, key: str, now: datetime | None = None, force: bool = False) -> SendResult | None:
    """Make the send `key` if it is still planned and due (or `force`: `hub schedule run-now`)."""
    now = now or utcnow()
    try:
        with _making, alliance_module.unit_of_work(config) as session:
            alliance = alliance_module.current(session, config)
            send = find(session, config, alliance, key, now)
            if send is None:
                log.info("job %s: nothing to send any more", key)
                return None
            if send.paused and not force:
                log.info("job %s: paused", key)
                return None
            if not force and (send.due - now).total_seconds() > EARLY:
                log.info("job %s: not due before %s", key, send.due.isoformat())
                return None
            result = _make(session, config, alliance, send, now)
            session.add(ScheduledSend(
                alliance_id=alliance.id, job=send.job, occurrence=send.occurrence, kind=send.kind,
                meeting_id=send.meeting_id, due=send.due, ran_at=now, recipients=result.recipients,
                note=result.note,
            ))
            session.flush()
            policies.mark_changed(session, alliance.id)
    except IntegrityError:
        log.info("job %s: already made by another run", key)
        return None
    lateness = (now - send.due).total_seconds()
    if send.kind == "newsletter" and not result.queued:  # no approved issue: a draft was made, nothing sent
        log.info("job %s: %s (%.1f s after its time)", key, result.note, max(0.0, lateness))
    else:
        log.info("sent %s %s to %d recipients (%d queued, %.1f s after its time)", send.kind, key,
                 result.recipients, result.queued, max(0.0, lateness))
    return result


def _make(session: Session, config: Config, alliance, send: plan.PlannedSend, now: datetime) -> SendResult:
    if send.kind == "newsletter":
        return _newsletter(session, config, alliance, send, now)
    if send.kind == "task_reminder":
        return _task_mail(session, config, send)
    meeting = session.get(Meeting, send.meeting_id)
    group = session.get(Group, meeting.group_id)
    if send.kind == "protocol_due":
        people = audience.representatives(session, group)
    else:
        people = audience.invitees(session, group)
    return _meeting_mail(session, config, alliance, send, meeting, group, people)


def _meeting_mail(session, config, alliance, send, meeting: Meeting, group: Group, people: list[Partner]
                  ) -> SendResult:
    # Invitations, updates and cancellations carry the calendar (iMIP). A reminder does not: a second REQUEST
    # of the same SEQUENCE would ask partners who already answered to answer again in some clients.
    calendar = None
    if send.kind in ("invitation", "update", "cancellation"):
        calendar = ics.calendar_template(ics.calendar_entry(config, meeting, group), config.tz)
    accepted = rsvp.accepted_count(session, meeting) if send.kind == "reminder" else 0
    template = {"update": "invitation", "invitation": "invitation", "reminder": "reminder",
                "cancellation": "cancellation", "protocol_due": "protocol_due"}[send.kind]
    queued = 0
    for locale, recipients in by_locale(config, people).items():
        context = meeting_context(config, meeting, group, locale, update=send.kind == "update")
        context["accepted"] = accepted
        if template == "invitation":
            context["open_tasks"] = open_tasks(session, group, locale)
        mail = _outbound(config, template, context, locale, send)
        mail.calendar = calendar
        key = secret_key(config)
        result = outbox.enqueue(session, mail, [
            outbox.Recipient(address=p.email, name=p.name, partner_id=p.id,
                             dedupe_key=f"schedule:{send.key}|{signing.pseudonym(key, address_key(p.email))}",
                             values={ics.ATTENDEE_TOKEN: ics.attendee_line(p.email, p.name)} if calendar else {})
            for p in recipients
        ])
        queued += result.queued
    return SendResult(send.key, send.kind, len(people), queued)


def _task_mail(session: Session, config: Config, send: plan.PlannedSend) -> SendResult:
    """The reminder of one task to its owner, only to them; nothing when they left or their address is off."""
    task = session.get(GroupTask, send.task_id)
    partner = session.get(Partner, task.partner_id) if task and task.partner_id else None
    if partner is None or not partner.email or partner.left_at or partner.forgotten_at or partner.disabled_at:
        return SendResult(send.key, send.kind, 0, 0, note="no owner to remind")
    group = session.get(Group, task.group_id)
    locale = locale_for(config, partner.language)
    context = {"name": partner.name, "group": group.name, "what": task.what, "due": task.due,
               "due_text": day_text(task.due, locale), "office_address": config.mail.office_address}
    mail = _outbound(config, "task_reminder", context, locale, send)
    result = outbox.enqueue(session, mail, [outbox.Recipient(
        address=partner.email, name=partner.name, partner_id=partner.id,
        dedupe_key=f"schedule:{send.key}|{signing.pseudonym(secret_key(config), address_key(partner.email))}")])
    return SendResult(send.key, send.kind, 1, result.queued)


def open_tasks(session: Session, group: Group, locale: str) -> list[dict]:
    """The group's open tasks as the invitation lists them under "Offene Aufgaben"."""
    return [{"what": t.what, "who": t.who or "", "due": t.due, "due_text": day_text(t.due, locale) if t.due else ""}
            for t in task_store.open_of_group(session, group.id)]


def day_text(value, locale: str) -> str:
    """'Freitag, 15. Januar 2027' (de) or 'Friday, 15 January 2027' (en)."""
    return format_date(value, "EEEE, d. MMMM y" if locale == "de" else "EEEE, d MMMM y", locale=locale)


def _newsletter(session, config, alliance, send, now) -> SendResult:
    made = newsletter.scheduled(session, config, send.job.split(":", 1)[1], send.occurrence, send.key)
    return SendResult(send.key, send.kind, made.recipients, made.queued, note=made.note)


def _outbound(config: Config, template: str, context: dict, locale: str, send: plan.PlannedSend) -> OutboundMail:
    return office_mail(config, send.kind, compose(template, context, locale, config),
                       f"schedule:{send.key}:{locale}")


def when_text(value: datetime, config: Config, locale: str) -> str:
    """'Dienstag, 21. April 2026, 18:00 Uhr' (de) or 'Tuesday, 21 April 2026, 18:00' (en)."""
    pattern = "EEEE, d. MMMM y, HH:mm 'Uhr'" if locale == "de" else "EEEE, d MMMM y, HH:mm"
    return format_datetime(value, pattern, tzinfo=config.tz, locale=locale)


def _all_day_text(meeting: Meeting, config: Config, locale: str) -> str:
    """'Samstag, 20. Juni 2026 (ganztägig)', or 'Samstag, 20. Juni 2026 bis Sonntag, 21. Juni 2026 (ganztägig)'."""
    gettext = translations(locale).gettext
    pattern = "EEEE, d. MMMM y" if locale == "de" else "EEEE, d MMMM y"
    first, last = (format_date(day, pattern, locale=locale) for day in meetings_module.days(meeting, config.tz))
    days = first if first == last else gettext("%(first)s bis %(last)s") % {"first": first, "last": last}
    return gettext("%(days)s (ganztägig)") % {"days": days}


def meeting_context(config: Config, meeting: Meeting, group: Group, locale: str, update: bool = False) -> dict:
    """What the invitation, reminder, cancellation and protocol-due templates are given."""
    when = _all_day_text(meeting, config, locale) if meeting.all_day else when_text(meeting.start, config, locale)
    return {
        "alliance": config.alliance.name,
        "group": group.name,
        "group_kind": group.kind,
        "title": meeting.title,
        "start": meeting.start.astimezone(config.tz),
        "end": meeting.end.astimezone(config.tz),
        "when": when,
        "until": "" if meeting.all_day else format_time(
            meeting.end, "HH:mm 'Uhr'" if locale == "de" else "HH:mm", tzinfo=config.tz, locale=locale),
        "location": meeting.location,
        "agenda": meeting.agenda,
        "update": update,
        "cancelled": meeting.status == MeetingStatus.cancelled,
        "sequence": meeting.sequence,
        "office_address": config.mail.office_address,
        "protocol_address": config.mail.protocol_address,
        "meeting": {
            "title": meeting.title, "when": when, "location": meeting.location,
            "agenda": meeting.agenda, "group": group.name,
        },
    }
