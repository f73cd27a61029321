"""`hub ingest` (mail from files or a pipe) and `hub protocols …` (the archive and the review queue)."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlmodel import select

from hub.cli import command, group, print_json, print_table
from hub.errors import HubError, UsageError
from hub.models import Group, InboundMessage


def register(sub) -> None:
    p = command(sub, "ingest", ingest, "file mail from files or standard input (for a Postfix pipe or procmail)")
    p.add_argument("files", nargs="+", metavar="FILE", help="raw mail files (.eml), or - for standard input")
    p.add_argument("--json", action="store_true", help="print one JSON object per message")
    p.add_argument("--recipient", action="append", default=[], metavar="ADDRESS",
                   help="envelope recipient (as a pipe transport gives it; repeatable)")
    p.add_argument("--sender", metavar="ADDRESS", help="envelope sender")

    protocols = group(sub, "protocols", "filed protocols and the review queue")
    p = command(protocols, "list", list_protocols, "list received protocols, newest first")
    p.add_argument("--group", metavar="SLUG", help="only this group")
    p.add_argument("--held", action="store_true", help="only mail held for review")
    p.add_argument("--all", action="store_true", help="also bounces, auto-replies and other mail")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(protocols, "show", show, "a protocol's text, attachments and why it was filed or held")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(protocols, "assign", assign, "file a message under a group")
    p.add_argument("id", type=int)
    p.add_argument("slug")
    p = command(protocols, "release", release, "file a held message under the group it was routed to")
    p.add_argument("id", type=int)
    p = command(protocols, "reject", reject, "reject a held message (kept, but never filed)")
    p.add_argument("id", type=int)


def ingest(ctx, args) -> int:
    from hub import service

    config = ctx.config
    failures = 0
    for name in args.files:
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            print(f"hub: {name}: cannot read ({exc.strerror}); nothing was filed from it", file=sys.stderr)
            failures += 1
            continue
        if not raw.strip():
            print(f"hub: {name}: empty file; nothing was filed from it", file=sys.stderr)
            failures += 1
            continue
        result = service.ingest_bytes(config, raw, via="file", envelope_from=args.sender,
                                      envelope_to=args.recipient)
        data = result.as_json()
        if args.json:
            print_json(data)
        else:
            where = f" → {data['group']}" if data["group"] else ""
            print(f"{name}: {data['kind']} {data['status']}{where} — {data['reason']}")
    return 1 if failures else 0


def list_protocols(ctx, args) -> int:
    with ctx.session() as session:
        query = select(InboundMessage).order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        if args.held:
            query = query.where(InboundMessage.status == "held")
        elif not args.all:
            query = query.where(InboundMessage.kind == "protocol")
        if args.group:
            group_id = session.exec(select(Group.id).where(Group.slug == args.group)).first()
            if group_id is None:
                raise UsageError(f"unknown group {args.group!r}; see `hub groups list`")
            query = query.where(InboundMessage.group_id == group_id)
        messages = session.exec(query.limit(args.limit)).all()
        slugs = {g.id: g.slug for g in session.exec(select(Group))}
    tz = ctx.config.tz
    rows = [
        {
            "id": m.id,
            "received": m.received_at.astimezone(tz).strftime("%d.%m.%Y %H:%M"),
            "received_at": m.received_at.isoformat(),
            "kind": m.kind,
            "status": m.status,
            "group": slugs.get(m.group_id),
            "sender": m.sender,
            "subject": m.subject,
            "meeting_date": m.meeting_date.isoformat() if m.meeting_date else None,
            "reason": m.reason,
        }
        for m in messages
    ]
    if args.json:
        print_json([{k: v for k, v in r.items() if k != "received"} for r in rows])
    else:
        print_table([{**r, "subject": _short(r["subject"], 50)} for r in rows],
                    ["id", "received", "status", "group", "sender", "subject", "meeting_date"])
    return 0


def show(ctx, args) -> int:
    with ctx.session() as session:
        message = session.get(InboundMessage, args.id)
        if message is None:
            raise HubError(f"no message with id {args.id}; see `hub protocols list`")
        from hub import service

        data = service.describe(session, message)
    if args.json:
        print_json(data)
        return 0
    for key in ("id", "message_id", "kind", "status", "group", "sender", "subject", "date", "meeting_date"):
        print(f"{key.replace('_', ' '):>13}: {data[key] if data[key] is not None else '-'}")
    if data["next_meeting"]:
        nm = data["next_meeting"]
        print(f"{'next meeting':>13}: {nm['start']}" + (f", {nm['location']}" if nm["location"] else ""))
    print(f"{'why':>13}: {data['reason']}")
    if data["error"]:
        print(f"{'error':>13}: {data['error']}")
    for a in data["attachments"]:
        print(f"{'attachment':>13}: {a['filename']} ({a['content_type']}, {a['size']} bytes, "
              f"{a['text_chars']} characters of text)")
    print()
    print(data["text"])
    return 0


def assign(ctx, args) -> int:
    return _decide(ctx, "assign", args.id, args.slug)


def release(ctx, args) -> int:
    return _decide(ctx, "release", args.id)


def reject(ctx, args) -> int:
    return _decide(ctx, "reject", args.id)


def _decide(ctx, name: str, *params) -> int:
    from hub import service

    action = getattr(service, name)
    with ctx.session() as session:
        message = action(session, ctx.config, *params)
        print(f"message {message.id}: {message.status}")
    return 0


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
