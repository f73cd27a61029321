"""`hub newsletter …`: draft an issue (or the half-yearly report), preview, test, approve, send, list."""

from __future__ import annotations

import sys
import webbrowser
from datetime import datetime, time
from pathlib import Path

from hub import newsletter
from hub.cli import command, group, print_json, print_table
from hub.errors import UsageError


def register(sub) -> None:
    news = group(sub, "newsletter", "newsletter: draft, preview, test, approve, send and list issues")

    p = command(news, "draft", draft, "collect everything since the last issue into a new draft")
    p.add_argument("--since", help="start date YYYY-MM-DD (default: the end of the previous issue)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--editorial", metavar="FILE", help="the editorial as a Markdown file")
    what.add_argument("--text", help="the editorial as text (Markdown)")
    p.add_argument("--report", action="store_true", help="the half-yearly report, with a summary table")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(news, "preview", preview, "write the issue as HTML and text files and print their paths")
    p.add_argument("id", type=int)
    p.add_argument("--out", default=None, help="folder for the files (default: <data dir>/previews)")
    p.add_argument("--language", choices=["de", "en"], help="the language to preview (default: the alliance's)")
    p.add_argument("--open", action="store_true", help="open the HTML in a browser")

    p = command(news, "test", test, "send one test copy of the issue to an address")
    p.add_argument("id", type=int)
    p.add_argument("--to", required=True, metavar="ADDRESS")

    p = command(news, "approve", approve, "approve a draft for sending")
    p.add_argument("id", type=int)

    p = command(news, "send", send, "queue an approved issue for all subscribers (never twice)")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(news, "list", list_issues, "list issues, newest first")
    p.add_argument("--json", action="store_true", help="print JSON")


def _since(ctx, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise UsageError(f"--since {value!r}: write the date as YYYY-MM-DD, like 2026-03-01") from None
    return datetime.combine(day, time(0, 0), tzinfo=ctx.config.tz)


def draft(ctx, args) -> int:
    editorial = args.text or ""
    if args.editorial:
        try:
            editorial = Path(args.editorial).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"--editorial {args.editorial}: file not found") from None
        except UnicodeDecodeError:
            raise UsageError(f"--editorial {args.editorial}: is not UTF-8; save the file as UTF-8") from None
    with ctx.session() as session:
        issue = newsletter.draft(session, ctx.config, since=_since(ctx, args.since), editorial=editorial,
                                 report=args.report)
        data = newsletter.describe(issue)
    if args.json:
        print_json(data)
    else:
        print(f"Entwurf {data['id']} angelegt: {data['title']} ({data['protocols']} Protokolle, "
              f"{data['upcoming']} Termine, {data['new_partners']} neue Partner/innen).")
        print(f"Ansehen: hub newsletter preview {data['id']}   Freigeben: hub newsletter approve {data['id']}")
    return 0


def preview(ctx, args) -> int:
    folder = Path(args.out) if args.out else ctx.config.data_dir / "previews"
    with ctx.session() as session:
        issue = newsletter.get(session, args.id)
        html_path, text_path = newsletter.preview(ctx.config, issue, folder, args.language)
    print(html_path)
    print(text_path)
    if args.open:
        webbrowser.open(html_path.resolve().as_uri())
    return 0


def test(ctx, args) -> int:
    with ctx.session() as session:
        result = newsletter.test_send(session, ctx.config, args.id, args.to)
    if result.invalid:
        raise UsageError(f"--to {args.to}: not an e-mail address")
    print(f"Testausgabe an {args.to} in den Postausgang gelegt; senden mit `hub outbox flush`.")
    return 0


def approve(ctx, args) -> int:
    with ctx.session() as session:
        issue = newsletter.approve(session, args.id)
        title = issue.title
    print(f"Ausgabe {args.id} freigegeben: {title}. Senden mit `hub newsletter send {args.id}`.")
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
        result = newsletter.send(session, ctx.config, args.id, progress=progress)
    if show:
        sys.stderr.write("\n")
    if args.json:
        print_json({"id": result.issue_id, "recipients": result.recipients, "queued": result.queued})
    else:
        print(f"Ausgabe {result.issue_id}: {result.queued} von {result.recipients} Empfänger/innen in den "
              "Postausgang gelegt.")
    return 0


def list_issues(ctx, args) -> int:
    with ctx.session() as session:
        rows = newsletter.listing(session)
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "kind", "state", "title", "protocols", "upcoming", "recipients", "sent_at"])
    return 0
