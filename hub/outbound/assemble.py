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
from email.message import EmailMessage
from functools import cache
from pathlib import Path

from hub import signing
from hub.config import Config, dkim_key
from hub.models import Blob, Delivery, OutboundMail
from hub.outbound.headers import POLICY, UNFOLDED, ascii_address, clean, folded, mail_headers, to_header
from hub.secret import secret_key

TOKEN = re.compile(r"%%([a-z][a-z0-9_]*)%%")
CALENDAR_METHOD = re.compile(r"^METHOD:([A-Z-]{1,20})\r?$", re.MULTILINE)
URL = re.compile(r"^https?://[^\s<>,\"\x00-\x1f\x7f]+$")
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


def skeleton(config: Config, mail: OutboundMail, blobs: dict[str, Blob] | None = None) -> Skeleton:
    """Compose the mail once: every header but the per-recipient ones, the MIME tree, the attachments."""
    head = b"".join(folded(name, value) for name, value in mail_headers(config, mail))
    body = mime_tree(config, mail, blobs) if mail.calendar or mail.attachments else _plain_tree(mail)
    return Skeleton(mail_id=mail.id, segments=[head + body[0], *body[1:]], bulk=mail.bulk,
                    domain=config.alliance.domain, mailto=config.mail.unsubscribe_address)


def _plain_tree(mail: OutboundMail) -> list[bytes | _Slot]:
    """A mail of text (and HTML) only, the most common by far (receipts, relays, notices): its MIME tree is
    the same for every such mail, made once per process; only the slots differ."""
    frame = _plain_frame(bool(mail.html))
    tree: list[bytes | _Slot] = [frame[0], _Slot(mail.text or "", escape=False), frame[1]]
    if mail.html:
        tree += [_Slot(mail.html, escape=True), frame[2]]
    return tree


@cache
def _plain_frame(with_html: bool) -> list[bytes]:
    # The boundary is this process's for all such mails: the parts are quoted-printable, in which a line can
    # never begin with "--=", so no part can hold it.
    markers = [f"HUBSLOT{secrets.token_hex(12)}" for _ in range(2)]
    msg = EmailMessage(policy=POLICY)
    msg.set_content(markers[0], subtype="plain", charset="utf-8", cte="quoted-printable")
    if with_html:
        msg.add_alternative(markers[1], subtype="html", charset="utf-8", cte="quoted-printable")
    return re.split("|".join(markers).encode(), msg.as_bytes(policy=POLICY))


def mime_tree(config: Config, mail: OutboundMail, blobs: dict[str, Blob] | None = None) -> list[bytes | _Slot]:
    """The MIME tree of any mail (calendar, attachments) as the email library makes it, with the text, HTML and
    calendar as slots; the headers above it are the skeleton's."""
    msg = EmailMessage(policy=POLICY)
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
                           filename=clean(attachment.get("filename")) or "anhang")

    flat = msg.as_bytes(policy=POLICY)
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
    return segments


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
