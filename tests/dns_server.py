"""A real DNS server for the sender check: dnsmasq on 127.0.0.1 answering SPF, DKIM and DMARC TXT records of test
domains (shared/testing/README.md). Used by the tests (the `dns_server` fixture in tests/servers.py) and by
bench/inbound.py; the DKIM key is made at start with cryptography, and mail is signed with dkimpy.

Domains, all under `.example` (dnsmasq answers NXDOMAIN for any other name there):
- the partners' domains of config/partners.example.csv: SPF allows only 127.0.0.2 (not loopback's usual
  127.0.0.1, so that a test can be the wrong client), DMARC p=reject, DKIM selector `hub-test`;
- `evil.example`: SPF allows 127.0.0.1 (the attacker's own, aligned with nothing of a partner).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
SELECTOR = "hub-test"
PARTNER_IP = "127.0.0.2"  # the address SPF allows for the partners' domains
PARTNER_DOMAINS = (  # the domains of config/partners.example.csv
    "awo-musterhausen.example",
    "buendnis-musterhausen.example",
    "dgb-musterhausen.example",
    "familienzentrum-regenbogen.example",
    "gesundheitsamt-musterhausen.example",
    "ihk-musterhausen.example",
    "kita-sonnenschein.example",
    "musterhausen.example",
    "st-martin-musterhausen.example",
    "stadtwerke-musterhausen.example",
)


@dataclass
class DnsServer:
    port: int
    private_key: bytes  # PEM, for dkim.sign
    process: subprocess.Popen | None = field(default=None, repr=False)

    def sign(self, raw: bytes, domain: str, selector: str = SELECTOR) -> bytes:
        """`raw` with a DKIM-Signature of `domain` prepended (dkimpy, rsa-sha256, relaxed/relaxed)."""
        signature = dkim.sign(raw, selector.encode(), domain.encode(), self.private_key,
                              canonicalize=(b"relaxed", b"relaxed"),
                              include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        return signature + raw

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def new_key() -> tuple[bytes, str]:
    """A 2048-bit RSA key: its PEM and the p= of its DKIM record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(public).decode()


def _txt(name: str, value: str) -> str:
    """A --txt-record option; a value over 255 bytes is split into several strings (resolvers join them)."""
    parts = [value[i:i + 200] for i in range(0, len(value), 200)]
    return f"--txt-record={name}," + ",".join(parts)  # no shell here: dnsmasq splits at commas, quotes would stay


def records(public_key: str) -> list[str]:
    options = []
    for domain in PARTNER_DOMAINS:
        options += [
            _txt(domain, f"v=spf1 ip4:{PARTNER_IP} -all"),
            _txt(f"_dmarc.{domain}", "v=DMARC1; p=reject; adkim=r; aspf=r"),
            _txt(f"{SELECTOR}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={public_key}"),
        ]
    options += [_txt("evil.example", "v=spf1 ip4:127.0.0.1 -all"),
                _txt("_dmarc.evil.example", "v=DMARC1; p=none")]
    return options


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start() -> DnsServer:
    """dnsmasq on a free port of 127.0.0.1, answering once it is up (a TXT query gets an answer)."""
    if not os.path.exists(DNSMASQ):
        raise RuntimeError("dnsmasq is not installed; run scripts/setup --test (Debian package dnsmasq-base)")
    pem, public = new_key()
    for attempt in range(3):
        port = free_udp_port()
        process = subprocess.Popen(
            [DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces",
             f"--port={port}", "--user=root", "--local=/example/", "--log-facility=-", "--quiet-dhcp",
             *records(public)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = DnsServer(port=port, private_key=pem, process=process)
        if _wait(server):
            return server
        server.stop()
        if attempt == 2:
            raise RuntimeError(f"dnsmasq did not start: {process.stderr.read().decode(errors='replace')[-500:]}")
    raise AssertionError("unreachable")


def _wait(server: DnsServer, timeout: float = 10) -> bool:
    import dns.resolver  # lazy: only the tests and the bench ask

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], server.port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            return False
        try:
            resolver.resolve("evil.example", "TXT", lifetime=0.5)
            return True
        except Exception:
            time.sleep(0.05)
    return False
