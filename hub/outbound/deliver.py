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
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub.config import Config
from hub.db import engine_for, session_scope, utcnow
from hub.errors import HubError
from hub.i18n import _
from hub.models import Blob, Delivery, DeliveryState, OutboundMail
from hub.outbound import bounces, outbox, verp
from hub.outbound.assemble import Signer, Skeleton, skeleton
from hub.outbound.transports import Job, Outcome, TransportDown, describe_error, open_transport
from hub.tenancy import scoped_to

log = logging.getLogger("hub.outbound")
LEASE_MARGIN = timedelta(seconds=1)
_table = Delivery.__table__
SENT = (
    sa.update(_table).where(_table.c.id == sa.bindparam("_id"))
    .values(state=DeliveryState.sent, sent_at=sa.bindparam("_at"), last_reply=sa.bindparam("_reply"),
            smtp_message_id=sa.bindparam("_mid"), lease_until=None, leased_by=None)
)
_mails = OutboundMail.__table__
# The kinds of mail rendered for one person, with their name (or the name of the partner a notice is about) in
# the text: they keep their body only until it is sent (issue 13); then subject, kind and the delivery row stay.
# Mails for many (newsletters, relays, invitations) hold no one's personal values and are kept as they are.
PERSONAL_KINDS = ("receipt", "welcome", "subscribe_confirm", "unsubscribe_confirm", "task_reminder", "bounce_notice")
DROP_PERSONAL_BODIES = (
    sa.update(_mails)
    .where(_mails.c.id.in_(sa.bindparam("_ids", expanding=True)), _mails.c.kind.in_(PERSONAL_KINDS))
    .values(text="", html=None)
)
MAX_BATCH = 500


@dataclass
class FlushResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    cancelled: int = 0
    released: int = 0
    transport: str = "maildir"
    unreachable: str | None = None  # why the smarthost could not be reached, if it could not
    seconds: float = 0.0
    disabled: list[int] = field(default_factory=list)  # partners whose address this flush disabled (bounces)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("sent", "deferred", "failed", "cancelled", "released", "transport",
                                               "unreachable", "seconds", "disabled")}


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
        self.skeletons: dict[int, Skeleton] = {}
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
            self.total = await loop.run_in_executor(self.db, self._due_count)
            if self.progress:
                self.progress(0, self.total)
            queue: asyncio.Queue = asyncio.Queue(maxsize=self.connections * 2)
            senders = [asyncio.create_task(self._sender(queue)) for _ in range(self.connections)]
            producer = asyncio.create_task(self._produce(queue))
            await asyncio.gather(producer, *senders)
        finally:
            self.db.shutdown(wait=True)
        self.result.seconds = round(time.monotonic() - started, 3)
        return self.result

    # --- the database side (one thread, so SQLite sees one writer per process) -----------------------

    # Only the config's alliance's deliveries: each is signed, and its bounces addressed, as its alliance's.
    def _due_count(self) -> int:
        with alliance_module.unit_of_work(self.config) as session:
            return outbox.due_count(session, scoped_to(session))

    def _claim(self, limit: int) -> list[tuple[Delivery, Skeleton]]:
        with alliance_module.unit_of_work(self.config) as session:
            cancelled: list[Delivery] = []
            claimed = outbox.claim(session, self.worker_id, limit, self.config.outbox.lease_seconds, cancelled,
                                   scoped_to(session))
            self.result.cancelled += len(cancelled)
        # The mails are read and built after the claim's commit: building them is most of a claim's time, and on
        # SQLite the claim's transaction holds the one write lock that filing waits for meanwhile.
        missing = {d.mail_id for d in claimed} - self.skeletons.keys()
        if missing:
            with alliance_module.unit_of_work(self.config, read_only=True) as session:
                for mail_id in missing:
                    self.skeletons[mail_id] = self._skeleton(session, mail_id)
        if len(self.skeletons) > 64:
            keep = {d.mail_id for d in claimed}
            self.skeletons = {k: v for k, v in self.skeletons.items() if k in keep}
        return [(d, self.skeletons[d.mail_id]) for d in claimed]

    def _skeleton(self, session: Session, mail_id: int) -> Skeleton:
        mail = session.get(OutboundMail, mail_id)
        shas = [a["blob"] for a in mail.attachments or []]
        blobs = {b.sha256: b for b in session.exec(select(Blob).where(Blob.sha256.in_(shas)))} if shas else {}
        return skeleton(self.config, mail, blobs)

    def _apply(self, outcomes: list[Outcome]) -> None:
        self._log(outcomes)
        now = utcnow()
        sent = [{"_id": o.job.delivery_id, "_reply": o.reply[:500], "_mid": o.job.message_id, "_at": now}
                for o in outcomes if o.state == "sent"]
        others = [o for o in outcomes if o.state != "sent"]
        mails = sorted({o.job.mail_id for o in outcomes if o.state == "sent"})
        if not others:
            # The common case, kept lean: it runs once per group commit, thousands of times per newsletter.
            with engine_for(self.config.database_url).begin() as connection:
                connection.execute(SENT, sent)
                connection.execute(DROP_PERSONAL_BODIES, {"_ids": mails})
            return
        disabled: list[int] = []
        with session_scope(self.config.database_url) as session:
            if sent:
                session.connection().execute(SENT, sent)
                session.connection().execute(DROP_PERSONAL_BODIES, {"_ids": mails})
            outbox.release(session, [o.job.delivery_id for o in others if o.state == "released"], self.worker_id)
            for outcome in others:
                if outcome.state in ("deferred", "failed"):
                    disabled += self._apply_failure(session, outcome)
        self.result.disabled += disabled  # only once committed: the caller tells the Geschäftsstelle

    @staticmethod
    def _log(outcomes: list[Outcome]) -> None:
        """One line per event, like an MTA's log: what happened to which delivery and the server's reply."""
        for o in outcomes:
            if o.state == "released":
                continue
            level = logging.WARNING if o.state == "failed" else logging.INFO
            # The delivery's id, never its recipient (logs never name people); a reply that quotes the
            # address gets it masked.
            reply = re.sub(re.escape(o.job.recipient), "<recipient>", o.reply, flags=re.IGNORECASE) \
                if o.job.recipient else o.reply
            log.log(level, "%s delivery %d (mail %d): %s", o.state, o.job.delivery_id, o.job.mail_id,
                    reply[:200] or "-")

    def _apply_failure(self, session: Session, outcome: Outcome) -> list[int]:
        """Record a deferral or a failure; returns the partner whose address this bounce disabled, if any."""
        delivery = session.get(Delivery, outcome.job.delivery_id)
        if delivery is None:
            return []
        permanent = outcome.state == "failed"  # a 5xx; giving up after 4xx replies is a transient bounce
        if outcome.state == "deferred":
            if outbox.mark_deferred(session, self.config, delivery, outcome.reply):
                return []
            outcome.state = "failed"  # past `give_up_hours`: counted as failed
        else:
            outbox.mark_failed(session, delivery, outcome.reply)
        if outcome.bounce_status:
            partner = bounces.record_bounce(session, self.config, delivery.recipient, permanent=permanent,
                                            status=outcome.bounce_status, delivery_id=delivery.id, source="smtp")
            if bounces.newly_disabled(partner):
                return [partner.id]
        return []

    # --- the event loop side -------------------------------------------------------------------------

    async def _produce(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        claimed_total = 0
        try:
            while not self._stopping():
                want = self.batch if self.limit is None else min(self.batch, self.limit - claimed_total)
                if want <= 0:
                    break
                batch = await loop.run_in_executor(self.db, self._claim, want)
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
                    await loop.run_in_executor(self.db, self._apply, [o for o, _ in batch])
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
