"""E-mail addresses as the hub stores them: trimmed, domain in lower case, syntax checked."""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address

from hub.i18n import _

# Deliberately strict on the domain (letters, digits, hyphen, dots; IDNs as given) and lenient on the
# local part, which belongs to the receiving system.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9\u00c0-\uffff](?:[a-z0-9\u00c0-\uffff-]{0,61}[a-z0-9\u00c0-\uffff])?\.)+"
                     r"[a-z\u00c0-\uffff][a-z0-9\u00c0-\uffff-]*$")
_LOCAL = re.compile(r"^[^\s@\"(),:;<>\[\]\\]{1,64}$")


class InvalidAddress(ValueError):
    pass


def normalise_address(value: str) -> str:
    """Return the address as stored: `Local.Part@domain.example`; raise InvalidAddress otherwise."""
    text = (value or "").strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if any(c in text for c in "\r\n\t ") or text.count("@") != 1:
        raise _invalid(value)
    local, domain = text.rsplit("@", 1)
    domain = domain.lower().rstrip(".")
    if not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise _invalid(value)
    if not _DOMAIN.match(domain):
        raise InvalidAddress(_("%(address)r hat keine gültige Domain") % {"address": value.strip()})
    try:
        Address(username=local, domain=domain)
    except (ValueError, HeaderParseError):
        raise _invalid(value) from None
    return f"{local}@{domain}"


def _invalid(value: str) -> InvalidAddress:
    return InvalidAddress(_("%(address)r ist keine gültige E-Mail-Adresse") % {"address": value.strip()})


def address_key(value: str) -> str:
    """Case-insensitive comparison key (local parts are case-insensitive in practice)."""
    return value.strip().lower()
