"""`hub outbox …`: what the hub will send, has sent, could not send; send what is due now."""

from __future__ import annotations

import sys

from hub.cli import command, group, print_json, print_table
from hub.errors import UsageError
from hub.models import OutboundMail
from hub.outbound import deliver, outbox


def register(sub) -> None:
    box = group(sub, "outbox", "outbox: list, show, retry, cancel and send (flush) outgoing mail")

    p = command(box, "list", list_deliveries, "list deliveries, newest first")
    p.add_argument("--state", choices=outbox.STATES, help="only deliveries in this state")
    p.add_argument("--limit", type=int, default=200, help="at most this many (default 200)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(box, "show", show, "everything about one delivery")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(box, "retry", retry, "send a failed, deferred or cancelled delivery again, now")
    p.add_argument("id", type=int, nargs="?")
    p.add_argument("--failed", action="store_true", help="retry every failed delivery")

    p = command(box, "cancel", cancel, "do not send this delivery")
    p.add_argument("id", type=int)

    p = command(box, "flush", flush, "send everything that is due now (SMTP smarthost, or the Maildir outbox)")
    p.add_argument("--limit", type=int, help="send at most this many")
    p.add_argument("--json", action="store_true", help="print JSON")


def list_deliveries(ctx, args) -> int:
    with ctx.session() as session:
        rows = outbox.listing(session, state=args.state, limit=args.limit)
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "state", "recipient", "kind", "subject", "attempts", "sent_at", "last_reply"])
    return 0


def show(ctx, args) -> int:
    with ctx.session() as session:
        delivery = outbox.get(session, args.id)
        data = outbox.describe(delivery, session.get(OutboundMail, delivery.mail_id))
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            print(f"{key:>15}: {value if value is not None else '-'}")
    return 0


def retry(ctx, args) -> int:
    if (args.id is None) == (not args.failed):
        raise UsageError("hub outbox retry: give a delivery ID or --failed (see `hub outbox retry --help`)")
    with ctx.session() as session:
        count = outbox.retry(session, args.id, failed=args.failed)
    print(f"{count} deliver{'y' if count == 1 else 'ies'} queued again; `hub outbox flush` sends now")
    return 0


def cancel(ctx, args) -> int:
    with ctx.session() as session:
        outbox.cancel(session, args.id)
    print(f"delivery {args.id} cancelled")
    return 0


def flush(ctx, args) -> int:
    config = ctx.config
    bar = _ProgressBar() if sys.stderr.isatty() and not args.json else None
    result = deliver.flush(config, limit=args.limit, progress=bar)
    if bar:
        bar.finish()
    if args.json:
        print_json(result.as_dict())
    else:
        where = f"smarthost {config.smtp.host}" if config.smtp else f"Maildir {deliver.maildir_path(config)}"
        print(f"{result.sent} sent to {where}, {result.deferred} deferred, {result.failed} failed, "
              f"{result.cancelled} cancelled ({result.seconds:.1f} s)")
        if result.unreachable:
            print(f"the smarthost could not be reached: {result.unreachable}; the mail waits and is retried")
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
