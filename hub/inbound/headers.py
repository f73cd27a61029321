"""Header values as text: unfolded, RFC 2047 decoded, 8-bit bytes read; Message-ID, date and addresses
tolerant of what real mailers write; the parser's defects in words a coordinator understands."""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

from hub.addresses import InvalidAddress, normalise_address
from hub.inbound.documents import decode_text

_FOLD = re.compile(r"\r?\n[ \t]")
# How the parser keeps a raw 8-bit byte of a header (surrogateescape).
_RAW_BYTE = re.compile("[\udc80-\udcff]")


def header_text(value: str) -> str:
    """A raw header value as text: unfolded, RFC 2047 decoded, raw 8-bit bytes read as UTF-8 or Windows-1252."""
    if "\n" in value or "\r" in value:
        value = _FOLD.sub(" ", value).replace("\r", "").replace("\n", "")
    if _RAW_BYTE.search(value):
        data = value.encode("ascii", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data.decode("cp1252", "replace")
    if "=?" in value:
        try:
            value = str(make_header(decode_header(value)))
        except Exception:
            value = _decode_words_leniently(value)
    return value.strip()


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_words_leniently(value: str) -> str:
    """RFC 2047 with unknown charsets or broken base64: decode what can be decoded, word by word."""

    def one(match: re.Match) -> str:
        charset, encoding, payload = match.group(1).split("*")[0], match.group(2).lower(), match.group(3)
        try:
            if encoding == "b":
                data = base64.b64decode(payload + "=" * (-len(payload) % 4))
            else:
                data = quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)
        except (binascii.Error, ValueError):
            return match.group(0)
        try:
            return data.decode(charset, "replace")
        except LookupError:
            return decode_text(data)

    # whitespace between two encoded words is not part of the text (RFC 2047 section 6.2)
    return _ENCODED_WORD.sub(one, re.sub(r"(\?=)\s+(=\?)", r"\1\2", value))


MAX_MESSAGE_ID = 500  # characters; an index entry of PostgreSQL holds at most 2,704 bytes (four per character)


def message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = re.search(r"<[^<>\s]+>", value)
    if match:
        return match.group(0)[:MAX_MESSAGE_ID]
    token = value.strip().split()[0] if value.strip() else ""
    return f"<{token.strip('<>')[:MAX_MESSAGE_ID - 2]}>" if token.strip("<>") else None


def header_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def normalised_address(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return normalise_address(address)
    except InvalidAddress:
        return None


def sender_address(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    name, address = parseaddr(value)
    normalised = normalised_address(address)
    if normalised is None:  # e.g. an unquoted comma or umlaut in the display name confuses parseaddr
        match = re.search(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+", value)
        normalised = normalised_address(match.group(0)) if match else None
        if match and not name:
            name = value[: match.start()].strip(" <\"'")
    return " ".join(name.split()).strip("\"'"), normalised


def mime_defects(msg: Message) -> list[str]:
    found = []
    for part in msg.walk():
        for defect in getattr(part, "defects", []):
            description = _DEFECTS.get(type(defect).__name__, type(defect).__name__)
            if description not in found:
                found.append(description)
    return found


_DEFECTS = {
    "CloseBoundaryNotFoundDefect": "MIME: die abschließende Grenze (boundary) fehlt.",
    "StartBoundaryNotFoundDefect": "MIME: die angegebene Grenze (boundary) kommt im Text nicht vor.",
    "NoBoundaryInMultipartDefect": "MIME: multipart ohne Grenze (boundary).",
    "InvalidBase64PaddingDefect": "MIME: fehlerhaftes Base64 (Auffüllung).",
    "InvalidBase64CharactersDefect": "MIME: fehlerhaftes Base64 (ungültige Zeichen).",
    "InvalidBase64LengthDefect": "MIME: fehlerhaftes Base64 (Länge).",
    "MissingHeaderBodySeparatorDefect": "MIME: Leerzeile zwischen Kopf und Text fehlt.",
    "MultipartInvariantViolationDefect": "MIME: als multipart angegeben, aber nicht so aufgebaut.",
    "InvalidMultipartContentTransferEncodingDefect": "MIME: unzulässige Kodierung für multipart.",
    "UndecodableBytesDefect": "Kopfzeile mit nicht dekodierbaren Bytes.",
    "NonASCIILocalPartDefect": "Adresse mit Nicht-ASCII-Zeichen.",
}


