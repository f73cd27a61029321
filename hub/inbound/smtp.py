"""Receive over SMTP or LMTP: aiosmtpd with the alliance's own addresses only, limits, and spool-before-250.

The handler is a thin shell: RCPT asks `route.accepts_recipient`; DATA lines go to a spool draft as
they arrive (aiosmtpd's own DATA keeps every line in memory, then their join: three times a 27 MB
message), and the handler commits the draft — fsync, rename — in a worker thread (fsync blocks; the
event loop must keep serving other clients, aiosmtpd #293) and answers 250 only after that returned.
What happens next is the caller's `on_spooled(entry)`, which runs on the event loop right after the
250 and must not block: `hub serve` puts the entry on a queue for its filing process.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import threading
from collections.abc import Callable, Sequence
from functools import partial

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from hub.addresses import for_log
from hub.config import Config
from hub.errors import HubError
from hub.inbound import spool
from hub.inbound.message import Directory, GroupEntry
from hub.inbound.route import accepts_recipient
from hub.inbound.sessions import Guarded, SessionLimits, Summary
from hub.inbound.smtp_data import SpoolingData
from hub.inbound.smtp_paths import PlainPaths

log = logging.getLogger("hub.inbound.smtp")

OnSpooled = Callable[[spool.SpoolEntry], None]

# How often one connection may repeat a command: an MTA that keeps its connection open (Postfix's
# connection cache) may deliver thousands of messages on it; idle chatter is limited.
COMMAND_CALL_LIMIT = {"MAIL": 10_000, "RCPT": 100_000, "DATA": 10_000, "RSET": 10_000, "NOOP": 20, "*": 100}

# accept() errors for which asyncio pauses the listening socket for a second and tries again
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def recipient_directory(config: Config) -> Directory:
    """The alliance's addresses as RCPT checking sees them (senders do not matter there)."""
    return Directory(
        domain=config.alliance.domain,
        protocol_address=config.mail.protocol_address,
        groups=[GroupEntry(slug=g.slug, name=g.name, aliases=tuple(g.aliases)) for g in config.group],
        senders={},
    )


def own_addresses(config: Config) -> tuple[str | None, ...]:
    return (config.mail.office_address, config.mail.bounce_address, config.mail.unsubscribe_address)


def peer_address(session: Session) -> str | None:
    """The client's IP address, for the sender check's SPF (None on a Unix socket)."""
    peer = session.peer
    return peer[0] if isinstance(peer, tuple) and peer and isinstance(peer[0], str) else None


class InboundHandler:
    """aiosmtpd handler: accept the recipients of the alliances served (`alliances`, else the config's own),
    spool durably, then say 250."""

    def __init__(self, config: Config, on_spooled: OnSpooled, protocol: str | None = None,
                 alliances: Sequence[Config] = ()):
        self.config = config
        self.on_spooled = on_spooled
        self.protocol = protocol or config.inbound.protocol
        self.recipients = [(recipient_directory(each), own_addresses(each)) for each in alliances or (config,)]
        self._idle = threading.Condition()
        self._in_flight = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.inbound.max_recipients:
            return "452 4.5.3 Too many recipients"
        alliance = next((index for index, (directory, own) in enumerate(self.recipients)
                         if accepts_recipient(address, directory, own)), None)
        if alliance is None:
            log.info("refused recipient %s from %s", for_log(None, address), session.peer)
            return "550 5.1.1 No such user here (no relaying)"
        # One message is filed for one alliance: a recipient of another waits for a transaction of its own,
        # which "452 too many recipients" asks the client for (RFC 5321 section 4.5.3.1.10).
        if envelope.rcpt_tos and getattr(envelope, "hub_alliance", alliance) != alliance:
            return "452 4.5.3 Too many recipients (one alliance per message; send the rest again)"
        envelope.hub_alliance = alliance
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        count = len(envelope.rcpt_tos) if self.protocol == "lmtp" else 1
        with self._idle:
            self._in_flight += 1
        draft: spool.Draft | None = getattr(envelope, "spool_draft", None)
        try:
            loop = asyncio.get_running_loop()
            details = {"via": self.protocol, "envelope_from": envelope.mail_from or None,
                       "envelope_to": list(envelope.rcpt_tos), "peer": peer_address(session),
                       "helo": session.host_name or None}
            if draft is not None:
                entry = await loop.run_in_executor(None, partial(draft.commit, **details))
            else:  # a plain aiosmtpd server collected the message in memory
                entry = await loop.run_in_executor(None, partial(
                    spool.write, self.config.data_dir, envelope.original_content, **details))
        except OSError:
            log.exception("could not spool a message from %s", session.peer)
            if draft is not None:
                draft.discard()
            return "\r\n".join(["451 4.3.0 Local problem storing the message, try again later"] * count)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()
        # No envelope sender: the listener cannot tell a partner's address from a stranger's, and logs never
        # name people; filing logs the partner's id.
        log.info("received %s via %s for %d recipient(s)", entry.label, self.protocol, len(envelope.rcpt_tos))
        # Handed on only after the 250 below is written: filing never delays or races the sender's answer.
        asyncio.get_running_loop().call_soon(self.on_spooled, entry)
        # LMTP answers once per recipient (RFC 2033); the one spooled copy serves them all.
        return "\r\n".join(["250 2.0.0 OK: queued"] * count)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default reply carries the exception text to the client; a log line is enough.
        log.error("SMTP session error: %s: %s", type(error).__name__, error)
        return "451 4.3.0 Local error, try again later"

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no message is being spooled (a graceful stop finishes the current message)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)


class SpoolingSMTP(Guarded, PlainPaths, SpoolingData, SMTP):
    pass


class SpoolingLMTP(Guarded, PlainPaths, SpoolingData, LMTP):
    pass


class Listener:
    """The SMTP/LMTP server on its own event loop in its own thread; `start()` returns once it listens."""

    def __init__(self, config: Config, on_spooled: OnSpooled, host: str | None = None, port: int | None = None,
                 alliances: Sequence[Config] = ()):
        self.config = config
        self.handler = InboundHandler(config, on_spooled, alliances=alliances)
        self.host = host if host is not None else config.inbound.host
        self.port = port if port is not None else config.inbound.port
        self.name = f"{config.inbound.protocol} listener"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.limits: SessionLimits | None = None
        self._accept_failures: Summary | None = None
        self._stopping = False

    def _protocol(self) -> SMTP:
        server_class = SpoolingLMTP if self.config.inbound.protocol == "lmtp" else SpoolingSMTP
        server = server_class(
            self.handler,
            hostname=self.config.alliance.domain,  # no getfqdn(): a DNS lookup per connection without network
            data_size_limit=self.config.inbound.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            timeout=self.config.inbound.timeout,
            command_call_limit=COMMAND_CALL_LIMIT,
            loop=self._loop,
        )
        server.limits = self.limits
        server.data_timeout = self.config.inbound.data_timeout
        return server

    def _exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        """asyncio logs a failed accept() with its traceback, once a second for as long as descriptors lack;
        the hub counts them instead and logs one line a minute. asyncio itself pauses the listening socket
        for a second and tries again; the sessions already open go on meanwhile."""
        exc = context.get("exception")
        if self._stopping and isinstance(exc, ValueError | OSError) and "_start_serving" in repr(context.get("handle")):
            return  # asyncio's retry of a paused accept() finds the socket closed by stop(): nothing to serve
        if (self._accept_failures is not None and isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES
                and "socket" in context and context.get("message", "").startswith("socket.accept()")):
            self._accept_failures.note()
            return
        loop.default_exception_handler(context)

    def _check_descriptors(self) -> None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = self.config.inbound.max_sessions + 64  # spool files, database, worker processes
        if soft != resource.RLIM_INFINITY and soft < wanted:
            log.warning("only %d file descriptors (ulimit -n) for up to %d SMTP sessions ([inbound] max_sessions);"
                        " raise the limit to %d or more, or lower max_sessions", soft,
                        self.config.inbound.max_sessions, wanted)

    def start(self) -> None:
        self._stopping = False
        self._loop = asyncio.new_event_loop()
        self.limits = SessionLimits(self._loop, self.config.inbound.max_sessions,
                                    self.config.inbound.max_sessions_per_client)
        self._accept_failures = Summary(self._loop, "out of file descriptors: accept() failed %d time(s), new "
                                                    "connections wait in the backlog; raise ulimit -n or lower "
                                                    "[inbound] max_sessions")
        self._loop.set_exception_handler(self._exception_handler)
        self._check_descriptors()
        try:
            self._server = self._loop.run_until_complete(
                self._loop.create_server(self._protocol, self.host, self.port)
            )
        except OSError as exc:
            self._loop.close()
            raise HubError(f"cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                           "is another hub running? change [inbound] port or pass --port") from None
        self.port = self._server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True)
        self._thread.start()
        log.info("%s on %s:%s", self.name, self.host, self.port)

    def stop(self, timeout: float = 30) -> None:
        """Stop accepting connections, let a message being spooled finish, then end the loop."""
        if self._loop is None or self._server is None:
            return
        self._stopping = True
        self._loop.call_soon_threadsafe(self._server.close)
        self.handler.wait_idle(timeout)
        asyncio.run_coroutine_threadsafe(_end_sessions(), self._loop).result(timeout)
        for summary in (self._accept_failures, self.limits.refused):
            self._loop.call_soon_threadsafe(summary.flush)  # what was counted since the last line
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
        self._loop.close()
        self._loop = self._server = self._thread = None


async def _end_sessions() -> None:
    """Close the connections still open (none of them is in the middle of spooling any more)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
