"""The schedule: a timeline of meetings and every planned send; meetings, policies, pause and resume.

Every edit is tried first inside the request's transaction: the page shows how the send plan
(`hub.scheduler.plan`) changes — what will be sent, when and to how many — and rolls back. Only the
second POST, with `confirm=1`, keeps it. The edits themselves are `hub.scheduler.meetings` and
`hub.scheduler.policies`, the same functions as `hub meetings …` and `hub schedule …`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import select
from starlette.responses import Response

from hub import alliance as alliance_module
from hub.db import utcnow
from hub.errors import UsageError
from hub.models import Group, Meeting
from hub.scheduler import meetings, plan, policies, runner, sends
from hub.web.core import Ctx, Web

KIND_NAMES = {
    "invitation": "Einladung", "update": "Änderung", "reminder": "Erinnerung", "cancellation": "Absage",
    "protocol_due": "Protokoll-Erinnerung", "newsletter": "Newsletter",
}
TIMELINE = timedelta(days=120)  # newsletters are planned a year ahead; the page shows the next four months
POLICY_NAMES = {
    "invitation_days": "Einladung: Tage vor dem Treffen",
    "reminder_days": "Erinnerung: Tage vor dem Treffen",
    "protocol_due_days": "Protokoll-Erinnerung: Tage nach dem Treffen",
    "protocol_due_repeat_days": "noch einmal nach Tagen (0: nie)",
    "send_time": "Uhrzeit der Versendung",
    "auto_confirm": "Termine aus Protokollen ohne Prüfung bestätigen (yes/no)",
    "digest": "Monatsrundbrief (Crontab oder off)",
    "report": "Halbjahresbericht (Crontab oder off)",
    "imap_poll_seconds": "Postfach abrufen alle … Sekunden",
}


def register(web: Web) -> None:
    web.page("/schedule", schedule_page)
    web.action("/schedule/meetings/new", meeting_create)
    web.page("/schedule/meetings/{id:int}", meeting_page)
    web.action("/schedule/meetings/{id:int}", meeting_update)
    web.action("/schedule/meetings/{id:int}/cancel", meeting_cancel)
    web.action("/schedule/meetings/{id:int}/confirm", meeting_confirm)
    web.action("/schedule/policies", policy_set)
    web.action("/schedule/pause", pause)
    web.action("/schedule/run-now", run_now)


def planned(ctx: Ctx, now: datetime | None = None) -> list[plan.PlannedSend]:
    """The send plan as it stands in this transaction (what `hub schedule list` shows)."""
    return runner.current_plan(ctx.db, ctx.config, now or utcnow())


def upcoming_sends(ctx: Ctx, limit: int = 20) -> list[dict]:
    """The next planned sends for the dashboard: what, when, to how many."""
    return [describe_send(p) for p in planned(ctx) if not p.paused][:limit]


def describe_send(p: plan.PlannedSend) -> dict:
    title = f" – {p.title}" if p.title else ""
    return {"when": p.due, "what": f"{KIND_NAMES.get(p.kind, p.kind)}{title}", "audience": p.audience,
            "recipients": p.recipients, "paused": p.paused, "job": p.job, "key": p.key, "kind": p.kind,
            "meeting_id": p.meeting_id}


def schedule_page(ctx: Ctx) -> Response:
    now = utcnow()
    sends = [describe_send(p) for p in planned(ctx, now) if p.due < now + TIMELINE]
    rows = ctx.db.exec(select(Meeting, Group).join(Group, Group.id == Meeting.group_id).where(
        Meeting.alliance_id == ctx.alliance.id, Meeting.end > now).order_by(Meeting.start)).all()
    timeline = sorted(
        [{"when": m.start, "meeting": m, "group": g} for m, g in rows]
        + [{"when": s["when"], "send": s} for s in sends],
        key=lambda item: item["when"],
    )
    return ctx.render("schedule.html", timeline=timeline, groups=alliance_module.groups(ctx.db, ctx.alliance),
                      paused=policies.paused(ctx.db, ctx.alliance.id), policy_rows=_policy_rows(ctx),
                      policy_names=POLICY_NAMES, kinds=KIND_NAMES, defaults=_meeting_defaults(ctx))


def _meeting_defaults(ctx: Ctx) -> dict:
    return {"time": ctx.config.schedule.meeting_time, "minutes": ctx.config.schedule.meeting_minutes}


def _policy_rows(ctx: Ctx) -> list[dict]:
    overrides = policies.overrides(ctx.db, ctx.alliance.id)
    names = {g.id: g.name for g in alliance_module.groups(ctx.db, ctx.alliance, active_only=False)}
    base = policies.defaults(ctx.config)
    out = []
    for name in policies.SPECS:
        own = next((r for r in overrides if r.name == name and r.group_id is None), None)
        value = own.value if own else base[name]
        out.append({"name": name, "scope": "Bündnis", "value": _text(value),
                    "changed": own is not None})
        for row in overrides:
            if row.name == name and row.group_id is not None:
                out.append({"name": name, "scope": names.get(row.group_id, "?"), "value": row.value, "changed": True})
    return out


def _with_people(ctx: Ctx, send: plan.PlannedSend) -> dict:
    """A send with the names of whom it goes to (meeting mails; a newsletter says only how many)."""
    described = describe_send(send)
    if send.meeting_id is not None:
        group = ctx.db.get(Group, ctx.db.get(Meeting, send.meeting_id).group_id)
        people = (meetings.representatives if send.kind == "protocol_due" else meetings.invitees)(ctx.db, group)
        described["people"] = [p.name or p.email for p in people]
    return described


def _text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- the confirm step ----------------------------------------------------------------------------------


def _try(ctx: Ctx, change: Callable[[], str], action: str, target: str, done: str, back: str) -> Response:
    """Make the change, show what it does to the plan; keep it only with confirm=1."""
    before = {(p.key, p.due, p.recipients, p.paused): p for p in planned(ctx)}
    summary = change()
    after = {(p.key, p.due, p.recipients, p.paused): p for p in planned(ctx)}
    added = [_with_people(ctx, p) for k, p in sorted(after.items(), key=lambda i: i[1].due) if k not in before]
    dropped = [describe_send(p) for k, p in sorted(before.items(), key=lambda i: i[1].due) if k not in after]
    if ctx.value("confirm") != "1":
        ctx.db.rollback()
        fields = [(k, v) for k, v in ctx.form.multi_items() if k not in ("csrf", "confirm") and isinstance(v, str)]
        return ctx.render("schedule_confirm.html", summary=summary, added=added, dropped=dropped, fields=fields,
                          action=ctx.request.url.path, back=back)
    ctx.audit(action, target, summary=summary, planned=[f"{s['key']} {s['recipients']}" for s in added],
              dropped=[s["key"] for s in dropped])
    return ctx.redirect(back, flash=done)


def _start(ctx: Ctx) -> datetime:
    day, clock = ctx.value("date"), ctx.value("time")
    if not day or not clock:
        raise UsageError("Bitte geben Sie Datum und Uhrzeit an.")
    return meetings.parse_local(f"{day} {clock}", ctx.config.tz)


def _minutes(ctx: Ctx) -> int:
    try:
        minutes = int(ctx.value("minutes") or ctx.config.schedule.meeting_minutes)
    except ValueError:
        raise UsageError("Die Dauer bitte in Minuten angeben, etwa 120.") from None
    if not 15 <= minutes <= 24 * 60:
        raise UsageError("Die Dauer muss zwischen 15 Minuten und einem Tag liegen.")
    return minutes


def meeting_create(ctx: Ctx) -> Response:
    def change() -> str:
        start = _start(ctx)
        meeting = meetings.add(ctx.db, ctx.config, ctx.alliance, ctx.value("group"), start,
                               start + timedelta(minutes=_minutes(ctx)), location=ctx.value("location"),
                               agenda=ctx.value("agenda"), title=ctx.value("title"))
        return f"Neues Treffen: {meeting.title}"

    return _try(ctx, change, "meeting.add", f"group:{ctx.value('group')}", "Das Treffen ist eingetragen.",
                "/schedule")


def meeting_page(ctx: Ctx) -> Response:
    meeting = meetings.get(ctx.db, ctx.alliance, int(ctx.request.path_params["id"]))
    group = ctx.db.get(Group, meeting.group_id)
    sends = [describe_send(p) for p in planned(ctx) if p.meeting_id == meeting.id]
    local = meeting.start.astimezone(ctx.config.tz)
    return ctx.render("meeting.html", meeting=meeting, group=group, sends=sends, groups=alliance_module.groups(
        ctx.db, ctx.alliance), form={"date": local.strftime("%Y-%m-%d"), "time": local.strftime("%H:%M"),
                                     "minutes": int((meeting.end - meeting.start).total_seconds() // 60)})


def meeting_update(ctx: Ctx) -> Response:
    meeting = meetings.get(ctx.db, ctx.alliance, int(ctx.request.path_params["id"]))

    def change() -> str:
        start = _start(ctx)
        changed = meetings.edit(ctx.db, ctx.config, meeting, start=start, end=start + timedelta(minutes=_minutes(ctx)),
                                location=ctx.value("location"), agenda=ctx.value("agenda"), title=ctx.value("title"),
                                group=ctx.value("group") or None)
        return f"Treffen geändert: {meeting.title}" if changed else "Keine Änderung."

    return _try(ctx, change, "meeting.edit", f"meeting:{meeting.id}", "Das Treffen ist geändert.",
                f"/schedule/meetings/{meeting.id}")


def meeting_cancel(ctx: Ctx) -> Response:
    meeting = meetings.get(ctx.db, ctx.alliance, int(ctx.request.path_params["id"]))

    def change() -> str:
        meetings.cancel(ctx.db, meeting)
        return f"Absage: {meeting.title}"

    return _try(ctx, change, "meeting.cancel", f"meeting:{meeting.id}", "Das Treffen ist abgesagt.", "/schedule")


def meeting_confirm(ctx: Ctx) -> Response:
    meeting = meetings.get(ctx.db, ctx.alliance, int(ctx.request.path_params["id"]))

    def change() -> str:
        at = policies.parse_clock(ctx.value("time")) if ctx.value("time") else None
        meetings.confirm(ctx.db, ctx.config, meeting, at=at)
        return f"Bestätigt: {meeting.title}"

    return _try(ctx, change, "meeting.confirm", f"meeting:{meeting.id}", "Das Treffen ist bestätigt.",
                f"/schedule/meetings/{meeting.id}")


def policy_set(ctx: Ctx) -> Response:
    name, slug, value = ctx.value("name"), ctx.value("group"), ctx.value("value")
    group = meetings.group_by_slug(ctx.db, ctx.alliance, slug) if slug else None

    def change() -> str:
        stored = policies.set_policy(ctx.db, ctx.config, ctx.alliance, name, value or None, group=group)
        where = group.name if group else "das ganze Bündnis"
        label = POLICY_NAMES.get(name, name)
        return f"{label} für {where}: {stored}" if stored is not None else f"{label} für {where}: Standard"

    return _try(ctx, change, "schedule.policy", f"policy:{name}:{slug or '*'}", "Die Regel ist gespeichert.",
                "/schedule")


def pause(ctx: Ctx) -> Response:
    job, resume = ctx.value("job"), ctx.value("resume") == "1"
    if not job:
        raise UsageError("Welche Versendung? Es fehlt die Angabe.")

    def change() -> str:
        policies.set_paused(ctx.db, ctx.alliance.id, job, not resume)
        return f"{'Fortgesetzt' if resume else 'Angehalten'}: {job}"

    return _try(ctx, change, "schedule.resume" if resume else "schedule.pause", f"job:{job}",
                "Fortgesetzt." if resume else "Angehalten.", "/schedule")


def run_now(ctx: Ctx) -> Response:
    """Send one planned occurrence now (`hub schedule run-now`), after showing what and to whom."""
    key = ctx.value("key")
    send = next((p for p in planned(ctx) if p.key == key), None)
    if send is None:
        raise UsageError("Diese Versendung ist nicht (mehr) geplant.")
    if ctx.value("confirm") != "1":
        return ctx.render("schedule_confirm.html", summary=f"Jetzt senden: {describe_send(send)['what']}",
                          added=[{**_with_people(ctx, send), "when": utcnow()}], dropped=[], fields=[("key", key)],
                          action=ctx.request.url.path, back="/schedule")
    # The send opens its own transaction; on SQLite this request's must end first or the two would wait
    # on each other's write lock.
    ctx.db.commit()
    result = sends.execute(ctx.config, key, force=True)
    queued = result.queued if result else 0
    ctx.audit("schedule.run_now", f"job:{key}", queued=queued)
    return ctx.redirect("/schedule", flash=f"Verschickt: {queued} Mails sind im Postausgang." if result
                        else "Nichts verschickt: die Versendung war schon erledigt.")
