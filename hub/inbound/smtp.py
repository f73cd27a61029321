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
from collections.abc import Callable
from functools import partial

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from hub.config import Config
from hub.errors import HubError
from hub.inbound import spool
from hub.inbound.message import Directory, GroupEntry
from hub.inbound.route import accepts_recipient

log = logging.getLogger("hub.inbound.smtp")

OnSpooled = Callable[[spool.SpoolEntry], None]

# How often one connection may repeat a command: an MTA that keeps its connection open (Postfix's
# connection cache) may deliver thousands of messages on it; idle chatter is limited.
CHUNK = 1 << 16  # DATA lines are passed to the spool draft in pieces of this size

COMMAND_CALL_LIMIT = {"MAIL": 10_000, "RCPT": 100_000, "DATA": 10_000, "RSET": 10_000, "NOOP": 20, "*": 100}

SUMMARY_INTERVAL = 60.0  # seconds: refused connections are counted and logged at most once in this time
ABORT_AFTER = 5.0  # seconds a timed-out client gets to take its 421 before the socket is dropped
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


class InboundHandler:
    """aiosmtpd handler: accept the alliance's own recipients, spool durably, then say 250."""

    def __init__(self, config: Config, on_spooled: OnSpooled, protocol: str | None = None):
        self.config = config
        self.on_spooled = on_spooled
        self.protocol = protocol or config.inbound.protocol
        self.directory = recipient_directory(config)
        self.own = own_addresses(config)
        self._idle = threading.Condition()
        self._in_flight = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.inbound.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not accepts_recipient(address, self.directory, self.own):
            log.info("refused recipient %s from %s", address, session.peer)
            return "550 5.1.1 No such user here (no relaying)"
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
                       "envelope_to": list(envelope.rcpt_tos)}
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
        log.info("received %s via %s from %s for %s", entry.path.name, self.protocol, envelope.mail_from,
                 ", ".join(envelope.rcpt_tos))
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


class Summary:
    """A log line for events that may come by the thousand: the first at once, later ones counted and
    logged as one line per `interval` (a flood of refused connections must not flood the log as well)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, message: str, interval: float = SUMMARY_INTERVAL):
        self.loop = loop
        self.message = message  # with one %d for the count
        self.interval = interval
        self.count = 0
        self.total = 0
        self._last: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def note(self) -> None:
        self.count += 1
        self.total += 1
        if self._last is None or self.loop.time() - self._last >= self.interval:
            self.flush()
        elif self._timer is None:
            self._timer = self.loop.call_at(self._last + self.interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.count:
            log.warning(self.message, self.count)
            self.count = 0
            self._last = self.loop.time()


class SessionLimits:
    """How many sessions are open, in all and per client address; used on the event loop's thread only."""

    def __init__(self, loop: asyncio.AbstractEventLoop, total: int, per_client: int):
        self.total = total
        self.per_client = per_client
        self.open = 0
        self.by_client: dict[str, int] = {}
        self.refused = Summary(loop, "refused %d connection(s) beyond [inbound] max_sessions or "
                                     "max_sessions_per_client with 421")

    def admit(self, client: str) -> bool:
        if self.open >= self.total or self.by_client.get(client, 0) >= self.per_client:
            self.refused.note()
            return False
        self.open += 1
        self.by_client[client] = self.by_client.get(client, 0) + 1
        return True

    def release(self, client: str) -> None:
        self.open -= 1
        left = self.by_client.pop(client) - 1
        if left:
            self.by_client[client] = left


class _Guarded:
    """Session limits and timeouts around aiosmtpd's protocol.

    A client beyond the limits gets 421 instead of the greeting and is disconnected, before any handler work.
    aiosmtpd's `timeout` runs from the last command; when it strikes, the client is told (421, RFC 5321
    4.5.3.2) and dropped. In DATA, each line counts as activity, and the whole message has `data_timeout`."""

    limits: SessionLimits | None = None
    data_timeout: float = 600
    _client: str | None = None
    _refused = False
    _data_deadline: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.limits is not None and self.transport is None and self._client is None:  # not again at STARTTLS
            peer = transport.get_extra_info("peername")
            client = str(peer[0]) if peer else "?"
            if not self.limits.admit(client):
                self._refused = True
                transport.write(f"421 4.7.0 {self.hostname} Too many connections, try again later\r\n".encode())
                transport.close()
                return
            self._client = client
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._client is not None and self.limits is not None:
            self.limits.release(self._client)
            self._client = None
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._data_deadline is not None and self.loop.time() >= self._data_deadline:
            log.info("%r DATA took longer than %s s", self.session.peer, self.data_timeout)
            transport.write(b"421 4.4.2 Message took too long, closing connection\r\n")
        else:
            transport.write(b"421 4.4.2 Timeout, closing connection\r\n")
        super()._timeout_cb()
        # close() waits for unsent replies; a client that reads nothing would hold its socket for ever
        self.loop.call_later(ABORT_AFTER, transport.abort)


class _SpoolingData:
    """aiosmtpd's DATA command with one change: each line is written to a spool draft as it arrives instead
    of being kept, so memory stays flat in the size of the message. Limits, dot-unstuffing and replies are
    aiosmtpd's (smtp.py, SMTP.smtp_DATA, 1.4)."""

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            draft = spool.Draft(self.event_handler.config.data_dir)
        except OSError:
            log.exception("could not open a spool file")
            await self._discard_data()
            self._set_post_data_state()
            await self.push("451 4.3.0 Local problem storing the message, try again later")
            return
        try:
            state = await self._receive(draft)
        except BaseException:
            draft.discard()
            raise
        if state is not None:
            draft.discard()
            self._set_post_data_state()
            await self.push(state)
            return
        self.envelope.spool_draft = draft
        self._reset_timeout()  # spooling (fsync) is the hub's time, not the client's
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _receive(self, draft: spool.Draft | None) -> str | None:
        """Read up to the lone dot; returns None, or the error reply (only after all data was read,
        RFC 5321 4.2.5)."""
        loop = asyncio.get_running_loop()
        self._data_deadline = loop.time() + self.data_timeout
        try:
            return await self._receive_lines(draft, loop)
        finally:
            self._data_deadline = None

    async def _receive_lines(self, draft: spool.Draft | None, loop: asyncio.AbstractEventLoop) -> str | None:
        size, limit = 0, self.data_size_limit
        fragments: list[bytes] = []
        lines: list[bytes] = []  # handed to the draft in pieces of CHUNK bytes
        pending = 0
        error = None
        reset_at, every = float("-inf"), min(1.0, self._timeout_duration / 4)  # not a new timer for each line
        while self.transport is not None:
            now = loop.time()
            if now - reset_at >= every:  # a line is activity: the idle timeout starts again, within the DATA limit
                reset_at = now
                self._reset_timeout(max(0.001, min(self._timeout_duration, self._data_deadline - now)))
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.CancelledError:
                log.info("connection lost during DATA")
                self._writer.close()
                raise
            except asyncio.LimitOverrunError as exc:  # a line beyond the stream limit: drain it
                error = error or "500 Line too long (see RFC5321 4.5.3.1.6)"
                line = await self._reader.read(exc.consumed)
            if not fragments and line == b".\r\n":
                break
            size += len(line)
            if error is None and limit and size > limit:
                error = "552 Error: Too much mail data"
            if fragments or not line.endswith(b"\r\n"):
                fragments.append(line)
                if not line.endswith(b"\r\n"):
                    continue
                line = b"".join(fragments)
                fragments.clear()
            if error is None and len(line) > self.line_length_limit:
                error = "500 Line too long (see RFC5321 4.5.3.1.6)"
            if error is None and draft is not None:
                lines.append(line[1:] if line[:1] == b"." else line)  # RFC 5321 4.5.2
                pending += len(line)
                if pending > CHUNK:
                    draft.write(b"".join(lines))
                    lines.clear()
                    pending = 0
        if error is None and draft is not None and lines:
            draft.write(b"".join(lines))
        return error

    async def _discard_data(self) -> None:
        await self._receive(None)


class SpoolingSMTP(_Guarded, _SpoolingData, SMTP):
    pass


class SpoolingLMTP(_Guarded, _SpoolingData, LMTP):
    pass


class Listener:
    """The SMTP/LMTP server on its own event loop in its own thread; `start()` returns once it listens."""

    def __init__(self, config: Config, on_spooled: OnSpooled, host: str | None = None, port: int | None = None):
        self.config = config
        self.handler = InboundHandler(config, on_spooled)
        self.host = host if host is not None else config.inbound.host
        self.port = port if port is not None else config.inbound.port
        self.name = f"{config.inbound.protocol} listener"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.limits: SessionLimits | None = None
        self._accept_failures: Summary | None = None

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
