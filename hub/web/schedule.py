"""The schedule: a timeline of meetings and every planned send; meetings, policies, pause and resume.

Every edit is tried first inside the request's transaction: the page shows how the send plan
(`hub.scheduler.plan`) changes — what will be sent, when and to how many — and rolls back. Only the
second POST, with `confirm=1`, keeps it. The edits themselves are `hub.scheduler.meetings` and
`hub.scheduler.policies`, the same functions as `hub meetings …` and `hub schedule …`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from starlette.responses import Response

from hub import alliance as alliance_module
from hub import dates, groups, meetings_actions, queries, rsvp, sends
from hub.db import utcnow
from hub.errors import UsageError
from hub.i18n import _, lazy, ngettext
from hub.models import Group, Meeting
from hub.scheduler import audience, facts, plan, policies
from hub.web.core import Ctx, Web
from hub.web.labels import label, yes_no

TIMELINE = timedelta(days=120)  # newsletters are planned a year ahead; the page shows the next four months
POLICY_NAMES = {
    "invitation_days": lazy("Einladung: Tage vor dem Treffen"),
    "reminder_days": lazy("Erinnerung: Tage vor dem Treffen"),
    "protocol_due_days": lazy("Protokoll-Erinnerung: Tage nach dem Treffen"),
    "protocol_due_repeat_days": lazy("noch einmal nach Tagen (0: nie)"),
    "task_reminder_days": lazy("Aufgaben-Erinnerung: Tage vor dem Termin der Aufgabe"),
    "send_time": lazy("Uhrzeit der Versendung"),
    "auto_confirm": lazy("Termine aus Protokollen ohne Prüfung bestätigen (ja/nein)"),
    "digest": lazy("Monatsrundbrief (Crontab, etwa 0 9 1 * *, oder aus)"),
    "report": lazy("Halbjahresbericht (Crontab oder aus)"),
    "imap_poll_seconds": lazy("Postfach abrufen alle … Sekunden"),
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
    return facts.current_plan(ctx.db, ctx.config, now or utcnow())


def upcoming_sends(ctx: Ctx, limit: int = 20) -> list[dict]:
    """The next planned sends for the dashboard: what, when, to how many."""
    return [describe_send(p) for p in planned(ctx) if not p.paused][:limit]


def describe_send(p: plan.PlannedSend) -> dict:
    title = f" – {p.title}" if p.title else ""
    return {"when": p.due, "what": f"{label(p.kind, 'send')}{title}", "audience": p.audience,
            "recipients": p.recipients, "paused": p.paused, "job": p.job, "key": p.key, "kind": p.kind,
            "meeting_id": p.meeting_id}


def schedule_page(ctx: Ctx) -> Response:
    now = utcnow()
    sends = [describe_send(p) for p in planned(ctx, now) if p.due < now + TIMELINE]
    rows = queries.meetings(ctx.db, ctx.alliance.id, ending_after=now)
    timeline = sorted(
        [{"when": m.start, "meeting": m, "group": g} for m, g in rows]
        + [{"when": s["when"], "send": s} for s in sends],
        key=lambda item: item["when"],
    )
    return ctx.render("schedule.html", timeline=timeline, groups=alliance_module.groups(ctx.db, ctx.alliance),
                      paused=policies.paused(ctx.db, ctx.alliance.id), policy_rows=_policy_rows(ctx),
                      policy_names=_policy_names(), defaults=_meeting_defaults(ctx))


def _policy_names() -> dict[str, str]:
    return {name: _(text) for name, text in POLICY_NAMES.items()}


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
        out.append({"name": name, "scope": _("Bündnis"), "value": _text(value),
                    "changed": own is not None})
        for row in overrides:
            if row.name == name and row.group_id is not None:
                out.append({"name": name, "scope": names.get(row.group_id, "?"), "value": _text(row.value),
                            "changed": True})
    return out


def _with_people(ctx: Ctx, send: plan.PlannedSend) -> dict:
    """A send with the names of whom it goes to (meeting mails; a newsletter says only how many)."""
    described = describe_send(send)
    if send.meeting_id is not None:
        group = ctx.db.get(Group, ctx.db.get(Meeting, send.meeting_id).group_id)
        people = (audience.representatives if send.kind == "protocol_due" else audience.invitees)(ctx.db, group)
        described["people"] = [p.name or p.email for p in people]
    return described


def _text(value) -> str:
    """A policy value in the words the page shows (and the form accepts back): ja, nein, aus, 09:00."""
    if isinstance(value, bool):
        return yes_no(value)
    return label(value, "policy_value")


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
                          action=ctx.route_path, back=back)
    ctx.audit(action, target, summary=summary, planned=[f"{s['key']} {s['recipients']}" for s in added],
              dropped=[s["key"] for s in dropped])
    return ctx.redirect(back, flash=done)


def _span(ctx: Ctx) -> tuple[date | datetime, datetime | None, bool]:
    """The form's day and time → (start, end, all_day) as `meetings.add` and `edit` take them: a day without a
    time only with the all-day box ticked, never silently 00:00."""
    day, clock = ctx.value("date"), ctx.value("time")
    if not day:
        raise UsageError(_("Bitte geben Sie ein Datum an."))
    if ctx.value("all_day"):
        return dates.parse_date(day), None, True
    if not clock:
        raise UsageError(_("Bitte geben Sie eine Uhrzeit an oder setzen Sie den Haken bei „ganztägig“."))
    start = dates.parse_datetime(f"{day} {clock}", ctx.config.tz)
    return start, start + timedelta(minutes=_minutes(ctx)), False


def _minutes(ctx: Ctx) -> int:
    try:
        minutes = int(ctx.value("minutes") or ctx.config.schedule.meeting_minutes)
    except ValueError:
        raise UsageError(_("Die Dauer bitte in Minuten angeben, etwa 120.")) from None
    if not 15 <= minutes <= 24 * 60:
        raise UsageError(_("Die Dauer muss zwischen 15 Minuten und einem Tag liegen."))
    return minutes


def meeting_create(ctx: Ctx) -> Response:
    def change() -> str:
        start, end, all_day = _span(ctx)
        meeting = meetings_actions.add(ctx.db, ctx.config, ctx.alliance, ctx.value("group"), start, end,
                                       all_day=all_day, location=ctx.value("location"), agenda=ctx.value("agenda"),
                                       title=ctx.value("title"))
        return _("Neues Treffen: %(title)s") % {"title": meeting.title}

    return _try(ctx, change, "meeting.add", f"group:{ctx.value('group')}", _("Das Treffen ist eingetragen."),
                "/schedule")


def _meeting(ctx: Ctx) -> Meeting:
    return meetings_actions.get(ctx.db, ctx.alliance, int(ctx.request.path_params["id"]))


def meeting_page(ctx: Ctx) -> Response:
    meeting = _meeting(ctx)
    group = ctx.db.get(Group, meeting.group_id)
    kind, _sep, source_id = meeting.source.partition(":")
    sends = [describe_send(p) for p in planned(ctx) if p.meeting_id == meeting.id]
    local = meeting.start.astimezone(ctx.config.tz)
    form = {"date": local.strftime("%Y-%m-%d"), "time": "" if meeting.all_day else local.strftime("%H:%M"),
            "all_day": meeting.all_day,
            "minutes": "" if meeting.all_day else int((meeting.end - meeting.start).total_seconds() // 60)}
    return ctx.render("meeting.html", meeting=meeting, group=group, sends=sends,
                      answers=rsvp.overview(ctx.db, meeting, group),
                      source_message=int(source_id) if kind == "protocol" and source_id.isdigit() else None,
                      groups=alliance_module.groups(ctx.db, ctx.alliance), form=form)


def meeting_update(ctx: Ctx) -> Response:
    meeting = _meeting(ctx)

    def change() -> str:
        start, end, all_day = _span(ctx)
        _edited, changed = meetings_actions.edit(
            ctx.db, ctx.config, ctx.alliance, meeting.id, start=start, end=end, all_day=all_day or None,
            location=ctx.value("location"), agenda=ctx.value("agenda"), title=ctx.value("title"),
            group=ctx.value("group") or None)
        return _("Treffen geändert: %(title)s") % {"title": meeting.title} if changed else _("Keine Änderung.")

    return _try(ctx, change, "meeting.edit", f"meeting:{meeting.id}", _("Das Treffen ist geändert."),
                f"/schedule/meetings/{meeting.id}")


def meeting_cancel(ctx: Ctx) -> Response:
    meeting = _meeting(ctx)

    def change() -> str:
        meetings_actions.cancel(ctx.db, ctx.alliance, meeting.id)
        return _("Absage: %(title)s") % {"title": meeting.title}

    return _try(ctx, change, "meeting.cancel", f"meeting:{meeting.id}", _("Das Treffen ist abgesagt."), "/schedule")


def meeting_confirm(ctx: Ctx) -> Response:
    meeting = _meeting(ctx)

    def change() -> str:
        at = dates.parse_time(ctx.value("time")) if ctx.value("time") else None
        meetings_actions.confirm(ctx.db, ctx.config, ctx.alliance, meeting.id, at=at)
        return _("Bestätigt: %(title)s") % {"title": meeting.title}

    return _try(ctx, change, "meeting.confirm", f"meeting:{meeting.id}", _("Das Treffen ist bestätigt."),
                f"/schedule/meetings/{meeting.id}")


def policy_set(ctx: Ctx) -> Response:
    name, slug, value = ctx.value("name"), ctx.value("group"), ctx.value("value")
    group = groups.require(ctx.db, ctx.alliance, slug) if slug else None

    def change() -> str:
        stored = meetings_actions.set_policy(ctx.db, ctx.config, ctx.alliance, name, value or None, slug or None)
        values = {"rule": _policy_names().get(name, name), "where": group.name if group else _("das ganze Bündnis"),
                  "value": _text(stored)}
        return (_("%(rule)s für %(where)s: %(value)s") if stored is not None
                else _("%(rule)s für %(where)s: zurück zum Standard")) % values

    return _try(ctx, change, "schedule.policy", f"policy:{name}:{slug or '*'}", _("Die Regel ist gespeichert."),
                "/schedule")


def pause(ctx: Ctx) -> Response:
    job, resume = ctx.value("job"), ctx.value("resume") == "1"
    if not job:
        raise UsageError(_("Welche Versendung? Es fehlt die Angabe."))
    what = _job_words(ctx, job)

    def change() -> str:
        policies.set_paused(ctx.db, ctx.alliance.id, job, not resume)
        return (_("Fortgesetzt: %(what)s") if resume else _("Angehalten: %(what)s")) % {"what": what}

    return _try(ctx, change, "schedule.resume" if resume else "schedule.pause", f"job:{job}",
                _("Fortgesetzt.") if resume else _("Angehalten."), "/schedule")


def _job_words(ctx: Ctx, job: str) -> str:
    """A send job as the coordinator knows it: "Einladung – Treffen AG Gesundheit an Mitglieder …"."""
    if job == "all":
        return _("alle Versendungen")
    send = next((p for p in planned(ctx) if p.job == job), None)
    if send is None:
        return job
    described = describe_send(send)
    return _("%(what)s an %(audience)s") % described


def run_now(ctx: Ctx) -> Response:
    """Send one planned occurrence now (what `hub schedule run-now` does), after showing what and to whom."""
    key = ctx.value("key")
    send = next((p for p in planned(ctx) if p.key == key), None)
    if send is None:
        raise UsageError(_("Diese Versendung ist nicht (mehr) geplant."))
    if ctx.value("confirm") != "1":
        return ctx.render("schedule_confirm.html", summary=_("Jetzt senden: %(what)s") % describe_send(send),
                          added=[{**_with_people(ctx, send), "when": utcnow()}], dropped=[], fields=[("key", key)],
                          action=ctx.route_path, back="/schedule")
    # The send opens its own transaction; on SQLite this request's must end first or the two would wait
    # on each other's write lock.
    ctx.db.commit()
    result = sends.execute(ctx.config, key, force=True)
    queued = result.queued if result else 0
    ctx.audit("schedule.run_now", f"job:{key}", queued=queued)
    return ctx.redirect("/schedule", flash=ngettext("Verschickt: %(count)d Mail ist im Postausgang.",
                                                    "Verschickt: %(count)d Mails sind im Postausgang.", queued)
                        % {"count": queued} if result else _("Nichts verschickt: die Versendung war schon erledigt."))
