"""`hub meetings …`: the coordinator adds, edits, cancels and confirms meetings."""

from __future__ import annotations

import sys

from hub import dates, meetings_actions, rsvp
from hub.cli.render import print_fields, print_json, print_table
from hub.cli.when import when
from hub.errors import UsageError
from hub.i18n import _
from hub.models import Group, Meeting
from hub.scheduler import audience, facts, ics, meetings


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
        meeting = meetings_actions.add(session, config, ctx.alliance(session), args.group, start, end,
                                       all_day=args.all_day, location=args.location, agenda=args.agenda,
                                       title=args.title, proposed=args.proposed)
        data = meetings.describe(meeting, session.get(Group, meeting.group_id), config.tz)
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
        rows = meetings_actions.listing(session, ctx.alliance(session), include_past=args.all, group=args.group)
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
        meeting = meetings_actions.get(session, ctx.alliance(session), args.id)
        group_row = session.get(Group, meeting.group_id)
        if args.ics:
            sys.stdout.write(ics.calendar_bytes(ics.calendar_entry(config, meeting, group_row), config.tz).decode())
            return 0
        data = meetings.describe(meeting, group_row, config.tz)
        plan = [p for p in facts.current_plan(session, config) if p.meeting_id == meeting.id]
        data["invitees"] = len(audience.invitees(session, group_row))
        data["planned"] = [p.as_dict(config.tz) for p in plan]
        answers = rsvp.overview(session, meeting, group_row)
        data["answers"] = answers.as_dict()
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
    print_answers(answers, config.tz)
    return 0


def print_answers(answers: rsvp.Overview, tz) -> None:
    """Zusagen / Vielleicht / Absagen / offen by name, then any other time a partner proposed."""
    print(_("Antworten:"))
    for label, names in ((_("Zusagen"), answers.accepted), (_("Vielleicht"), answers.tentative),
                         (_("Absagen"), answers.declined), (_("offen"), answers.open)):
        print(f"    {label} ({len(names)}): {', '.join(names) or '–'}")
    for counter in answers.counters:
        proposed = when(counter["start"], tz) if counter["start"] else "?"
        comment = f" – {counter['comment']}" if counter["comment"] else ""
        print("    " + _("Gegenvorschlag von %(name)s: %(when)s") % {"name": counter["name"], "when": proposed}
              + comment)


def edit(ctx, args) -> int:
    config = ctx.config
    changes = {k: getattr(args, k) for k in ("location", "agenda", "title", "group")}
    changes.update(start=_typed(args.start, config.tz), end=args.end, all_day=True if args.all_day else None)
    if all(v is None for v in changes.values()):
        raise UsageError(_("nichts zu ändern; geben Sie --start, --end, --all-day, --location, --agenda, --title "
                           "oder --group an"))
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        if args.end:  # "--end '20 Uhr'" ends on the (new) start's day
            start = changes["start"] or meetings_actions.get(session, alliance, args.id).start
            changes["end"] = dates.parse_end(args.end, start, config.tz)
        meeting, changed = meetings_actions.edit(session, config, alliance, args.id, **changes)
    if changed:
        print(_("Treffen %(id)s geändert (Fassung %(sequence)s)") % {"id": args.id, "sequence": meeting.sequence})
    else:
        print(_("Treffen %(id)s unverändert") % {"id": args.id})
    return 0


def cancel(ctx, args) -> int:
    with ctx.session() as session:
        meetings_actions.cancel(session, ctx.alliance(session), args.id)
    print(_("Treffen %(id)s abgesagt; bereits Eingeladene erhalten eine Absage") % {"id": args.id})
    return 0


def confirm(ctx, args) -> int:
    at = dates.parse_time(args.time) if args.time else None
    with ctx.session() as session:
        meeting = meetings_actions.confirm(session, ctx.config, ctx.alliance(session), args.id, at=at)
    print(_("Treffen %(id)s bestätigt: %(when)s") % {"id": args.id, "when": meeting_when(meeting, ctx.config.tz)})
    return 0
