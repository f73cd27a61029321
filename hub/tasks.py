"""Tasks a group agreed on, followed up: rows made from a filed protocol, closed by a later protocol ("erledigt:
Flyer"), by the owner's reply to a reminder, or by a coordinator (`hub tasks done|drop ID`, the web's button).
`hub tasks list` and the web's task page both call `listing`."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from hub import alliance as alliance_module
from hub import replies, task_store
from hub.addresses import address_key
from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError, NotFound
from hub.i18n import _
from hub.inbound.message import ParsedMessage
from hub.inbound.taskdone import done_items, names_task, says_done
from hub.models import GroupTask, InboundMessage, MessageStatus

OPEN, DONE, DROPPED = "open", "done", "dropped"


def record_from_protocol(session: Session, config: Config, message: InboundMessage) -> list[GroupTask]:
    """A protocol filed under a group: what it reports done closes the group's open tasks, what it agrees on
    becomes rows (once: following a protocol up again adds nothing)."""
    if message.status != MessageStatus.filed or message.group_id is None:
        return []
    # Closing what it reports done is idempotent; only its own rows must not be added twice.
    if message.tasks and task_store.of_message(session, message.id):
        return []
    alliance = alliance_module.current(session, config)
    _close_reported(session, message)
    rows = []
    for position, task in enumerate(message.tasks):
        owner = (task_store.partner_by_email(session, alliance.id, address_key(task["who_email"]))
                 if task.get("who_email") else None)
        row = GroupTask(alliance_id=alliance.id, group_id=message.group_id, message_id=message.id, position=position,
                        what=task.get("what") or "", who=task.get("who"), partner_id=owner.id if owner else None,
                        due=date.fromisoformat(task["due"]) if task.get("due") else None)
        session.add(row)
        rows.append(row)
    if rows:  # ids for the caller; a flush without rows would write the batch's earlier changes one by one
        session.flush()
    return rows


def _close_reported(session: Session, message: InboundMessage) -> None:
    reported = done_items(message.text)
    if not reported:
        return
    for task in task_store.open_of_group(session, message.group_id):
        if any(names_task(item, task.what) for item in reported):
            _close(task, DONE, f"protocol:{message.id}")
            session.add(task)


def listing(session: Session, config: Config, *, group: str | None = None, only_open: bool = False,
            overdue: bool = False, today: date | None = None) -> list[dict]:
    """Tasks as `hub tasks list --json` prints them; overdue: open and due before today (the alliance's day)."""
    alliance = alliance_module.current(session, config)
    group_id = None
    if group is not None:
        group_id = next((g.id for g in alliance_module.groups(session, alliance) if g.slug == group), None)
        if group_id is None:
            raise NotFound(_("unbekannte Gruppe %(slug)r; siehe `hub groups list`") % {"slug": group})
    today = today or utcnow().astimezone(config.tz).date()
    rows = task_store.listing(session, alliance.id, group_id=group_id,
                              state=OPEN if (only_open or overdue) else None,
                              due_before=today if overdue else None)
    return describe(session, rows, today)


def describe(session: Session, rows: list[GroupTask], today: date) -> list[dict]:
    groups, partners = task_store.names(session, rows)
    return [{
        "id": t.id, "group": groups[t.group_id].slug, "group_name": groups[t.group_id].name, "what": t.what,
        "who": t.who, "who_email": partners[t.partner_id].email if t.partner_id in partners else None,
        "due": t.due.isoformat() if t.due else None, "state": t.state,
        "overdue": t.state == OPEN and t.due is not None and t.due < today, "message_id": t.message_id,
        "closed_at": t.closed_at.isoformat() if t.closed_at else None, "closed_by": t.closed_by,
    } for t in rows]


def close(session: Session, config: Config, task_id: int, state: str = DONE, by: str = "cli") -> GroupTask:
    """Mark a task done or dropped; a task closed already stays as it was closed."""
    alliance = alliance_module.current(session, config)
    task = task_store.get(session, alliance.id, task_id)
    if task is None:
        raise NotFound(_("Aufgabe %(id)s gibt es nicht; siehe `hub tasks list`") % {"id": task_id})
    if task.state != OPEN:
        raise HubError(_("Aufgabe %(id)s ist schon geschlossen (%(state)s)") % {"id": task_id, "state": task.state})
    _close(task, state, by)
    session.add(task)
    return task


def _close(task: GroupTask, state: str, by: str) -> None:
    task.state, task.closed_at, task.closed_by = state, utcnow(), by


def close_by_reply(session: Session, config: Config, message: InboundMessage, parsed: ParsedMessage
                   ) -> GroupTask | None:
    """The owner answers a task reminder with "erledigt": the task is done. Only the owner's own mail counts:
    from the partner the reminder went to, with a sender check that did not fail (a forged From must not close
    anyone's task). Anything else is an ordinary reply (None)."""
    if message.sender_verified is False or message.partner_id is None or not says_done(parsed.text or ""):
        return None
    for delivery_id in replies.answered_deliveries(config, parsed):
        reminded = task_store.reminded_by(session, delivery_id)
        if reminded is None:
            continue
        task_id, partner_id = reminded
        task = session.get(GroupTask, task_id)
        if task is None or task.state != OPEN or partner_id != message.partner_id or task.partner_id != partner_id:
            return None
        _close(task, DONE, f"reply:{message.message_id or message.id}")
        session.add(task)
        return task
    return None

