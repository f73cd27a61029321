"""Delivery: due outbox rows go out through the `[smtp]` smarthost, or into the Maildir outbox.

Without `[smtp]` every message lands as one file per recipient in `<data_dir>/outbox/new/`, so a new
installation shows exactly what the hub would send, and nothing leaves the machine.

With `[smtp]`, `connections` connections share one rate limit of `rate_per_minute` whose bucket holds
at most one second's worth: after an outage the backlog goes out at the configured rate, never in a flood.
Each connection is stdlib smtplib in a thread of its own (see `_Smtp` for why), reused for
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
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import os
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from hub.config import Config
from hub.db import engine_for, session_scope, utcnow
from hub.errors import HubError
from hub.i18n import _
from hub.models import Blob, Delivery, OutboundMail
from hub.outbound import bounces, outbox, verp
from hub.outbound.assemble import POLICY, Signer, Skeleton, ascii_address, skeleton

log = logging.getLogger("hub.outbound")
LEASE_MARGIN = timedelta(seconds=1)
_table = Delivery.__table__
SENT = (
    sa.update(_table).where(_table.c.id == sa.bindparam("_id"))
    .values(state="sent", sent_at=sa.bindparam("_at"), last_reply=sa.bindparam("_reply"),
            smtp_message_id=sa.bindparam("_mid"), lease_until=None, leased_by=None)
)
MAX_BATCH = 500


@dataclass
class Job:
    delivery_id: int
    mail_id: int
    recipient: str
    sender: str
    data: bytes
    message_id: str
    lease_until: datetime
    created_at: datetime


@dataclass
class Outcome:
    job: Job
    state: str  # sent | deferred | failed | released
    reply: str = ""
    bounce_status: str | None = None  # a recipient-specific SMTP reply: counts as a bounce on failure


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
    outcomes: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("sent", "deferred", "failed", "cancelled", "released", "transport",
                                               "unreachable", "seconds")}


class TransportDown(Exception):
    """The smarthost cannot be reached or refuses us (not one recipient): stop for now."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def maildir_path(config: Config) -> Path:
    return config.data_dir / "outbox"


def flush(
    config: Config,
    worker_id: str | None = None,
    limit: int | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FlushResult:
    """Send everything that is due now (at most `limit` rows); returns what became of it."""
    return asyncio.run(_Flush(config, worker_id or default_worker_id(), limit, stop, progress).run())


def run_worker(config: Config, stop_event: threading.Event) -> None:
    """The outbox loop of `hub serve`: flush what is due, wait, repeat until `stop_event` is set.

    While the smarthost is unreachable the pause grows like the retry backoff, so an outage costs no load.
    """
    worker_id = default_worker_id()
    pause = config.outbox.poll_seconds
    while not stop_event.is_set():
        try:
            result = flush(config, worker_id, stop=stop_event)
        except Exception:
            log.exception("outbox flush failed")
            result = FlushResult(unreachable="error")
        if result.unreachable:
            # capped at five minutes: new mail (a receipt) should not wait for the longest retry delay
            pause = min(300, config.outbox.retry_max_seconds, max(config.outbox.retry_base_seconds, pause * 2))
        else:
            pause = config.outbox.poll_seconds
        stop_event.wait(pause)


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

    def _due_count(self) -> int:
        with session_scope(self.config.database_url) as session:
            return outbox.due_count(session)

    def _claim(self, limit: int) -> list[tuple[Delivery, Skeleton]]:
        with session_scope(self.config.database_url) as session:
            cancelled: list[Delivery] = []
            claimed = outbox.claim(session, self.worker_id, limit, self.config.outbox.lease_seconds, cancelled)
            self.result.cancelled += len(cancelled)
            for mail_id in {d.mail_id for d in claimed} - self.skeletons.keys():
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
        if not others:
            # The common case, kept lean: it runs once per group commit, thousands of times per newsletter.
            with engine_for(self.config.database_url).begin() as connection:
                connection.execute(SENT, sent)
            return
        with session_scope(self.config.database_url) as session:
            if sent:
                session.connection().execute(SENT, sent)
            outbox.release(session, [o.job.delivery_id for o in others if o.state == "released"], self.worker_id)
            for outcome in others:
                if outcome.state in ("deferred", "failed"):
                    self._apply_failure(session, outcome)

    @staticmethod
    def _log(outcomes: list[Outcome]) -> None:
        """One line per event, like an MTA's log: what happened to which delivery and the server's reply."""
        for o in outcomes:
            if o.state == "released":
                continue
            level = logging.WARNING if o.state == "failed" else logging.INFO
            log.log(level, "%s delivery %d to %s: %s", o.state, o.job.delivery_id, o.job.recipient,
                    o.reply[:200] or "-")

    def _apply_failure(self, session: Session, outcome: Outcome) -> None:
        delivery = session.get(Delivery, outcome.job.delivery_id)
        if delivery is None:
            return
        permanent = outcome.state == "failed"  # a 5xx; giving up after 4xx replies is a transient bounce
        if outcome.state == "deferred":
            if outbox.mark_deferred(session, self.config, delivery, outcome.reply):
                return
            outcome.state = "failed"  # past `give_up_hours`: counted as failed
        else:
            outbox.mark_failed(session, delivery, outcome.reply)
        if outcome.bounce_status:
            partner = bounces.record_bounce(session, self.config, delivery.recipient, permanent=permanent,
                                            status=outcome.bounce_status, delivery_id=delivery.id, source="smtp")
            if bounces.newly_disabled(partner):
                from hub import mailings  # the notice is a composed mail; the outbox itself needs no templates

                mailings.send_bounce_notice(session, self.config, [partner])

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
                        await self._record(Outcome(_unsendable(delivery), "failed", _describe(exc)))
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
        connection = _Maildir(self.config) if self.config.smtp is None else _Smtp(self.config, self.password)
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
                        outcome = Outcome(job, "deferred", _describe(exc))
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


class _Maildir:
    """The embedded default: one file per recipient in `<data_dir>/outbox/new`, named after the delivery."""

    def __init__(self, config: Config):
        self.path = maildir_path(config)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.path, create=True)

    async def send(self, job: Job) -> Outcome:
        head = POLICY.fold_binary("Return-Path", f"<{job.sender}>") + POLICY.fold_binary("Delivered-To", job.recipient)
        name = f"{int(job.created_at.timestamp())}.D{job.delivery_id}.hub"
        tmp = self.path / "tmp" / name
        with open(tmp, "wb") as handle:
            handle.write(head.replace(b"\r\n", b"\n"))
            handle.write(job.data.replace(b"\r\n", b"\n"))
        # The same delivery written again after a crash replaces its file instead of adding a second one.
        os.replace(tmp, self.path / "new" / name)
        return Outcome(job, "sent", f"Maildir {name}")

    async def close(self) -> None:
        return None


class _Smtp:
    """One reused connection to the smarthost: stdlib smtplib, driven in a thread of its own.

    Measured against aiosmtplib on the same loop (bench/outbound.py --threads): aiosmtplib runs three regular
    expressions over every message (line ends twice, dot-stuffing once); smtplib sends bytes that are already
    CRLF with one, and releases the GIL while the socket works, so the threads send more than twice as fast.
    """

    def __init__(self, config: Config, password: str | None):
        self.config = config
        self.settings = config.smtp
        self.password = password
        self.client: smtplib.SMTP | None = None
        self.count = 0
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp")

    async def send(self, job: Job) -> Outcome:
        return await asyncio.get_running_loop().run_in_executor(self.thread, self._send, job)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.thread, self._quit)
        self.thread.shutdown(wait=False)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        ca = s.ca_file and str(Path(s.ca_file) if Path(s.ca_file).is_absolute() else self.config.base_dir / s.ca_file)
        context = ssl.create_default_context(cafile=ca or None)
        try:
            if s.tls == "implicit":
                client = smtplib.SMTP_SSL(s.host, s.port, local_hostname=socket.gethostname(), timeout=s.timeout,
                                          context=context)
            else:
                client = smtplib.SMTP(s.host, s.port, local_hostname=socket.gethostname(), timeout=s.timeout)
                if s.tls == "starttls":
                    client.starttls(context=context)
            if s.user:
                client.login(s.user, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportDown(f"smarthost {s.host} refused the login: {exc.smtp_code} {_text(exc.smtp_error)}") \
                from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportDown(f"smarthost {s.host}:{s.port} unreachable: {_describe(exc)}") from None
        self.count = 0
        return client

    def _send(self, job: Job) -> Outcome:
        if self.client is None:
            self.client = self._connect()
        client = self.client
        try:
            client.ehlo_or_helo_if_needed()
            options = [f"SIZE={len(job.data)}"] if client.does_esmtp and client.has_extn("size") else []
            code, message = client.mail(job.sender, options)
            if code != 250:
                self._drop()
                raise TransportDown(f"smarthost refused the sender {job.sender}: {code} {_text(message)}")
            code, message = client.rcpt(ascii_address(job.recipient))
            if code not in (250, 251):
                client.rset()
                return self._after_reply(_reply_outcome(job, code, _text(message), recipient=True), code)
            code, message = client.data(job.data)
            if code != 250:
                return self._after_reply(_reply_outcome(job, code, _text(message), recipient=True), code)
        except smtplib.SMTPResponseException as exc:  # DATA itself refused
            return self._after_reply(_reply_outcome(job, exc.smtp_code, _text(exc.smtp_error), recipient=False),
                                     exc.smtp_code)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Outcome(job, "deferred", _describe(exc))
        self.count += 1
        if self.count >= self.settings.messages_per_connection:
            self._quit()
        return Outcome(job, "sent", f"{code} {_text(message)}")

    def _after_reply(self, outcome: Outcome, code: int) -> Outcome:
        if code == 421:  # the server is closing the connection
            self._drop()
        return outcome

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _quit(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()
            self.client = None


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def _unsendable(delivery: Delivery) -> Job:
    return Job(delivery_id=delivery.id, mail_id=delivery.mail_id, recipient=delivery.recipient, sender="", data=b"",
               message_id="", lease_until=delivery.lease_until, created_at=delivery.created_at)


def _reply_outcome(job: Job, code: int, message: str, recipient: bool) -> Outcome:
    reply = f"{code} {message}".strip()
    status = _enhanced_status(message) or (f"{code // 100}.0.0" if recipient else None)
    if 500 <= code < 600:
        return Outcome(job, "failed", reply, bounce_status=status if recipient else None)
    return Outcome(job, "deferred", reply, bounce_status=status if recipient else None)


def _enhanced_status(message: str) -> str | None:
    first = (message or "").split(" ", 1)[0]
    parts = first.split(".")
    return first if len(parts) == 3 and all(p.isdigit() for p in parts) else None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
