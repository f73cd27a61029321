"""E-mail addresses as the hub stores them: one normal form for every address.

The normal form: trimmed; the local part in Unicode NFC (its case is kept: it belongs to the receiving
system); the domain lower-cased and IDNA-encoded (UTS #46, `idna` package), so `bündnis.example` and
`xn--bndnis-3ya.example` are one address. A local part outside ASCII can only be delivered through a
smarthost that announces SMTPUTF8 (`needs_smtputf8`); whether that is allowed is the caller's decision
(`[smtp] smtputf8` in the config).
"""

from __future__ import annotations

import re
import unicodedata
from email.errors import HeaderParseError
from email.headerregistry import Address
from functools import lru_cache

import idna

from hub.i18n import _

# Deliberately strict on the domain (after IDNA: letters, digits, hyphen, dots) and lenient on the local
# part, which belongs to the receiving system.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*$")
_LOCAL = re.compile(r"^[^\s@\"(),:;<>\[\]\\]{1,64}$")


class InvalidAddress(ValueError):
    pass


def normalise_address(value: str) -> str:
    """Return the address in its normal form, `Local.Part@domain.example`; raise InvalidAddress otherwise."""
    text = (value or "").strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if any(c in text for c in "\r\n\t ") or text.count("@") != 1:
        raise _invalid(value)
    local, domain = text.rsplit("@", 1)
    local = unicodedata.normalize("NFC", local)
    if not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise _invalid(value)
    domain = normalise_domain(domain)
    if domain is None:
        raise InvalidAddress(_("%(address)r hat keine gültige Domain") % {"address": value.strip()})
    try:
        Address(username=local, domain=domain)
    except (ValueError, HeaderParseError):
        raise _invalid(value) from None
    return f"{local}@{domain}"


def normalise_domain(value: str) -> str | None:
    """The domain lower-cased and IDNA-encoded (`xn--…` labels checked), or None when it is no valid domain."""
    domain = unicodedata.normalize("NFC", (value or "").strip()).rstrip(".").lower()
    if not domain.isascii() or any(label.startswith("xn--") for label in domain.split(".")):
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii").lower()
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    return domain if _DOMAIN.match(domain) else None


def needs_smtputf8(address: str) -> bool:
    """True when the (normalised) address has a local part outside ASCII: deliverable only with SMTPUTF8."""
    return not address.rpartition("@")[0].isascii()


def _invalid(value: str) -> InvalidAddress:
    return InvalidAddress(_("%(address)r ist keine gültige E-Mail-Adresse") % {"address": value.strip()})


def address_key(value: str) -> str:
    """Case-insensitive comparison key of the normal form (local parts are case-insensitive in practice);
    text that is no address is only trimmed and lower-cased."""
    # Filing asks for the keys of the same few addresses a dozen times per message (bench/inbound.py); what is
    # longer than an address can be is not kept, so a hostile header cannot fill the cache.
    return _cached_key(value) if value and len(value) <= 320 else _key(value)


def _key(value: str) -> str:
    try:
        return normalise_address(value).lower()
    except InvalidAddress:
        return (value or "").strip().lower()


_cached_key = lru_cache(maxsize=4096)(_key)


def for_log(partner_id: int | None, address: str | None) -> str:
    """A person as a log line may name them (logs never name people, DSGVO): the partner's id, or only the
    domain of an address that belongs to no partner."""
    if partner_id is not None:
        return f"partner {partner_id}"
    if not address:
        return "nobody"
    return f"an address at {address.strip().strip('<>').rpartition('@')[2] or '?'}"
