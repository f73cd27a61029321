"""Delivery: due outbox rows go out through the `[smtp]` smarthost, or into the Maildir outbox.

Without `[smtp]` every message lands as one file per recipient in `<data_dir>/outbox/new/`, so a new
installation shows exactly what the hub would send, and nothing leaves the machine.

With `[smtp]`, `connections` connections share one rate limit of `rate_per_minute` whose bucket holds
at most one second's worth: after an outage the backlog goes out at the configured rate, never in a flood.
Each connection is stdlib smtplib in a thread of its own (see `transports.Smtp` for why), reused for
`messages_per_connection` messages. 4xx replies, timeouts and refused connections defer the row with
exponential backoff and jitter; a 5xx reply to the recipient or the message fails the row and counts as a
bounce (source "smtp"). When the smarthost cannot be reached at all, this flush stops claiming and defers
what it had claimed.

Crash window (invariant 2): a connection sends its next message only after the outcome of its previous
one is committed (outcomes of all connections are committed together, a group commit), so after a SIGKILL
at most `connections` rows can have been accepted by the smarthost but still be recorded as "sending".
Those rows are sent again once their lease (`[outbox] lease_seconds`) runs out — each such recipient may
get that one mail twice, with the same Message-ID. Rows claimed but not yet sent are sent once, later.
The Maildir outbox names each file after its delivery, so a resend there replaces the earlier file.

A flush only records what happened: the partners whose address it disabled after bounces are in
`FlushResult.disabled`, and the use case that called it (hub/delivery.py) tells the Geschäftsstelle.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError
from hub.i18n import _
from hub.models import Delivery
from hub.outbound import verp
from hub.outbound.assemble import Signer, Skeleton
from hub.outbound.delivery_records import FlushResult, Records
from hub.outbound.transports import Job, Outcome, TransportDown, describe_error, open_transport

log = logging.getLogger("hub.outbound")
LEASE_MARGIN = timedelta(seconds=1)
MAX_BATCH = 500


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def flush(
    config: Config,
    worker_id: str | None = None,
    limit: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FlushResult:
    """Send everything that is due now (at most `limit` rows); returns what became of it."""
    return asyncio.run(_Flush(config, worker_id or default_worker_id(), limit, stop, progress).run())


class RateLimit:
    """At most `per_minute` sends; the bucket never holds more than one second's worth of sends."""

    def __init__(self, per_minute: int):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.burst = max(1.0, per_minute / 60.0) * self.interval
        self.next_at = time.monotonic()

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        self.next_at = max(self.next_at, now - self.burst)
        delay = self.next_at - now
        self.next_at += self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class _Flush:
    def __init__(self, config, worker_id, limit, stop, progress):
        self.config = config
        self.worker_id = worker_id
        self.limit = limit
        self.stop = stop
        self.progress = progress
        self.result = FlushResult(transport="smtp" if config.smtp else "maildir")
        self.records = Records(config, worker_id, self.result)
        self.signer = Signer(config) if config.dkim else None
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")
        self.pending: list[tuple[Outcome, asyncio.Future]] = []
        self.recording = False
        self.done = 0
        self.total = 0
        smtp = config.smtp
        self.connections = smtp.connections if smtp else 1
        self.rate = RateLimit(smtp.rate_per_minute if smtp else 0)
        per_second = (smtp.rate_per_minute / 60.0) if smtp else float("inf")
        self.batch = int(max(1, min(MAX_BATCH, self.connections * 50, per_second * config.outbox.lease_seconds / 2)))
        self.password = None
        if smtp and smtp.user:
            self.password = os.environ.get(smtp.password_env)
            if self.password is None:
                raise HubError(_("[smtp] user ist gesetzt, aber $%(variable)s ist leer; legen Sie das Passwort "
                                 "des Smarthosts in dieser Variablen ab") % {"variable": smtp.password_env})

    async def run(self) -> FlushResult:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            if self.progress:  # only a progress bar needs the count: the outbox process flushes without one
                self.total = await loop.run_in_executor(self.db, self.records.due_count)
                self.progress(0, self.total)
            queue: asyncio.Queue = asyncio.Queue(maxsize=self.connections * 2)
            senders = [asyncio.create_task(self._sender(queue)) for _ in range(self.connections)]
            producer = asyncio.create_task(self._produce(queue))
            await asyncio.gather(producer, *senders)
        finally:
            self.db.shutdown(wait=True)
        self.result.seconds = round(time.monotonic() - started, 3)
        return self.result

    # --- the event loop side -------------------------------------------------------------------------

    async def _produce(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        claimed_total = 0
        try:
            while not self._stopping():
                want = self.batch if self.limit is None else min(self.batch, self.limit - claimed_total)
                if want <= 0:
                    break
                batch = await loop.run_in_executor(self.db, self.records.claim, want)
                if not batch:
                    break
                claimed_total += len(batch)
                for delivery, skel in batch:
                    try:
                        job = self._job(delivery, skel)
                    except (UnicodeError, ValueError) as exc:  # an address or value the message cannot carry
                        await self._record(Outcome(_unsendable(delivery), "failed", describe_error(exc)))
                        continue
                    await queue.put(job)
        finally:
            for _connection in range(self.connections):
                await queue.put(None)

    def _job(self, delivery: Delivery, skel: Skeleton) -> Job:
        data, message_id = skel.render(self.config, delivery)
        if self.signer:
            data = self.signer.sign(data)
        return Job(delivery_id=delivery.id, mail_id=delivery.mail_id, recipient=delivery.recipient,
                   sender=verp.envelope_sender(self.config, delivery.id), data=data, message_id=message_id,
                   lease_until=delivery.lease_until, created_at=delivery.created_at)

    def _stop_requested(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _stopping(self) -> bool:
        return bool(self.result.unreachable) or self._stop_requested()

    async def _sender(self, queue: asyncio.Queue) -> None:
        connection = open_transport(self.config, self.password)
        try:
            while (job := await queue.get()) is not None:
                if not self.result.unreachable and not self._stop_requested():
                    await self.rate.wait()
                if self.result.unreachable:
                    await self._record(Outcome(job, "deferred", self.result.unreachable))
                elif self._stop_requested() or utcnow() > job.lease_until - LEASE_MARGIN:
                    # not ours any more (or soon): another worker may claim it, so it must not go out from here
                    await self._record(Outcome(job, "released"))
                else:
                    try:
                        outcome = await connection.send(job)
                    except TransportDown as exc:
                        self.result.unreachable = str(exc)
                        log.warning("smarthost unreachable: %s", exc)
                        outcome = Outcome(job, "deferred", str(exc))
                    except Exception as exc:  # a bug must not leave the row leased: try it again later
                        log.exception("delivery %s failed unexpectedly", job.delivery_id)
                        outcome = Outcome(job, "deferred", describe_error(exc))
                    await self._record(outcome)
        finally:
            await connection.close()

    async def _record(self, outcome: Outcome) -> None:
        """Wait until the outcome is committed: the bound on rows sent but not recorded (module docstring)."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((outcome, future))
        if not self.recording:
            self.recording = True
            asyncio.get_running_loop().create_task(self._commit_pending())
        await future
        counter = {"sent": "sent", "deferred": "deferred", "failed": "failed", "released": "released"}[outcome.state]
        setattr(self.result, counter, getattr(self.result, counter) + 1)
        if outcome.state != "released":
            self.done += 1
            if self.progress:
                self.progress(self.done, max(self.total, self.done))

    async def _commit_pending(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    await loop.run_in_executor(self.db, self.records.apply, [o for o, _ in batch])
                except Exception as exc:
                    for _outcome, future in batch:
                        future.set_exception(exc)
                else:
                    for _outcome, future in batch:
                        future.set_result(None)
        finally:
            self.recording = False


def _unsendable(delivery: Delivery) -> Job:
    return Job(delivery_id=delivery.id, mail_id=delivery.mail_id, recipient=delivery.recipient, sender="", data=b"",
               message_id="", lease_until=delivery.lease_until, created_at=delivery.created_at)
