"""The MIME tree of one message: which part is the text the sender wrote, which are attachments (with their
text read by `documents`), which are forwarded messages; damaged structures repaired where the data allows."""

from __future__ import annotations

import base64
import binascii
import hashlib
import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import errors
from email.message import Message
from email.utils import collapse_rfc2231_value

from hub.inbound.documents import decode_text, document_text, recognise
from hub.inbound.headers import header_date, header_text, sender_address
from hub.inbound.html import html_to_text
from hub.inbound.message import Attachment, Forwarded
from hub.inbound.quoting import split_body
from hub.inbound.rawmail import PARSER, large_body

MAX_DEPTH = 20  # nested message/rfc822 and multiparts deeper than this are not walked

# (data, declared type, file name, declared charset) → (text, error or None, recognised type); never raises.
# `document_text` in this process by default; the filing process hands in its sandbox.
DocumentReader = Callable[[bytes, str, str, "str | None"], tuple[str, "str | None", str]]


@dataclass
class Body:
    """What the walk over the MIME tree collects."""

    texts: list[str] = field(default_factory=list)
    html: str | None = None
    forwarded: list[Forwarded] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    cids: set[str] = field(default_factory=set)
    read_document: DocumentReader = document_text


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
            value = collapse_rfc2231_value(value)
        except Exception:
            value = str(value[2])
    return header_text(str(value))


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
    large = large_body(payload) if isinstance(payload, str) else None
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


def walk(part: Message, body: Body, depth: int) -> None:
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
                walk(child, body, depth + 1)
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


def _repair_multipart(part: Message, body: Body, depth: int) -> bool:
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
        repaired = PARSER.parsebytes(header + data)
    except Exception:
        return False
    if not repaired.is_multipart():
        return False
    body.defects.append("MIME: multipart ohne Grenze (boundary); die Grenze wurde im Text gefunden.")
    walk(repaired, body, depth + 1)
    return True


_REPORTS = {"message/delivery-status", "message/disposition-notification", "message/feedback-report",
            "text/rfc822-headers", "message/global-delivery-status", "message/global-disposition-notification"}


def _walk_alternative(children: list[Message], body: Body, depth: int) -> None:
    """Prefer the plain text a sender wrote; take the HTML (and what is related to it) where it is missing."""
    plain = [c for c in children if _content_type(c) == "text/plain" and _disposition(c) != "attachment"]
    rich = [c for c in children if c not in plain]
    if plain and _text_of(plain[0]).strip():
        walk(plain[0], body, depth + 1)
        html_body = Body(read_document=body.read_document)
        for child in rich:  # keep the HTML as sent and the files of multipart/related, not its text twice
            walk(child, html_body, depth + 1)
        if body.html is None:
            body.html = html_body.html
        body.attachments.extend(html_body.attachments)
        body.forwarded.extend(html_body.forwarded)
        body.defects.extend(html_body.defects)
        return
    for child in reversed(rich or children):
        before = len(body.texts)
        walk(child, body, depth + 1)
        if len(body.texts) > before:
            return


def _attachment(part: Message, ctype: str, disposition: str | None, filename: str, body: Body, depth: int) -> None:
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
        attachment.text, attachment.error, attachment.content_type = body.read_document(
            data, ctype, filename, _param(part, "charset"))
    body.attachments.append(attachment)


def _default_name(content_type: str) -> str:
    suffix = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif",
              "text/plain": "txt", "text/html": "html", "text/calendar": "ics"}.get(content_type, "bin")
    return f"anhang.{suffix}"


def _forwarded_message(inner: Message, body: Body, depth: int) -> Forwarded:
    """An attached message/rfc822: its sender, subject, date and new text; its files join the attachments."""
    inner_body = Body(cids=set(), read_document=body.read_document)
    walk(inner, inner_body, depth)
    body.attachments.extend(inner_body.attachments)
    body.forwarded.extend(inner_body.forwarded)
    raw_headers = {name.lower(): header_text(value) for name, value in reversed(list(inner.raw_items()))}
    name, address = sender_address(raw_headers.get("from"))
    text, _, nested = split_body("\n\n".join(t for t in inner_body.texts if t.strip()), raw_headers.get("subject", ""))
    body.forwarded.extend(nested)
    return Forwarded(sender=address or name or None, subject=" ".join(raw_headers.get("subject", "").split()),
                     sent_at=header_date(raw_headers.get("date")), text=text)


