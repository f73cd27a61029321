"""The rows of tasks: what the tasks use case (hub/tasks.py), the scheduler's inputs and the invitation read.

Store level: only the models and SQL."""

from __future__ import annotations

import re
from datetime import date

from sqlmodel import Session, select

from hub.models import Delivery, Group, GroupTask, OutboundMail, Partner

_REMINDER_REF = re.compile(r"^schedule:task:(\d+):reminder@")  # the source_ref hub/sends.py gives a reminder


def of_message(session: Session, message_id: int) -> list[GroupTask]:
    return list(session.exec(select(GroupTask).where(GroupTask.message_id == message_id)))


def listing(session: Session, alliance_id: int, *, group_id: int | None = None, state: str | None = None,
            due_before: date | None = None) -> list[GroupTask]:
    """Tasks, those due first (undated last), then in the order they were agreed."""
    query = select(GroupTask).where(GroupTask.alliance_id == alliance_id)
    if group_id is not None:
        query = query.where(GroupTask.group_id == group_id)
    if state is not None:
        query = query.where(GroupTask.state == state)
    if due_before is not None:
        query = query.where(GroupTask.due.is_not(None), GroupTask.due < due_before)
    return list(session.exec(query.order_by(GroupTask.due.is_(None), GroupTask.due, GroupTask.id)))


def open_of_group(session: Session, group_id: int) -> list[GroupTask]:
    return list(session.exec(select(GroupTask).where(GroupTask.group_id == group_id, GroupTask.state == "open")
                             .order_by(GroupTask.due.is_(None), GroupTask.due, GroupTask.id)))


def get(session: Session, alliance_id: int, task_id: int) -> GroupTask | None:
    task = session.get(GroupTask, task_id)
    return task if task is not None and task.alliance_id == alliance_id else None


def partner_by_email(session: Session, alliance_id: int, email_key: str) -> Partner | None:
    return session.exec(select(Partner).where(Partner.alliance_id == alliance_id, Partner.email_key == email_key,
                                              Partner.left_at.is_(None))).first()


def names(session: Session, tasks: list[GroupTask]) -> tuple[dict[int, Group], dict[int, Partner]]:
    """The groups and owners of these tasks, by id, in two queries."""
    group_ids = {t.group_id for t in tasks}
    partner_ids = {t.partner_id for t in tasks if t.partner_id is not None}
    groups = {g.id: g for g in session.exec(select(Group).where(Group.id.in_(group_ids)))} if group_ids else {}
    partners = ({p.id: p for p in session.exec(select(Partner).where(Partner.id.in_(partner_ids)))}
                if partner_ids else {})
    return groups, partners


def reminded_by(session: Session, delivery_id: int) -> tuple[int, int | None] | None:
    """(task id, partner id) when this delivery is a task reminder, else None."""
    row = session.exec(select(OutboundMail.source_ref, Delivery.partner_id)
                       .join(OutboundMail, OutboundMail.id == Delivery.mail_id)
                       .where(Delivery.id == delivery_id, OutboundMail.kind == "task_reminder")).first()
    if row is None or not (found := _REMINDER_REF.match(row[0] or "")):
        return None
    return int(found.group(1)), row[1]

