"""`hub protocols search QUERY [--group SLUG] [--since DATE] [--json]`: the archive's full-text search."""

from __future__ import annotations

from babel.numbers import format_decimal

from hub import dates, queries, search
from hub.cli.render import print_json
from hub.cli.when import when
from hub.errors import UsageError
from hub.i18n import _, active, ngettext


def search_command(ctx, args) -> int:
    if args.limit < 1:
        raise UsageError(_("--limit: geben Sie eine Zahl ab 1 an"))
    since = dates.day_start(dates.parse_date(args.since), ctx.config.tz) if args.since else None
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        group = ctx.group(session, alliance, args.group) if args.group else None
        results = search.search_protocols(session, alliance, args.query, group=group, since=since, limit=args.limit)
        slugs = queries.group_slugs(session, alliance.id)
    if args.json:
        print_json({"query": args.query, "total": results.total, "more": results.more, "results": [
            {"id": hit.message.id, "received_at": hit.message.received_at.isoformat(),
             "group": slugs.get(hit.message.group_id), "subject": hit.message.subject,
             "meeting_date": hit.message.meeting_date.isoformat() if hit.message.meeting_date else None,
             "snippet": search.plain(hit.snippet), "highlights": _spans(hit.snippet)}
            for hit in results.hits]})
        return 0
    if results.more:
        print(_("Mehr als %(count)s Protokolle gefunden; die besten der neuesten %(count)s zuerst.")
              % {"count": format_decimal(results.total, locale=active())})
    else:
        print(ngettext("%(count)d Protokoll gefunden.", "%(count)d Protokolle gefunden.", results.total)
              % {"count": results.total})
    tz = ctx.config.tz
    for hit in results.hits:
        message = hit.message
        print()
        print(f"{message.id:>6}  {when(message.received_at, tz)}  {slugs.get(message.group_id) or '-'}")
        # Brackets, not colours: the output is read in pipes and mails as often as in a terminal.
        print(f"        {search.plain(hit.title, '»', '«') or _('(ohne Betreff)')}")
        print(f"        {search.plain(hit.snippet, '»', '«')}")
    if results.total > len(results.hits):
        print()
        print(_("Die besten %(shown)d von %(count)d; mehr mit --limit.") % {"shown": len(results.hits),
                                                                         "count": results.total})
    return 0


def _spans(pieces: search.Pieces) -> list[list[int]]:
    """Where the found words are in the plain snippet: [start, end) character offsets."""
    spans, at = [], 0
    for text, hit in pieces:
        if hit:
            spans.append([at, at + len(text)])
        at += len(text)
    return spans
