"""`hub serve`: receive by SMTP/LMTP and IMAP and file what comes in, until SIGTERM or Ctrl-C."""

from __future__ import annotations

from hub import serve as serving


def serve(ctx, args) -> int:
    return serving.run(ctx.config, host=args.host, port=args.port, imap=not args.no_imap)
