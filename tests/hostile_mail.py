"""Hostile whole messages, built at test time (nothing hostile is committed): every hostile document of
tests/hostile_documents.py attached to an otherwise normal protocol, MIME trees 2,000 deep, broken charsets in
headers and parts, non-ASCII in every token and in the envelope, 8-bit headers, NUL bytes, 5,000 parts,
20,000 headers, a 5,000-character Message-ID and a header block with no blank line after it.

Each message comes from the example alliance's AG Gesundheit representative to the protocol address, so a
message the hub reads as far as it should is a protocol it can file; `messages()` lists them for
tests/test_hostile.py and bench/hostile.py, `normal_protocol(n)` is the well-behaved mail sent after each.
Pure functions of their arguments: the same call gives the same bytes (a resent mail keeps its bytes).
"""

from __future__ import annotations

import base64
from functools import cache
from typing import NamedTuple

import hostile_documents

SENDER = "j.weiss@gesundheitsamt-musterhausen.example"  # AG Gesundheit's representative (example partners)
SENDER_NAME = "=?utf-8?q?Dr=2E_J=C3=BCrgen_Wei=C3=9F?="
PROTOCOLS = "protokolle@buendnis-musterhausen.example"
DOMAIN = "gesundheitsamt-musterhausen.example"
DATE = "Fri, 13 Mar 2026 09:30:00 +0100"
BODY = ("Liebe Kolleginnen und Kollegen,\r\n\r\nanbei das Ergebnisprotokoll.\r\n\r\n"
        "Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen\r\n").encode()


class Hostile(NamedTuple):
    """One hostile message and its envelope; `subject` is what the hub must keep of it (None: the subject is
    itself the hostile part), `sender` the same for the sender's address."""

    name: str
    raw: bytes
    envelope_from: str
    envelope_to: list[str]
    sender: str | None = SENDER
    subject: str | None = None


def subject_of(name: str) -> str:
    return f"Ergebnisprotokoll AG Gesundheit ({name})"


def _head(name: str, content_type: str = "text/plain; charset=utf-8", *, sender: str = f"{SENDER_NAME} <{SENDER}>",
          subject: str | None = None, message_id: str | None = None, extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {PROTOCOLS}\r\nSubject: {subject or subject_of(name)}\r\nDate: {DATE}\r\n"
            f"Message-ID: {message_id or f'<hostile-{name}@{DOMAIN}>'}\r\nMIME-Version: 1.0\r\n{extra}"
            f"Content-Type: {content_type}\r\n").encode()


def _plain(name: str, extra: str = "", **head) -> bytes:
    return (_head(name, "text/plain; charset=utf-8", extra=extra + "Content-Transfer-Encoding: 8bit\r\n", **head)
            + b"\r\n" + BODY)


def normal_protocol(n: int) -> bytes:
    """A well-behaved protocol of AG Gesundheit, its Message-ID <normal-N@…> (n tells them apart)."""
    return _plain(f"normal-{n}", message_id=f"<normal-{n}@{DOMAIN}>")


def _base64_lines(data: bytes) -> bytes:
    """Base64 in 76-character lines, as mailers write it (encodebytes, with CRLF)."""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def with_document(name: str, filename: str, data: bytes) -> bytes:
    """A protocol with one attachment."""
    return (_head(name, 'multipart/mixed; boundary="grenze"') + b"\r\n--grenze\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + BODY
            + b"--grenze\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            + f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'.encode()
            + _base64_lines(data) + b"--grenze--\r\n")


def nested(name: str, depth: int = 2000) -> bytes:
    """`depth` multiparts each inside the last, a readable text/plain leaf at the bottom."""
    opening = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i)
                       for i in range(1, depth))
    leaf = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + BODY
    closing = b"".join(b"\r\n--n%d--\r\n" % i for i in reversed(range(depth)))
    return _head(name, 'multipart/mixed; boundary="n0"') + b"\r\n--n0\r\n" + opening + leaf + closing


def many_parts(name: str, count: int = 5000) -> bytes:
    part = b"--viele\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTOP %d: Familientag\r\n"
    return (_head(name, 'multipart/mixed; boundary="viele"') + b"\r\n--viele\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + BODY
            + b"".join(part % i for i in range(count)) + b"--viele--\r\n")


def many_headers(name: str, count: int = 20_000) -> bytes:
    extra = "".join(f"X-Kopf-{i}: Wert {i}\r\n" for i in range(count))
    return _head(name, "text/plain; charset=utf-8", extra=extra) + b"\r\n" + BODY


def two_parts(name: str, second_type: bytes, second_body: bytes) -> bytes:
    """A readable first part and a broken second one."""
    return (_head(name, 'multipart/mixed; boundary="zwei"') + b"\r\n--zwei\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + BODY
            + b"--zwei\r\nContent-Type: " + second_type + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + second_body + b"\r\n--zwei--\r\n")


def non_ascii_everywhere(name: str) -> bytes:
    """Non-ASCII in every token: header names, display names, addresses, Message-ID, boundary, parameters,
    file name, charset name and body (a mailer that never heard of RFC 2047 or 2231)."""
    return ("From: Jürgen Weiß <jürgen.weiß@gesundheitsämt-musterhausen.example>\r\n"
            "To: Protokölle <prötokolle@bündnis-musterhausen.example>\r\n"
            f"Subject: {subject_of(name)} – Grüße, Ärger, Übermut\r\n"
            f"Date: {DATE}\r\n"
            "Message-ID: <hostile-ünïcödé-€@gesundheitsämt-musterhausen.example>\r\n"
            "MIME-Version: 1.0\r\n"
            "X-Grüße: Überall Umlaute\r\n"
            'Content-Type: multipart/mixed; boundary="grénze-€"\r\n\r\n'
            "--grénze-€\r\nContent-Type: text/plain; charset=ütf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen\r\n"
            '--grénze-€\r\nContent-Type: text/plain; charset=utf-8; name="Tagesördnung.txt"\r\n'
            'Content-Disposition: attachment; filename="Tagesördnung €.txt"\r\n\r\n'
            "TOP 1: Begrüßung\r\n--grénze-€--\r\n").encode()


def document_messages() -> list[Hostile]:
    """Every hostile document of tests/hostile_documents.py, attached to a protocol."""
    return [message(f"doc_{name}") for name, _, _ in hostile_documents.HOSTILE]


def mail_messages() -> list[Hostile]:
    """Hostile structure, charsets, tokens and envelopes (no attachment to read)."""
    def ok(name: str, raw: bytes, envelope_from: str = SENDER, envelope_to: list[str] | None = None) -> Hostile:
        return Hostile(name, raw, envelope_from, envelope_to or [PROTOCOLS], subject=subject_of(name))

    return [
        ok("nested_2000", nested("nested_2000")),
        ok("many_parts_5000", many_parts("many_parts_5000")),
        ok("many_headers_20000", many_headers("many_headers_20000")),
        # Broken charsets in headers: an unknown charset and invalid bytes in encoded words, raw 8-bit.
        Hostile("subject_unknown_charset", _plain("subject_unknown_charset",
                subject="=?x-unbekannt?q?Protokoll_=FF=FE?= AG Gesundheit"), SENDER, [PROTOCOLS]),
        Hostile("subject_invalid_utf8", _plain("subject_invalid_utf8",
                subject="=?utf-8?b?" + base64.b64encode(b"Protokoll \xff\xc3\x28 \xed\xa0\x80").decode() + "?="),
                SENDER, [PROTOCOLS]),
        ok("from_name_unknown_charset", _plain(
            "from_name_unknown_charset", sender=f"=?x-gibt-es-nicht?b?/////w==?= <{SENDER}>",
            extra="X-Kaputt: =?iso-8859-1?q?=FF?= =?koi8-u?b?????====?=\r\n")),
        ok("header_raw_utf8", _plain("header_raw_utf8",
                                     extra="Comments: Grüße vom Gesundheitsamt – „Protokoll“\r\n")),
        Hostile("subject_raw_utf8", _plain("subject_raw_utf8", subject=subject_of("subject_raw_utf8") + " – Grüße"),
                SENDER, [PROTOCOLS], subject=subject_of("subject_raw_utf8") + " – Grüße"),
        Hostile("headers_raw_latin1", _plain("headers_raw_latin1").replace(
            b"Subject: Ergebnisprotokoll", b"Subject: Ergebnisprotokoll \xdcbersicht").replace(
            SENDER_NAME.encode(), b"J\xfcrgen Wei\xdf"), SENDER, [PROTOCOLS],
            subject="Ergebnisprotokoll Übersicht AG Gesundheit (headers_raw_latin1)"),
        # Broken charsets in parts: bytes invalid in the declared charset, an unknown charset parameter.
        ok("part_invalid_bytes", two_parts("part_invalid_bytes", b"text/plain; charset=utf-8",
                                           b"TOP 2: Kaputt \xe4\xff\xfe\xc3 Ende")),
        ok("part_unknown_charset", two_parts("part_unknown_charset", b'text/plain; charset="x-gibt-es-nicht\xff"',
                                             b"TOP 2: Stadtfest \xfc\x81")),
        ok("part_bad_transfer_encoding", two_parts("part_bad_transfer_encoding",
                                                   b"text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64",
                                                   b"!!! kein base64 \xff ===")),
        Hostile("message_id_5000_non_ascii", _plain(
            "message_id_5000_non_ascii", message_id="<" + "ü€" * 2500 + f"@{DOMAIN}>"), SENDER, [PROTOCOLS],
            subject=subject_of("message_id_5000_non_ascii")),
        Hostile("no_blank_line", _head("no_blank_line", "text/plain; charset=utf-8") + BODY, SENDER, [PROTOCOLS],
                subject=subject_of("no_blank_line")),
        # Control characters an old mailer leaves in a text (form feed, vertical tab, record separator).
        ok("control_characters", _plain("control_characters").replace(
            b"anbei das", b"\x0canbei\x0b das\x1e\x01\x08\x1f").replace(b"Regenbogen", b"Regen\xef\xbf\xbebogen")),
        ok("nul_bytes", _plain("nul_bytes", extra="X-Nul: a\x00b\r\n").replace(b"Kollegen,", b"Kolle\x00gen,\x00")),
        Hostile("non_ascii_everywhere", non_ascii_everywhere("non_ascii_everywhere"),
                "jürgen.weiß@gesundheitsämt-musterhausen.example", [PROTOCOLS],
                sender="jürgen.weiß@gesundheitsämt-musterhausen.example",
                subject=subject_of("non_ascii_everywhere") + " – Grüße, Ärger, Übermut"),
        ok("envelope_non_ascii", _plain("envelope_non_ascii"), "jürgen.weiß@gesundheitsämt-musterhausen.example",
           [PROTOCOLS, "prötokolle@bündnis-musterhausen.example"]),
    ]


def messages() -> list[Hostile]:
    """Every hostile message: (name, raw, envelope_from, envelope_to, sender, subject); the documents first."""
    return document_messages() + mail_messages()


def names() -> list[str]:
    """The names of `messages()`, without building a bomb (for pytest's parametrize)."""
    return [f"doc_{name}" for name, _, _ in hostile_documents.HOSTILE] + [m.name for m in mail_messages()]


@cache
def message(name: str) -> Hostile:
    """One hostile message by name; a document is built alone, not the whole set."""
    if name.startswith("doc_"):
        [(filename, build)] = [(f, b) for n, f, b in hostile_documents.HOSTILE if f"doc_{n}" == name]
        return Hostile(name, with_document(name, filename, build()), SENDER, [PROTOCOLS], subject=subject_of(name))
    [found] = [m for m in mail_messages() if m.name == name]
    return found
