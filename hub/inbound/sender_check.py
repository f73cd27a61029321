"""The sender check's I/O: DKIM (dkimpy), SPF (pyspf) and the DMARC record, looked up with dnspython at the
resolver that `[inbound] dns_servers` names, within `dns_timeout` seconds for all lookups of one mail. The verdict
itself is the pure `authentication.dmarc`.

A lookup that fails or times out makes the mail "not authenticated", never an error: a DNS failure is noted and
the result is whatever was proven without it. After a timeout the resolver counts as down for `BREAKER_SECONDS`
(every lookup fails at once), so a dead DNS server costs one timeout, not one per mail of a burst. Answers are
cached for `CACHE_SECONDS` (a burst from one partner domain asks once).

pyspf has no resolver parameter: it looks names up through its module function `spf.DNSLookup`, which is
replaced here by one that asks the resolver of the check running in this thread (a context variable), and
otherwise pyspf's own.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import threading
import time
from collections.abc import Sequence

import dkim
import dns.exception
import dns.resolver
import spf

from hub.config_installation import Inbound
from hub.inbound import authentication, dkim_speedups
from hub.inbound.authentication import Evidence, Verdict
from hub.inbound.spool import SpoolEntry

log = logging.getLogger("hub.inbound.sender_check")

CACHE_SECONDS = 60.0
CACHE_SIZE = 10_000
BREAKER_SECONDS = 30.0
MAX_SIGNATURES = 5  # DKIM signatures tried per mail
LOCAL = "127.0.0.1"  # where mail without a client address comes from (the machine itself)


class DnsFailure(Exception):
    pass


_cache: dict[tuple, tuple[float, list]] = {}
_down_until: dict[tuple, float] = {}
_lock = threading.Lock()


class Lookups:
    """DNS lookups for one mail: one time budget for all of them, answers cached per process."""

    def __init__(self, servers: Sequence[str] | None, port: int, budget: float):
        self.key = (tuple(servers) if servers else None, port)
        self.deadline = time.monotonic() + budget
        self.error: str | None = None
        self.resolver = _resolver(self.key)

    def query(self, name: str, qtype: str) -> list:
        """The answers' rdata (empty for no such name or no such record); DnsFailure when DNS does not answer."""
        name = name.rstrip(".").lower() + "."
        now = time.monotonic()
        with _lock:
            cached = _cache.get((self.key, name, qtype))
            if cached is not None and cached[0] > now:
                return cached[1]
            if _down_until.get(self.key, 0) > now:
                self.error = self.error or "resolver down"
                raise DnsFailure("resolver down")
        remaining = self.deadline - now
        if remaining <= 0:
            self.error = self.error or "time limit"
            raise DnsFailure("time limit")
        try:
            answer = self.resolver.resolve(name, qtype, lifetime=remaining, raise_on_no_answer=False, search=False)
            records = list(answer.rrset or [])
        except dns.resolver.NXDOMAIN:
            records = []
        except (dns.exception.Timeout, dns.resolver.LifetimeTimeout) as exc:
            with _lock:
                _down_until[self.key] = time.monotonic() + BREAKER_SECONDS
            self.error = self.error or "timeout"
            raise DnsFailure(str(exc)) from None
        except (dns.exception.DNSException, OSError) as exc:
            self.error = self.error or type(exc).__name__
            raise DnsFailure(str(exc)) from None
        with _lock:
            if len(_cache) >= CACHE_SIZE:
                _cache.clear()
            _cache[(self.key, name, qtype)] = (time.monotonic() + CACHE_SECONDS, records)
        return records

    def txt(self, name: str) -> list[bytes]:
        return [b"".join(r.strings) for r in self.query(name, "TXT")]

    def dkim_txt(self, name: bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's `dnsfunc`."""
        try:
            found = self.txt(name.decode("ascii", "replace"))
        except DnsFailure as exc:
            raise dkim.DnsTimeoutError(str(exc)) from None
        return found[0] if found else None

    def spf_lookup(self, name: str, qtype: str, strict: bool = True, timeout: float = 20) -> list:
        """pyspf's `DNSLookup`: ((name, type), value) pairs shaped as pyspf's own dnspython lookup makes them."""
        try:
            records = self.query(name, qtype)
        except DnsFailure as exc:
            raise spf.TempError(f"DNS {exc}") from None
        result = []
        for rdata in records:
            if qtype in ("A", "AAAA"):
                result.append(((name, qtype), rdata.address))
            elif qtype == "MX":
                result.append(((name, qtype), (rdata.preference, rdata.exchange)))
            elif qtype == "PTR":
                result.append(((name, qtype), rdata.target.to_text(True)))
            elif qtype in ("TXT", "SPF"):
                result.append(((name, qtype), rdata.strings))
        return result


_resolvers: dict[tuple, dns.resolver.Resolver] = {}


def _resolver(key: tuple) -> dns.resolver.Resolver:
    with _lock:
        resolver = _resolvers.get(key)
        if resolver is None:
            servers, port = key
            if servers:
                resolver = dns.resolver.Resolver(configure=False)
                resolver.nameservers = list(servers)
            else:
                try:
                    resolver = dns.resolver.Resolver()
                except dns.resolver.NoResolverConfiguration:
                    resolver = dns.resolver.Resolver(configure=False)
                    resolver.nameservers = ["127.0.0.1"]
            resolver.port = port
            resolver.cache = None  # our own cache keeps negative answers too
            _resolvers[key] = resolver
        return resolver


_current: contextvars.ContextVar[Lookups | None] = contextvars.ContextVar("hub_spf_lookups", default=None)
_pyspf_lookup = spf.DNSLookup


def _spf_dns_lookup(name, qtype, strict=True, timeout=20):
    lookups = _current.get()
    if lookups is None:
        return _pyspf_lookup(name, qtype, strict, timeout)
    return lookups.spf_lookup(name, qtype, strict, timeout)


spf.DNSLookup = _spf_dns_lookup
dkim_speedups.install()


def check(settings: Inbound, raw: bytes, sender: str | None, entry: SpoolEntry,
          headers: Sequence[tuple[str, str]]) -> Verdict:
    """The verdict on one mail: `raw` its bytes, `sender` the parsed From address, `headers` its decoded headers."""
    if settings.sender_check == "off":
        return authentication.off()
    # No client address: a file given to `hub ingest`, LMTP over a Unix socket, a spool file of before the address
    # was kept — all from this machine. IMAP mail has none either, but it came from the provider's mailbox.
    peer = entry.peer or (None if entry.via == "imap" else LOCAL)
    if peer and in_networks(peer, settings.trusted_networks):
        return authentication.trusted_network(peer)
    from_domain = authentication.domain_of(sender)
    if settings.trusted_authserv_id:
        results = [value for name, value in headers if name.lower() == "authentication-results"]
        verdict = authentication.from_results_header(results, settings.trusted_authserv_id, from_domain)
        if verdict is not None or settings.sender_check == "trusted-header":
            return verdict or Verdict(False, authentication.TRUSTED_HEADER,
                                      f"no Authentication-Results from {settings.trusted_authserv_id}")
    if from_domain is None:
        return Verdict(False, authentication.DMARC, "no From address")
    lookups = Lookups(settings.dns_servers, settings.dns_port, settings.dns_timeout)
    return authentication.dmarc(gather(lookups, raw, from_domain, entry))


def in_networks(address: str, networks: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def gather(lookups: Lookups, raw: bytes, from_domain: str, entry: SpoolEntry) -> Evidence:
    dkim_domains, dkim_failed = _dkim(lookups, raw)
    spf_result, spf_domain = _spf(lookups, entry)
    record = _dmarc_record(lookups, from_domain)
    return Evidence(from_domain=from_domain, spf=spf_result, spf_domain=spf_domain,
                    dkim_domains=tuple(dkim_domains), dkim_failed=dkim_failed, dmarc_record=record,
                    dns_error=lookups.error)


def _dkim(lookups: Lookups, raw: bytes) -> tuple[list[str], int]:
    # The header only: split() would copy the body too (27 MB for a 20 MB attachment)
    head = raw[:min(i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n"), len(raw)) if i >= 0)].lower()
    if b"dkim-signature" not in head:
        return [], 0
    passed, failed = [], 0
    try:
        message = dkim.DKIM(raw, logger=log, timeout=max(0.1, lookups.deadline - time.monotonic()))
        count = sum(1 for name, _ in message.headers if name.lower() == b"dkim-signature")
    except Exception:  # dkimpy raises several kinds on malformed mail: such a mail has no valid signature
        return [], 1
    for index in range(min(count, MAX_SIGNATURES)):
        try:
            ok = message.verify(idx=index, dnsfunc=lookups.dkim_txt)
        except Exception:  # a malformed signature or key is a failed signature
            ok = False
        if ok and message.domain:
            passed.append(message.domain.decode("ascii", "replace").lower())
        else:
            failed += 1
    return passed, failed


def _spf(lookups: Lookups, entry: SpoolEntry) -> tuple[str, str | None]:
    if not entry.peer:
        return "skipped", None
    helo = entry.helo or ""
    mail_from = entry.envelope_from or (f"postmaster@{helo}" if helo else "")
    domain = authentication.domain_of(mail_from)
    if not domain:
        return "none", None
    token = _current.set(lookups)
    try:
        result, _explanation = spf.check2(i=entry.peer, s=mail_from, h=helo or domain,
                                          querytime=max(0.1, lookups.deadline - time.monotonic()))
    except Exception as exc:  # pyspf raises on odd input (a bad IP, a broken record): SPF proves nothing then
        log.info("SPF check failed: %s: %s", type(exc).__name__, exc)
        result = "temperror"
    finally:
        _current.reset(token)
    return str(result).lower(), domain


def _dmarc_record(lookups: Lookups, from_domain: str) -> str | None:
    candidates = [from_domain]
    organisational = authentication.organisational_domain(from_domain)
    if organisational != from_domain:
        candidates.append(organisational)
    for domain in candidates:
        try:
            records = [t.decode("utf-8", "replace") for t in lookups.txt(f"_dmarc.{domain}")]
        except DnsFailure:
            return None
        found = [r for r in records if authentication.is_dmarc_record(r)]
        if found:
            return found[0]
    return None
