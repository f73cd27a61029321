"""`hub meetings …` and `hub schedule …`: the coordinator edits what the hub sends when."""

from __future__ import annotations

import sys
from pathlib import Path

from hub.cli import command, group, print_json, print_table
from hub.db import utcnow
from hub.errors import HubError, UsageError


def register(sub) -> None:
    meetings = group(sub, "meetings", "meetings of the groups, the Koordinierungskreis and the Bündnistreffen")

    p = command(meetings, "add", add, "add a confirmed meeting (times are the alliance's local time)")
    p.add_argument("group", help="group slug, e.g. gesundheit, koordinierungskreis, plenum")
    p.add_argument("start", help="start, like '2027-03-09 18:00'")
    p.add_argument("--end", help="end, like '2027-03-09 20:00' (default: the configured length)")
    p.add_argument("--location", default="")
    p.add_argument("--agenda", default="", help="agenda text (the calendar entry's description)")
    p.add_argument("--title", default="", help="default: 'Treffen <group name>'")
    p.add_argument("--proposed", action="store_true", help="add as proposed: nothing is sent until confirmed")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(meetings, "list", list_meetings, "list upcoming meetings")
    p.add_argument("--all", action="store_true", help="include past and cancelled meetings")
    p.add_argument("--group", metavar="SLUG")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(meetings, "show", show, "show a meeting and its planned sends")
    p.add_argument("id", type=int)
    p.add_argument("--ics", action="store_true", help="print the calendar entry instead")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(meetings, "edit", edit, "change a meeting; invitees who were invited get an update")
    p.add_argument("id", type=int)
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--location")
    p.add_argument("--agenda")
    p.add_argument("--title")
    p.add_argument("--group", metavar="SLUG")

    p = command(meetings, "cancel", cancel, "cancel a meeting; invitees who were invited get a cancellation")
    p.add_argument("id", type=int)

    p = command(meetings, "confirm", confirm, "confirm a meeting proposed by a protocol")
    p.add_argument("id", type=int)
    p.add_argument("--time", metavar="HH:MM", help="the start time, when the protocol gave only the day")

    schedule = group(sub, "schedule", "the send schedule: planned sends, pauses, policies, the schedule file")
    p = command(schedule, "list", list_schedule, "every planned send with its time, kind, audience and count")
    p.add_argument("--days", type=int, metavar="N", help="only the next N days")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(schedule, "pause", pause, "hold a job (e.g. meeting:12, meeting:12:reminder, newsletter:digest, all)")
    p.add_argument("job")
    p = command(schedule, "resume", resume, "let a paused job run again (late sends go out if still useful)")
    p.add_argument("job")
    p = command(schedule, "run-now", run_now, "make a planned send now (its key or job from `hub schedule list`)")
    p.add_argument("job")

    policy = group(schedule, "policy", "send policies: days before and after, send time, newsletter dates")
    p = command(policy, "show", policy_show, "the policies in force and where each value comes from")
    p.add_argument("--group", metavar="SLUG")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(policy, "set", policy_set, "set a policy for the alliance or one group ('default' removes it)")
    p.add_argument("name")
    p.add_argument("value")
    p.add_argument("--group", metavar="SLUG")

    p = command(schedule, "import", import_file, "apply a schedule file (meetings and policies); all or nothing")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(schedule, "export", export_file, "write the policies and future meetings as a schedule file")
    p.add_argument("--output", "-o", metavar="FILE")


# --- meetings ------------------------------------------------------------------------------------------


def _describe(meeting, group, config) -> dict:
    tz = config.tz
    return {
        "id": meeting.id, "group": group.slug, "title": meeting.title,
        "start": meeting.start.astimezone(tz).isoformat(), "end": meeting.end.astimezone(tz).isoformat(),
        "time_assumed": meeting.time_assumed, "location": meeting.location, "agenda": meeting.agenda,
        "status": meeting.status, "sequence": meeting.sequence, "uid": meeting.uid, "source": meeting.source,
        "key": meeting.key,
    }


def add(ctx, args) -> int:
    from hub.scheduler import meetings

    config = ctx.config
    start = meetings.parse_local(args.start, config.tz)
    end = meetings.parse_local(args.end, config.tz) if args.end else None
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        meeting = meetings.add(session, config, alliance, args.group, start, end, location=args.location,
                               agenda=args.agenda, title=args.title,
                               status="proposed" if args.proposed else "confirmed")
        group_row = meetings.group_by_slug(session, alliance, args.group)
        data = _describe(meeting, group_row, config)
    if args.json:
        print_json(data)
    else:
        print(f"meeting {data['id']} added: {data['title']}, {_when(meeting, config)} ({data['status']})")
    return 0


def _when(meeting, config) -> str:
    from hub.scheduler.sends import when_text

    text = when_text(meeting.start, config, config.alliance.language)
    return text + (" (Uhrzeit angenommen)" if meeting.time_assumed else "")


def list_meetings(ctx, args) -> int:
    from sqlmodel import select

    from hub.models import Group, Meeting

    config = ctx.config
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        groups = {g.id: g for g in session.exec(select(Group).where(Group.alliance_id == alliance.id))}
        query = select(Meeting).where(Meeting.alliance_id == alliance.id)
        if not args.all:
            query = query.where(Meeting.end > utcnow(), Meeting.status != "cancelled")
        if args.group:
            from hub.scheduler.meetings import group_by_slug

            query = query.where(Meeting.group_id == group_by_slug(session, alliance, args.group).id)
        rows = [(m, groups[m.group_id]) for m in session.exec(query.order_by(Meeting.start))]
    if args.json:
        print_json([_describe(m, g, config) for m, g in rows])
        return 0
    print_table([
        {"id": m.id, "when": m.start.astimezone(config.tz).strftime("%a %d.%m.%Y %H:%M")
         + ("?" if m.time_assumed else ""), "group": g.slug, "status": m.status, "title": m.title,
         "location": m.location or "-"}
        for m, g in rows
    ], ["id", "when", "group", "status", "title", "location"])
    if any(m.time_assumed for m, _ in rows):
        print("? = the protocol gave only the day; confirm with `hub meetings confirm ID --time HH:MM`")
    return 0


def show(ctx, args) -> int:
    from hub.models import Group
    from hub.scheduler import ics, meetings, runner, sends

    config = ctx.config
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        meeting = meetings.get(session, alliance, args.id)
        group_row = session.get(Group, meeting.group_id)
        if args.ics:
            sys.stdout.write(ics.calendar_bytes(sends.calendar_entry(config, meeting, group_row), config.tz).decode())
            return 0
        data = _describe(meeting, group_row, config)
        planned = [p.as_dict(config.tz) for p in runner.current_plan(session, config) if p.meeting_id == meeting.id]
        data["invitees"] = len(meetings.invitees(session, group_row))
        data["planned"] = planned
    if args.json:
        print_json(data)
        return 0
    for key in ("id", "title", "group", "status", "start", "end", "location", "invitees", "sequence", "uid",
                "source"):
        print(f"{key:>10}: {data[key] if data[key] not in ('', None) else '-'}")
    if data["agenda"]:
        print("    agenda:", data["agenda"].replace("\n", "\n            "))
    print("   planned:" if planned else "   planned: nothing")
    for p in planned:
        print(f"            {p['due'][:16].replace('T', ' ')}  {p['kind']:<13} {p['recipients']:>4}  {p['key']}")
    return 0


def edit(ctx, args) -> int:
    from hub.scheduler import meetings

    config = ctx.config
    changes = {k: getattr(args, k) for k in ("location", "agenda", "title", "group")}
    for name in ("start", "end"):
        value = getattr(args, name)
        changes[name] = meetings.parse_local(value, config.tz) if value else None
    if all(v is None for v in changes.values()):
        raise UsageError("nothing to change; give --start, --end, --location, --agenda, --title or --group")
    with ctx.session() as session:
        meeting = meetings.get(session, ctx.alliance(session), args.id)
        changed = meetings.edit(session, config, meeting, **changes)
    print(f"meeting {args.id} changed (sequence {meeting.sequence})" if changed else f"meeting {args.id} unchanged")
    return 0


def cancel(ctx, args) -> int:
    from hub.scheduler import meetings

    with ctx.session() as session:
        meetings.cancel(session, meetings.get(session, ctx.alliance(session), args.id))
    print(f"meeting {args.id} cancelled; those already invited get a cancellation")
    return 0


def confirm(ctx, args) -> int:
    from hub.scheduler import meetings, policies

    at = None
    if args.time:
        try:
            at = policies.parse_clock(args.time)
        except ValueError as exc:
            raise UsageError(f"--time: {exc}") from None
    with ctx.session() as session:
        meeting = meetings.get(session, ctx.alliance(session), args.id)
        meetings.confirm(session, ctx.config, meeting, at=at)
        when = _when(meeting, ctx.config)
    print(f"meeting {args.id} confirmed: {when}")
    return 0


# --- schedule ------------------------------------------------------------------------------------------


def list_schedule(ctx, args) -> int:
    from datetime import timedelta

    from hub.scheduler import runner

    config = ctx.config
    now = utcnow()
    with ctx.session() as session:
        planned = runner.current_plan(session, config, now)
    if args.days is not None:
        planned = [p for p in planned if p.due <= now + timedelta(days=args.days)]
    if args.json:
        print_json([p.as_dict(config.tz) for p in planned])
        return 0
    print_table([
        {"when": max(p.due, now).astimezone(config.tz).strftime("%a %d.%m.%Y %H:%M")
         + (" (late)" if p.due < now else ""), "kind": p.kind, "what": p.title + (f" ({p.group})" if p.group else ""),
         "audience": p.audience, "count": p.recipients, "job": p.key + (" [paused]" if p.paused else "")}
        for p in planned
    ], ["when", "kind", "what", "audience", "count", "job"])
    return 0


def _pause(ctx, job: str, pause: bool) -> int:
    from hub.scheduler import policies

    if not job or " " in job:
        raise UsageError(f"{job!r} is not a job; use a job from `hub schedule list`, e.g. meeting:12 or all")
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        if not pause and not any(p == job for p in policies.paused(session, alliance.id)):
            raise HubError(f"{job} is not paused")
        policies.set_paused(session, alliance.id, job, pause)
    print(f"{job} {'paused' if pause else 'resumed'}")
    return 0


def pause(ctx, args) -> int:
    return _pause(ctx, args.job, True)


def resume(ctx, args) -> int:
    return _pause(ctx, args.job, False)


def run_now(ctx, args) -> int:
    from hub.scheduler import runner, sends

    config = ctx.config
    with ctx.session() as session:
        planned = runner.current_plan(session, config, counts=False)
    match = next((p for p in planned if args.job in (p.key, p.job)), None)
    if match is None:
        raise HubError(f"no planned send {args.job!r}; see `hub schedule list`")
    result = sends.execute(config, match.key, force=True)
    if result is None:
        raise HubError(f"{match.key} was not sent (already made, or no longer wanted)")
    print(f"{match.key}: {result.kind} to {result.recipients} recipients, {result.queued} queued in the outbox")
    return 0


def policy_show(ctx, args) -> int:
    from sqlmodel import select

    from hub.models import Group
    from hub.scheduler import meetings, policies

    config = ctx.config
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        group_row = meetings.group_by_slug(session, alliance, args.group) if args.group else None
        rows = policies.overrides(session, alliance.id)
        slugs = {g.id: g.slug for g in session.exec(select(Group))}
    base = policies.defaults(config, group_row.slug if group_row else None)
    out = []
    for name, spec in policies.SPECS.items():
        value, source = base[name], "hub.toml"
        for row in rows:
            if row.name == name and row.group_id is None:
                value, source = row.value, "alliance"
        for row in rows:
            if row.name == name and group_row is not None and row.group_id == group_row.id:
                value, source = row.value, f"group {slugs[row.group_id]}"
        out.append({"name": name, "value": value, "from": source, "scope": spec.scope, "meaning": spec.help})
    if args.json:
        print_json(out)
    else:
        print_table(out, ["name", "value", "from", "meaning"])
    return 0


def policy_set(ctx, args) -> int:
    from hub.scheduler import meetings, policies

    value = None if args.value.lower() in ("default", "standard") else args.value
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        group_row = meetings.group_by_slug(session, alliance, args.group) if args.group else None
        stored = policies.set_policy(session, ctx.config, alliance, args.name, value, group_row)
    where = f" for {args.group}" if args.group else ""
    print(f"{args.name}{where} = {stored}" if stored is not None else f"{args.name}{where}: back to the default")
    return 0


def import_file(ctx, args) -> int:
    from hub.scheduler import schedulefile

    data = schedulefile.read(Path(args.file))
    with ctx.session() as session:
        report = schedulefile.apply(session, ctx.config, ctx.alliance(session), data, where=args.file)
        if args.dry_run:
            session.rollback()
    if args.json:
        print_json({**report.as_dict(), "dry_run": args.dry_run})
        return 0
    would = "would be " if args.dry_run else ""
    for verb, items in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for item in items:
            print(f"{would}{verb}: {item}")
    print(f"{len(report.added)} {would}added, {len(report.changed)} {would}changed, "
          f"{len(report.removed)} {would}removed, {len(report.unchanged)} unchanged")
    return 0


def export_file(ctx, args) -> int:
    from hub.scheduler import schedulefile

    with ctx.session() as session:
        text = schedulefile.export(session, ctx.config, ctx.alliance(session), utcnow())
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
