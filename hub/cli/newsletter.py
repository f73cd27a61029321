"""`hub newsletter …`: draft an issue (or the half-yearly report), preview, test, approve, send, list."""

from __future__ import annotations

import sys
import webbrowser
from datetime import datetime
from pathlib import Path

from hub import dates, newsletter, newsletter_mail
from hub.cli.render import print_json, print_table
from hub.cli.when import when
from hub.errors import UsageError
from hub.i18n import _


def _since(ctx, value: str | None) -> datetime | None:
    """The first day of the issue, as typed ("1.3.26", "01.03.2026", "2026-03-01"), from its midnight."""
    return dates.day_start(dates.parse_date(value), ctx.config.tz) if value else None


def _editorial(args) -> str | None:
    """The editorial from --editorial FILE or --text, None when neither was given."""
    if not args.editorial:
        return args.text
    try:
        return Path(args.editorial).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(_("--editorial %(file)s: Datei nicht gefunden") % {"file": args.editorial}) from None
    except UnicodeDecodeError:
        raise UsageError(_("--editorial %(file)s: ist nicht UTF-8; speichern Sie die Datei als UTF-8")
                         % {"file": args.editorial}) from None


def draft(ctx, args) -> int:
    with ctx.session() as session:
        issue = newsletter.draft(session, ctx.config, since=_since(ctx, args.since), editorial=_editorial(args) or "",
                                 report=args.report, with_proposed=args.with_proposed)
        data = newsletter.describe(issue)
    if args.json:
        print_json(data)
    else:
        print(_("Entwurf %(id)s angelegt: %(title)s (%(protocols)s Protokolle, %(upcoming)s Termine, "
                "%(new_partners)s neue Partner/innen).") % data)
        print(_("Ansehen: hub newsletter preview %(id)s   Freigeben: hub newsletter approve %(id)s") % data)
    return 0


def edit(ctx, args) -> int:
    editorial = _editorial(args)
    if editorial is None and args.title is None and args.with_proposed is None:
        raise UsageError(_("nichts zu ändern; geben Sie --editorial, --text, --title oder --with-proposed an"))
    with ctx.session() as session:
        newsletter.edit(session, ctx.alliance(session).id, args.id, editorial=editorial, title=args.title,
                        with_proposed=args.with_proposed)
    print(_("Ausgabe %(id)s geändert") % {"id": args.id})
    return 0


def preview(ctx, args) -> int:
    folder = Path(args.out) if args.out else ctx.config.data_dir / "previews"
    with ctx.session() as session:
        issue = newsletter.get(session, args.id, ctx.alliance(session).id)
        html_path, text_path = newsletter_mail.preview(ctx.config, issue, folder, args.language)
    print(html_path)
    print(text_path)
    if args.open:
        webbrowser.open(html_path.resolve().as_uri())
    return 0


def test(ctx, args) -> int:
    with ctx.session() as session:
        result = newsletter.test_send(session, ctx.config, args.id, args.to, alliance_id=ctx.alliance(session).id)
    if result.invalid:
        raise UsageError(_("--to %(address)s: keine E-Mail-Adresse") % {"address": args.to})
    print(_("Testausgabe an %(address)s in den Postausgang gelegt; senden mit `hub outbox flush`.")
          % {"address": args.to})
    return 0


def approve(ctx, args) -> int:
    with ctx.session() as session:
        issue = newsletter.approve(session, args.id, alliance_id=ctx.alliance(session).id)
        title = issue.title
    print(_("Ausgabe %(id)s freigegeben: %(title)s. Senden mit `hub newsletter send %(id)s`.")
          % {"id": args.id, "title": title})
    return 0


def send(ctx, args) -> int:
    show = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        if show:
            width = 30
            filled = width * done // max(total, 1)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            sys.stderr.flush()

    with ctx.session() as session:
        result = newsletter.send(session, ctx.config, args.id, progress=progress,
                                 alliance_id=ctx.alliance(session).id)
    if show:
        sys.stderr.write("\n")
    if args.json:
        print_json({"id": result.issue_id, "recipients": result.recipients, "queued": result.queued})
    else:
        print(_("Ausgabe %(id)s: %(queued)s von %(recipients)s Empfänger/innen in den Postausgang gelegt.")
              % {"id": result.issue_id, "queued": result.queued, "recipients": result.recipients})
    return 0


def list_issues(ctx, args) -> int:
    with ctx.session() as session:
        rows = newsletter.listing(session, ctx.alliance(session).id)
    if args.json:
        print_json(rows)
        return 0
    tz = ctx.config.tz
    kinds = {"digest": _("Newsletter"), "report": _("Bericht")}
    states = {"draft": _("Entwurf"), "approved": _("freigegeben"), "sending": _("wird gesendet"),
              "sent": _("gesendet")}
    print_table([{**r, "kind": kinds.get(r["kind"], r["kind"]), "state": states.get(r["state"], r["state"]),
                  "sent_at": when(datetime.fromisoformat(r["sent_at"]), tz) if r["sent_at"] else None}
                 for r in rows],
                {"id": "ID", "kind": _("Art"), "state": _("Zustand"), "title": _("Titel"),
                 "protocols": _("Protokolle"), "upcoming": _("Termine"), "recipients": _("Empfänger"),
                 "sent_at": _("gesendet")})
    return 0
