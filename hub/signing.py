"""Signed values: one scheme for everything the hub signs — session cookies, CSRF tokens, unsubscribe and
confirmation links, VERP bounce addresses, Message-ID tokens.

An HMAC-SHA256 of `purpose:payload` under the installation's secret key, so that a value signed for one
purpose never passes for another. Signatures are text: URL-safe base64 by default, or lower-case base32 where
a mail system may change the case (a VERP local part). Checking never raises: anything that is not
well-formed — wrong length, non-ASCII, a missing part — is simply not valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def signature(key: bytes, purpose: str, payload: str, length: int = 22, *, caseless: bool = False) -> str:
    """The signature of `payload` for `purpose`: `length` characters (base32 lower case if `caseless`)."""
    digest = hmac.new(key, f"{purpose}:{payload}".encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
    if caseless:
        return base64.b32encode(digest).decode("ascii")[:length].lower()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:length]


def valid(key: bytes, purpose: str, payload: str, given: str | None, length: int = 22, *,
          caseless: bool = False) -> bool:
    """Whether `given` is the signature of `payload` for `purpose`; False for anything malformed."""
    if not given or len(given) != length or not given.isascii():
        return False
    expected = signature(key, purpose, payload, length, caseless=caseless)
    return hmac.compare_digest(given.lower() if caseless else given, expected)


def sign(key: bytes, purpose: str, payload: str, length: int = 22) -> str:
    """`payload.signature`: a token that carries its own payload (which must not contain the last '.')."""
    return f"{payload}.{signature(key, purpose, payload, length)}"


def unsign(key: bytes, purpose: str, token: str | None, length: int = 22) -> str | None:
    """The payload of a token made by `sign`, or None when it is not one (forged, cut off, garbled)."""
    payload, dot, given = (token or "").strip().rpartition(".")
    if not dot or not payload or not valid(key, purpose, payload, given, length):
        return None
    return payload


def pseudonym(key: bytes, address_key: str) -> str:
    """A keyed hash that stands for an address where a value must stay unique (an outbox dedupe key): equal
    for equal addresses, and nobody without the installation's key can tell whose address it is (DSGVO: the
    key alone no longer names the person once the partner is erased). `address_key` is
    `hub.addresses.address_key` of the address."""
    return "h" + signature(key, "address", address_key, 26, caseless=True)
