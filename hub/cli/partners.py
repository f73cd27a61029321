"""`hub partners …`: the registry of Bündnispartner/innen."""

from __future__ import annotations

import sys
from pathlib import Path

from hub import partners as registry
from hub.cli import command, group, print_json, print_table
from hub.errors import UsageError
from hub.models import Role


def register(sub) -> None:
    partners = group(sub, "partners", "partners: import, list, join, leave, DSGVO information and erasure")

    p = command(partners, "import", import_csv, "add or update partners from a CSV file "
                "(name,organisation,email,groups,role,newsletter); all rows or none")
    p.add_argument("file", help="CSV file, or - for standard input")
    p.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    p.add_argument("--no-welcome", action="store_true",
                   help="send new partners no welcome mail (e.g. when first moving an existing list in)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(partners, "export", export_csv, "write the current partners as CSV")
    p.add_argument("--output", "-o", metavar="FILE", help="file to write (default: standard output)")

    p = command(partners, "list", list_partners, "list partners")
    p.add_argument("--group", metavar="SLUG", help="only members of this group")
    p.add_argument("--all", action="store_true", help="include partners who left")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(partners, "add", add, "add a partner, or bring back one who left")
    p.add_argument("email")
    p.add_argument("--name", default="")
    p.add_argument("--organisation", default="")
    p.add_argument("--group", action="append", default=[], metavar="SLUG", help="group slug (repeatable)")
    p.add_argument("--role", choices=[r.value for r in Role], default=Role.member.value)
    p.add_argument("--newsletter", choices=["yes", "no"], default="yes")
    p.add_argument("--no-welcome", action="store_true", help="send no welcome mail")

    p = command(partners, "leave", leave, "the partner leaves: no more mail, history kept")
    p.add_argument("email")

    p = command(partners, "enable", enable, "the address works again: clear its bounce score and send to it again")
    p.add_argument("email")

    p = command(partners, "show", show, "everything stored about a partner (DSGVO Art. 15)")
    p.add_argument("email")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(partners, "forget", forget, "erase a partner's personal data (DSGVO Art. 17)")
    p.add_argument("email")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def import_csv(ctx, args) -> int:
    text = _read(args.file)
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        known = {g.slug for g in _groups(session, alliance)}
        try:
            rows = registry.parse_csv(text, known)
        except registry.CsvError as exc:
            raise UsageError(f"{args.file}: {exc}") from None
        result = registry.import_rows(session, alliance, rows, source=f"import:{Path(args.file).name}")
        if args.dry_run:
            session.rollback()
        elif not args.no_welcome:
            from hub import mailings  # templates load only when a mail is written

            mailings.welcome_new(session, ctx.config, result.added)
    if args.json:
        print_json({**result.as_dict(), "dry_run": args.dry_run})
    else:
        verb = "would be" if args.dry_run else ""
        print(f"{len(result.added)} added, {len(result.updated)} updated, {len(result.unchanged)} unchanged"
              + (f" {verb}".rstrip() if verb else ""))
        for email in result.skipped:
            print(f"skipped {email}: this partner left; `hub partners add {email}` brings them back")
    return 0


def export_csv(ctx, args) -> int:
    with ctx.session() as session:
        text = registry.export_csv(session, ctx.alliance(session))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def list_partners(ctx, args) -> int:
    with ctx.session() as session:
        rows = registry.listing(session, ctx.alliance(session), group=args.group, include_left=args.all)
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["email", "name", "organisation", "role", "groups", "newsletter"])
    return 0


def add(ctx, args) -> int:
    from hub.addresses import InvalidAddress, normalise_address

    try:
        email = normalise_address(args.email)
    except InvalidAddress as exc:
        raise UsageError(str(exc)) from None
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        known = {g.slug for g in _groups(session, alliance)}
        unknown = [slug for slug in args.group if slug not in known]
        if unknown:
            raise UsageError(f"unknown group {unknown[0]!r}; see `hub groups list`")
        row = registry.PartnerRow(email=email, name=args.name, organisation=args.organisation,
                                  groups=tuple(args.group), role=Role(args.role),
                                  newsletter=args.newsletter == "yes")
        outcome = registry.upsert(session, alliance, row, source="cli")
        if outcome == "added" and not args.no_welcome:
            from hub import mailings

            mailings.welcome_new(session, ctx.config, [email])
    print(f"{email}: {outcome}")
    return 0


def leave(ctx, args) -> int:
    with ctx.session() as session:
        registry.leave(session, ctx.alliance(session), args.email)
    print(f"{args.email} has left; no more mail will be sent to this address")
    return 0


def enable(ctx, args) -> int:
    from hub.outbound import bounces

    with ctx.session() as session:
        was_disabled = bounces.enable(session, registry.get(session, ctx.alliance(session), args.email))
    print(f"{args.email}: enabled again, bounce score reset" if was_disabled
          else f"{args.email} was not disabled; bounce score reset")
    return 0


def show(ctx, args) -> int:
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        data = registry.describe(session, alliance, registry.get(session, alliance, args.email))
    if args.json:
        print_json(data)
    else:
        for key, value in data["partner"].items():
            print(f"{key:>14}: {value if value is not None else '-'}")
        print(f"{'consent':>14}:")
        for c in data["consent_history"]:
            print(f"{'':>16}{c['at']}  newsletter={'yes' if c['newsletter'] else 'no'}  via {c['source']}")
    return 0


def forget(ctx, args) -> int:
    if not args.yes and sys.stdin.isatty():
        answer = input(f"Erase all personal data of {args.email}? This cannot be undone. [y/N] ")
        if answer.strip().lower() not in {"y", "yes", "j", "ja"}:
            print("nothing erased")
            return 1
    with ctx.session() as session:
        registry.forget(session, ctx.alliance(session), args.email)
    print(f"personal data of {args.email} erased; anonymous counts kept")
    return 0


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def _groups(session, alliance):
    from hub.alliance import groups

    return groups(session, alliance)
