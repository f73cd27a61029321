"""Parse: raw mail bytes → ParsedMessage (headers, the new text, quotes, forwards, attachments with their text).

Pure and total: whatever the bytes, `parse` returns a ParsedMessage; what was wrong is in `defects`.
The standard `email` package with `policy.default` does the MIME work; around it this module repairs what
real mailers get wrong (charsets, 8-bit headers, Outlook's HTML-only mail) and tells a reply's quoted text
and forwarded messages apart from the new text.
"""

from __future__ import annotations

import binascii
import contextvars
import functools
import hashlib
import quopri
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors, policy
from email.feedparser import BytesFeedParser
from email.header import decode_header, make_header
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from hub.addresses import InvalidAddress, normalise_address
from hub.inbound.documents import decode_text, document_text, recognise
from hub.inbound.html import html_to_text
from hub.inbound.message import Attachment, Forwarded, ParsedMessage


class _CachingHeaderRegistry(HeaderRegistry):
    """policy.default parses a structured header (Content-Type …) anew on every access, and the walk over a
    message reads each several times; header objects are immutable, so one parse per distinct value will do."""

    @functools.lru_cache(maxsize=4096)  # noqa: B019 — one module-level instance, lives as long as the process
    def __call__(self, name: str, value: str):
        return super().__call__(name, value)


_POLICY = policy.default.clone(header_factory=_CachingHeaderRegistry())
_PARSER = BytesParser(policy=_POLICY)
_LEGACY_PARSER = BytesParser(policy=policy.compat32)
_CHUNK = 1 << 16
PARSE_FAILED = "Die Nachricht konnte nicht zerlegt werden"  # the first defect when nothing could be read


def _message_from_bytes(raw: bytes, parser: BytesParser) -> Message:
    """Like parser.parsebytes, fed in chunks: parsebytes decodes the whole message into one string and reads it
    through a StringIO (four bytes a character), which costs eight times a 20 MB attachment in memory.

    Large encoded bodies never reach the parser at all: it would keep each of their lines, then their join,
    as strings (three times the body). A placeholder line stands in for each, and `_payload` decodes the
    body straight from the raw bytes."""
    feed = BytesFeedParser(policy=parser.parser.policy)
    view = memoryview(raw)
    bodies = _LARGE_BODIES.get()[1] if _LARGE_BODIES.get() else {}
    position = 0
    for placeholder, (start, end) in bodies.items():
        _feed(feed, view[position:start])
        feed.feed(placeholder.encode("ascii") + b"\r\n")
        position = end
    _feed(feed, view[position:])
    return feed.close()


def _feed(feed: BytesFeedParser, view: memoryview) -> None:
    for start in range(0, len(view), _CHUNK):
        feed.feed(bytes(view[start:start + _CHUNK]))


# Bodies above this size are decoded from the raw bytes (see _message_from_bytes).
LARGE_BODY = 1 << 20
_ENCODED_RUN = re.compile(rb"[A-Za-z0-9+/=\r\n]+")  # maximal runs, filtered by length: linear, never quadratic
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# The message being parsed: its raw bytes and its large bodies by placeholder.
_LARGE_BODIES: contextvars.ContextVar[tuple[memoryview, dict] | None] = contextvars.ContextVar(
    "large_bodies", default=None)


def _large_bodies(raw: bytes) -> dict[str, tuple[int, int]]:
    """Where the raw message has long runs of encoded lines: {placeholder: (start, end)} of whole lines.

    The placeholder carries a random token, so a mail cannot name one of its own."""
    if len(raw) < LARGE_BODY:
        return {}
    token = secrets.token_hex(8)
    bodies = {}
    for run in _ENCODED_RUN.finditer(raw):
        start, end = run.span()
        if end - start < LARGE_BODY:
            continue
        # A run may begin with the tail of a header line ("base64") and the blank line after the headers.
        blanks = list(_BLANK_LINE.finditer(raw, start, min(end, start + 1024)))
        if blanks:
            start = blanks[-1].end()
        elif start > 0 and raw[start - 1:start] != b"\n":
            start = raw.find(b"\n", start, end) + 1
        end = raw.rfind(b"\n", start, end) + 1
        if start <= 0 or end - start < LARGE_BODY:
            continue
        bodies[f"HUBLARGEBODY{token}{len(bodies)}"] = (start, end)
    return bodies


def _large_body(payload: str) -> memoryview | None:
    current = _LARGE_BODIES.get()
    if current is None or not payload.startswith("HUBLARGEBODY") or len(payload) > 80:
        return None
    view, bodies = current
    span = bodies.get(payload.strip())
    return view[span[0]:span[1]] if span else None
MAX_DEPTH = 20  # nested message/rfc822 and multiparts deeper than this are not walked


def parse(raw: bytes) -> ParsedMessage:
    """Parse one message; never raises."""
    content_hash = hashlib.sha256(raw).hexdigest()
    try:
        return _parse(raw, content_hash, _PARSER)
    except Exception as exc:
        first_error = exc
    try:
        # policy.default gives up on some broken headers (e.g. a parameter in a charset that cannot decode it);
        # the legacy compat32 parser treats headers as plain strings and gets through
        parsed = _parse(raw, content_hash, _LEGACY_PARSER)
        parsed.defects.append(f"Kopfzeilen teilweise unlesbar ({type(first_error).__name__}); "
                              "vereinfacht gelesen.")
        return parsed
    except Exception as exc:  # the last line of defence: the raw bytes are kept, a human looks at it
        return ParsedMessage(
            message_id=f"<{content_hash}@hub.invalid>", content_hash=content_hash, sender=None, sender_name="",
            subject="", sent_at=None, to=[], headers=[], text="",
            defects=[f"{PARSE_FAILED}: {type(exc).__name__}: {exc}"[:500]],
        )


@dataclass
class _Body:
    """What the walk over the MIME tree collects."""

    texts: list[str] = field(default_factory=list)
    html: str | None = None
    forwarded: list[Forwarded] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    cids: set[str] = field(default_factory=set)


def _parse(raw: bytes, content_hash: str, parser: BytesParser) -> ParsedMessage:
    # Set for this parse only: the view must not keep a large message alive after it.
    token = _LARGE_BODIES.set((memoryview(raw), _large_bodies(raw)))
    try:
        return _parse_message(raw, content_hash, parser)
    finally:
        _LARGE_BODIES.reset(token)


def _parse_message(raw: bytes, content_hash: str, parser: BytesParser) -> ParsedMessage:
    msg = _message_from_bytes(raw, parser)
    headers = [(name, _decode_header(value)) for name, value in msg.raw_items()]
    first = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)

    defects: list[str] = []
    message_id = _message_id(first.get("message-id"))
    if message_id is None:
        message_id = f"<{content_hash}@hub.invalid>"
        defects.append("Keine Message-ID: eine aus dem Inhalt gebildete wird verwendet.")
    sent_at = _date(first.get("date"))
    if sent_at is None:
        defects.append("Kein lesbares Datum (Date) im Kopf der Nachricht.")
    sender_name, sender = _address(first.get("from"))
    to = []
    for name in ("to", "cc"):
        for value in (v for k, v in headers if k.lower() == name):
            for _, address in getaddresses([value]):
                normalised = _normalise(address)
                if normalised and normalised not in to:
                    to.append(normalised)

    body = _Body()
    _walk(msg, body, 0)
    subject = " ".join(first.get("subject", "").split())
    text, quoted, inline_forwards = split_body("\n\n".join(t for t in body.texts if t.strip()), subject)
    for defect in _mime_defects(msg):
        if defect not in defects:
            defects.append(defect)
    defects.extend(d for d in body.defects if d not in defects)
    return ParsedMessage(
        message_id=message_id, content_hash=content_hash, sender=sender, sender_name=sender_name,
        subject=subject, sent_at=sent_at, to=to, headers=headers, text=text, quoted=quoted, html=body.html,
        forwarded=[*inline_forwards, *body.forwarded], attachments=body.attachments, defects=defects,
    )


# --- headers -------------------------------------------------------------------------------------------

def _decode_header(value: str) -> str:
    """A raw header value as text: unfolded, RFC 2047 decoded, raw 8-bit bytes read as UTF-8 or Windows-1252."""
    value = re.sub(r"\r?\n[ \t]", " ", value).replace("\r", "").replace("\n", "")
    if any("\udc80" <= c <= "\udcff" for c in value):
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
    import base64
    import binascii
    import quopri

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


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = re.search(r"<[^<>\s]+>", value)
    if match:
        return match.group(0)[:900]
    token = value.strip().split()[0] if value.strip() else ""
    return f"<{token.strip('<>')[:900]}>" if token.strip("<>") else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _normalise(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return normalise_address(address)
    except InvalidAddress:
        return None


def _address(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    name, address = parseaddr(value)
    normalised = _normalise(address)
    if normalised is None:  # e.g. an unquoted comma or umlaut in the display name confuses parseaddr
        match = re.search(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+", value)
        normalised = _normalise(match.group(0)) if match else None
        if match and not name:
            name = value[: match.start()].strip(" <\"'")
    return " ".join(name.split()).strip("\"'"), normalised


def _mime_defects(msg: Message) -> list[str]:
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


# --- the MIME tree -------------------------------------------------------------------------------------

def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return None
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        try:
            from email.utils import collapse_rfc2231_value

            value = collapse_rfc2231_value(value)
        except Exception:
            value = str(value[2])
    return _decode_header(str(value))


def _content_id(part: Message) -> str:
    try:
        return str(part.get("Content-ID") or "").strip().strip("<>").lower()
    except Exception:
        return ""


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _payload(part: Message) -> bytes:
    payload = part.get_payload()
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    large = _large_body(payload) if isinstance(payload, str) else None
    if large is not None:
        if cte == "base64":
            try:
                return binascii.a2b_base64(large)
            except (binascii.Error, ValueError):
                part.policy.handle_defect(part, errors.InvalidBase64LengthDefect())
                return _lenient_base64(bytes(large).decode("ascii"))
        if cte == "quoted-printable":
            return quopri.decodestring(bytes(large))
        return bytes(large)
    if isinstance(payload, str) and cte == "base64":
        # binascii skips the line breaks itself; the library's decoder first copies the payload line by line
        try:
            return binascii.a2b_base64(payload)
        except (binascii.Error, ValueError):
            part.policy.handle_defect(part, errors.InvalidBase64LengthDefect())
            return _lenient_base64(payload)
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


def _lenient_base64(payload: str) -> bytes:
    """Decode a truncated or damaged base64 body as far as it goes (a mailer cut it off, a gateway mangled it)."""
    import base64

    clean = re.sub(r"[^A-Za-z0-9+/]", "", payload)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean + "=" * (-len(clean) % 4)
    try:
        return base64.b64decode(clean)
    except (binascii.Error, ValueError):
        return b""


def _text_of(part: Message) -> str:
    charset = _param(part, "charset")
    text = decode_text(_payload(part), charset).replace("\r\n", "\n").replace("\r", "\n")
    if (_param(part, "format") or "").lower() == "flowed":
        text = _unflow(text, (_param(part, "delsp") or "").lower() == "yes")
    return text


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676: a line ending in a space continues on the next (signature separator excepted)."""
    out: list[str] = []
    carry = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line != "-- ":
            carry += line[:-1] if delsp else line
            continue
        out.append(carry + line)
        carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out)


def filename_of(part: Message) -> str:
    """The attachment's file name for display: decoded, without any directory, never usable as a path."""
    name = _param(part, "filename", "content-disposition") or _param(part, "name") or ""
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if c.isprintable()).strip().lstrip(".").strip()
    return name[:200]


def _walk(part: Message, body: _Body, depth: int) -> None:
    if depth > MAX_DEPTH:
        body.defects.append("MIME: zu tief verschachtelt; der Rest wurde nicht gelesen.")
        return
    ctype = _content_type(part)
    if ctype == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        if isinstance(inner, Message):
            body.forwarded.append(_forwarded_message(inner, body, depth + 1))
            return
    if part.is_multipart():
        children = [p for p in part.get_payload() if isinstance(p, Message)] if isinstance(
            part.get_payload(), list) else []
        if ctype == "multipart/alternative" and children:
            _walk_alternative(children, body, depth)
        else:
            if ctype == "multipart/related":
                for child in children:
                    cid = _content_id(child)
                    if cid:
                        body.cids.add(cid)
            for child in children:
                _walk(child, body, depth + 1)
        return
    if ctype in _REPORTS:
        return  # machine-readable delivery / disposition reports: read by classify from the raw message
    if ctype.startswith("multipart/"):
        if _repair_multipart(part, body, depth):
            return
        data = _payload(part)
        if b"\x00" not in data[:4096] and recognise(data, "text/plain", "") == "text/plain":
            # a multipart without readable parts: what is in it is most likely the text the sender wrote
            body.defects.append("MIME: multipart ohne erkennbare Teile; der Inhalt wird als Text gelesen.")
            body.texts.append(decode_text(data))
            return
    disposition = _disposition(part)
    filename = filename_of(part)
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        text = _text_of(part)
        if ctype == "text/html":
            if body.html is None:
                body.html = text
            body.cids.update(m.lower() for m in re.findall(r"cid:([^\"'\s>)]+)", text, re.I))
            body.texts.append(html_to_text(text))
        else:
            body.texts.append(text)
        return
    _attachment(part, ctype, disposition, filename, body, depth)


def _repair_multipart(part: Message, body: _Body, depth: int) -> bool:
    """A multipart whose boundary parameter got lost (e.g. an unindented header continuation): find the boundary
    in the body itself and read the parts from there."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return False
    match = re.search(r"^--([^\s]{1,70})[ \t]*\r?$", payload, re.M)
    if not match:
        return False
    boundary = match.group(1)
    data = payload.encode("ascii", "surrogateescape")
    header = f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'.encode()
    try:
        repaired = _PARSER.parsebytes(header + data)
    except Exception:
        return False
    if not repaired.is_multipart():
        return False
    body.defects.append("MIME: multipart ohne Grenze (boundary); die Grenze wurde im Text gefunden.")
    _walk(repaired, body, depth + 1)
    return True


_REPORTS = {"message/delivery-status", "message/disposition-notification", "message/feedback-report",
            "text/rfc822-headers", "message/global-delivery-status", "message/global-disposition-notification"}


def _walk_alternative(children: list[Message], body: _Body, depth: int) -> None:
    """Prefer the plain text a sender wrote; take the HTML (and what is related to it) where it is missing."""
    plain = [c for c in children if _content_type(c) == "text/plain" and _disposition(c) != "attachment"]
    rich = [c for c in children if c not in plain]
    if plain and _text_of(plain[0]).strip():
        _walk(plain[0], body, depth + 1)
        html_body = _Body()
        for child in rich:  # keep the HTML as sent and the files of multipart/related, not its text twice
            _walk(child, html_body, depth + 1)
        if body.html is None:
            body.html = html_body.html
        body.attachments.extend(html_body.attachments)
        body.forwarded.extend(html_body.forwarded)
        body.defects.extend(html_body.defects)
        return
    for child in reversed(rich or children):
        before = len(body.texts)
        _walk(child, body, depth + 1)
        if len(body.texts) > before:
            return


def _attachment(part: Message, ctype: str, disposition: str | None, filename: str, body: _Body, depth: int) -> None:
    data = _payload(part)
    part.set_payload("")  # the encoded copy is not needed again: free it before a document reader allocates
    cid = _content_id(part)
    content_type = recognise(data, ctype, filename)
    inline = content_type.startswith("image/") and (
        disposition == "inline" or (cid and cid in body.cids) or (disposition is None and bool(cid)))
    attachment = Attachment(
        filename=filename or _default_name(content_type), content_type=content_type, declared_type=ctype, data=data,
        sha256=hashlib.sha256(data).hexdigest(), inline=bool(inline),
    )
    if not attachment.inline:
        attachment.text, attachment.error, attachment.content_type = document_text(
            data, ctype, filename, _param(part, "charset"))
    body.attachments.append(attachment)


def _default_name(content_type: str) -> str:
    suffix = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif",
              "text/plain": "txt", "text/html": "html", "text/calendar": "ics"}.get(content_type, "bin")
    return f"anhang.{suffix}"


def _forwarded_message(inner: Message, body: _Body, depth: int) -> Forwarded:
    """An attached message/rfc822: its sender, subject, date and new text; its files join the attachments."""
    inner_body = _Body(cids=set())
    _walk(inner, inner_body, depth)
    body.attachments.extend(inner_body.attachments)
    body.forwarded.extend(inner_body.forwarded)
    raw_headers = {name.lower(): _decode_header(value) for name, value in reversed(list(inner.raw_items()))}
    name, address = _address(raw_headers.get("from"))
    text, _, nested = split_body("\n\n".join(t for t in inner_body.texts if t.strip()), raw_headers.get("subject", ""))
    body.forwarded.extend(nested)
    return Forwarded(sender=address or name or None, subject=" ".join(raw_headers.get("subject", "").split()),
                     sent_at=_date(raw_headers.get("date")), text=text)


# --- replies and inline forwards -----------------------------------------------------------------------

_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{3,}\s*(?:Urspr(?:ü|ue)ngliche Nachricht|Original(?:e)? Message|Original-Nachricht|Forwarded message"
    r"|Weitergeleitete Nachricht|Nachricht weitergeleitet|Message transféré)\s*-{3,}"
    r"|-{5,}\s*(?:Ursprüngliche|Original).{0,30}-{5,}"
    r"|(?:Anfang der weitergeleiteten Nachricht|Begin forwarded message)\s*:)\s*$", re.I)
_HEADER_LINE = re.compile(
    r"^\s*\*?(Von|From|Gesendet|Sent|Datum|Date|An|To|Cc|Kopie|Betreff|Subject|Antwort an|Reply-To)\s*:\*?\s*(.*)$",
    re.I)
_REPLY_START = re.compile(r"^\s*(Am|On|Le|El|Il)\s.{4,}", re.I)
_REPLY_END = re.compile(r"(schrieb|wrote|a écrit|escribió|ha scritto)\s*.{0,80}:\s*$", re.I)
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|antw|sv|vs|odp)\s*(\[\d+\])?\s*:", re.I)
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|wg|wtr|tr|fw)\s*:", re.I)
# a cheap first look: a body with none of these line starts has neither quotes nor forwards
_ANY_MARKER = re.compile(r"^[ \t]*(?:>|-{3}|_{10}|\*?(?:von|from)\s*:|(?:am|on|le|el|il)\s|anfang der|begin forw)",
                         re.M | re.I)
_SEPARATOR = re.compile(r"^\s*_{10,}\s*$")


def _outlook_block(lines: list[str], i: int) -> bool:
    """ "Von: … / Gesendet: … / An: … / Betreff: …" as Outlook puts above a forwarded or replied-to mail."""
    match = _HEADER_LINE.match(lines[i])
    if not match or match.group(1).lower() not in ("von", "from"):
        return False
    keys = set()
    for line in lines[i + 1: i + 8]:
        header = _HEADER_LINE.match(line)
        if header:
            keys.add(header.group(1).lower())
    return bool(keys & {"gesendet", "sent", "datum", "date"}) and bool(keys & {"betreff", "subject"})


def _attribution(lines: list[str], i: int) -> int:
    """Lines taken by a reply attribution ("Am … schrieb …:", wrapped over up to three lines) starting at i."""
    if not _REPLY_START.match(lines[i]):
        return 0
    for span in range(1, 4):
        if i + span > len(lines):
            break
        joined = " ".join(line.strip() for line in lines[i: i + span])
        if len(joined) > 300:
            break
        if _REPLY_END.search(joined):
            return span
    return 0


def split_body(text: str, subject: str = "") -> tuple[str, str, list[Forwarded]]:
    """(new text, quoted text, inline forwards) of a body."""
    if not _ANY_MARKER.search(text):
        return text.strip(), "", []
    lines = text.replace("\r\n", "\n").split("\n")
    is_reply = bool(_REPLY_SUBJECT.match(subject)) and not _FORWARD_SUBJECT.match(subject)
    new: list[str] = []
    quoted: list[str] = []
    forwards: list[tuple[list[str], list[str]]] = []  # (header lines, body lines)
    state = "new"
    i = 0
    while i < len(lines):
        line = lines[i]
        if state == "quoted_all":
            quoted.append(line)
            i += 1
            continue
        span = _attribution(lines, i)
        if span:
            quoted.extend(lines[i: i + span])
            following = next((lines[j] for j in range(i + span, len(lines)) if lines[j].strip()), "")
            if not following.lstrip().startswith(">"):
                state = "quoted_all"  # top-posting: the whole original follows unquoted
            i += span
            continue
        explicit = bool(_FORWARD_MARKER.match(line))
        block = not explicit and _outlook_block(lines, i)
        if explicit or block:
            reply_marker = is_reply and (block or re.search(r"Urspr|Original", line, re.I))
            target = quoted if reply_marker else None
            if state == "new":
                _drop_separator(new)
            elif forwards:
                _drop_separator(forwards[-1][1])
            if target is not None:
                state = "quoted_all"
                continue
            headers, i = _forward_headers(lines, i + (1 if explicit else 0))
            forwards.append((headers, []))
            state = "forward"
            continue
        if line.lstrip().startswith(">"):
            quoted.append(line)
        elif state == "forward":
            forwards[-1][1].append(line)
        else:
            new.append(line)
        i += 1
    return "\n".join(new).strip(), "\n".join(quoted).strip(), [_forward(h, b) for h, b in forwards]


def _drop_separator(lines: list[str]) -> None:
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and _SEPARATOR.match(lines[-1]):
        lines.pop()


def _forward_headers(lines: list[str], i: int) -> tuple[list[str], int]:
    headers: list[str] = []
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines):
        line = lines[i]
        if _HEADER_LINE.match(line):
            headers.append(line)
        elif line.strip() and headers and len(headers) < 10 and line.startswith((" ", "\t")):
            headers[-1] += " " + line.strip()
        else:
            break
        i += 1
    return headers, i


def _forward(headers: list[str], body: list[str]) -> Forwarded:
    fields: dict[str, str] = {}
    for line in headers:
        match = _HEADER_LINE.match(line)
        if match:
            key = {"from": "von", "sent": "datum", "gesendet": "datum", "date": "datum", "subject": "betreff"}.get(
                match.group(1).lower(), match.group(1).lower())
            fields.setdefault(key, match.group(2).strip().strip("*").strip())
    sender = fields.get("von", "")
    mailto = re.search(r"[^\s<>\[\]\"'():;,]+@[^\s<>\[\]\"'():;,]+", sender)
    address = _normalise(mailto.group(0).removeprefix("mailto:")) if mailto else None
    name = re.sub(r"[<\[].*$", "", sender).strip(" \"'") if sender else ""
    return Forwarded(sender=address or name or None, subject=fields.get("betreff", ""),
                     sent_at=forward_date(fields.get("datum", "")), text="\n".join(body).strip())


_MONTHS = {m: i for i, names in enumerate([
    ("jan", "januar", "jänner", "january"), ("feb", "februar", "february"), ("mär", "mrz", "märz", "maerz", "mar",
                                                                           "march"),
    ("apr", "april"), ("mai", "may"), ("jun", "juni", "june"), ("jul", "juli", "july"), ("aug", "august"),
    ("sep", "sept", "september"), ("okt", "oct", "oktober", "october"), ("nov", "november"),
    ("dez", "dec", "dezember", "december")], start=1) for m in names}


def forward_date(value: str) -> datetime | None:
    """The date line of a forwarded header block, RFC 5322 or as German and English mailers write it."""
    if not value:
        return None
    if re.search(r"\b\d{1,2} [A-Z][a-z]{2} \d{4} \d{1,2}:\d{2}", value):  # RFC 5322, as Gmail's English forwards
        parsed = _date(value)
        if parsed is not None:
            return parsed
    time = re.search(r"(\d{1,2})[:.](\d{2})(?:[:.]\d{2})?\s*(?:Uhr)?\s*(am|pm|AM|PM)?", value)
    hour, minute = (int(time.group(1)), int(time.group(2))) if time else (0, 0)
    if time and time.group(3) and time.group(3).lower() == "pm" and hour < 12:
        hour += 12
    numeric = re.search(r"\b(\d{1,2})\.(\d{1,2})\.(\d{2,4})\b", value)
    named = re.search(r"\b(\d{1,2})\.?\s+([A-Za-zäÄ]{3,9})\.?\s+(\d{4})\b", value)
    english = re.search(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b", value)
    try:
        if numeric:
            day, month, year = int(numeric.group(1)), int(numeric.group(2)), int(numeric.group(3))
            year += 2000 if year < 100 else 0
        elif named and named.group(2).lower() in _MONTHS:
            day, month, year = int(named.group(1)), _MONTHS[named.group(2).lower()], int(named.group(3))
        elif english and english.group(1).lower() in _MONTHS:
            day, month, year = int(english.group(2)), _MONTHS[english.group(1).lower()], int(english.group(3))
        else:
            return None
        if time and time.start() < (numeric or named or english).end() and numeric:
            hour, minute = 0, 0
            later = re.search(r"(\d{1,2}):(\d{2})", value[numeric.end():])
            if later:
                hour, minute = int(later.group(1)), int(later.group(2))
        return datetime(year, month, day, hour, minute)
    except ValueError:
        return None
