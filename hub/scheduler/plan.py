"""The send plan: from meetings, policies and what already went out → every send still to come.

Pure: plain data in, plain data out, no database and no clock of its own. `hub schedule list` shows
the plan; the runner turns each planned send into one APScheduler job and, when the job fires,
asks the plan again whether that send is still wanted.

Rules (times are local to the alliance, sends go out at the policy's `send_time`):
- invitation: `invitation_days` before a confirmed meeting; a meeting added later than that is
  invited at once. After a change of an invited meeting (new SEQUENCE) an update goes out at once.
- reminder: `reminder_days` before; dropped when the invitation itself goes out at or after that time.
- cancellation: at once, for a cancelled meeting whose invitation went out.
- protocol due: `protocol_due_days` after a meeting of a working group (kind `group`) when no protocol
  for it was filed, to the group's representative; once more `protocol_due_repeat_days` later.
- task reminder: `task_reminder_days` (of the task's group) before an open task's due date, at `send_time`, to
  its owner (a task with a partner); it expires at the end of the due day, so a task agreed later than that
  is reminded at once and one already due is not.
- newsletters: the `digest` and `report` crontabs; a digest on the day of a report is left out.
A send not made by its expiry (a meeting's start; the next newsletter, or `grace_hours`) is missed,
not made late: after downtime every missed occurrence runs at most once. A newsletter time before its crontab
applied (the alliance's start in the hub, a coordinator's change) was never due and is never made.
An all-day meeting starts at 00:00, before any send time: its sends of the first day still go out at
`send_time` that day and expire at its end, and protocols are due counting from its last day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.dates import parse_crontab
from hub.models import MeetingStatus
from hub.scheduler.policies import Policies, is_paused

PROTOCOL_WINDOW = timedelta(days=60)  # a protocol filed this long after a meeting without a date still counts
PROTOCOL_DUE_GRACE = timedelta(days=7)
NEWSLETTER_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class MeetingFacts:
    id: int
    group_id: int
    group_slug: str
    group_name: str
    group_kind: str
    title: str
    start: datetime
    end: datetime
    status: str
    sequence: int
    updated_at: datetime
    all_day: bool = False

    @property
    def deadline(self) -> datetime:
        """Until when an invitation, reminder or cancellation is still worth sending."""
        return self.end if self.all_day else self.start

    def last_day(self, tz: ZoneInfo) -> date:
        """The local day it ends on (an all-day meeting's end is 00:00 of the day after)."""
        end = self.end.astimezone(tz)
        return end.date() - timedelta(days=1) if self.all_day else end.date()


@dataclass(frozen=True)
class Sent:
    job: str
    occurrence: str
    due: datetime
    ran_at: datetime


@dataclass(frozen=True)
class Protocol:
    group_id: int
    meeting_date: date | None
    received_at: datetime


@dataclass(frozen=True)
class TaskFacts:
    """An open task with an owner (a partner) and a due date: all the plan needs of it."""

    id: int
    group_id: int
    group_slug: str
    group_name: str
    what: str
    due: date


@dataclass
class Inputs:
    meetings: list[MeetingFacts]
    policies: Policies
    sent: list[Sent] = field(default_factory=list)
    protocols: list[Protocol] = field(default_factory=list)
    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    newsletter_recipients: int = 0
    paused: list[str] = field(default_factory=list)
    newsletters: bool = True
    # Per newsletter crontab ("digest", "report"), since when it applies (the alliance's start in the hub, or the
    # coordinator's change of it): a time before that was never due, so it is never made late.
    newsletter_since: dict[str, datetime] = field(default_factory=dict)
    tasks: list[TaskFacts] = field(default_factory=list)  # open, with an owner and a due date


@dataclass(frozen=True)
class PlannedSend:
    job: str  # "meeting:12:invitation", "newsletter:digest"
    occurrence: str  # "seq3", "1", "2027-06-01"
    kind: str  # invitation | update | reminder | cancellation | protocol_due | task_reminder | newsletter
    due: datetime  # when it should go (aware UTC); may be in the past when it is late
    expires: datetime  # after this it is missed, not sent
    audience: str
    recipients: int
    meeting_id: int | None = None
    group: str | None = None
    title: str = ""
    paused: bool = False
    task_id: int | None = None

    @property
    def key(self) -> str:
        """The APScheduler job id and the outbox's dedupe prefix for this one occurrence."""
        return f"{self.job}@{self.occurrence}"

    def as_dict(self, tz: ZoneInfo) -> dict:
        return {
            "key": self.key, "job": self.job, "occurrence": self.occurrence, "kind": self.kind,
            "due": self.due.astimezone(tz).isoformat(), "expires": self.expires.astimezone(tz).isoformat(),
            "audience": self.audience, "recipients": self.recipients, "meeting": self.meeting_id,
            "group": self.group, "title": self.title, "paused": self.paused, "task": self.task_id,
        }


def at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(ZoneInfo("UTC"))


def build(inputs: Inputs, now: datetime, tz: ZoneInfo) -> list[PlannedSend]:
    """Every send still to come (including late ones not yet expired), sorted by due time."""
    sent: dict[str, dict[str, Sent]] = {}
    for s in inputs.sent:
        sent.setdefault(s.job, {})[s.occurrence] = s
    protocols: dict[int, list[Protocol]] = {}
    for p in inputs.protocols:
        protocols.setdefault(p.group_id, []).append(p)
    by_group: dict[int, list[MeetingFacts]] = {}
    for m in inputs.meetings:
        if m.status != MeetingStatus.cancelled:
            by_group.setdefault(m.group_id, []).append(m)
    for meetings in by_group.values():
        meetings.sort(key=lambda m: m.start)

    plan: list[PlannedSend] = []
    for meeting in inputs.meetings:
        plan += _meeting_sends(meeting, inputs, sent, protocols, by_group, now, tz)
    for task in inputs.tasks:
        plan += _task_sends(task, inputs, sent, tz)
    if inputs.newsletters:
        for name in ("report", "digest"):
            plan += _newsletter_sends(name, inputs, sent, now, tz)
    plan = [p for p in plan if p.expires > now]
    paused = set(inputs.paused)
    plan = [_paused(p) if is_paused(p.job, paused) else p for p in plan]
    return sorted(plan, key=lambda p: (p.due, p.job, p.occurrence))


def _paused(p: PlannedSend) -> PlannedSend:
    return PlannedSend(**{**p.__dict__, "paused": True})


def _audience(meeting: MeetingFacts) -> str:
    if meeting.group_kind == "plenum":
        return "alle Partner/innen"
    if meeting.group_kind == "coordination":
        return f"{meeting.group_name}: Vertreter/innen und Geschäftsstelle"
    return f"Mitglieder {meeting.group_name}"


def _meeting_sends(meeting, inputs, sent, protocols, by_group, now, tz) -> list[PlannedSend]:
    policy = inputs.policies.for_group(meeting.group_id)
    prefix = f"meeting:{meeting.id}"
    invitation_sent = sent.get(f"{prefix}:invitation", {})
    invitees = inputs.counts.get(("invitees", meeting.group_id), 0)
    common = {"meeting_id": meeting.id, "group": meeting.group_slug, "title": meeting.title,
              "audience": _audience(meeting), "recipients": invitees}
    out: list[PlannedSend] = []
    start_day = meeting.start.astimezone(tz).date()

    if meeting.status == MeetingStatus.cancelled:
        occurrence = f"seq{meeting.sequence}"
        if invitation_sent and occurrence not in sent.get(f"{prefix}:cancellation", {}):
            out.append(PlannedSend(job=f"{prefix}:cancellation", occurrence=occurrence, kind="cancellation",
                                   due=meeting.updated_at, expires=meeting.deadline, **common))
        return out
    if meeting.status != MeetingStatus.confirmed:
        return out

    occurrence = f"seq{meeting.sequence}"
    invite_due = at_local(start_day - timedelta(days=policy.invitation_days), policy.send_time, tz)
    invited_at: datetime | None = None
    if not invitation_sent:
        out.append(PlannedSend(job=f"{prefix}:invitation", occurrence=occurrence, kind="invitation",
                               due=invite_due, expires=meeting.deadline, **common))
        invited_at = max(invite_due, now)
    else:
        invited_at = min(s.ran_at for s in invitation_sent.values())
        if occurrence not in invitation_sent:
            out.append(PlannedSend(job=f"{prefix}:invitation", occurrence=occurrence, kind="update",
                                   due=meeting.updated_at, expires=meeting.deadline, **common))

    reminder_due = at_local(start_day - timedelta(days=policy.reminder_days), policy.send_time, tz)
    reminder_due = min(reminder_due, meeting.deadline)
    if invited_at < reminder_due and not sent.get(f"{prefix}:reminder"):
        out.append(PlannedSend(job=f"{prefix}:reminder", occurrence="1", kind="reminder",
                               due=reminder_due, expires=meeting.deadline, **common))

    if meeting.group_kind == "group" and not _protocol_filed(meeting, protocols, by_group, tz):
        end_day = meeting.last_day(tz)
        due_sent = sent.get(f"{prefix}:protocol-due", {})
        first = at_local(end_day + timedelta(days=policy.protocol_due_days), policy.send_time, tz)
        repeat = policy.protocol_due_repeat_days
        # From the local day, not `first + timedelta`: across a change of summer time that is an hour off.
        second = (at_local(end_day + timedelta(days=policy.protocol_due_days + repeat), policy.send_time, tz)
                  if repeat else None)
        common_due = {**common, "audience": f"Vertreter/in {meeting.group_name}",
                      "recipients": inputs.counts.get(("representatives", meeting.group_id), 0)}
        if "1" not in due_sent and not (second and "2" in due_sent):
            out.append(PlannedSend(job=f"{prefix}:protocol-due", occurrence="1", kind="protocol_due", due=first,
                                   expires=second or first + PROTOCOL_DUE_GRACE, **common_due))
        if second and "2" not in due_sent:
            out.append(PlannedSend(job=f"{prefix}:protocol-due", occurrence="2", kind="protocol_due", due=second,
                                   expires=second + PROTOCOL_DUE_GRACE, **common_due))
    return out


def _task_sends(task: TaskFacts, inputs, sent, tz) -> list[PlannedSend]:
    """The owner's reminder of one open task, once per due date (a due date moved later is reminded again)."""
    policy = inputs.policies.for_group(task.group_id)
    job, occurrence = f"task:{task.id}:reminder", task.due.isoformat()
    if occurrence in sent.get(job, {}):
        return []
    due = at_local(task.due - timedelta(days=policy.task_reminder_days), policy.send_time, tz)
    expires = at_local(task.due + timedelta(days=1), time(0, 0), tz)
    title = task.what if len(task.what) <= 60 else task.what[:59] + "…"
    return [PlannedSend(job=job, occurrence=occurrence, kind="task_reminder", due=due, expires=expires,
                        audience=f"Zuständige/r {task.group_name}", recipients=1, group=task.group_slug,
                        title=title, task_id=task.id)]


def _protocol_filed(meeting, protocols, by_group, tz) -> bool:
    """A protocol of the group dated the meeting's day, or undated and received after it (before the next one)."""
    day = meeting.start.astimezone(tz).date()
    later = [m.start for m in by_group.get(meeting.group_id, []) if m.start > meeting.start]
    until = min([*later, meeting.start + PROTOCOL_WINDOW])
    for p in protocols.get(meeting.group_id, []):
        if p.meeting_date == day:
            return True
        if p.meeting_date is None and meeting.start <= p.received_at < until:
            return True
    return False


def _newsletter_sends(name, inputs, sent, now, tz) -> list[PlannedSend]:
    expression = getattr(inputs.policies, name)
    trigger = parse_crontab(expression, tz)
    if trigger is None:
        return []
    grace = timedelta(hours=inputs.policies.grace_hours)
    report = parse_crontab(inputs.policies.report, tz) if name == "digest" else None
    report_days = {t.date() for t in _fires(report, now - grace, now + NEWSLETTER_HORIZON)} if report else set()
    since = inputs.newsletter_since.get(name)
    fires = [f for f in _fires(trigger, now - grace, now + NEWSLETTER_HORIZON) if since is None or f >= since]
    done = sent.get(f"newsletter:{name}", {})
    out = []
    for index, fire in enumerate(fires):
        occurrence = fire.date().isoformat()
        if occurrence in done or fire.date() in report_days:
            continue
        following = fires[index + 1] if index + 1 < len(fires) else trigger.get_next_fire_time(fire, fire)
        expires = min(fire + grace, following) if following else fire + grace
        out.append(PlannedSend(
            job=f"newsletter:{name}", occurrence=occurrence, kind="newsletter",
            due=fire.astimezone(ZoneInfo("UTC")), expires=expires.astimezone(ZoneInfo("UTC")),
            audience="Newsletter-Abonnent/innen", recipients=inputs.newsletter_recipients,
            title="Halbjahresbericht" if name == "report" else "Monatsrundbrief",
        ))
    return out


def missed_newsletters(inputs: Inputs, now: datetime, tz: ZoneInfo) -> list[tuple[str, str, datetime]]:
    """Newsletter times that passed while the hub was not running and lie beyond `grace_hours` now: (job,
    occurrence, due) of each, never made, to be noted once as missed. From the newest occurrence made (or the
    crontab's start) on, so that a long-gone time is not reported again at every start."""
    grace = timedelta(hours=inputs.policies.grace_hours)
    out = []
    for name in ("digest", "report"):
        trigger = parse_crontab(getattr(inputs.policies, name), tz)
        job = f"newsletter:{name}"
        made = [s.due for s in inputs.sent if s.job == job]
        floor = max([*made, inputs.newsletter_since.get(name, now - NEWSLETTER_HORIZON)]) + timedelta(seconds=1)
        if trigger is None or floor >= now - grace:
            continue
        report = parse_crontab(inputs.policies.report, tz) if name == "digest" else None
        report_days = {t.date() for t in _fires(report, floor, now - grace)} if report else set()
        done = {s.occurrence for s in inputs.sent if s.job == job}
        out += [(job, f.date().isoformat(), f.astimezone(ZoneInfo("UTC"))) for f in _fires(trigger, floor, now - grace)
                if f < now - grace and f.date().isoformat() not in done and f.date() not in report_days]
    return out


def _fires(trigger, since: datetime, until: datetime) -> list[datetime]:
    """A crontab's fire times in [since, until], local aware datetimes."""
    out: list[datetime] = []
    previous = None
    current = trigger.get_next_fire_time(None, since)
    while current is not None and current <= until:
        out.append(current)
        previous = current
        current = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
    return out
