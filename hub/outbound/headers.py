"""The headers of a mail as sent: folded as policy.SMTP folds them, from parts that cannot carry a line break.

Names lose control characters; a mail's own `headers` may add headers but never set those only the hub sets;
addresses were validated when queued and go out with their domain in punycode.
"""

from __future__ import annotations

import re
from email import policy, utils
from email.header import Header
from email.headerregistry import Address

from hub.config import Config
from hub.db import utcnow
from hub.models import OutboundMail

CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,60}$")
# Headers only the hub sets: a mail's headers JSON may not override them.
OWN_HEADERS = {"from", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to", "sender", "mime-version",
               "content-type", "content-transfer-encoding", "list-unsubscribe", "list-unsubscribe-post",
               "precedence", "return-path", "dkim-signature", "delivered-to"}
POLICY = policy.SMTP  # CRLF, as sent; the Maildir outbox stores \n
COMPAT = policy.compat32.clone(linesep="\r\n")
# List-Unsubscribe stays on one line (RFC 5322 allows 998 characters): refolding it through the header
# parser would cost more than the rest of a recipient's message. Its parts cannot hold a line break.
UNFOLDED = policy.SMTP.clone(max_line_length=998)

_FOLDED: dict[tuple[str, str], bytes] = {}


def folded(name: str, value: str | Address) -> bytes:
    """The header as policy.SMTP folds it, from memory when it was folded before: parsing and folding a
    receipt's From, Reply-To and List-Id (encoded words for the alliance's name) again for every mail was most
    of the time of making its skeleton. An Address is parsed from its text, so its text is the key."""
    key = (name, str(value))
    line = _FOLDED.get(key)
    if line is None and isinstance(value, str) and _plain(name, value):
        return f"{name}: {value}\r\n".encode("ascii")
    if line is None:
        line = POLICY.fold_binary(*POLICY.header_store_parse(name, value))
        if len(_FOLDED) >= 512:
            _FOLDED.clear()
        _FOLDED[key] = line
    return line


_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")


def _plain(name: str, value: str) -> bool:
    """A header the parser would give back as it is: free text (no address, date or MIME parameters) of
    printable ASCII words between single spaces, no encoded word, on one line. A receipt's In-Reply-To and
    References differ for every mail; parsing them was most of what was left of making its skeleton."""
    lowered = name.lower()
    return (len(name) + 2 + len(value) <= POLICY.max_line_length and "=?" not in value and _PLAIN.fullmatch(value)
            is not None and (lowered == "subject" or lowered not in POLICY.header_factory.registry))


def mail_headers(config: Config, mail: OutboundMail) -> list[tuple[str, str | Address]]:
    """The headers a mail has for every recipient, in the order they are sent."""
    sender = Address(display_name=clean(mail.from_name or config.alliance.name),
                     addr_spec=mail.from_address or config.mail.office_address)
    reply_to = Address(display_name=clean(config.alliance.name), addr_spec=mail.reply_to or config.mail.office_address)
    headers: list[tuple[str, str | Address]] = [
        ("From", sender), ("Reply-To", reply_to), ("Subject", clean(mail.subject)),
        ("Date", utils.format_datetime(utcnow()))]
    extra = {k.lower(): (k, v) for k, v in (mail.headers or {}).items()
             if HEADER_NAME.match(k) and k.lower() not in OWN_HEADERS and v is not None}
    headers.append(("Auto-Submitted", clean(str(extra.pop("auto-submitted", ("", "auto-generated"))[1]))))
    list_id = extra.pop("list-id", None)
    headers.append(("List-Id", clean(str(list_id[1])) if list_id else
                    f"{clean(config.alliance.name)} <{mail.kind}.{config.alliance.domain}>"))
    if mail.bulk:
        headers.append(("Precedence", "bulk"))
    headers += [(name, clean(str(value))) for name, value in extra.values()]
    return headers


def ascii_address(address: str) -> str:
    """The address with its domain in punycode (IDNA); a non-ASCII local part raises UnicodeError."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise UnicodeError(f"{address}: a non-ASCII local part needs SMTPUTF8, which the hub does not send")
    return address if domain.isascii() else f"{local}@{domain.encode('idna').decode('ascii')}"


def to_header(name: str | None, address: str) -> bytes:
    """The folded To header. An ASCII name is quoted by `formataddr`; any other name becomes RFC 2047
    encoded words through `email.header.Header`, which can carry neither a line break nor an address."""
    name = clean(name)
    if name.isascii():
        # formataddr quotes and escapes what needs it; the policy refolds a long value through its parser
        return POLICY.fold_binary("To", utils.formataddr((name, address)))
    header = Header(header_name="To", charset="utf-8")
    header.append(name, "utf-8")
    header.append(f"<{address}>", "us-ascii")
    return COMPAT.fold_binary("To", header)


def clean(text: str | None) -> str:
    return CONTROL.sub(" ", text or "").strip()
