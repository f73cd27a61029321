"""`hub serve`: receive by SMTP/LMTP and IMAP and file what comes in, until SIGTERM or Ctrl-C."""

from __future__ import annotations

from hub.cli import command


def register(sub) -> None:
    p = command(sub, "serve", serve, "run the hub: SMTP/LMTP listener, IMAP poller, filing, scheduler, outbox "
                "and web admin, until stopped")
    p.add_argument("--host", help="listen on this address instead of [inbound] host")
    p.add_argument("--port", type=int, help="listen on this port instead of [inbound] port")
    p.add_argument("--no-imap", action="store_true", help="do not poll [imap] even when it is configured")


def serve(ctx, args) -> int:
    from hub import serve as serving

    return serving.run(ctx.config, host=args.host, port=args.port, imap=not args.no_imap)
