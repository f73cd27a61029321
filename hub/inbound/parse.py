"""Parse: raw mail bytes → ParsedMessage (headers, the new text, quotes, forwards, attachments with their text).

Pure and total: whatever the bytes, `parse` returns a ParsedMessage; what was wrong is in `defects`.
The standard `email` package with `policy.default` does the MIME work; around it this module repairs what
real mailers get wrong (charsets, 8-bit headers, Outlook's HTML-only mail) and tells a reply's quoted text
and forwarded messages apart from the new text.
"""

from __future__ import annotations

import hashlib
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

from hub.inbound import flatmime
from hub.inbound.documents import document_text
from hub.inbound.headers import header_date, header_text, message_id, mime_defects, normalised_address, sender_address
from hub.inbound.message import ParsedMessage
from hub.inbound.mime import Body, DocumentReader, walk
from hub.inbound.quoting import split_body
from hub.inbound.rawmail import LEGACY_PARSER, PARSER, message_from_bytes, reading

PARSE_FAILED = "Die Nachricht konnte nicht zerlegt werden"  # the first defect when nothing could be read


def parse(raw: bytes, read_document: DocumentReader = document_text) -> ParsedMessage:
    """Parse one message; never raises. `read_document` reads the text of attachments (see `mime.DocumentReader`)."""
    content_hash = hashlib.sha256(raw).hexdigest()
    flat = flatmime.too_deep(raw)
    try:
        return _parse(raw, content_hash, PARSER, read_document, flat)
    except Exception as exc:
        first_error = exc
    try:
        # policy.default gives up on some broken headers (e.g. a parameter in a charset that cannot decode it);
        # the legacy compat32 parser treats headers as plain strings and gets through
        parsed = _parse(raw, content_hash, LEGACY_PARSER, read_document, flat)
        parsed.defects.append(f"Kopfzeilen teilweise unlesbar ({type(first_error).__name__}); "
                              "vereinfacht gelesen.")
        return parsed
    except Exception as exc:  # the last line of defence: the raw bytes are kept, a human looks at it
        return unreadable(raw, exc)


def unreadable(raw: bytes, error: BaseException) -> ParsedMessage:
    """The message as far as nothing but its headers could be read (if even they can): the raw bytes are the
    record, and its hash names it when it has no Message-ID."""
    content_hash = hashlib.sha256(raw).hexdigest()
    parsed = ParsedMessage(
        message_id=f"<{content_hash}@hub.invalid>", content_hash=content_hash, sender=None, sender_name="",
        subject="", sent_at=None, to=[], headers=[], text="",
        defects=[f"{PARSE_FAILED}: {type(error).__name__}: {error}"[:500]],
    )
    try:
        headers = _headers(LEGACY_PARSER.parsebytes(raw, headersonly=True))
    except Exception:
        return parsed
    first = _first(headers)
    parsed.headers = headers
    parsed.message_id = message_id(first.get("message-id")) or parsed.message_id
    parsed.sender_name, parsed.sender = sender_address(first.get("from"))
    parsed.subject = " ".join(first.get("subject", "").split())
    parsed.sent_at = header_date(first.get("date"))
    return parsed


def _headers(msg: Message) -> list[tuple[str, str]]:
    return [(name, header_text(value)) for name, value in msg.raw_items()]


def _first(headers: list[tuple[str, str]]) -> dict[str, str]:
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)
    return first


def _parse(raw: bytes, content_hash: str, parser: BytesParser, read_document: DocumentReader,
           flat: bool) -> ParsedMessage:
    with reading(raw):
        try:
            return _parse_message(raw, content_hash, parser, read_document, flat)
        except RecursionError:  # nesting the count of boundaries did not show (messages forwarded inside each other)
            if flat:
                raise
            return _parse_message(raw, content_hash, parser, read_document, flat=True)


def _parse_message(raw: bytes, content_hash: str, parser: BytesParser, read_document: DocumentReader,
                   flat: bool) -> ParsedMessage:
    msg = parser.parsebytes(raw, headersonly=True) if flat else message_from_bytes(raw, parser)
    headers = _headers(msg)
    first = _first(headers)

    defects: list[str] = []
    identifier = message_id(first.get("message-id"))
    if identifier is None:
        identifier = f"<{content_hash}@hub.invalid>"
        defects.append("Keine Message-ID: eine aus dem Inhalt gebildete wird verwendet.")
    sent_at = header_date(first.get("date"))
    if sent_at is None:
        defects.append("Kein lesbares Datum (Date) im Kopf der Nachricht.")
    sender_name, sender = sender_address(first.get("from"))
    to = []
    for name in ("to", "cc"):
        for value in (v for k, v in headers if k.lower() == name):
            for _, address in getaddresses([value]):
                normalised = normalised_address(address)
                if normalised and normalised not in to:
                    to.append(normalised)

    body = Body(read_document=read_document)
    if flat:
        body.defects.append("MIME: zu tief verschachtelt; die Teile wurden ohne ihre Verschachtelung gelesen.")
        for part in flatmime.parts(raw, parser):
            walk(part, body, 1)
    else:
        walk(msg, body, 0)
    subject = " ".join(first.get("subject", "").split())
    text, quoted, inline_forwards = split_body("\n\n".join(t for t in body.texts if t.strip()), subject)
    for defect in mime_defects(msg):
        if defect not in defects:
            defects.append(defect)
    defects.extend(d for d in body.defects if d not in defects)
    return ParsedMessage(
        message_id=identifier, content_hash=content_hash, sender=sender, sender_name=sender_name,
        subject=subject, sent_at=sent_at, to=to, headers=headers, text=text, quoted=quoted, html=body.html,
        forwarded=[*inline_forwards, *body.forwarded], attachments=body.attachments, defects=defects,
    )


