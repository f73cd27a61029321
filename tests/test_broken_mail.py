"""Broken mail is read as far as it goes: a bad byte in one header or one part, or a MIME tree nested deeper
than the parser follows, never loses the sender, the subject, the date or the readable text of the others."""

from __future__ import annotations

from datetime import datetime

import pytest

from hub.inbound import flatmime
from hub.inbound.parse import parse, unreadable

HEAD = (b"From: =?utf-8?q?Dr=2E_J=C3=BCrgen_Wei=C3=9F?= <j.weiss@gesundheitsamt-musterhausen.example>\r\n"
        b"To: protokolle@buendnis-musterhausen.example\r\nSubject: Protokoll AG Gesundheit\r\n"
        b"Date: Tue, 14 Jul 2026 10:00:00 +0200\r\nMessage-ID: <kaputt@example.org>\r\nMIME-Version: 1.0\r\n")


def nested(depth: int, same_boundary: bool) -> bytes:
    def boundary(level: int) -> bytes:
        return b"b" if same_boundary else b"b%d" % level

    opening = b"".join(b"Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\n" % (boundary(i), boundary(i))
                       for i in range(depth))
    leaf = "Content-Type: text/plain; charset=utf-8\r\n\r\nNächstes Treffen: 21.04.2026\r\n".encode()
    closing = b"".join(b"\r\n--%s--\r\n" % boundary(i) for i in reversed(range(depth)))
    return HEAD + opening + leaf + closing


def assert_headers_survive(parsed) -> None:
    assert parsed.sender == "j.weiss@gesundheitsamt-musterhausen.example"
    assert parsed.sender_name == "Dr. Jürgen Weiß"
    assert parsed.subject == "Protokoll AG Gesundheit"
    assert parsed.sent_at == datetime.fromisoformat("2026-07-14T10:00:00+02:00")
    assert parsed.message_id == "<kaputt@example.org>"


@pytest.mark.parametrize("same_boundary", [False, True], ids=["distinct-boundaries", "one-boundary"])
def test_two_thousand_nested_multiparts_keep_sender_subject_and_text(same_boundary):
    parsed = parse(nested(2000, same_boundary))
    assert_headers_survive(parsed)
    assert "Nächstes Treffen: 21.04.2026" in parsed.text
    # One boundary for every level is no nesting to the parser: the first closing line ends the outer part.
    assert any("zu tief verschachtelt" in d for d in parsed.defects) != same_boundary


def test_ordinary_nesting_is_not_read_flat():
    raw = nested(5, same_boundary=False)
    assert not flatmime.too_deep(raw)
    parsed = parse(raw)
    assert "Nächstes Treffen" in parsed.text and not any("verschachtelt" in d for d in parsed.defects)


def test_a_deep_message_keeps_its_attachments():
    raw = nested(300, same_boundary=False).replace(
        b"\r\n--b299--", b"\r\n--b299\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; "
                         b"filename=liste.csv\r\n\r\nName;Aufgabe\r\n--b299--", 1)
    parsed = parse(raw)
    assert [a.filename for a in parsed.attachments] == ["liste.csv"]
    assert "Name;Aufgabe" in parsed.attachments[0].text


def test_a_bad_byte_in_one_part_and_one_header_loses_nothing_else():
    raw = (HEAD.replace(b"Subject: Protokoll AG Gesundheit", b"Subject: Protokoll AG Gesundheit")
           + b"X-Kaputt: =?x-unbekannt?q?=FF=FE?= \xff\xfe\r\n"
           + b"Content-Type: multipart/mixed; boundary=X\r\n\r\n"
           b"--X\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTOP 1: Familientag \xc3\xa4\r\n"
           b"--X\r\nContent-Type: text/plain; charset=\"utf-8\xff\"\r\n\r\nTOP 2: Kaputt \xe4\xff Ende\r\n"
           b"--X\r\nContent-Type: text/plain; charset=x-gibt-es-nicht\r\n\r\nTOP 3: Stadtfest \xfc\r\n--X--\r\n")
    parsed = parse(raw)
    assert_headers_survive(parsed)
    assert "TOP 1: Familientag ä" in parsed.text
    assert "TOP 2: Kaputt" in parsed.text and "Ende" in parsed.text
    assert "TOP 3: Stadtfest" in parsed.text


def test_what_nothing_else_can_read_still_gives_its_headers():
    parsed = unreadable(nested(3, same_boundary=False), RecursionError("zu tief"))
    assert_headers_survive(parsed)
    assert parsed.defects == ["Die Nachricht konnte nicht zerlegt werden: RecursionError: zu tief"]
    assert unreadable(b"\x00\xff kein Kopf", ValueError("x")).sender is None
