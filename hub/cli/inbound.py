"""`hub ingest` (mail from files or a pipe) and `hub protocols …` (the archive and the review queue)."""

from __future__ import annotations

from hub import filing, quarantine, queries, review, steps
from hub.cli.ingest import read
from hub.cli.render import print_fields, print_json, print_table
from hub.cli.when import when
from hub.errors import NotFound, UsageError
from hub.i18n import _
from hub.models import InboundMessage, MessageStatus


def ingest(ctx, args) -> int:
    config = ctx.config
    failures = 0
    with filing.reader(config) as read_document:  # one sandbox for the attachments of all files
        for name in args.files:
            raw = read(name)
            if raw is None:
                failures += 1
                continue
            result = filing.ingest_bytes(config, raw, via="file", envelope_from=args.sender,
                                          envelope_to=args.recipient, read_document=read_document)
            data = result.as_json()
            if args.json:
                print_json(data)
            else:
                where = f" → {data['group']}" if data["group"] else ""
                print(f"{name}: {kind_label(data['kind'])} {status_label(data['status'])}{where} — "
                      f"{data['reason']}")
    return 1 if failures else 0


def list_protocols(ctx, args) -> int:
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        group_id = ctx.group(session, alliance, args.group).id if args.group else None
        messages = queries.messages(session, alliance.id, held=args.held, protocols_only=not args.all,
                                    group_id=group_id, limit=args.limit)
        slugs = queries.group_slugs(session, alliance.id)
    if args.json:
        print_json([
            {"id": m.id, "received_at": m.received_at.isoformat(), "kind": m.kind, "status": m.status,
             "group": slugs.get(m.group_id), "sender": m.sender, "subject": m.subject,
             "meeting_date": m.meeting_date.isoformat() if m.meeting_date else None, "reason": m.reason}
            for m in messages
        ])
        return 0
    tz = ctx.config.tz
    print_table([
        {"id": m.id, "received": when(m.received_at, tz), "status": status_label(m.status),
         "group": slugs.get(m.group_id), "sender": m.sender, "subject": _short(m.subject, 50),
         "meeting_date": when(m.meeting_date, tz) if m.meeting_date else None}
        for m in messages
    ], {"id": "ID", "received": _("Eingang"), "status": _("Status"), "group": _("Gruppe"),
        "sender": _("Absender"), "subject": _("Betreff"), "meeting_date": _("Sitzung")})
    return 0


def show(ctx, args) -> int:
    tz = ctx.config.tz
    with ctx.session() as session:
        message = queries.message(session, ctx.alliance(session).id, args.id)
        if message is None:
            raise NotFound(_("keine Nachricht mit der Nummer %(id)s; siehe `hub protocols list`") % {"id": args.id})
        data = review.show(session, message.id)
        dates = (message.received_at, message.sent_at, message.meeting_date, message.next_meeting_start)
    if args.json:
        print_json(data)
        return 0
    received, sent, meeting_date, next_start = (when(d, tz) if d else None for d in dates)
    fields = [
        ("ID", data["id"]), ("Message-ID", data["message_id"]), (_("Art"), kind_label(data["kind"])),
        (_("Status"), status_label(data["status"])), (_("Gruppe"), data["group"]), (_("Absender"), data["sender"]),
        (_("Betreff"), data["subject"]), (_("Eingang"), received), (_("Datum"), sent), (_("Sitzung"), meeting_date),
    ]
    if next_start:
        location = data["next_meeting"]["location"]
        fields.append((_("nächstes Treffen"), next_start + (f", {location}" if location else "")))
    fields.append((_("Grund"), data["reason"]))
    if data["error"]:
        fields.append((_("Fehler"), data["error"]))
    if data["error_stage"]:
        fields.append((_("Schritt"), steps.stage_name(data["error_stage"])))
    for a in data["attachments"]:
        fields.append((_("Anhang"), _("%(file)s (%(type)s, %(size)s Bytes, %(chars)s Zeichen Text)") % {
            "file": a["filename"], "type": a["content_type"], "size": a["size"], "chars": a["text_chars"]}))
    print_fields(fields)
    print()
    print(data["text"])
    return 0


def assign(ctx, args) -> int:
    with ctx.session() as session:
        return _decided(review.assign(session, ctx.config, args.id, args.slug))


def release(ctx, args) -> int:
    with ctx.session() as session:
        return _decided(review.release(session, ctx.config, args.id))


def reject(ctx, args) -> int:
    with ctx.session() as session:
        return _decided(review.reject(session, ctx.config, args.id))


def retry(ctx, args) -> int:
    if bool(args.ids) == args.all:
        raise UsageError(_("Geben Sie entweder Nummern (ID) oder --all an"))
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        ids = args.ids or [m.id for m in queries.quarantined(session, alliance.id)]
        for message_id in ids:
            if queries.message(session, alliance.id, message_id) is None:
                raise NotFound(_("keine Nachricht mit der Nummer %(id)s; siehe `hub protocols list`")
                               % {"id": message_id})
    still = 0
    with filing.reader(ctx.config) as read_document:
        for message_id in ids:  # one transaction each: a message that fails again does not undo the others
            with ctx.session() as session:
                message = quarantine.retry(session, ctx.config, message_id, read_document)
                still += message.status == MessageStatus.quarantined
                _decided(message)
    if not ids:
        print(_("Keine Nachricht in Quarantäne."))
    return 1 if still else 0


def _decided(message: InboundMessage) -> int:
    print(_("Nachricht %(id)s: %(status)s") % {"id": message.id, "status": status_label(message.status)})
    return 0


def kind_label(kind: str) -> str:
    return {"protocol": _("Protokoll"), "bounce": _("Unzustellbarkeitsmeldung"),
            "autoreply": _("automatische Antwort"), "reply": _("Antwort an die Geschäftsstelle"),
            "other": _("sonstige Mail")}.get(kind, kind)


def status_label(status: str) -> str:
    return {"filed": _("abgelegt"), "held": _("zurückgehalten"), "rejected": _("abgelehnt"),
            "recorded": _("erfasst"), "duplicate": _("schon vorhanden"),
            "quarantined": _("nicht verarbeitet (Quarantäne)")}.get(status, status)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
