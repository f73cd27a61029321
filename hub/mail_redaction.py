"""Erasing a person from stored text and raw mail (DSGVO Art. 17): plain functions over strings and bytes.

`Identity` is what names the person: the address, and the name with and without academic titles. Not the
local part alone, nor the surname alone: another person may have them ("j.weiss@" elsewhere, "weiß").
Text gets every mention replaced by `GONE`; JSON-like values are walked.
Raw mail is parsed, and every header whose decoded value names the person becomes `GONE` (RFC 2047 encoded
words included); with `bodies`, every text part is decoded (quoted-printable, base64, its charset), rewritten
and encoded again, and other parts that carry a mention in plain bytes get it masked at the same length, so
documents keep their structure. A message the parser cannot take apart has the plain mentions masked in its
bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from email.header import decode_header, make_header
from email.message import Message
from io import BytesIO

GONE = "[gelöscht]"
# Titles people put before a name; the name without them is a name too ("Dr. Jürgen Weiß" signs "Jürgen Weiß").
TITLES = re.compile(r"^(?:(?:Prof|Dr|Dipl|Mag|PD|Frau|Herr|Fr|Hr)\.?(?:-[\w.]+)?\s+)+", re.IGNORECASE)
# Parameters of Content-Type / Content-Disposition that may carry a name (an attachment's file name).
NAMED_PARAMS = ("filename", "name")
COMPAT = policy.compat32.clone(max_line_length=0, linesep="\n")


@dataclass(frozen=True)
class Identity:
    """The strings that name one person; `needles` lists each once, longest first."""

    needles: tuple[str, ...]

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(re.escape(n) for n in self.needles), re.IGNORECASE)

    def found_in(self, text: str | None) -> bool:
        return bool(text) and self.pattern.search(text) is not None


def identity(address: str | None, name: str | None) -> Identity:
    """The person named by `address` and `name` (either may be empty)."""
    needles: set[str] = set()
    if address and address.strip():
        needles.add(address.strip())
    name = " ".join((name or "").split())
    if name:
        needles.add(name)
        bare = TITLES.sub("", name).strip()
        if " " in bare:  # a single word ("Weiß") is too common to erase everywhere
            needles.add(bare)
    return Identity(tuple(sorted(needles, key=lambda n: (-len(n), n))))


def redact_text(person: Identity, text: str) -> str:
    return person.pattern.sub(GONE, text) if person.needles and text else text


def redact_value(person: Identity, value):
    """Strings, lists and dicts (a JSON column) with every mention replaced; other values as they are."""
    if isinstance(value, str):
        return redact_text(person, value)
    if isinstance(value, list):
        return [redact_value(person, v) for v in value]
    if isinstance(value, dict):
        return {redact_value(person, k): redact_value(person, v) for k, v in value.items()}
    return value


def mentions_in_mail(person: Identity, raw: bytes) -> bool:
    """Whether the raw mail names the person anywhere: headers decoded, every part decoded."""
    return redact_mail(person, raw, bodies=True) is not None


def body_mentions(person: Identity, raw: bytes) -> bool:
    """Whether the text of the mail (not its headers) names the person."""
    try:
        message = message_from_bytes(raw, policy=COMPAT)
        return any(person.found_in(_text_of(part)) for part in message.walk() if _is_text_leaf(part))
    except (Exception, RecursionError):  # noqa: BLE001 — a mail the parser cannot read: look at the bytes
        return _plain_hit(person, raw)


def redact_mail(person: Identity, raw: bytes, bodies: bool) -> bytes | None:
    """The mail with the person's headers redacted (and with `bodies`, every mention in its parts replaced);
    None when nothing named them. Line ends stay as they were (CRLF from SMTP, LF from a Maildir)."""
    if not person.needles:
        return None
    try:
        message = message_from_bytes(raw, policy=COMPAT)
        changed = False
        for part in message.walk():
            changed |= _redact_headers(person, part)
            if bodies and not part.is_multipart():
                changed |= _redact_payload(person, part)
        data = raw
        if changed:
            out = BytesIO()
            linesep = "\r\n" if b"\r\n" in raw[:4096] else "\n"
            BytesGenerator(out, mangle_from_=False, policy=COMPAT.clone(linesep=linesep)).flatten(message)
            data = out.getvalue()
        if bodies:  # what no part decoded to (a wrong charset, bytes outside any part)
            data = mask_bytes(person, data)
    except (Exception, RecursionError):  # noqa: BLE001 — deep or broken MIME: mask the plain bytes instead
        head, blank, rest = raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(b"\r\n\r\n")
        data = mask_bytes(person, raw) if bodies else mask_bytes(person, head) + blank + rest
    return data if data != raw else None


def mask_bytes(person: Identity, data: bytes) -> bytes:
    """Every plain mention (UTF-8 or Latin-1) overwritten at the same length, so offsets in a file stay right."""
    for needle in person.needles:
        for encoded in {needle.encode("utf-8"), needle.encode("latin-1", "ignore")}:
            if encoded:
                data = re.sub(re.escape(encoded), lambda m: b"#" * len(m.group(0)), data, flags=re.IGNORECASE)
    return data


def _plain_hit(person: Identity, data: bytes) -> bool:
    return mask_bytes(person, data) != data


def _decoded_header(value) -> str:
    try:
        return str(make_header(decode_header(str(value))))
    except (Exception, RecursionError):  # noqa: BLE001 — a broken encoded word: the text as it stands
        return str(value)


def _redact_headers(person: Identity, part: Message) -> bool:
    changed = False
    for index, (key, value) in enumerate(list(part._headers)):
        if not (person.found_in(str(value)) or person.found_in(_decoded_header(value))):
            continue
        if key.lower().startswith("content-"):
            # The MIME structure must stay: only a file name that names the person goes.
            for param in NAMED_PARAMS:
                if part.get_param(param, header=key) is not None:
                    part.set_param(param, GONE, header=key)
            changed = True
            continue
        part._headers[index] = (key, GONE)
        changed = True
    return changed


def _is_text_leaf(part: Message) -> bool:
    return not part.is_multipart() and part.get_content_maintype() == "text"


def _text_of(part: Message) -> str:
    data = part.get_payload(decode=True) or b""
    try:
        return data.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _redact_payload(person: Identity, part: Message) -> bool:
    if isinstance(part.get_payload(), list):  # message/delivery-status: header blocks, walked as headers
        return False
    if part.get_content_maintype() == "text":
        text = _text_of(part)
        new = redact_text(person, text)
        if new == text:
            return False
        del part["Content-Transfer-Encoding"]
        part.set_payload(new, "utf-8")
        return True
    data = part.get_payload(decode=True) or b""
    masked = mask_bytes(person, data)
    if masked == data:
        return False
    encoding = (part.get("Content-Transfer-Encoding") or "").strip().lower()
    if encoding == "base64":
        part.set_payload(base64.encodebytes(masked).decode("ascii"))
    elif encoding == "quoted-printable":
        part.set_payload(binascii.b2a_qp(masked).decode("ascii"))
    else:
        part.set_payload(masked.decode("ascii", "surrogateescape"))
    return True
