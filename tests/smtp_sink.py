"""A real SMTP server on 127.0.0.1 for tests: records what it receives, answers what it is told.

    with SmtpSink() as sink:                     # aiosmtpd in a thread, on a free port
        sink.host, sink.port                     # where to send
        sink.fail("550 5.1.1 no such user", recipient="x@example.org")   # at RCPT, for that address
        sink.fail("451 4.3.0 try later", at="data", times=2)            # at DATA, the next 2 messages
        sink.hang(at="data")                     # never answer (until sink.clear() or exit)
        sink.clear()                             # answer 250 again
        sink.messages                            # [Received(sender, recipients, data)], in order
        sink.greetings                           # EHLOs seen: how many connections were opened
        sink.count()                             # Counter: recipient -> messages received
        sink.wait_for(100, timeout=10)           # block until 100 messages arrived

`SmtpSink(auth=("user", "secret"))` accepts AUTH PLAIN/LOGIN with these credentials only (no TLS needed);
`SmtpSink(port=p)` listens on a given port (a smarthost that comes back after an outage);
`SmtpSink(tls="starttls" | "implicit", cert=self_signed_cert(tmp_path))` speaks TLS (STARTTLS required).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass
class _Rule:
    reply: str | None  # None: hang
    at: str
    recipient: str | None
    times: int | None


def self_signed_cert(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 (openssl); the certificate file doubles as the CA file clients trust."""
    cert, key = str(folder / "sink.crt"), str(folder / "sink.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    def __init__(self, auth: tuple[str, str] | None = None, port: int | None = None, tls: str | None = None,
                 cert: tuple[str, str] | None = None):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.messages: list[Received] = []
        self.logins: list[str] = []
        self.tls_seen: list[bool] = []  # per MAIL FROM: did the session use TLS
        self.greetings = 0  # EHLO commands: one per connection (two with STARTTLS)
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._auth = auth
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        kwargs = {}
        if auth:
            # AUTH without TLS on purpose (127.0.0.1 only); not "required", which makes aiosmtpd warn.
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
            kwargs |= {"tls_context": context, "require_starttls": True} if tls == "starttls" else \
                {"ssl_context": context}
        self._controller = Controller(self, hostname=self.host, port=self.port, decode_data=False,
                                      data_size_limit=50 * 1024 * 1024, **kwargs)

    # --- what tests call ---------------------------------------------------------------------------

    def fail(self, reply: str, at: str = "rcpt", recipient: str | None = None, times: int | None = None) -> None:
        with self._lock:
            self._rules.append(_Rule(reply, at, recipient and recipient.lower(), times))

    def hang(self, at: str = "data", recipient: str | None = None) -> None:
        with self._lock:
            self._rules.append(_Rule(None, at, recipient and recipient.lower(), None))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
        if self._loop and self._release:
            self._loop.call_soon_threadsafe(self._release.set)

    def count(self) -> Counter:
        with self._lock:
            return Counter(r.lower() for m in self.messages for r in m.recipients)

    def wait_for(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"sink received {len(self.messages)} of {n} messages")
                self._arrived.wait(left)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        self._loop = self._controller.loop
        self._release = asyncio.Event()
        return self

    def __exit__(self, *exc) -> None:
        self.clear()
        self._controller.stop()

    # --- aiosmtpd handler hooks ------------------------------------------------------------------------

    def _rule(self, at: str, recipient: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.at == at and rule.recipient in (None, recipient.lower()):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    async def _answer(self, rule: _Rule) -> str:
        if rule.reply is None:
            self._release.clear()
            await self._release.wait()
            return "451 4.3.0 released"
        return rule.reply

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self._lock:
            self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.tls_seen.append(session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None)
        envelope.mail_from = address
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rule = self._rule("rcpt", address)
        if rule is not None:
            return await self._answer(rule)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        for recipient in envelope.rcpt_tos:
            rule = self._rule("data", recipient)
            if rule is not None:
                return await self._answer(rule)
        with self._arrived:
            self.messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content)))
            number = len(self.messages)
            self._arrived.notify_all()
        return f"250 2.0.0 queued as {number}"

    async def handle_exception(self, error):
        return "451 4.3.0 sink error"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and self._auth == (
            auth_data.login.decode(), auth_data.password.decode())
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)


def configure(hub_dir, sink: SmtpSink | None = None, **sections: dict):
    """Point the test installation's config at `sink` as its `[smtp]` smarthost, plus any other sections.

    configure(hub_dir, sink, smtp={"connections": 2}, outbox={"lease_seconds": 5}) -> the reloaded Config.
    Calls add up: a later call changes only the keys it names.
    """
    import json

    from hub import config as config_module

    path = hub_dir / "config" / "hub.toml"
    base, saved = path.with_suffix(".toml.base"), path.with_suffix(".toml.sections")
    if not base.exists():
        base.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    tables = json.loads(saved.read_text()) if saved.exists() else {}
    if sink is not None:
        tables["smtp"] = {**tables.get("smtp", {}), "host": sink.host, "port": sink.port, "tls": "none"}
    for name, values in sections.items():
        tables[name] = {**tables.get(name, {}), **values}
    saved.write_text(json.dumps(tables))
    text = base.read_text(encoding="utf-8")
    for name, values in tables.items():
        text += f"\n[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in values.items())
    path.write_text(text, encoding="utf-8")
    return config_module.load(path)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
