"""Task follow-up (issue 16): the owner's reminder before a task is due (policy `task_reminder_days`, per group),
queued once to the owner only, shown in `hub schedule list`; the next invitation lists the group's open tasks
under "Offene Aufgaben". The plan tests are pure; the rest run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import select
from test_tasks import mail as protocol_mail

from hub import alliance as alliance_module
from hub import filing, meetings_actions, sends, tasks
from hub.models import Delivery, GroupTask, OutboundMail
from hub.scheduler import facts, plan, policies
from hub.scheduler.policies import GroupPolicy, Policies

BERLIN = ZoneInfo("Europe/Berlin")
WEISS = "j.weiss@gesundheitsamt-musterhausen.example"
YILMAZ = "a.yilmaz@awo-musterhausen.example"
FILED_AT = datetime(2026, 12, 10, 10, 0, tzinfo=BERLIN)

PROTOCOL = """Ergebnisprotokoll der Sitzung vom 08.12.2026

Wer übernimmt was?
- Flyer drucken: Frau Yılmaz bis 15.01.
- Raum buchen: Vertretung (bis 22.01.)
- Getränke besorgen: Frau Schmidt
"""


# --- the plan (pure) -------------------------------------------------------------------------------------


def _policies(days: int = 3, group_days: dict[int, int] | None = None) -> Policies:
    base = GroupPolicy(invitation_days=14, reminder_days=2, protocol_due_days=7, protocol_due_repeat_days=7,
                       send_time=time(9, 0), auto_confirm=False, task_reminder_days=days)
    groups = {gid: replace(base, task_reminder_days=d) for gid, d in (group_days or {}).items()}
    return Policies(digest="off", report="off", imap_poll_seconds=120, grace_hours=6, meeting_time=time(18, 0),
                    meeting_minutes=120, default=base, groups=groups)


def _task(task_id: int = 7, group_id: int = 1, due: date = date(2027, 1, 15)) -> plan.TaskFacts:
    return plan.TaskFacts(id=task_id, group_id=group_id, group_slug=f"g{group_id}", group_name=f"AG {group_id}",
                          what="Flyer drucken", due=due)


def _plan(tasks_: list[plan.TaskFacts], now: datetime, pol: Policies | None = None, sent=()) -> list[plan.PlannedSend]:
    inputs = plan.Inputs(meetings=[], policies=pol or _policies(), newsletters=False, tasks=tasks_, sent=list(sent))
    return plan.build(inputs, now, BERLIN)


def test_plan_reminds_the_owner_days_before_due_at_send_time():
    now = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    [send] = _plan([_task()], now)
    assert send.kind == "task_reminder" and send.job == "task:7:reminder" and send.task_id == 7
    assert send.due == datetime(2027, 1, 12, 9, 0, tzinfo=BERLIN)  # due − 3 days, 09:00 local
    assert send.expires == datetime(2027, 1, 16, 0, 0, tzinfo=BERLIN)  # the end of the due day
    assert send.recipients == 1 and send.title == "Flyer drucken" and send.group == "g1"
    assert send.as_dict(BERLIN)["task"] == 7


def test_plan_is_per_group_policy_and_later_tasks_are_reminded_at_once():
    now = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    sends_ = _plan([_task(1, group_id=1), _task(2, group_id=2)], now, _policies(3, {2: 7}))
    by_task = {s.task_id: s.due for s in sends_}
    assert by_task == {1: datetime(2027, 1, 12, 9, 0, tzinfo=BERLIN), 2: datetime(2027, 1, 8, 9, 0, tzinfo=BERLIN)}
    late = datetime(2027, 1, 14, 15, 0, tzinfo=UTC)  # after due − 3 days, before the due day ended: still wanted
    assert [s.task_id for s in _plan([_task()], late)] == [7]
    assert _plan([_task()], datetime(2027, 1, 15, 23, 30, tzinfo=UTC)) == []  # the due day is over: expired


def test_plan_sends_each_reminder_once_and_nothing_for_closed_tasks():
    now = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    done = plan.Sent("task:7:reminder", "2027-01-15", now, now)
    assert _plan([_task()], now, sent=[done]) == []
    assert [s.occurrence for s in _plan([_task(due=date(2027, 1, 29))], now, sent=[done])] == ["2027-01-29"]
    assert _plan([], now) == []  # a closed task is not among the inputs (gather reads open tasks only)


# --- with a database --------------------------------------------------------------------------------------


@pytest.fixture
def owned(config, partners, session):
    """The protocol's tasks as rows: Flyer (Frau Yılmaz, 15.01.), Raum (Dr. Weiß, 22.01.), Getränke (no owner)."""
    with time_machine.travel(FILED_AT, tick=True):
        assert filing.ingest_bytes(config, protocol_mail(PROTOCOL, FILED_AT, 1)).status == "filed"
    session.expire_all()
    return {t.what: t for t in session.exec(select(GroupTask))}


def _task_sends(session, config, now) -> list[plan.PlannedSend]:
    return [p for p in facts.current_plan(session, config, now) if p.kind == "task_reminder"]


def test_gather_plans_open_owned_dated_tasks_with_the_group_policy(owned, session, config):
    now = FILED_AT.astimezone(UTC)
    flyer, room = owned["Flyer drucken"], owned["Raum buchen"]
    assert {p.job: p.due for p in _task_sends(session, config, now)} == {
        f"task:{flyer.id}:reminder": datetime(2027, 1, 12, 9, 0, tzinfo=BERLIN),
        f"task:{room.id}:reminder": datetime(2027, 1, 19, 9, 0, tzinfo=BERLIN)}
    alliance = alliance_module.current(session, config)
    group = next(g for g in alliance_module.groups(session, alliance) if g.slug == "gesundheit")
    policies.set_policy(session, config, alliance, "task_reminder_days", "5", group=group)
    tasks.close(session, config, room.id)
    session.commit()
    assert {p.job: p.due for p in _task_sends(session, config, now)} == {
        f"task:{flyer.id}:reminder": datetime(2027, 1, 10, 9, 0, tzinfo=BERLIN)}


def test_reminder_is_queued_once_to_the_owner_only(owned, session, config):
    flyer = owned["Flyer drucken"]
    key = f"task:{flyer.id}:reminder@2027-01-15"
    with time_machine.travel(datetime(2027, 1, 12, 9, 0, 1, tzinfo=BERLIN), tick=True):
        assert sends.execute(config, key) is not None
        assert sends.execute(config, key) is None  # made already: the plan wants it no more
        assert sends.execute(config, key, force=True) is None
    session.expire_all()
    rows = session.exec(select(Delivery, OutboundMail).join(OutboundMail, OutboundMail.id == Delivery.mail_id)
                        .where(OutboundMail.kind == "task_reminder")).all()
    assert len(rows) == 1
    delivery, mail = rows[0]
    assert delivery.recipient == YILMAZ and delivery.partner_id == flyer.partner_id
    assert YILMAZ not in delivery.dedupe_key and delivery.dedupe_key.startswith(f"schedule:{key}|")
    assert "Flyer drucken" in mail.subject and "15.01.2027" in mail.subject
    assert "Freitag, 15. Januar 2027" in mail.text and "„erledigt“" in mail.text


def test_schedule_list_shows_the_task_reminder(owned, hub_in_process):
    flyer = owned["Flyer drucken"]
    with time_machine.travel(FILED_AT, tick=True):
        listed = json.loads(hub_in_process("schedule", "list", "--json").stdout)
        table = hub_in_process("schedule", "list").stdout
        shown = hub_in_process("schedule", "policy", "show")
    mine = [p for p in listed if p["kind"] == "task_reminder"]
    assert [p["job"] for p in mine][0] == f"task:{flyer.id}:reminder"
    assert mine[0]["due"] == "2027-01-12T09:00:00+01:00" and mine[0]["recipients"] == 1
    assert "task_reminder" in table and "Flyer drucken (gesundheit)" in table
    assert "task_reminder_days" in shown.stdout and shown.returncode == 0


def test_web_schedule_labels_the_task_reminder():
    from hub.web.labels import label
    assert label("task_reminder", "send") == "Aufgaben-Erinnerung"


def test_next_invitation_lists_the_groups_open_tasks(owned, session, config):
    tasks.close(session, config, owned["Raum buchen"].id)
    session.commit()
    with time_machine.travel(datetime(2027, 1, 5, 12, 0, tzinfo=BERLIN), tick=True):
        alliance = alliance_module.current(session, config)
        meeting = meetings_actions.add(session, config, alliance, "gesundheit",
                                       datetime(2027, 2, 17, 18, 0, tzinfo=BERLIN), location="Rathaus")
        session.commit()
        result = sends.execute(config, f"meeting:{meeting.id}:invitation@seq{meeting.sequence}", force=True)
    assert result is not None and result.queued
    session.expire_all()
    mails = session.exec(select(OutboundMail).where(OutboundMail.kind == "invitation")).all()
    assert mails
    for mail in mails:
        listed = mail.text.split("Offene Aufgaben:" if "Offene Aufgaben" in mail.text else "Open tasks:")[1]
        assert "- Flyer drucken (Frau Yılmaz), bis 15.01.2027" in listed or "- Flyer drucken (Frau Yılmaz), until" \
            in listed
        assert "Getränke besorgen (Frau Schmidt)" in listed
        assert "Raum buchen" not in mail.text  # done: no longer open
        assert "Flyer drucken" in mail.html
