"""What the schedule is planned from, read from the database: the alliance's meetings, the sends made, the
protocols that came in, the policies, the open tasks (`gather`, a few bulk queries: 5,000 meetings must not mean
5,000 queries), and what tells the runner that the plan must be made again (`settings_signature`,
`touched_meetings`). The plan itself is the pure `hub.scheduler.plan.build`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub.config import Config
from hub.db import utcnow
from hub.models import Group, GroupTask, InboundMessage, Meeting, MessageKind, MessageStatus, ScheduledSend
from hub.scheduler import audience, plan, policies


def gather(session: Session, config: Config, alliance, meeting_ids: list[int] | None = None,
           newsletters: bool = True, counts: bool = True) -> plan.Inputs:
    """Read what the plan needs, in a few bulk queries (5,000 meetings must not mean 5,000 queries)."""
    groups = {g.id: g for g in session.exec(select(Group).where(Group.alliance_id == alliance.id))}
    query = select(Meeting).where(Meeting.alliance_id == alliance.id)
    if meeting_ids is not None:
        query = query.where(Meeting.id.in_(meeting_ids))
    rows = session.exec(query).all()
    facts = [
        plan.MeetingFacts(
            id=m.id, group_id=m.group_id, group_slug=groups[m.group_id].slug, group_name=groups[m.group_id].name,
            group_kind=groups[m.group_id].kind, title=m.title, start=m.start, end=m.end, status=m.status,
            sequence=m.sequence, updated_at=m.updated_at, all_day=m.all_day,
        )
        for m in rows
    ]
    sent_query = select(ScheduledSend).where(ScheduledSend.alliance_id == alliance.id)
    if meeting_ids is not None:
        sent_query = sent_query.where(sa.or_(ScheduledSend.meeting_id.in_(meeting_ids),
                                             ScheduledSend.job.like("newsletter:%"), ScheduledSend.job.like("task:%")))
    sent = [plan.Sent(s.job, s.occurrence, s.due, s.ran_at) for s in session.exec(sent_query)]
    group_ids = {m.group_id for m in facts}
    protocol_rows = session.exec(
        select(InboundMessage.group_id, InboundMessage.meeting_date, InboundMessage.received_at).where(
            InboundMessage.kind == MessageKind.protocol,
            InboundMessage.status.in_((MessageStatus.filed, MessageStatus.held)),
            InboundMessage.group_id.in_(group_ids),
        )
    ).all() if group_ids else []
    protocols = [plan.Protocol(g, d, r) for g, d, r in protocol_rows]
    return plan.Inputs(
        meetings=facts,
        policies=policies.load(session, config, alliance),
        sent=sent,
        protocols=protocols,
        counts=audience.audience_counts(session, alliance) if counts else {},
        newsletter_recipients=audience.newsletter_count(session, alliance) if counts else 0,
        paused=policies.paused(session, alliance.id),
        newsletters=newsletters,
        newsletter_since=_newsletter_since(session, alliance),
        tasks=_open_tasks(session, alliance, groups),
    )


def _open_tasks(session: Session, alliance, groups: dict[int, Group]) -> list[plan.TaskFacts]:
    """Open tasks with an owner and a due date (the few a reminder can go to), in one query."""
    rows = session.exec(select(GroupTask).where(
        GroupTask.alliance_id == alliance.id, GroupTask.state == "open", GroupTask.partner_id.is_not(None),
        GroupTask.due.is_not(None))).all()
    return [plan.TaskFacts(id=t.id, group_id=t.group_id, group_slug=groups[t.group_id].slug,
                           group_name=groups[t.group_id].name, what=t.what, due=t.due)
            for t in rows if t.group_id in groups]


def _newsletter_since(session: Session, alliance) -> dict[str, datetime]:
    since = {name: alliance.created_at for name in ("digest", "report")}
    for row in policies.overrides(session, alliance.id):
        if row.group_id is None and row.name in since:
            since[row.name] = max(since[row.name], row.updated_at)
    return since


def current_plan(session: Session, config: Config, now: datetime | None = None, counts: bool = True
                 ) -> list[plan.PlannedSend]:
    alliance = alliance_module.current(session, config)
    return plan.build(gather(session, config, alliance, counts=counts), now or utcnow(), config.tz)


def settings_signature(session: Session, alliance_id: int) -> tuple:
    """Policies and pauses as one comparable value: when it changes, every meeting is planned afresh."""
    rows = sorted((r.group_id or 0, r.name, r.value) for r in policies.overrides(session, alliance_id))
    return tuple(rows), tuple(policies.paused(session, alliance_id))


def touched_meetings(session: Session, alliance_id: int, since: datetime) -> list[int]:
    """Meetings added or changed, or with a send made, since `since`."""
    changed = session.exec(select(Meeting.id).where(Meeting.alliance_id == alliance_id,
                                                    Meeting.updated_at >= since)).all()
    sent = session.exec(select(ScheduledSend.meeting_id).where(
        ScheduledSend.alliance_id == alliance_id, ScheduledSend.ran_at >= since, ScheduledSend.meeting_id.is_not(None)
    )).all()
    return sorted(set(changed) | set(sent))
