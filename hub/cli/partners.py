"""`hub partners …`: the registry of Bündnispartner/innen."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from hub import partner_actions, partner_csv
from hub.cli.render import print_fields, print_json, print_table, yes_no
from hub.cli.when import when
from hub.errors import UsageError
from hub.i18n import _

DATES = ("joined_at", "left_at", "forgotten_at", "disabled_at")


def import_csv(ctx, args) -> int:
    text = _read(args.file)
    with ctx.session() as session:
        try:
            result = partner_actions.import_csv(session, ctx.config, ctx.alliance(session), text,
                                                source=f"import:{Path(args.file).name}", dry_run=args.dry_run,
                                                welcome=not args.no_welcome)
        except partner_csv.CsvError as exc:
            raise UsageError(f"{args.file}: {exc}") from None
    if args.json:
        print_json({**result.as_dict(), "dry_run": args.dry_run})
        return 0
    counts = {"added": len(result.added), "updated": len(result.updated), "unchanged": len(result.unchanged)}
    if args.dry_run:
        print(_("%(added)d würden angelegt, %(updated)d aktualisiert, %(unchanged)d unverändert") % counts)
    else:
        print(_("%(added)d angelegt, %(updated)d aktualisiert, %(unchanged)d unverändert") % counts)
    for email in result.skipped:
        print(_("übersprungen: %(email)s ist ausgetreten; `hub partners add %(email)s` holt die Person zurück")
              % {"email": email})
    return 0


def export_csv(ctx, args) -> int:
    with ctx.session() as session:
        text = partner_actions.export_csv(session, ctx.alliance(session))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def list_partners(ctx, args) -> int:
    with ctx.session() as session:
        rows = partner_actions.listing(session, ctx.alliance(session), group=args.group, include_left=args.all)
    if args.json:
        print_json(rows)
    else:
        print_table(rows, {"email": _("E-Mail"), "name": _("Name"), "organisation": _("Organisation"),
                           "role": _("Rolle"), "groups": _("Gruppen"), "newsletter": _("Newsletter")})
    return 0


def add(ctx, args) -> int:
    new = partner_actions.row(args.email, name=args.name, organisation=args.organisation, group_slugs=args.group,
                              role=args.role, newsletter=args.newsletter == "yes", language=args.language)
    with ctx.session() as session:
        partner_actions.join(session, ctx.config, ctx.alliance(session), new, source="cli",
                             welcome=not args.no_welcome)
    print(_("%(email)s: aufgenommen") % {"email": new.email})
    return 0


def edit(ctx, args) -> int:
    if args.name is None and args.organisation is None and args.language is None:
        raise UsageError(_("nichts zu ändern; geben Sie --name, --organisation oder --language an"))
    language = "" if args.language == "default" else args.language
    with ctx.session() as session:
        partner_actions.edit(session, ctx.alliance(session), args.email, name=args.name,
                             organisation=args.organisation, language=language)
    print(_("%(email)s: geändert") % {"email": args.email})
    return 0


def leave(ctx, args) -> int:
    with ctx.session() as session:
        partner_actions.leave(session, ctx.alliance(session), args.email, source="cli")
    print(_("%(email)s ist ausgetreten; an diese Adresse geht keine Mail mehr") % {"email": args.email})
    return 0


def enable(ctx, args) -> int:
    with ctx.session() as session:
        was_disabled = partner_actions.enable(session, ctx.alliance(session), args.email)
    if was_disabled:
        print(_("%(email)s: wieder aktiviert, Bounce-Zähler zurückgesetzt") % {"email": args.email})
    else:
        print(_("%(email)s war nicht gesperrt; Bounce-Zähler zurückgesetzt") % {"email": args.email})
    return 0


def approve(ctx, args) -> int:
    with ctx.session() as session:
        partner_actions.approve(session, ctx.alliance(session), args.email)
    print(_("%(email)s ist jetzt Bündnispartner/in") % {"email": args.email})
    return 0


def show(ctx, args) -> int:
    with ctx.session() as session:
        data = partner_actions.describe(session, ctx.config, ctx.alliance(session), args.email)
    if args.json:
        print_json(data)
        return 0
    tz = ctx.config.tz
    partner = {**data["partner"], **{key: when(_from_iso(data["partner"][key]), tz)
                                     for key in DATES if data["partner"][key]}}
    labels = {"id": "ID", "email": _("E-Mail"), "name": _("Name"), "organisation": _("Organisation"),
              "role": _("Rolle"), "groups": _("Gruppen"), "newsletter": _("Newsletter"), "language": _("Sprache"),
              "joined_at": _("eingetreten"), "left_at": _("ausgetreten"), "forgotten_at": _("gelöscht"),
              "disabled_at": _("gesperrt")}
    print_fields([(labels.get(key, key), value) for key, value in partner.items()])
    print(_("Einwilligungen:"))
    for c in data["consent_history"]:
        print("  " + _("%(when)s  Newsletter: %(yes_no)s  über %(source)s")
              % {"when": when(_from_iso(c["at"]), tz), "yes_no": yes_no(c["newsletter"]), "source": c["source"]})
    return 0


def forget(ctx, args) -> int:
    if not args.yes and sys.stdin.isatty():
        answer = input(_("Alle personenbezogenen Daten von %(email)s löschen? Das lässt sich nicht rückgängig "
                         "machen. [j/N] ") % {"email": args.email})
        if answer.strip().lower() not in {"j", "ja", "y", "yes"}:
            print(_("nichts gelöscht"))
            return 1
    with ctx.session() as session:
        report = partner_actions.forget(session, ctx.config, ctx.alliance(session), args.email)
    print(_("personenbezogene Daten von %(email)s gelöscht; anonyme Zahlen bleiben") % {"email": args.email})
    print(partner_actions.review_note(report.other_protocols))
    return 0


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(_("%(file)s: nicht lesbar (%(error)s)") % {"file": name, "error": exc.strerror}) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")
