"""`hub schedule …`: the planned sends, pauses, send policies and the schedule file."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from hub import meetings_actions, queries, sends
from hub.cli.render import print_json, print_table
from hub.cli.when import when
from hub.db import utcnow
from hub.errors import HubError, NotFound, UsageError
from hub.i18n import _
from hub.scheduler import facts, policies, schedulefile


def list_schedule(ctx, args) -> int:
    config = ctx.config
    now = utcnow()
    with ctx.session() as session:
        planned = facts.current_plan(session, config, now)
    if args.days is not None:
        planned = [p for p in planned if p.due <= now + timedelta(days=args.days)]
    if args.json:
        print_json([p.as_dict(config.tz) for p in planned])
        return 0
    print_table([
        {"when": when(max(p.due, now), config.tz) + (_(" (verspätet)") if p.due < now else ""), "kind": p.kind,
         "what": p.title + (f" ({p.group})" if p.group else ""), "audience": p.audience, "count": p.recipients,
         "job": p.key + (_(" [angehalten]") if p.paused else "")}
        for p in planned
    ], {"when": _("Wann"), "kind": _("Art"), "what": _("Was"), "audience": _("An"), "count": _("Anzahl"),
        "job": _("Auftrag")})
    return 0


def _pause(ctx, job: str, pause: bool) -> int:
    if not job or " " in job:
        raise UsageError(_("%(job)r ist kein Auftrag; nehmen Sie einen aus `hub schedule list`, z. B. meeting:12 "
                           "oder all") % {"job": job})
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        if not pause and not any(p == job for p in policies.paused(session, alliance.id)):
            raise HubError(_("%(job)s ist nicht angehalten") % {"job": job})
        policies.set_paused(session, alliance.id, job, pause)
    print((_("%(job)s angehalten") if pause else _("%(job)s fortgesetzt")) % {"job": job})
    return 0


def pause(ctx, args) -> int:
    return _pause(ctx, args.job, True)


def resume(ctx, args) -> int:
    return _pause(ctx, args.job, False)


def run_now(ctx, args) -> int:
    config = ctx.config
    with ctx.session() as session:
        planned = facts.current_plan(session, config, counts=False)
    match = next((p for p in planned if args.job in (p.key, p.job)), None)
    if match is None:
        raise NotFound(_("keine geplante Sendung %(job)r; siehe `hub schedule list`") % {"job": args.job})
    result = sends.execute(config, match.key, force=True)
    if result is None:
        raise HubError(_("%(key)s wurde nicht gesendet (schon erledigt oder nicht mehr gewünscht)")
                       % {"key": match.key})
    print(_("%(key)s: %(kind)s an %(recipients)s Empfänger/innen, %(queued)s in den Postausgang gelegt")
          % {"key": match.key, "kind": result.kind, "recipients": result.recipients, "queued": result.queued})
    return 0


def policy_show(ctx, args) -> int:
    config = ctx.config
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        group_row = ctx.group(session, alliance, args.group) if args.group else None
        rows = policies.overrides(session, alliance.id)
        slugs = queries.group_slugs(session, alliance.id)
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
        return 0
    sources = {"alliance": _("Bündnis")}
    print_table([{**r, "from": sources.get(r["from"], r["from"].replace("group ", _("Gruppe ")))} for r in out],
                {"name": _("Name"), "value": _("Wert"), "from": _("Herkunft"), "meaning": _("Bedeutung")})
    return 0


def policy_set(ctx, args) -> int:
    value = None if args.value.lower() in ("default", "standard") else args.value
    with ctx.session() as session:
        stored = meetings_actions.set_policy(session, ctx.config, ctx.alliance(session), args.name, value,
                                             args.group)
    name = (_("%(name)s für %(group)s") % {"name": args.name, "group": args.group}) if args.group else args.name
    if stored is not None:
        print(f"{name} = {stored}")
    else:
        print(_("%(name)s: wieder der Standardwert") % {"name": name})
    return 0


def import_file(ctx, args) -> int:
    data = schedulefile.read(Path(args.file))
    with ctx.session() as session:
        report = schedulefile.apply(session, ctx.config, ctx.alliance(session), data, where=args.file)
        if args.dry_run:
            session.rollback()
    if args.json:
        print_json({**report.as_dict(), "dry_run": args.dry_run})
        return 0
    if args.dry_run:
        verbs = {"added": _("würde angelegt"), "changed": _("würde geändert"), "removed": _("würde entfernt")}
        total = _("%(added)d würden angelegt, %(changed)d geändert, %(removed)d entfernt, %(unchanged)d unverändert")
    else:
        verbs = {"added": _("angelegt"), "changed": _("geändert"), "removed": _("entfernt")}
        total = _("%(added)d angelegt, %(changed)d geändert, %(removed)d entfernt, %(unchanged)d unverändert")
    for verb, items in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for item in items:
            print(f"{verbs[verb]}: {item}")
    print(total % {"added": len(report.added), "changed": len(report.changed), "removed": len(report.removed),
                   "unchanged": len(report.unchanged)})
    return 0


def export_file(ctx, args) -> int:
    with ctx.session() as session:
        text = schedulefile.export(session, ctx.config, ctx.alliance(session), utcnow())
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
