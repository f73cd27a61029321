"""`hub meetings …`: the coordinator adds, edits, cancels and confirms meetings."""

from __future__ import annotations

import sys

from sqlmodel import select

from hub import dates
from hub.cli.render import print_fields, print_json, print_table
from hub.cli.when import when
from hub.db import utcnow
from hub.errors import UsageError
from hub.i18n import _
from hub.models import Group, Meeting
from hub.scheduler import ics, meetings, runner


def meeting_when(meeting: Meeting, tz) -> str:
    """'Di 09.03.2027 18:00', an all-day meeting 'Di 09.03.2027' or 'Di 09.03.2027 – Mi 10.03.2027'."""
    if meeting.all_day:
        first, last = meetings.days(meeting, tz)
        return when(first, tz) if first == last else f"{when(first, tz)} – {when(last, tz)}"
    return when(meeting.start, tz) + ("?" if meeting.time_assumed else "")


def status_label(status: str) -> str:
    return {"proposed": _("vorgeschlagen"), "confirmed": _("bestätigt"),
            "cancelled": _("abgesagt")}.get(status, status)


def _typed(value: str | None, tz):
    return dates.parse_when(value, tz) if value else None


def add(ctx, args) -> int:
    config = ctx.config
    start = _typed(args.start, config.tz)
    end = dates.parse_end(args.end, start, config.tz) if args.end else None  # "--end '20 Uhr'": the same day
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        group_row = ctx.group(session, alliance, args.group)
        meeting = meetings.add(session, config, alliance, args.group, start, end, location=args.location,
                               agenda=args.agenda, title=args.title, all_day=args.all_day,
                               status="proposed" if args.proposed else "confirmed")
        data = meetings.describe(meeting, group_row, config.tz)
    if args.json:
        print_json(data)
    else:
        print(_("Treffen %(id)s eingetragen: %(title)s, %(when)s (%(status)s)")
              % {"id": data["id"], "title": data["title"], "when": meeting_when(meeting, config.tz),
                 "status": status_label(data["status"])})
    return 0


def list_meetings(ctx, args) -> int:
    tz = ctx.config.tz
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        groups = {g.id: g for g in session.exec(select(Group).where(Group.alliance_id == alliance.id))}
        query = select(Meeting).where(Meeting.alliance_id == alliance.id)
        if not args.all:
            query = query.where(Meeting.end > utcnow(), Meeting.status != "cancelled")
        if args.group:
            query = query.where(Meeting.group_id == ctx.group(session, alliance, args.group).id)
        rows = [(m, groups[m.group_id]) for m in session.exec(query.order_by(Meeting.start))]
    if args.json:
        print_json([meetings.describe(m, g, tz) for m, g in rows])
        return 0
    print_table([
        {"id": m.id, "when": meeting_when(m, tz), "group": g.slug, "status": status_label(m.status),
         "title": m.title, "location": m.location}
        for m, g in rows
    ], {"id": "ID", "when": _("Wann"), "group": _("Gruppe"), "status": _("Status"), "title": _("Titel"),
        "location": _("Ort")})
    if any(m.time_assumed for m, _g in rows):
        print(_("? = das Protokoll nannte nur den Tag; bestätigen mit `hub meetings confirm ID --time HH:MM`"))
    return 0


def show(ctx, args) -> int:
    config = ctx.config
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        meeting = meetings.get(session, alliance, args.id)
        group_row = session.get(Group, meeting.group_id)
        if args.ics:
            sys.stdout.write(ics.calendar_bytes(ics.calendar_entry(config, meeting, group_row), config.tz).decode())
            return 0
        data = meetings.describe(meeting, group_row, config.tz)
        plan = [p for p in runner.current_plan(session, config) if p.meeting_id == meeting.id]
        data["invitees"] = len(meetings.invitees(session, group_row))
        data["planned"] = [p.as_dict(config.tz) for p in plan]
    if args.json:
        print_json(data)
        return 0
    fields = [
        ("ID", data["id"]), (_("Titel"), data["title"]), (_("Gruppe"), data["group"]),
        (_("Status"), status_label(data["status"])), (_("Wann"), meeting_when(meeting, config.tz)),
    ]
    if not meeting.all_day:
        fields.append((_("Ende"), when(meeting.end, config.tz)))
    fields += [(_("Ort"), data["location"]), (_("Eingeladene"), data["invitees"]), (_("Fassung"), data["sequence"]),
               ("UID", data["uid"]), (_("Quelle"), data["source"])]
    if data["agenda"]:
        fields.append((_("Tagesordnung"), data["agenda"].replace("\n", "\n" + " " * 14)))
    if not plan:
        fields.append((_("geplant"), _("nichts")))
    print_fields(fields)
    if plan:
        print(_("geplant:"))
    for p in plan:
        print(f"    {when(p.due, config.tz)}  {p.kind:<13} {p.recipients:>4}  {p.key}")
    return 0


def edit(ctx, args) -> int:
    config = ctx.config
    changes = {k: getattr(args, k) for k in ("location", "agenda", "title", "group")}
    changes.update(start=_typed(args.start, config.tz), end=args.end, all_day=True if args.all_day else None)
    if all(v is None for v in changes.values()):
        raise UsageError(_("nichts zu ändern; geben Sie --start, --end, --all-day, --location, --agenda, --title "
                           "oder --group an"))
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        if args.group:
            ctx.group(session, alliance, args.group)
        meeting = meetings.get(session, alliance, args.id)
        if args.end:  # "--end '20 Uhr'" ends on the (new) start's day
            changes["end"] = dates.parse_end(args.end, changes["start"] or meeting.start, config.tz)
        changed = meetings.edit(session, config, meeting, **changes)
    if changed:
        print(_("Treffen %(id)s geändert (Fassung %(sequence)s)") % {"id": args.id, "sequence": meeting.sequence})
    else:
        print(_("Treffen %(id)s unverändert") % {"id": args.id})
    return 0


def cancel(ctx, args) -> int:
    with ctx.session() as session:
        meetings.cancel(session, meetings.get(session, ctx.alliance(session), args.id))
    print(_("Treffen %(id)s abgesagt; bereits Eingeladene erhalten eine Absage") % {"id": args.id})
    return 0


def confirm(ctx, args) -> int:
    at = dates.parse_time(args.time) if args.time else None
    with ctx.session() as session:
        meeting = meetings.get(session, ctx.alliance(session), args.id)
        meetings.confirm(session, ctx.config, meeting, at=at)
    print(_("Treffen %(id)s bestätigt: %(when)s") % {"id": args.id, "when": meeting_when(meeting, ctx.config.tz)})
    return 0
