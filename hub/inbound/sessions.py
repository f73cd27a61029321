"""Sessions of the listener: how many are open in all and per client address, 421 beyond that before any
handler work, timeouts that tell the client (421) and drop it, and log lines that count floods instead of
repeating them."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("hub.inbound.smtp")

SUMMARY_INTERVAL = 60.0  # seconds: refused connections are counted and logged at most once in this time
ABORT_AFTER = 5.0  # seconds a timed-out client gets to take its 421 before the socket is dropped
IDLE_WHEN_FULL = 10.0  # seconds: when every session is taken, one idle this long makes room (Postfix's stress mode)


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
    """How many sessions are open, in all and per client address; used on the event loop's thread only.

    When all `total` are taken, the session idle longest (at least `idle_when_full` seconds) is closed with 421
    to make room, as Postfix shortens its timeouts under stress: idle connections from many addresses must not
    keep every sender out until their `timeout` runs out."""

    def __init__(self, loop: asyncio.AbstractEventLoop, total: int, per_client: int,
                 idle_when_full: float = IDLE_WHEN_FULL):
        self.loop = loop
        self.total = total
        self.per_client = per_client
        self.idle_when_full = idle_when_full
        self.open = 0
        self.by_client: dict[str, int] = {}
        self.sessions: set[Guarded] = set()
        self.refused = Summary(loop, "refused %d connection(s) beyond [inbound] max_sessions or "
                                     "max_sessions_per_client with 421")
        self.evicted = Summary(loop, "closed %d idle session(s) to make room for new clients (all [inbound] "
                                     "max_sessions were taken)")

    def admit(self, client: str) -> bool:
        if self.by_client.get(client, 0) >= self.per_client or (self.open >= self.total and not self._make_room()):
            self.refused.note()
            return False
        self.open += 1
        self.by_client[client] = self.by_client.get(client, 0) + 1
        return True

    def _make_room(self) -> bool:
        cutoff = self.loop.time() - self.idle_when_full
        idle = [s for s in self.sessions if s.active_at <= cutoff and not s.evicting]
        if not idle:
            return False
        min(idle, key=lambda s: s.active_at).evict()
        self.evicted.note()
        return True

    def release(self, client: str) -> None:
        self.open -= 1
        left = self.by_client.pop(client) - 1
        if left:
            self.by_client[client] = left


class Guarded:
    """Session limits and timeouts around aiosmtpd's protocol.

    A client beyond the limits gets 421 instead of the greeting and is disconnected, before any handler work.
    aiosmtpd's `timeout` runs from the last command; when it strikes, the client is told (421, RFC 5321
    4.5.3.2) and dropped. In DATA, each line counts as activity, and the whole message has `data_timeout`."""

    limits: SessionLimits | None = None
    data_timeout: float = 600
    active_at: float = 0.0  # the loop's time of the client's last command or line
    evicting = False
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
            self.active_at = self.loop.time()
            self.limits.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._client is not None and self.limits is not None:
            self.limits.release(self._client)
            self.limits.sessions.discard(self)
            self._client = None
        super().connection_lost(error)

    def _reset_timeout(self, duration: float | None = None) -> None:
        self.active_at = self.loop.time()
        super()._reset_timeout(duration)

    def evict(self) -> None:
        """Close this idle session to make room (see `SessionLimits`), telling the client why."""
        self.evicting = True
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(b"421 4.7.0 Too busy: closing idle connection\r\n")
        transport.close()
        self.loop.call_later(ABORT_AFTER, transport.abort)

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
