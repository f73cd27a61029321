"""Sender authentication as plain data: the verdict on one mail from what the DNS checks found (DKIM, SPF and the
DMARC record, gathered by `sender_check`), or from the Authentication-Results header (RFC 8601) of a trusted MTA.

DMARC (RFC 7489) in short: the domain of the `From:` address is authenticated when a DKIM signature of an aligned
domain verifies, or SPF passes for an aligned MAIL FROM (or HELO) domain. Aligned is "the same organisational
domain" (relaxed, the default) or "the same domain" (strict, `adkim=s` / `aspf=s` in the DMARC record). Without a
DMARC record the hub asks the same (relaxed): a mail that claims an address must prove it by DKIM or SPF.
The organisational domain comes from the Public Suffix List (`publicsuffixlist`, which ships the list): for
`ag.stadt-musterhausen.de` it is `stadt-musterhausen.de`, for `x.example.co.uk` it is `example.co.uk`; a name under
an unknown top-level domain such as `.example` counts like one under `.de`.

The summary is technical and short, in the words of an Authentication-Results entry, for the coordinator and the log.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import authres
from publicsuffixlist import PublicSuffixList

OFF = "off"
TRUSTED_NETWORK = "trusted-network"
TRUSTED_HEADER = "trusted-header"
DMARC = "dmarc"


@dataclass(frozen=True)
class Verdict:
    passed: bool | None  # None: not checked ([inbound] sender_check = "off")
    method: str  # off | trusted-network | trusted-header | dmarc
    summary: str  # like "dmarc=fail header.from=x.example (spf=fail smtp.mailfrom=evil.example; dkim=none)"

    @property
    def failed(self) -> bool:
        return self.passed is False

    def text(self) -> str:
        """What is stored with the message: method and summary, at most 500 characters."""
        if not self.method or not self.summary:
            return (self.summary or self.method)[:500]
        return f"{self.method}: {self.summary}"[:500]


@dataclass(frozen=True)
class Evidence:
    """What the DNS checks of one mail found."""

    from_domain: str
    spf: str = "none"  # pass | fail | softfail | neutral | none | temperror | permerror | skipped (no client IP)
    spf_domain: str | None = None  # the domain SPF checked: MAIL FROM's, or HELO's for an empty MAIL FROM
    dkim_domains: tuple[str, ...] = ()  # d= of the signatures that verified
    dkim_failed: int = 0  # signatures that did not verify
    dmarc_record: str | None = None  # the DMARC TXT record that applies, if any
    dns_error: str | None = None  # a lookup that timed out or failed


def off() -> Verdict:
    return Verdict(None, OFF, "")


def trusted_network(peer: str) -> Verdict:
    return Verdict(True, TRUSTED_NETWORK, f"client={peer}")


def domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    domain = address.rsplit("@", 1)[1].strip().strip(".").lower()
    return domain or None


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    return _suffixes().privatesuffix(domain.lower().strip(".")) or domain.lower().strip(".")


def aligned(domain: str | None, from_domain: str, strict: bool) -> bool:
    if not domain:
        return False
    domain, from_domain = domain.lower().strip("."), from_domain.lower().strip(".")
    if strict:
        return domain == from_domain
    return organisational_domain(domain) == organisational_domain(from_domain)


def dmarc_tags(record: str | None) -> dict[str, str]:
    """The tags of a DMARC record (`v=DMARC1; p=reject; adkim=s`), names lower-cased; {} for none."""
    tags: dict[str, str] = {}
    for part in (record or "").split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def is_dmarc_record(text: str) -> bool:
    return text.strip().lower().startswith("v=dmarc1")


def dmarc(evidence: Evidence) -> Verdict:
    """The verdict from DKIM and SPF results with DMARC alignment."""
    tags = dmarc_tags(evidence.dmarc_record)
    strict_dkim, strict_spf = tags.get("adkim", "r").lower() == "s", tags.get("aspf", "r").lower() == "s"
    dkim_ok = [d for d in evidence.dkim_domains if aligned(d, evidence.from_domain, strict_dkim)]
    spf_ok = evidence.spf == "pass" and aligned(evidence.spf_domain, evidence.from_domain, strict_spf)
    passed = bool(dkim_ok or spf_ok)
    if evidence.dkim_domains:
        dkim = "pass header.d=" + ",".join(evidence.dkim_domains) + ("" if dkim_ok else " (not aligned)")
    else:
        dkim = "fail" if evidence.dkim_failed else "none"
    spf = f"{evidence.spf} smtp.mailfrom={evidence.spf_domain}" if evidence.spf_domain else evidence.spf
    if evidence.spf == "pass" and not spf_ok:
        spf += " (not aligned)"
    policy = f" p={tags.get('p', '?')}" if evidence.dmarc_record else " (no DMARC record)"
    error = f"; dns error: {evidence.dns_error}" if evidence.dns_error and not passed else ""
    summary = (f"dmarc={'pass' if passed else 'fail'}{policy} header.from={evidence.from_domain} "
               f"(dkim={dkim}; spf={spf}{error})")
    return Verdict(passed, DMARC, summary)


def from_results_header(values: list[str], authserv_id: str, from_domain: str | None) -> Verdict | None:
    """The verdict of the first (topmost) Authentication-Results header written by `authserv_id`, or None if there
    is none. A trusted MTA removes headers that claim its name from mail it receives (RFC 8601 section 5), so the
    topmost with its name is its own. DMARC's result counts where it is given (for this From domain); else an
    aligned DKIM or SPF pass (relaxed)."""
    wanted = authserv_id.lower()
    for value in values:
        try:
            header = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + value)
        except Exception:  # authres raises its own errors and others on malformed input; such a header counts as absent
            continue
        if str(header.authserv_id or "").lower() != wanted:
            continue
        return _from_results(header, authserv_id, from_domain)
    return None


def _from_results(header, authserv_id: str, from_domain: str | None) -> Verdict:
    seen = []
    if from_domain is None:
        return Verdict(False, TRUSTED_HEADER, f"{authserv_id}: no From address")
    dkim_ok = spf_ok = False
    for result in header.results:
        method, outcome = str(result.method).lower(), str(result.result).lower()
        props = {f"{p.type}.{p.name}".lower(): str(p.value) for p in result.properties}
        seen.append(f"{method}={outcome}")
        if method == "dmarc":
            header_from = props.get("header.from", from_domain).lower().strip(".")
            if header_from == from_domain:
                return Verdict(outcome == "pass", TRUSTED_HEADER, f"{authserv_id}: dmarc={outcome} "
                                                                  f"header.from={from_domain}")
        elif method == "dkim" and outcome == "pass":
            dkim_ok = dkim_ok or aligned(props.get("header.d") or domain_of(props.get("header.i")), from_domain,
                                         False)
        elif method == "spf" and outcome == "pass":
            spf_domain = domain_of(props.get("smtp.mailfrom")) or props.get("smtp.mailfrom") or props.get("smtp.helo")
            spf_ok = spf_ok or aligned(spf_domain, from_domain, False)
    passed = dkim_ok or spf_ok
    return Verdict(passed, TRUSTED_HEADER, f"{authserv_id}: {' '.join(seen) or 'no results'} "
                                           f"({'aligned' if passed else 'nothing aligned with'} {from_domain})")
