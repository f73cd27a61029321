"""VERP: each delivery's envelope sender names it, so a bounce maps back even when its body is useless.

`bounces+<id>.<sig>@domain`: the delivery id in decimal and a 10-character HMAC of it (base32, lower case,
because some MTAs lower-case local parts). Forged or mangled tokens map to nothing. The local part stays
far below the 64-character limit (a 20-digit id gives 8 + 20 + 1 + 10 = 39).
"""

from __future__ import annotations

from hub import signing
from hub.config import Config
from hub.secret import secret_key

SIG_LENGTH = 10


def _signature(config: Config, delivery_id: int) -> str:
    return signing.signature(secret_key(config), "verp", str(delivery_id), SIG_LENGTH, caseless=True)


def envelope_sender(config: Config, delivery_id: int) -> str:
    local, domain = config.mail.bounce_address.rsplit("@", 1)
    return f"{local}+{delivery_id}.{_signature(config, delivery_id)}@{domain}"


def delivery_for(config: Config, address: str) -> int | None:
    """The delivery id a bounce address names, or None when it is not one of ours or the signature is wrong."""
    if not address:
        return None
    address = address.strip().strip("<>")
    local, _, domain = address.rpartition("@")
    base_local, base_domain = config.mail.bounce_address.rsplit("@", 1)
    if domain.lower() != base_domain.lower() or not local.lower().startswith(base_local.lower() + "+"):
        return None
    token = local[len(base_local) + 1:].lower()
    number, _, signature = token.partition(".")
    if not (number.isascii() and number.isdigit()) or len(number) > 20:  # "²".isdigit() is true
        return None
    delivery_id = int(number)
    if not signing.valid(secret_key(config), "verp", str(delivery_id), signature, SIG_LENGTH, caseless=True):
        return None
    return delivery_id
