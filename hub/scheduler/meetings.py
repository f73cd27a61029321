"""Meetings: added by the coordinator, by a schedule file, or proposed by a filed protocol.

The Koordinierungskreis and the Bündnistreffen are groups of their own kind (`coordination`,
`plenum`) in the config, so every meeting belongs to exactly one group and the kind decides who is
invited: a group's members; for `plenum` all partners; for `coordination` every group's
representatives, the group's own members and the Geschäftsstelle (coordinators).
Partners who left, were forgotten or whose address is disabled are never invited.

A meeting has a start time, or is all-day: then it runs from 00:00 local on its first day to 00:00 local
after its last, and whoever types it gives dates only (`hub.dates.parse_when` tells which was typed).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from hub import dates
from hub.db import utcnow
from hub.errors import NotFound, UsageError
from hub.i18n import _
from hub.models import Alliance, Group, InboundMessage, Meeting, MeetingStatus, MessageKind, MessageStatus
from hub.scheduler import policies

STATUSES = tuple(MeetingStatus)


class MeetingError(UsageError):
    """An edit the coordinator has to correct; nothing was changed."""


def local(value: datetime, tz: ZoneInfo) -> datetime:
    return value.astimezone(tz)


def span(config, start: datetime | date, end: datetime | date | None = None, all_day: bool = False,
         keep: Meeting | None = None) -> tuple[datetime, datetime]:
    """What was typed → the stored start and end (aware UTC).

    An all-day meeting takes dates, its end being the last day (inclusive). Without an end a meeting
    lasts the configured length, or as long as `keep` (the meeting being edited) when that is of the same kind.
    """
    tz = config.tz
    if all_day:
        if isinstance(start, datetime) or isinstance(end, datetime):
            day = start if not isinstance(start, datetime) else start.astimezone(tz).date()
            raise MeetingError(_("Ein ganztägiger Termin hat keine Uhrzeit; geben Sie nur das Datum an, "
                                 "z. B. %(day)s") % {"day": f"{day:%d.%m.%Y}"})
        if end is None:
            first, last = days(keep, tz) if keep is not None and keep.all_day else (start, start)
            end = start + (last - first)
        return dates.day_start(start, tz), dates.day_start(end + timedelta(days=1), tz)
    if not isinstance(start, datetime):
        raise MeetingError(_("Bitte geben Sie eine Uhrzeit an, z. B. %(day)s %(time)s, oder --all-day für einen "
                             "ganztägigen Termin") % {"day": f"{start:%d.%m.%Y}",
                                                      "time": config.schedule.meeting_time})
    if end is not None and not isinstance(end, datetime):
        raise MeetingError(_("Das Ende braucht eine Uhrzeit, z. B. %(day)s %(time)s") % {
            "day": f"{end:%d.%m.%Y}", "time": f"{(start + timedelta(hours=2)).astimezone(tz):%H:%M}"})
    if end is None:
        same_kind = keep is not None and not keep.all_day
        end = start + (keep.end - keep.start if same_kind else timedelta(minutes=config.schedule.meeting_minutes))
    return start, end


def days(meeting: Meeting, tz: ZoneInfo) -> tuple[date, date]:
    """An all-day meeting's first and last day (its stored end is 00:00 after the last)."""
    return dates.local_day(meeting.start, tz), dates.local_day(meeting.end, tz) - timedelta(days=1)


def describe(meeting: Meeting, group: Group, tz: ZoneInfo) -> dict:
    """A meeting as plain data (`--json`, the web): local ISO times, or for an all-day meeting its first and
    last day as dates, the way they are typed."""
    if meeting.all_day:
        start, end = (day.isoformat() for day in days(meeting, tz))
    else:
        start, end = meeting.start.astimezone(tz).isoformat(), meeting.end.astimezone(tz).isoformat()
    return {
        "id": meeting.id, "group": group.slug, "title": meeting.title, "start": start, "end": end,
        "all_day": meeting.all_day, "time_assumed": meeting.time_assumed, "location": meeting.location,
        "agenda": meeting.agenda, "status": meeting.status, "sequence": meeting.sequence, "uid": meeting.uid,
        "source": meeting.source, "key": meeting.key,
    }


def group_by_slug(session: Session, alliance: Alliance, slug: str) -> Group:
    group = session.exec(select(Group).where(Group.alliance_id == alliance.id, Group.slug == slug)).first()
    if group is None or not group.active:
        known = session.exec(select(Group.slug).where(Group.alliance_id == alliance.id, Group.active)).all()
        raise NotFound(_("unbekannte Gruppe %(slug)r; möglich sind: %(known)s")
                       % {"slug": slug, "known": ", ".join(sorted(known))})
    return group


def get(session: Session, alliance: Alliance, meeting_id: int) -> Meeting:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or meeting.alliance_id != alliance.id:
        raise NotFound(_("kein Treffen mit der Nummer %(id)s; siehe `hub meetings list`") % {"id": meeting_id})
    return meeting


def default_title(group: Group) -> str:
    if group.kind == "plenum":
        return group.name
    return f"Treffen {group.name}"


def _check_times(start: datetime, end: datetime, now: datetime, tz: ZoneInfo) -> None:
    if start <= now:
        raise MeetingError(_("der Beginn %(start)s liegt in der Vergangenheit; geben Sie ein künftiges Datum "
                             "mit Uhrzeit an") % {"start": f"{start.astimezone(tz):%d.%m.%Y %H:%M}"})
    if end <= start:
        raise MeetingError(_("das Ende liegt nicht nach dem Beginn; geben Sie ein späteres Ende an oder lassen "
                             "Sie es weg"))


def add(
    session: Session,
    config,
    alliance: Alliance,
    group_slug: str,
    start: datetime | date,
    end: datetime | date | None = None,
    location: str = "",
    agenda: str = "",
    title: str = "",
    status: str = MeetingStatus.confirmed,
    source: str = "coordinator",
    key: str | None = None,
    time_assumed: bool = False,
    all_day: bool = False,
    now: datetime | None = None,
) -> Meeting:
    """A new meeting (confirmed unless said otherwise); refuses past dates and unknown groups.
    `start` and `end` are aware datetimes, or dates for an all-day meeting (see `span`)."""
    group = group_by_slug(session, alliance, group_slug)
    start, end = span(config, start, end, all_day)
    _check_times(start, end, now or utcnow(), config.tz)
    if status not in (MeetingStatus.proposed, MeetingStatus.confirmed):
        raise MeetingError(_("ein neues Treffen ist vorgeschlagen oder bestätigt, nicht %(status)r")
                           % {"status": status})
    meeting = Meeting(
        alliance_id=alliance.id, group_id=group.id, key=key, title=title or default_title(group), start=start,
        end=end, location=location, agenda=agenda, status=status, uid=f"{uuid.uuid4()}@{config.alliance.domain}",
        sequence=0, source=source, time_assumed=time_assumed, all_day=all_day,
    )
    session.add(meeting)
    session.flush()
    policies.mark_changed(session, alliance.id)
    return meeting


EDITABLE = ("title", "start", "end", "all_day", "location", "agenda")


def edit(session: Session, config, meeting: Meeting, now: datetime | None = None, **changes) -> bool:
    """Change what invitees see; raises SEQUENCE so calendars replace the entry. Returns whether anything changed.

    Times are typed as for `add`. A start with a time makes an all-day meeting a timed one; a timed meeting
    becomes all-day with `all_day=True` (on its own day unless a start date is given)."""
    unknown = set(changes) - set(EDITABLE) - {"group"}
    if unknown:
        raise MeetingError(_("%(fields)s lässt sich nicht ändern; änderbar sind %(editable)s und die Gruppe")
                           % {"fields": ", ".join(sorted(unknown)), "editable": ", ".join(EDITABLE)})
    if meeting.status == MeetingStatus.cancelled:
        raise MeetingError(_("Treffen %(id)s ist abgesagt; tragen Sie stattdessen ein neues ein")
                           % {"id": meeting.id})
    now = now or utcnow()
    if meeting.end <= now:
        raise MeetingError(_("Treffen %(id)s ist vorbei; vergangene Treffen werden nicht geändert")
                           % {"id": meeting.id})
    values = {k: v for k, v in changes.items() if v is not None}
    if "group" in values:
        alliance = session.get(Alliance, meeting.alliance_id)
        values["group_id"] = group_by_slug(session, alliance, values.pop("group")).id
    if values.keys() & {"start", "end", "all_day"}:
        values.update(_moved(config, meeting, values))
        _check_times(values["start"], values["end"], now, config.tz)
    changed = {k: v for k, v in values.items() if getattr(meeting, k) != v}
    if not changed:
        return False
    for name, value in changed.items():
        setattr(meeting, name, value)
    if "start" in changed:
        meeting.time_assumed = False
    _touch(session, meeting)
    return True


def _moved(config, meeting: Meeting, values: dict) -> dict:
    start = values.get("start")
    typed_time = isinstance(start, datetime)
    all_day = values.get("all_day", False if typed_time else meeting.all_day)
    if start is None:
        if all_day:
            start = dates.local_day(meeting.start, config.tz)
        elif meeting.all_day:
            day = dates.local_day(meeting.start, config.tz)
            raise MeetingError(_("Für einen Termin mit Uhrzeit geben Sie den Beginn an, z. B. %(day)s %(time)s")
                               % {"day": f"{day:%d.%m.%Y}", "time": config.schedule.meeting_time})
        else:
            start = meeting.start
    start, end = span(config, start, values.get("end"), all_day, keep=meeting)
    return {"start": start, "end": end, "all_day": all_day}


def cancel(session: Session, meeting: Meeting, now: datetime | None = None) -> None:
    if meeting.status == MeetingStatus.cancelled:
        raise MeetingError(_("Treffen %(id)s ist schon abgesagt") % {"id": meeting.id})
    if meeting.end <= (now or utcnow()):
        raise MeetingError(_("Treffen %(id)s ist vorbei; vergangene Treffen werden nicht abgesagt")
                           % {"id": meeting.id})
    meeting.status = MeetingStatus.cancelled
    _touch(session, meeting)


def confirm(session: Session, config, meeting: Meeting, at: time | None = None, now: datetime | None = None) -> None:
    """Confirm a proposed meeting; one whose time was only assumed needs the time (`at`) first."""
    if meeting.status != MeetingStatus.proposed:
        raise MeetingError(_("Treffen %(id)s ist nicht vorgeschlagen, sondern %(status)s")
                           % {"id": meeting.id, "status": meeting.status})
    if at is not None:
        day = meeting.start.astimezone(config.tz).date()
        start = datetime.combine(day, at, tzinfo=config.tz).astimezone(ZoneInfo("UTC"))
        edit(session, config, meeting, start=start, now=now)
    elif meeting.time_assumed:
        day = meeting.start.astimezone(config.tz)
        raise MeetingError(_("das Protokoll nannte nur den Tag von Treffen %(id)s (%(day)s); bestätigen Sie es "
                             "mit einer Uhrzeit, z. B. %(time)s") % {"id": meeting.id, "day": f"{day:%d.%m.%Y}",
                                                                   "time": f"{day:%H:%M}"})
    if meeting.start <= (now or utcnow()):
        raise MeetingError(_("Treffen %(id)s hat schon begonnen; es lässt sich nicht mehr bestätigen")
                           % {"id": meeting.id})
    meeting.status = MeetingStatus.confirmed
    _touch(session, meeting)


def _touch(session: Session, meeting: Meeting) -> None:
    meeting.sequence += 1
    meeting.updated_at = utcnow()
    session.add(meeting)
    session.flush()
    policies.mark_changed(session, meeting.alliance_id)


def propose_from_protocol(session: Session, config, message: InboundMessage) -> Meeting | None:
    """A filed protocol's next meeting becomes a proposed meeting of its group (confirmed at once if the
    group's policy says auto_confirm and the protocol gave a time). A correction (`corrects_meeting`) changes the
    group's own meeting on the day it corrects instead of proposing a second one. Returns the meeting proposed or
    changed, or None: no next meeting, no group, a date in the past, or the same meeting already known."""
    if message.kind != MessageKind.protocol or message.status != MessageStatus.filed or not message.group_id:
        return None
    group = session.get(Group, message.group_id)
    if group is None or not group.active:
        return None
    start, assumed = _next_start(config, message.next_meeting_start)
    if message.corrects_meeting is not None:
        corrected = _meeting_on(session, config, group, message.corrects_meeting)
        if corrected is not None:
            return _correct(session, config, corrected, start, assumed, message.next_meeting_location)
    if start is None or start <= utcnow():
        return None
    source = f"protocol:{message.id}"
    known = session.exec(select(Meeting).where(
        Meeting.group_id == group.id, Meeting.status != MeetingStatus.cancelled,
        sa.or_(Meeting.source == source, Meeting.start == start),
    )).first()
    if known is not None:
        return None
    alliance = session.get(Alliance, group.alliance_id)
    policy = policies.load(session, config, alliance).for_group(group.id)
    status = MeetingStatus.confirmed if policy.auto_confirm and not assumed else MeetingStatus.proposed
    return add(session, config, alliance, group.slug, start, location=message.next_meeting_location or "",
               status=status, source=source, time_assumed=assumed)


def _next_start(config, value: str | None) -> tuple[datetime | None, bool]:
    """A protocol's next meeting as aware UTC, and whether its time is only assumed (the protocol gave a day)."""
    if not value:
        return None, False
    try:
        if "T" in value or " " in value:
            naive = datetime.fromisoformat(value)
            return (naive if naive.tzinfo else naive.replace(tzinfo=config.tz)).astimezone(ZoneInfo("UTC")), False
        at = policies.parse_clock(config.schedule.meeting_time)
        return datetime.combine(date.fromisoformat(value), at, tzinfo=config.tz).astimezone(ZoneInfo("UTC")), True
    except ValueError:
        return None, False


def _meeting_on(session: Session, config, group: Group, day: date) -> Meeting | None:
    """The group's meeting on that local day that a correction may still change: not cancelled, not over."""
    return session.exec(select(Meeting).where(
        Meeting.group_id == group.id, Meeting.status != MeetingStatus.cancelled, Meeting.end > utcnow(),
        Meeting.start >= dates.day_start(day, config.tz),
        Meeting.start < dates.day_start(day + timedelta(days=1), config.tz),
    ).order_by(Meeting.start)).first()


def _correct(session: Session, config, meeting: Meeting, start: datetime | None, assumed: bool,
             location: str | None) -> Meeting | None:
    """Cancel the meeting (no new date), or move it and give it the new room, with the `cancel` and `edit` of a
    coordinator: the new SEQUENCE makes the plan send those invited a CANCEL or an update."""
    if start is None:
        cancel(session, meeting)
        return meeting
    if assumed:
        # "verschoben auf den 19.05.": the correction names the day only, the meeting keeps its time.
        day = dates.local_day(start, config.tz)
        start = day if meeting.all_day else datetime.combine(
            day, meeting.start.astimezone(config.tz).time(), tzinfo=config.tz).astimezone(ZoneInfo("UTC"))
    guessed = meeting.time_assumed
    try:
        changed = edit(session, config, meeting, start=start, location=location or None)
    except MeetingError:  # moved into the past: nothing to change
        return None
    if changed and assumed and guessed:
        meeting.time_assumed = True  # still the default time, to be confirmed with a time (`confirm`)
    return meeting if changed else None
