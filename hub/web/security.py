"""Signed session cookies, session-bound CSRF tokens and the security headers of every response.

The session cookie carries only a random session id, the user id and the user's session version (a provider's:
its account's id and version, and the alliance), signed with the installation's secret key through `hub.signing`
(the one scheme for all the hub signs). A CSRF token is the signature of the session id, so it is bound to the
session and needs no storage; it changes when the session id does (at sign-in). A cookie or token that is not
well-formed is simply not valid.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time

from hub import signing

SESSION_COOKIE = "hub_session"
SESSION_SECONDS = 12 * 3600

# No inline script or style anywhere: scripts and styles come from /static only.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
# For mail HTML shown in a sandboxed iframe: nothing runs, nothing loads, only its own inline styles.
CONTENT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"
MAC = 43  # characters: the whole SHA-256 in URL-safe base64
# Under an https base_url browsers must never again come by plain http (a year, renewed with every page).
HSTS = b"max-age=31536000"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_session(user_id: int | None = None, version: int = 0, provider_id: int | None = None,
                alliance_id: int | None = None) -> dict:
    """A provider's session (`provider_id`) names the alliance it is for: the account is the installation's."""
    data = {"sid": secrets.token_urlsafe(18), "uid": user_id, "v": version, "iat": int(time.time())}
    if provider_id is not None:
        data.update(pid=provider_id, a=alliance_id)
    return data


def encode_session(key: bytes, data: dict) -> str:
    return signing.sign(key, "session", _b64(json.dumps(data, separators=(",", ":")).encode()), MAC)


def decode_session(key: bytes, value: str | None, max_age: int = SESSION_SECONDS) -> dict | None:
    payload = signing.unsign(key, "session", value, MAC)
    if payload is None:
        return None
    try:
        data = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
        return None
    signed_in = data.get("uid") is not None or data.get("pid") is not None
    if signed_in and int(time.time()) - int(data.get("iat", 0)) > max_age:
        return None
    return data


def csrf_token(key: bytes, sid: str) -> str:
    return signing.signature(key, "csrf", sid, MAC)


def csrf_ok(key: bytes, sid: str, token: str | None) -> bool:
    return signing.valid(key, "csrf", sid, token if isinstance(token, str) else None, MAC)


def sign(key: bytes, purpose: str, value: str) -> str:
    """A short signed value for small cookies (flash messages)."""
    return signing.sign(key, purpose, _b64(value.encode()), MAC)


def unsign(key: bytes, purpose: str, value: str | None) -> str | None:
    payload = signing.unsign(key, purpose, value, MAC)
    if payload is None:
        return None
    try:
        return _unb64(payload).decode()
    except (ValueError, binascii.Error):
        return None


class SecurityHeaders:
    """ASGI middleware: the headers every response gets; a route may set a stricter CSP of its own.
    `hsts`: the site is served over https (its base_url), so browsers are told to stay on https."""

    def __init__(self, app, hsts: bool = False):
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                defaults = [
                    (b"content-security-policy", PAGE_CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if self.hsts:
                    defaults.append((b"strict-transport-security", HSTS))
                headers += [(k, v) for k, v in defaults if k not in present]
                if not any(k == b"cache-control" for k in present):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
