"""Transports: how one rendered message reaches its recipient — the Maildir outbox or the SMTP smarthost.

Each connection of a flush is one transport object with `send(job) -> Outcome` and `close()`; neither
touches the database (deliver.py records the outcomes).
"""

from __future__ import annotations

import asyncio
import functools
import mailbox
import os
import smtplib
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hub.config import Config
from hub.outbound.headers import POLICY, ascii_address


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


class TransportDown(Exception):
    """The smarthost cannot be reached or refuses us (not one recipient): stop for now."""


def maildir_path(config: Config) -> Path:
    return config.data_dir / "outbox"


def open_transport(config: Config, password: str | None) -> Maildir | Smtp:
    """One connection: to the smarthost with `[smtp]`, else into the Maildir outbox."""
    return Maildir(config) if config.smtp is None else Smtp(config, password)


class Maildir:
    """The embedded default: one file per recipient in `<data_dir>/outbox/new`, named after the delivery."""

    def __init__(self, config: Config):
        self.path = maildir_path(config)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.path, create=True)

    async def send(self, job: Job) -> Outcome:
        # A thread: a slow disk must not stall the event loop that feeds the other connections.
        return await asyncio.to_thread(self._write, job)

    def _write(self, job: Job) -> Outcome:
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


class Smtp:
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
        context = _tls_context(ca or None) if s.tls != "none" else None
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
            raise TransportDown(f"smarthost {s.host}:{s.port} unreachable: {describe_error(exc)}") from None
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
            return Outcome(job, "deferred", describe_error(exc))
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


def describe_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


@functools.lru_cache(maxsize=8)
def _tls_context(cafile: str | None) -> ssl.SSLContext:
    """One TLS context per CA file for the process (reading the system's CA store costs 35–60 ms of CPU, once per
    connection before, for each alliance's every flush); a context serves many connections and threads."""
    return ssl.create_default_context(cafile=cafile)
