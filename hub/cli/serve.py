"""`hub serve`: receive by SMTP/LMTP and IMAP and file what comes in, until SIGTERM or Ctrl-C."""

from __future__ import annotations

from hub import supervisor


def serve(ctx, args) -> int:
    return supervisor.run(ctx.config, host=args.host, port=args.port, imap=not args.no_imap)
