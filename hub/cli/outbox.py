"""`hub outbox …`: what the hub will send, has sent, could not send; send what is due now."""

from __future__ import annotations

import sys
from datetime import datetime

from hub import delivery, outbox_actions
from hub.cli.render import print_fields, print_json, print_table
from hub.cli.when import when
from hub.errors import UsageError
from hub.i18n import _, ngettext
from hub.outbound import transports

DATES = ("next_attempt_at", "created_at", "sent_at", "lease_until")


def list_deliveries(ctx, args) -> int:
    with ctx.session() as session:
        rows = outbox_actions.listing(session, ctx.alliance(session), state=args.state, limit=args.limit)
    if args.json:
        print_json(rows)
    else:
        print_table([_readable(row, ctx.config.tz) for row in rows], {
            "id": "ID", "state": _("Zustand"), "recipient": _("Empfänger"), "kind": _("Art"),
            "subject": _("Betreff"), "attempts": _("Versuche"), "sent_at": _("gesendet"),
            "last_reply": _("letzte Antwort")})
    return 0


def show(ctx, args) -> int:
    with ctx.session() as session:
        data = outbox_actions.show(session, ctx.alliance(session), args.id)
    if args.json:
        print_json(data)
    else:
        labels = {
            "id": "ID", "mail_id": _("Mail-Nr."), "kind": _("Art"), "subject": _("Betreff"),
            "recipient": _("Empfänger"), "recipient_name": _("Name"), "state": _("Zustand"),
            "attempts": _("Versuche"), "next_attempt_at": _("nächster Versuch"), "created_at": _("angelegt"),
            "sent_at": _("gesendet"), "last_reply": _("letzte Antwort"), "message_id": "Message-ID",
            "leased_by": _("in Arbeit bei"), "lease_until": _("in Arbeit bis"), "source_ref": _("Anlass"),
        }
        print_fields([(labels.get(key, key), value) for key, value in _readable(data, ctx.config.tz).items()])
    return 0


def _readable(row: dict, tz) -> dict:
    dates = {key: when(datetime.fromisoformat(row[key]), tz) for key in DATES if row.get(key)}
    return {**row, **dates, "state": state_label(row["state"])}


def state_label(state: str) -> str:
    return {"queued": _("wartet"), "sending": _("wird gesendet"), "sent": _("gesendet"),
            "deferred": _("zurückgestellt"), "failed": _("fehlgeschlagen"),
            "cancelled": _("storniert")}.get(state, state)


def retry(ctx, args) -> int:
    if (args.id is None) == (not args.failed):
        raise UsageError(_("hub outbox retry: geben Sie eine Zustellungsnummer oder --failed an (siehe "
                           "`hub outbox retry --help`)"))
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        count = (outbox_actions.retry_failed(session, alliance) if args.failed
                 else outbox_actions.retry(session, alliance, args.id))
    print(ngettext("%(count)d Zustellung wieder eingereiht; `hub outbox flush` sendet sofort",
                   "%(count)d Zustellungen wieder eingereiht; `hub outbox flush` sendet sofort", count)
          % {"count": count})
    return 0


def cancel(ctx, args) -> int:
    with ctx.session() as session:
        outbox_actions.cancel(session, ctx.alliance(session), args.id)
    print(_("Zustellung %(id)s storniert") % {"id": args.id})
    return 0


def flush(ctx, args) -> int:
    config = ctx.config
    bar = _ProgressBar() if sys.stderr.isatty() and not args.json else None
    result = delivery.flush(config, limit=args.limit, progress=bar)
    if bar:
        bar.finish()
    if args.json:
        print_json(result.as_dict())
        return 1 if result.unreachable else 0
    where = (_("Smarthost %(host)s") % {"host": config.smtp.host} if config.smtp
             else _("Maildir %(path)s") % {"path": transports.maildir_path(config)})
    print(_("%(sent)d an %(where)s gesendet, %(deferred)d zurückgestellt, %(failed)d fehlgeschlagen, "
            "%(cancelled)d storniert (%(seconds).1f s)")
          % {"sent": result.sent, "where": where, "deferred": result.deferred, "failed": result.failed,
             "cancelled": result.cancelled, "seconds": result.seconds})
    if result.unreachable:
        print(_("der Smarthost war nicht erreichbar: %(error)s; die Mail wartet und wird erneut versucht")
              % {"error": result.unreachable})
    return 1 if result.unreachable else 0


class _ProgressBar:
    """A one-line bar on the terminal (stderr), redrawn at most every 1 %."""

    def __init__(self, width: int = 40):
        self.width = width
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if not total:
            return
        percent = min(100, done * 100 // total)
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.width * percent // 100
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.shown >= 0:
            sys.stderr.write("\n")
