"""What a coordinator does with meetings and send policies, called by `hub meetings …`, `hub schedule policy …`
and the web's schedule pages. Times arrive parsed (each door reads what was typed in its own way); the rules
are `hub.scheduler.meetings` and `hub.scheduler.policies`, and a named group must exist.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel import Session

from hub import groups, queries
from hub.config import Config
from hub.db import utcnow
from hub.errors import NotFound
from hub.i18n import _
from hub.models import Alliance, Group, Meeting, MeetingStatus
from hub.scheduler import meetings, policies


def add(session: Session, config: Config, alliance: Alliance, group_slug: str, start: datetime | date,
        end: datetime | date | None = None, *, all_day: bool = False, location: str = "", agenda: str = "",
        title: str = "", proposed: bool = False) -> Meeting:
    """A meeting the coordinator enters: confirmed, or only proposed (nothing is sent until confirmed)."""
    groups.require(session, alliance, group_slug)
    return meetings.add(session, config, alliance, group_slug, start, end, location=location, agenda=agenda,
                        title=title, all_day=all_day,
                        status=MeetingStatus.proposed if proposed else MeetingStatus.confirmed)


def get(session: Session, alliance: Alliance, meeting_id: int) -> Meeting:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or meeting.alliance_id != alliance.id:
        raise NotFound(_("kein Treffen mit der Nummer %(id)s; siehe `hub meetings list`") % {"id": meeting_id})
    return meeting


def listing(session: Session, alliance: Alliance, include_past: bool = False,
            group: str | None = None) -> list[tuple[Meeting, Group]]:
    """Meetings with their group by start: those still to come and not cancelled, or with `include_past` all."""
    group_id = groups.require(session, alliance, group).id if group else None
    if include_past:
        return queries.meetings(session, alliance.id, group_id=group_id)
    return queries.meetings(session, alliance.id, ending_after=utcnow(), include_cancelled=False, group_id=group_id)


def edit(session: Session, config: Config, alliance: Alliance, meeting_id: int, **changes) -> tuple[Meeting, bool]:
    """Change what invitees see (they get an update); returns the meeting and whether anything changed."""
    if changes.get("group"):
        groups.require(session, alliance, changes["group"])
    meeting = get(session, alliance, meeting_id)
    return meeting, meetings.edit(session, config, meeting, **changes)


def cancel(session: Session, alliance: Alliance, meeting_id: int) -> Meeting:
    """Invitees already invited get a cancellation."""
    meeting = get(session, alliance, meeting_id)
    meetings.cancel(session, meeting)
    return meeting


def confirm(session: Session, config: Config, alliance: Alliance, meeting_id: int, at: time | None = None) -> Meeting:
    """A meeting a protocol proposed; `at` when the protocol gave only the day."""
    meeting = get(session, alliance, meeting_id)
    meetings.confirm(session, config, meeting, at=at)
    return meeting


def set_policy(session: Session, config: Config, alliance: Alliance, name: str, value: str | None,
               group_slug: str | None = None) -> str | None:
    """A send policy for the alliance or one group; None as the value returns to the default."""
    group = groups.require(session, alliance, group_slug) if group_slug else None
    return policies.set_policy(session, config, alliance, name, value, group)
