"""`hub serve`: receive by SMTP/LMTP and IMAP and file what comes in, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import os

from hub import config, supervisor


def serve(ctx, args) -> int:
    """One alliance when one is named (--alliance, $HUB_ALLIANCE), else every alliance of the installation."""
    chosen = args.alliance or os.environ.get("HUB_ALLIANCE")
    alliances = [ctx.config] if chosen else config.load_all(args.config)
    return supervisor.run(alliances[0], host=args.host, port=args.port, imap=not args.no_imap,
                          alliances=alliances)
