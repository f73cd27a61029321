"""The bytes of each message: composed once per mail with the `email` library, filled in per recipient.

A mail's text and HTML hold simple tokens like `%%name%%` or `%%unsubscribe_url%%`, filled from the
delivery's `values` (plus `name` and `email`); values are HTML-escaped in the HTML part, never in the text.
Unknown tokens stay as they are, so a mistake shows in the Maildir preview instead of vanishing.

For a 10,000-recipient newsletter the whole MIME tree (headers, boundaries, attachments) is built once as a
`Skeleton`. The bodies are quoted-printable: every literal stretch between tokens is encoded once, ending
in a soft line break, so a recipient's value starts a fresh encoded line and per-recipient work is only
encoding the values and joining. The per-recipient headers (To, Message-ID, List-Unsubscribe) are folded
by the email library's policy from parts that cannot carry a line break: names lose control characters,
addresses were validated when queued, URLs with spaces or angle brackets are refused.

A mail with a calendar (an invitation, update or cancellation) is iMIP as Outlook, Gmail and Thunderbird send
it (RFC 6047): `multipart/mixed` ⊃ `multipart/alternative` (text, HTML, `text/calendar; method=…`) and the
same calendar again as an `application/ics` attachment for clients that only offer to import a file. The
calendar is a slot like the bodies: its `%%ics_attendee%%` line is each recipient's own ATTENDEE.
"""

from __future__ import annotations

import binascii
import html
import re
import secrets
from dataclasses import dataclass
from email import policy, utils
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from hub import signing
from hub.config import Config, dkim_key
from hub.db import utcnow
from hub.models import Blob, Delivery, OutboundMail
from hub.secret import secret_key

TOKEN = re.compile(r"%%([a-z][a-z0-9_]*)%%")
CALENDAR_METHOD = re.compile(r"^METHOD:([A-Z-]{1,20})\r?$", re.MULTILINE)
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,60}$")
URL = re.compile(r"^https?://[^\s<>,\"\x00-\x1f\x7f]+$")
# Headers only the hub sets: a mail's headers JSON may not override them.
OWN_HEADERS = {"from", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to", "sender", "mime-version",
               "content-type", "content-transfer-encoding", "list-unsubscribe", "list-unsubscribe-post",
               "precedence", "return-path", "dkim-signature", "delivered-to"}
POLICY = policy.SMTP  # CRLF, as sent; the Maildir outbox stores \n


class _FoldOncePolicy(policy.EmailPolicy):
    """policy.SMTP that folds a header it has folded before from memory: a receipt's skeleton is made per mail,
    and folding its From, Reply-To and List-Id (encoded words for the alliance's name) was most of the time of
    making it (7.9 ms of a receipt's skeleton)."""

    def fold_binary(self, name, value):
        # A header folds from its parse tree, whose text is what it was parsed from (str(value) is the decoded
        # value: "0;" and "0" are both "0" there); a plain string is parsed when folded.
        key = (name, str(getattr(value, "_parse_tree", value)))
        folded = _FOLDED.get(key)
        if folded is None:
            folded = super().fold_binary(name, value)
            if len(_FOLDED) >= 512:
                _FOLDED.clear()
            _FOLDED[key] = folded
        return folded


_FOLDED: dict[tuple[str, str], bytes] = {}
SKELETON_POLICY = _FoldOncePolicy(linesep="\r\n")
COMPAT = policy.compat32.clone(linesep="\r\n")
# List-Unsubscribe stays on one line (RFC 5322 allows 998 characters): refolding it through the header
# parser would cost more than the rest of a recipient's message. Its parts cannot hold a line break.
UNFOLDED = policy.SMTP.clone(max_line_length=998)
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"list-id",
                  b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type",
                  b"auto-submitted", b"precedence"]


class _Slot:
    """A body part's place in the skeleton, with its text split into encoded literals and token names."""

    def __init__(self, text: str, escape: bool, own_line_end: bool = False):
        self.escape = escape
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        # A text part's last line end comes from the email library, after the marker; a bytes part has none
        pieces = TOKEN.split(text if own_line_end else text.rstrip("\n"))
        self.pieces: list[bytes | str] = []
        for index, piece in enumerate(pieces):
            if index % 2:
                self.pieces.append(piece)
            elif piece:
                self.pieces.append(_qp(piece))

    def fill(self, values: dict[str, str]) -> bytes:
        out = []
        for piece in self.pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            elif piece in values:
                value = values[piece]
                out.append(_qp(html.escape(value) if self.escape else value))
            else:
                out.append(_qp(f"%%{piece}%%"))
        return b"".join(out)


def _qp(text: str) -> bytes:
    if "\r" in text:  # a value with CRLF line ends (a folded iCalendar line): the encoding adds the CR
        text = text.replace("\r\n", "\n")
    # The text has \n line ends only, so the encoding has no CR of its own to double.
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    # A soft break after every stretch lets the next one start at column 0 of a new encoded line.
    return encoded if encoded.endswith(b"\n") or not encoded else encoded + b"=\r\n"


_OWN_ID = re.compile(r"^<(\d{1,20})\.(\d{1,20})\.([a-z2-7]{12})@([^<>@\s]+)>$")


def message_id_for(config: Config, mail_id: int, delivery_id: int, domain: str) -> str:
    """The Message-ID of one delivery: it names the mail and the delivery, signed, so that a reply to it is
    recognised as one (`delivery_answered`) without storing every id the hub ever sent."""
    token = signing.signature(secret_key(config), "mid", str(delivery_id), 12, caseless=True)
    return f"<{mail_id}.{delivery_id}.{token}@{domain}>"


def delivery_answered(config: Config, message_id: str) -> int | None:
    """The delivery a Message-ID (from In-Reply-To or References) names, if the hub made it: the signature
    covers the delivery id, so the mail is taken from the delivery, not from the id."""
    match = _OWN_ID.match(message_id.strip().lower())
    if match is None:
        return None
    _mail_id, delivery_id, token, _domain = match.groups()
    if not signing.valid(secret_key(config), "mid", delivery_id, token, 12, caseless=True):
        return None
    return int(delivery_id)


@dataclass
class Skeleton:
    """One mail's message minus what differs per recipient."""

    mail_id: int
    segments: list[bytes | _Slot]
    bulk: bool
    domain: str
    mailto: str | None

    def render(self, config: Config, delivery: Delivery) -> tuple[bytes, str]:
        """The message bytes for one recipient, and its Message-ID."""
        values = {"name": delivery.recipient_name or "", "email": delivery.recipient}
        values.update({k: "" if v is None else str(v) for k, v in (delivery.values or {}).items()})
        message_id = message_id_for(config, self.mail_id, delivery.id, self.domain)
        head = [to_header(delivery.recipient_name, ascii_address(delivery.recipient)),
                POLICY.fold_binary("Message-ID", message_id)]
        if self.bulk:
            targets = [f"<mailto:{self.mailto}?subject=Abmelden>"] if self.mailto else []
            url = values.get("unsubscribe_url", "")
            if URL.match(url):
                targets.append(f"<{url}>")
            if targets:
                head.append(UNFOLDED.fold_binary("List-Unsubscribe", ", ".join(targets)))
            if URL.match(url) and url.startswith("https://"):
                head.append(POLICY.fold_binary("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        body = [s if isinstance(s, bytes) else s.fill(values) for s in self.segments]
        return b"".join(head + body), message_id


def ascii_address(address: str) -> str:
    """The address with its domain in punycode (IDNA); a non-ASCII local part raises UnicodeError."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise UnicodeError(f"{address}: a non-ASCII local part needs SMTPUTF8, which the hub does not send")
    return address if domain.isascii() else f"{local}@{domain.encode('idna').decode('ascii')}"


def to_header(name: str | None, address: str) -> bytes:
    """The folded To header. An ASCII name is quoted by `formataddr`; any other name becomes RFC 2047
    encoded words through `email.header.Header`, which can carry neither a line break nor an address."""
    name = _clean(name)
    if name.isascii():
        # formataddr quotes and escapes what needs it; the policy refolds a long value through its parser
        return POLICY.fold_binary("To", utils.formataddr((name, address)))
    header = Header(header_name="To", charset="utf-8")
    header.append(name, "utf-8")
    header.append(f"<{address}>", "us-ascii")
    return COMPAT.fold_binary("To", header)


def _clean(text: str | None) -> str:
    return CONTROL.sub(" ", text or "").strip()


def skeleton(config: Config, mail: OutboundMail, blobs: dict[str, Blob] | None = None) -> Skeleton:
    """Compose the mail once: every header but the per-recipient ones, the MIME tree, the attachments."""
    msg = EmailMessage(policy=SKELETON_POLICY)
    sender = Address(display_name=_clean(mail.from_name or config.alliance.name),
                     addr_spec=mail.from_address or config.mail.office_address)
    msg["From"] = sender
    msg["Reply-To"] = Address(display_name=_clean(config.alliance.name),
                              addr_spec=mail.reply_to or config.mail.office_address)
    msg["Subject"] = _clean(mail.subject)
    msg["Date"] = utils.format_datetime(utcnow())
    extra = {k.lower(): (k, v) for k, v in (mail.headers or {}).items()
             if HEADER_NAME.match(k) and k.lower() not in OWN_HEADERS and v is not None}
    msg["Auto-Submitted"] = _clean(str(extra.pop("auto-submitted", ("", "auto-generated"))[1]))
    list_id = extra.pop("list-id", None)
    msg["List-Id"] = _clean(str(list_id[1])) if list_id else f"{_clean(config.alliance.name)} " \
        f"<{mail.kind}.{config.alliance.domain}>"
    if mail.bulk:
        msg["Precedence"] = "bulk"
    for name, value in extra.values():
        msg[name] = _clean(str(value))

    markers = {}
    text_marker = f"HUBSLOT{secrets.token_hex(12)}"
    markers[text_marker] = _Slot(mail.text or "", escape=False)
    msg.set_content(text_marker, subtype="plain", charset="utf-8", cte="quoted-printable")
    if mail.html:
        html_marker = f"HUBSLOT{secrets.token_hex(12)}"
        markers[html_marker] = _Slot(mail.html, escape=True)
        msg.add_alternative(html_marker, subtype="html", charset="utf-8", cte="quoted-printable")
    method = _calendar_parts(msg, mail.calendar, markers) if mail.calendar else None
    for attachment in mail.attachments or []:
        blob = (blobs or {}).get(attachment["blob"])
        if blob is None:
            raise LookupError(f"attachment {attachment.get('filename')!r}: blob {attachment['blob']} is missing")
        maintype, _, subtype = (attachment.get("content_type") or blob.content_type or
                                "application/octet-stream").partition("/")
        data = (config.data_dir / Path(blob.path)).read_bytes()
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=_clean(attachment.get("filename")) or "anhang")

    flat = msg.as_bytes(policy=SKELETON_POLICY)
    if method:  # as Outlook and Gmail write it; the email library would quote the token
        flat = flat.replace(f'method="{method}"'.encode(), f"method={method}".encode())
    segments: list[bytes | _Slot] = [flat]
    for marker, slot in markers.items():
        split = []
        for segment in segments:
            if isinstance(segment, bytes) and marker.encode() in segment:
                before, after = segment.split(marker.encode(), 1)
                split += [before, slot, after]
            else:
                split.append(segment)
        segments = split
    return Skeleton(mail_id=mail.id, segments=segments, bulk=mail.bulk, domain=config.alliance.domain,
                    mailto=config.mail.unsubscribe_address)


def _calendar_parts(msg: EmailMessage, calendar: str, markers: dict[str, _Slot]) -> str:
    """The calendar inside the alternative, with the METHOD its body names (so header and body always agree),
    and as the `.ics` attachment Gmail and Thunderbird add; returns the method."""
    found = CALENDAR_METHOD.search(calendar)
    if found is None:
        raise ValueError("the mail's calendar names no METHOD; an iMIP part needs one")
    method = found.group(1)
    inline, attached = (f"HUBSLOT{secrets.token_hex(12)}" for _ in range(2))
    markers[inline] = _Slot(calendar, escape=False)
    markers[attached] = _Slot(calendar, escape=False, own_line_end=True)
    msg.add_alternative(inline, subtype="calendar", charset="utf-8", cte="quoted-printable",
                        params={"method": method})
    filename = "absage.ics" if method == "CANCEL" else "einladung.ics"
    msg.add_attachment(attached.encode("ascii"), maintype="application", subtype="ics", filename=filename,
                       cte="quoted-printable", params={"name": filename})
    return method


class Signer:
    """DKIM (dkimpy) with the key from `[dkim]`; the signature covers the headers a receiver judges."""

    def __init__(self, config: Config):
        import dkim

        self._dkim = dkim
        assert config.dkim is not None
        self.key = dkim_key(config)  # a missing or broken key: one ConfigError line (exit 2), before any send
        self.selector = config.dkim.selector.encode()
        self.domain = config.alliance.domain.encode()

    def sign(self, message: bytes) -> bytes:
        signature = self._dkim.sign(message, self.selector, self.domain, self.key,
                                    include_headers=SIGNED_HEADERS, canonicalize=(b"relaxed", b"relaxed"))
        return signature + message
