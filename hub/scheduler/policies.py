"""Send policies: when invitations, reminders, protocol-due reminders, task reminders and newsletters go out.

Defaults come from the `[schedule]` section of hub.toml (and a group's `auto_confirm`); the
coordinator overrides them for the whole alliance or for one group, stored in `SchedulePolicy` rows.
Every change raises the alliance's schedule version, which a running hub watches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from hub.dates import parse_clock, parse_crontab
from hub.db import utcnow
from hub.errors import UsageError
from hub.i18n import _
from hub.models import Alliance, Group, SchedulePolicy, ScheduleState


class PolicyError(UsageError):
    """A policy value the coordinator has to correct; one line saying how."""


@dataclass(frozen=True)
class Spec:
    kind: str  # days | clock | bool | crontab | seconds
    scope: str  # group: may differ per group | alliance: one value for all
    help: str


SPECS: dict[str, Spec] = {
    "invitation_days": Spec("days", "group", "invitation this many days before the meeting"),
    "reminder_days": Spec("days", "group", "reminder this many days before the meeting"),
    "protocol_due_days": Spec("days", "group", "protocol-due reminder this many days after, if no protocol came"),
    "protocol_due_repeat_days": Spec("days", "group", "once more this many days later (0: never)"),
    "task_reminder_days": Spec("days", "group", "task reminder to its owner this many days before it is due"),
    "send_time": Spec("clock", "group", "local time of day at which invitations and reminders go out"),
    "auto_confirm": Spec("bool", "group", "meetings proposed by a protocol are confirmed without the office"),
    "digest": Spec("crontab", "alliance", "monthly newsletter digest (crontab, local time, or off)"),
    "report": Spec("crontab", "alliance", "half-yearly report (crontab, local time, or off)"),
    "imap_poll_seconds": Spec("seconds", "alliance", "how often the IMAP mailbox is fetched"),
}
TRUE = {"yes", "ja", "true", "1", "on"}
FALSE = {"no", "nein", "false", "0", "off"}


@dataclass(frozen=True)
class GroupPolicy:
    """The policies in force for one group's meetings."""

    invitation_days: int
    reminder_days: int
    protocol_due_days: int
    protocol_due_repeat_days: int
    send_time: time
    auto_confirm: bool
    task_reminder_days: int = 3


@dataclass
class Policies:
    """Everything in force: alliance-wide values and each group's (group id → GroupPolicy)."""

    digest: str
    report: str
    imap_poll_seconds: int
    grace_hours: int
    meeting_time: time
    meeting_minutes: int
    default: GroupPolicy
    groups: dict[int, GroupPolicy] = field(default_factory=dict)

    def for_group(self, group_id: int) -> GroupPolicy:
        return self.groups.get(group_id, self.default)


def defaults(config, group_slug: str | None = None) -> dict[str, object]:
    """The config's value of every policy (as the text a coordinator would type)."""
    s = config.schedule
    group = config.group_by_slug(group_slug) if group_slug else None
    return {
        "invitation_days": s.invitation_days,
        "reminder_days": s.reminder_days,
        "protocol_due_days": s.protocol_due_days,
        "protocol_due_repeat_days": s.protocol_due_repeat_days,
        "task_reminder_days": s.task_reminder_days,
        "send_time": s.send_time,
        "auto_confirm": bool(group and group.auto_confirm),
        "digest": s.digest,
        "report": s.report,
        "imap_poll_seconds": config.imap.poll_interval if config.imap else 120,
    }


def _unknown(name: str) -> PolicyError:
    return PolicyError(_("unbekannte Regel %(name)r; möglich sind %(names)s")
                       % {"name": name, "names": ", ".join(SPECS)})


def normalise(name: str, value: str, tz: ZoneInfo | None = None) -> str:
    """Check one value and return it in its stored form; raises PolicyError with the fix."""
    spec = SPECS.get(name)
    if spec is None:
        raise _unknown(name)
    text = str(value).strip()
    if spec.kind in ("days", "seconds"):
        try:
            number = int(text)
        except ValueError:
            raise PolicyError(_("%(name)s: %(value)r ist keine ganze Zahl") % {"name": name, "value": text}) from None
        if spec.kind == "days" and number < 0:
            raise PolicyError(_("%(name)s: %(number)s würde nach dem Treffen senden; nehmen Sie 0 oder mehr Tage")
                              % {"name": name, "number": number})
        if spec.kind == "seconds" and number < 10:
            raise PolicyError(_("%(name)s: %(number)s ist zu oft; nehmen Sie 10 Sekunden oder mehr")
                              % {"name": name, "number": number})
        return str(number)
    if spec.kind == "bool":
        if text.lower() in TRUE:
            return "yes"
        if text.lower() in FALSE:
            return "no"
        raise PolicyError(_("%(name)s: %(value)r muss yes oder no sein") % {"name": name, "value": text})
    try:
        if spec.kind == "clock":
            return parse_clock(text).strftime("%H:%M")
        parse_crontab(text, tz)
        return text
    except ValueError as exc:
        raise PolicyError(f"{name}: {exc}") from None


def _typed(name: str, text: str):
    kind = SPECS[name].kind
    if kind in ("days", "seconds"):
        return int(text)
    if kind == "bool":
        return text.lower() in TRUE
    if kind == "clock":
        return parse_clock(text)
    return text


def _group_policy(values: dict[str, object]) -> GroupPolicy:
    return GroupPolicy(
        invitation_days=int(values["invitation_days"]),
        reminder_days=int(values["reminder_days"]),
        protocol_due_days=int(values["protocol_due_days"]),
        protocol_due_repeat_days=int(values["protocol_due_repeat_days"]),
        send_time=values["send_time"] if isinstance(values["send_time"], time) else parse_clock(values["send_time"]),
        auto_confirm=bool(values["auto_confirm"]),
        task_reminder_days=int(values["task_reminder_days"]),
    )


def overrides(session: Session, alliance_id: int) -> list:
    return list(session.exec(select(SchedulePolicy).where(SchedulePolicy.alliance_id == alliance_id)))


def load(session: Session, config, alliance) -> Policies:
    """The policies in force: config defaults, then alliance-wide overrides, then each group's."""
    rows = overrides(session, alliance.id)
    alliance_wide = {r.name: _typed(r.name, r.value) for r in rows if r.group_id is None and r.name in SPECS}
    base = {**defaults(config), **alliance_wide}
    groups = {}
    for group in session.exec(select(Group).where(Group.alliance_id == alliance.id)):
        own = {r.name: _typed(r.name, r.value) for r in rows if r.group_id == group.id and r.name in SPECS}
        config_group = config.group_by_slug(group.slug)
        auto = {"auto_confirm": bool(config_group and config_group.auto_confirm)}
        if "auto_confirm" in alliance_wide:
            auto = {"auto_confirm": alliance_wide["auto_confirm"]}
        groups[group.id] = _group_policy({**base, **auto, **own})
    return Policies(
        digest=str(base["digest"]),
        report=str(base["report"]),
        imap_poll_seconds=int(base["imap_poll_seconds"]),
        grace_hours=config.schedule.grace_hours,
        meeting_time=parse_clock(config.schedule.meeting_time),
        meeting_minutes=config.schedule.meeting_minutes,
        default=_group_policy(base),
        groups=groups,
    )


def check(policy: GroupPolicy, where: str) -> None:
    if policy.reminder_days > policy.invitation_days:
        raise PolicyError(_(
            "%(where)s: reminder_days (%(reminder)s) ist größer als invitation_days (%(invitation)s): die "
            "Erinnerung käme vor der Einladung") % {"where": where, "reminder": policy.reminder_days,
                                                     "invitation": policy.invitation_days})


def set_policy(session: Session, config, alliance, name: str, value: str | None, group=None) -> str | None:
    """Set (or with value None, remove) an override; returns the stored value. Bumps the schedule version."""
    spec = SPECS.get(name)
    if spec is None:
        raise _unknown(name)
    if group is not None and spec.scope != "group":
        raise PolicyError(_("%(name)s gilt für das ganze Bündnis; setzen Sie es ohne --group") % {"name": name})
    stored = None if value is None else normalise(name, value, config.tz)
    group_id = group.id if group is not None else None
    row = session.exec(select(SchedulePolicy).where(
        SchedulePolicy.alliance_id == alliance.id, SchedulePolicy.group_id == group_id, SchedulePolicy.name == name
    )).first()
    if stored is None:
        if row is not None:
            session.delete(row)
    else:
        row = row or SchedulePolicy(alliance_id=alliance.id, group_id=group_id, name=name, value=stored)
        row.value, row.updated_at = stored, utcnow()
        session.add(row)
    session.flush()
    policies = load(session, config, alliance)
    check(policies.default, "alliance")
    for gid, policy in policies.groups.items():
        check(policy, f"group {gid}" if group is None or gid != group.id else f"group {group.slug}")
    mark_changed(session, alliance.id)
    return stored


def mark_changed(session: Session, alliance_id: int) -> int:
    """Raise the schedule version so a running hub re-derives its jobs within a second."""
    state = session.get(ScheduleState, alliance_id, with_for_update=True)
    if state is None:
        state = ScheduleState(alliance_id=alliance_id, version=0)
    state.version += 1
    state.changed_at = utcnow()
    session.add(state)
    session.flush()
    return state.version


def version(session: Session, alliance_id: int) -> int:
    state = session.get(ScheduleState, alliance_id)
    return state.version if state else 0


def versions(session: Session) -> dict[str, int]:
    """Every alliance's schedule version by its domain, in one query (an unscoped session)."""
    rows = session.exec(select(Alliance.domain, ScheduleState.version)
                        .join(ScheduleState, ScheduleState.alliance_id == Alliance.id, isouter=True))
    return {domain: version or 0 for domain, version in rows}


def paused(session: Session, alliance_id: int) -> list[str]:
    state = session.get(ScheduleState, alliance_id)
    return list(state.paused) if state else []


def set_paused(session: Session, alliance_id: int, job: str, pause: bool) -> list[str]:
    state = session.get(ScheduleState, alliance_id, with_for_update=True) or ScheduleState(alliance_id=alliance_id)
    jobs = [j for j in state.paused if j != job]
    if pause:
        jobs.append(job)
    state.paused = sorted(jobs)
    session.add(state)
    session.flush()
    mark_changed(session, alliance_id)
    return state.paused


def is_paused(job: str, paused_jobs: list[str] | set[str]) -> bool:
    """A pause holds for the job itself and everything under it: "meeting:12" pauses all of meeting 12."""
    return any(p == "all" or job == p or job.startswith(p + ":") for p in paused_jobs)
