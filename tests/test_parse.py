"""parse(): real-looking German protocol mails (tests/mails/, built by tests/mails/build.py) come apart right.

Plain text, Outlook HTML with tables, DOCX/PDF/ODT attachments recognised by content, forwards of every kind,
replies, legacy charsets, broken MIME — and parse (and classify after it) never raises, whatever the bytes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import REAL, edits, spliced

from hub.inbound.classify import classify
from hub.inbound.documents import DOCX, ODT, PDF, decode_text, document_text, recognise
from hub.inbound.html import html_to_text
from hub.inbound.parse import parse
from hub.inbound.quoting import forward_date, split_body

MAILS = Path(__file__).parent / "mails"
NEXT_MEETING = "Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen"


def mail(name: str):
    return parse((MAILS / name).read_bytes())


def test_plain_protocol():
    raw = (MAILS / "plain_protokoll_gesundheit.eml").read_bytes()
    parsed = parse(raw)
    assert parsed.content_hash == hashlib.sha256(raw).hexdigest()
    assert parsed.subject == "Ergebnisprotokoll AG Gesundheit vom 12.03.2026"
    assert parsed.sender == "j.weiss@gesundheitsamt-musterhausen.example"
    assert parsed.sender_name == "Dr. Jürgen Weiß"
    assert parsed.sent_at == datetime.fromisoformat("2026-03-13T09:30:00+01:00")
    assert parsed.message_id.endswith("@gesundheitsamt-musterhausen.example>")
    assert parsed.to == ["protokolle@buendnis-musterhausen.example"]
    assert "Teilnehmende: Dr. Jürgen Weiß (Gesundheitsamt), Aylin Yılmaz (AWO)" in parsed.text
    assert NEXT_MEETING in parsed.text
    assert "- Flyer gestalten und drucken lassen: Aylin Yılmaz, bis 15.04.2026" in parsed.text.splitlines()
    assert parsed.quoted == "" and parsed.forwarded == [] and parsed.attachments == []
    assert parsed.defects == []
    assert parsed.header("subject") == parsed.subject


def test_outlook_html_only_with_table_reads_as_text_with_rows_on_one_line():
    parsed = mail("outlook_html_tabelle.eml")
    lines = parsed.text.splitlines()
    assert "Was | Wer | Bis wann" in lines
    assert "Flyer gestalten und drucken lassen | Aylin Yılmaz | 15.04.2026" in lines
    assert "Genehmigung beim Ordnungsamt | Dr. Jürgen Weiß | 31.03.2026" in lines
    assert "Budget: 1.200 € aus dem Bündnisfonds – „Gesundheitstag“" in lines
    assert NEXT_MEETING in lines
    assert "Anmeldung unter unserer Seite (https://www.buendnis-musterhausen.example/gesundheitstag)" in lines
    assert "MsoNormal" not in parsed.text and "shapedefaults" not in parsed.text
    assert parsed.html is not None and "<table" in parsed.html
    [logo] = parsed.attachments
    assert logo.inline and logo.content_type == "image/png" and logo.text == ""
    assert parsed.documents() == []


def test_docx_declared_as_octet_stream_is_recognised_with_its_table():
    parsed = mail("docx_anhang.eml")
    [doc] = parsed.attachments
    assert doc.declared_type == "application/octet-stream"
    assert doc.content_type == DOCX
    assert doc.filename == "Protokoll AG Gesundheit März 2026.docx"  # RFC 2231 encoded in the mail
    assert doc.sha256 == hashlib.sha256(doc.data).hexdigest()
    lines = doc.text.splitlines()
    assert "Ergebnisprotokoll der AG Gesundheit vom 12.03.2026" in lines
    assert "Flyer gestalten und drucken lassen | Aylin Yılmaz | 15.04.2026" in lines
    assert NEXT_MEETING + ", Lindenstraße 5" in lines
    assert parsed.documents() == [doc]
    assert "im Anhang das Protokoll als Word-Datei." in parsed.text


def test_pdf_attachment_text():
    [pdf] = mail("pdf_anhang.eml").attachments
    assert pdf.content_type == PDF and pdf.error is None
    assert "Sitzung am 3. März 2026" in pdf.text
    assert "Wir treffen uns wieder am 28. April 2026 um 16 Uhr bei den Stadtwerken, Großer Saal." in pdf.text


def test_odt_attachment_and_a_hostile_file_name():
    parsed = mail("odt_anhang.eml")
    odt, listing = parsed.attachments
    assert odt.content_type == ODT
    lines = odt.text.splitlines()
    assert "Schulung der neuen Lotsinnen vorbereiten | Maria Öztürk" in lines
    assert "Nächste Sitzung: 7.5.2026, 9.30 Uhr, AWO-Begegnungsstätte" in lines
    assert listing.filename == "teilnehmer.txt"  # sent as 1234/../../teilnehmer.txt
    assert listing.text == "Teilnehmerliste: Maria Öztürk; Aylin Yılmaz"


@pytest.mark.parametrize("name", ["weiterleitung_outlook.eml", "weiterleitung_gmail.eml", "weiterleitung_apple.eml"])
def test_inline_forwards(name):
    parsed = mail(name)
    [forwarded] = parsed.forwarded
    assert forwarded.sender == "j.weiss@gesundheitsamt-musterhausen.example"
    assert forwarded.subject == "Ergebnisprotokoll AG Gesundheit vom 12.03.2026"
    assert forwarded.sent_at.replace(tzinfo=None) == datetime(2026, 3, 12, 20, 15)
    assert forwarded.text.startswith("Ergebnisprotokoll der AG Gesundheit vom 12.03.2026")
    assert NEXT_MEETING in forwarded.text
    # the forwarding person's own words stay the new text, the protocol is not duplicated into it
    assert "TOP 1" not in parsed.text and "Ursprüngliche" not in parsed.text and "Forwarded" not in parsed.text
    assert parsed.text


def test_forward_as_attached_message():
    parsed = mail("weiterleitung_als_anhang.eml")
    [forwarded] = parsed.forwarded
    assert forwarded.sender == "j.weiss@gesundheitsamt-musterhausen.example"
    assert forwarded.subject == "Ergebnisprotokoll AG Gesundheit vom 12.03.2026"
    assert forwarded.sent_at == datetime.fromisoformat("2026-03-13T09:30:00+01:00")
    assert NEXT_MEETING in forwarded.text
    assert parsed.text == "Hallo Petra,\n\nich leite dir Jürgens Mail als Anhang weiter.\n\nMaria"


def test_reply_quotes_are_told_apart_from_new_text():
    parsed = mail("antwort_mit_zitat.eml")
    assert "das Treffen am 21. April findet statt." in parsed.text
    assert "5. Mai" not in parsed.text and "schrieb" not in parsed.text
    assert parsed.quoted.startswith("Am 14.03.2026 um 10:02 schrieb Petra Schulze")
    assert "> ist die Genehmigung beantragt? Nächstes Treffen: 5. Mai 2026?" in parsed.quoted
    assert parsed.forwarded == []


def test_outlook_reply_without_quote_marks():
    parsed = mail("antwort_outlook_ohne_zitatzeichen.eml")
    assert parsed.text == "Danke, passt so.\n\nJürgen Weiß"
    assert "das Treffen am 5. Mai fällt aus." in parsed.quoted
    assert parsed.forwarded == []


def test_interleaved_reply_keeps_answers_as_new_text():
    text, quoted, forwards = split_body(
        "On Thu, Mar 12, 2026 at 8:15 PM Petra Schulze\n<p.schulze@buendnis-musterhausen.example> wrote:\n"
        "> Kommt ihr am 21. April?\nJa, wir kommen.\n> Und der Raum?\nIst gebucht.\n", "Re: Treffen")
    assert text == "Ja, wir kommen.\nIst gebucht."
    assert quoted.splitlines()[0] == "On Thu, Mar 12, 2026 at 8:15 PM Petra Schulze"
    assert "> Und der Raum?" in quoted and forwards == []


def test_windows_1252_without_charset():
    parsed = mail("windows1252_ohne_charset.eml")
    assert "Die Kosten (ca. 1.200 €) trägt der „Bündnisfonds“." in parsed.text
    assert "Teilnehmende: Dr. Jürgen Weiß (Gesundheitsamt)" in parsed.text
    assert "\r" not in parsed.text


def test_iso_8859_1_without_charset_and_raw_8bit_headers():
    parsed = mail("iso88591_ohne_charset.eml")
    assert parsed.subject == "Protokoll der Sitzung vom 12.03.2026 - Gesundheitstag für Familien"
    assert parsed.sender_name == "Dr. Jürgen Weiß"
    assert parsed.sender == "j.weiss@gesundheitsamt-musterhausen.example"
    assert "Genehmigung beim Ordnungsamt beantragen, Stände planen" in parsed.text
    assert "Viele Grüße" in parsed.text


def test_missing_closing_boundary():
    parsed = mail("kaputt_ohne_endgrenze.eml")
    assert NEXT_MEETING in parsed.text
    [note] = parsed.attachments
    assert note.filename == "notiz.txt" and note.text == "Notiz: Raum ist reserviert."
    assert any("Grenze" in d for d in parsed.defects)


def test_bad_base64():
    parsed = mail("kaputt_base64.eml")
    assert parsed.text.startswith("Liebe Kolleginnen und Kollegen,")
    assert "TOP 3: Wer übernimmt was?" in parsed.text
    [pdf] = parsed.attachments
    assert pdf.content_type == PDF and pdf.text == "" and pdf.error
    assert any("Base64" in d for d in parsed.defects)


def test_bare_lf_without_date_and_message_id():
    raw = (MAILS / "lf_ohne_datum_und_id.eml").read_bytes()
    assert b"\r" not in raw
    parsed = parse(raw)
    assert parsed.message_id == f"<{hashlib.sha256(raw).hexdigest()}@hub.invalid>"
    assert parsed.sent_at is None
    assert NEXT_MEETING in parsed.text
    assert any("Message-ID" in d for d in parsed.defects) and any("Datum" in d for d in parsed.defects)


def test_rfc2047_headers_and_rfc2231_filenames():
    msg = EmailMessage()
    msg["From"] = "=?iso-8859-1?q?J=FCrgen_Wei=DF?= <j.weiss@gesundheitsamt-musterhausen.example>"
    msg["Subject"] = "=?utf-8?b?UHJvdG9rb2xsIEFHIEdlc3VuZGhlaXQg4oCTIE3DpHJ6?= =?utf-8?q?_2026?="
    msg["Message-ID"] = "<2047@example>"
    msg.set_content("Text\n")
    msg.add_attachment(b"Inhalt", maintype="text", subtype="plain", filename="Übersicht Maßnahmen.txt")
    parsed = parse(msg.as_bytes())
    assert parsed.sender_name == "Jürgen Weiß"
    assert parsed.subject == "Protokoll AG Gesundheit – März 2026"
    assert parsed.attachments[0].filename == "Übersicht Maßnahmen.txt"
    assert b"filename*=" in msg.as_bytes()


def test_broken_parameter_charset_falls_back_to_compat32():
    raw = (b"From: a@example.org\nSubject: x\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
           b"Content-Type: text/plain; charset*=iso-2022-jp''%1B%24B%FF%FF\n\nHallo\n--b--\n")
    parsed = parse(raw)
    assert "Hallo" in parsed.text
    assert parsed.sender == "a@example.org"


def test_html_to_text():
    text = html_to_text(
        "<html><head><title>t</title><style>td{color:red}</style><script>alert(1)</script></head><body>"
        "<h1>Protokoll</h1><table><tr><th>TOP</th><th>Inhalt</th></tr>"
        "<tr><td>1</td><td><p>Begrüßung</p><p>und Vorstellung</p></td></tr>"
        "<tr><td>2</td><td><table><tr><td>innen</td><td>Tabelle</td></tr></table></td></tr></table>"
        "<ul><li>eins</li><li>zwei</ul><p>Mehr: <a href='https://example.org/a'>hier</a>, "
        "<a href='mailto:info@example.org'>info@example.org</a></p><blockquote>alt</blockquote></body></html>")
    assert text.splitlines() == [
        "Protokoll", "TOP | Inhalt", "1 | Begrüßung und Vorstellung", "2 | innen | Tabelle", "- eins", "- zwei",
        "Mehr: hier (https://example.org/a), info@example.org", "> alt"]
    assert "alert" not in text and "color" not in text


def test_documents_recognised_by_content_and_errors_reported():
    pdf = (b"%PDF-1.4\n")
    assert recognise(pdf, "application/octet-stream", "protokoll.doc") == PDF
    assert recognise(b"\x89PNG\r\n\x1a\n....", "application/pdf", "x.pdf") == "image/png"
    text, error, content_type = document_text(b"PK\x03\x04not really a zip", "application/msword", "x.docx")
    assert content_type == "application/zip" and text == "" and error is None
    text, error, content_type = document_text(b"%PDF-1.4 broken", "application/pdf", "x.pdf")
    assert content_type == PDF and text == "" and error
    text, error, content_type = document_text("Datum;Thema\n12.03.2026;Gesundheitstag\n".encode("cp1252"),
                                              "text/csv", "termine.csv")
    assert text == "Datum;Thema\n12.03.2026;Gesundheitstag" and error is None


@pytest.mark.parametrize("data, charset, expected", [
    ("Grüße für 10 €".encode("cp1252"), None, "Grüße für 10 €"),
    ("Grüße für 10 €".encode("iso-8859-15"), None, "Grüße für 10 €"),
    ("Grüße für 10 €".encode(), "iso-8859-1", "Grüße für 10 €"),  # UTF-8 declared as Latin-1
    ("„Grüße“ für 10 €".encode("cp1252"), "iso-8859-1", "„Grüße“ für 10 €"),  # Windows-1252 declared as Latin-1
    ("Grüße".encode("latin-1"), "utf-8", "Grüße"),  # a wrong declaration
    ("Grüße".encode("latin-1"), "x-unknown", "Grüße"),
])
def test_decode_text(data, charset, expected):
    assert decode_text(data, charset) == expected


@pytest.mark.parametrize("value, expected", [
    ("Donnerstag, 12. März 2026 20:15", datetime(2026, 3, 12, 20, 15)),
    ("Do., 12. März 2026 um 20:15 Uhr", datetime(2026, 3, 12, 20, 15)),
    ("12.03.2026 20:15", datetime(2026, 3, 12, 20, 15)),
    ("Thursday, March 12, 2026 8:15 PM", datetime(2026, 3, 12, 20, 15)),
    ("kein Datum", None),
])
def test_forward_date(value, expected):
    assert forward_date(value) == expected


# --- parse never raises ------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_parse_never_raises_on_arbitrary_bytes(raw):
    parsed = parse(raw)
    assert parsed.content_hash == hashlib.sha256(raw).hexdigest()
    assert parsed.message_id.startswith("<") and parsed.message_id.endswith(">")
    assert classify(raw, parsed).kind in ("protocol", "bounce", "autoreply", "other")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL), edits)
def test_parse_never_raises_on_mutated_real_mail(raw, changes):
    data = spliced(raw, changes)
    parsed = parse(data)
    assert parsed.content_hash == hashlib.sha256(data).hexdigest()
    assert isinstance(parsed.text, str) and isinstance(parsed.defects, list)
    assert classify(data, parsed).kind in ("protocol", "bounce", "autoreply", "other")


def test_multipart_whose_boundary_got_lost_is_repaired_from_the_body():
    raw = (b"From: a@example.org\nSubject: Protokoll\nMIME-Version: 1.0\nContent-Type: multipart/mixed;\n"
           b"boundary=\"----=_Part_1\"\n\n------=_Part_1\nContent-Type: text/plain; charset=utf-8\n\n"
           b"Protokoll vom 12.03.2026\n------=_Part_1\nContent-Type: text/plain; name=\"notiz.txt\"\n"
           b"Content-Disposition: attachment; filename=\"notiz.txt\"\n\nRaum reserviert\n------=_Part_1--\n")
    parsed = parse(raw)
    assert parsed.text == "Protokoll vom 12.03.2026"
    assert [a.filename for a in parsed.attachments] == ["notiz.txt"]


def test_multipart_without_parts_is_read_as_text():
    raw = (b"From: a@example.org\nSubject: Protokoll\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/alternative; boundary=\"fehlt\"\n\nProtokoll vom 12.03.2026: Treffen am 21.4.\n")
    parsed = parse(raw)
    assert parsed.text == "Protokoll vom 12.03.2026: Treffen am 21.4."
    assert parsed.attachments == [] and any("multipart" in d for d in parsed.defects)


def test_outlook_html_forward_and_gmail_html_reply():
    html = ("<html><body><div class=WordSection1><p class=MsoNormal>Liebe Petra, zur Ablage.<o:p></o:p></p>"
            "<p class=MsoNormal><o:p>&nbsp;</o:p></p><div style='border-top:solid #E1E1E1 1.0pt'><p class=MsoNormal>"
            "<b>Von:</b> Wei&szlig;, J&uuml;rgen &lt;j.weiss@gesundheitsamt-musterhausen.example&gt; <br>"
            "<b>Gesendet:</b> Donnerstag, 12. M&auml;rz 2026 20:15<br><b>An:</b> &Ouml;zt&uuml;rk, Maria<br>"
            "<b>Betreff:</b> Ergebnisprotokoll AG Gesundheit vom 12.03.2026</p></div>"
            "<p class=MsoNormal>Ergebnisprotokoll der AG Gesundheit</p><table><tr><td>Flyer</td><td>Aylin</td></tr>"
            "</table><p>N&auml;chstes Treffen: 21.04.2026</p></div></body></html>")
    parsed = parse(("From: m.oeztuerk@familienzentrum-regenbogen.example\nSubject: WG: Ergebnisprotokoll\n"
                    "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n" + html).encode())
    assert parsed.text == "Liebe Petra, zur Ablage."
    [forwarded] = parsed.forwarded
    assert forwarded.sender == "j.weiss@gesundheitsamt-musterhausen.example"
    assert forwarded.sent_at == datetime(2026, 3, 12, 20, 15)
    assert forwarded.text == "Ergebnisprotokoll der AG Gesundheit\nFlyer | Aylin\nNächstes Treffen: 21.04.2026"

    html = ("<div dir=ltr>Ja, passt.</div><br><div class=gmail_quote><div class=gmail_attr>Am Do., 12. März 2026 um "
            "20:15 Uhr schrieb Petra Schulze &lt;<a href='mailto:p.schulze@buendnis-musterhausen.example'>"
            "p.schulze@buendnis-musterhausen.example</a>&gt;:<br></div><blockquote class=gmail_quote>"
            "<div dir=ltr>Kommt ihr?<div>Gruß</div></div></blockquote></div>")
    parsed = parse(("From: j.weiss@gesundheitsamt-musterhausen.example\nSubject: Re: Treffen\nMIME-Version: 1.0\n"
                    "Content-Type: text/html; charset=utf-8\n\n" + html).encode())
    assert parsed.text == "Ja, passt."
    assert parsed.quoted.endswith(":\n> Kommt ihr?\n> Gruß")


def _photos_mail(data: bytes, body: str = "Hallo,\n\nanbei die Fotos vom Familientag.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Maria Öztürk <m.oeztuerk@familienzentrum-regenbogen.example>"
    msg["To"] = "protokolle@buendnis-musterhausen.example"
    msg["Subject"] = "Fotos Familientag"
    msg.set_content(body)
    msg.add_attachment(data, maintype="application", subtype="zip", filename="Fotos Familientag.zip")
    msg.add_attachment(b"Teilnehmerliste", maintype="text", subtype="plain", filename="liste.txt")
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_large_attachment_is_decoded_from_the_raw_bytes_exactly(line_end):
    data = bytes(range(256)) * 8_000  # 2 MB: above the size from which bodies bypass the feed parser
    raw = _photos_mail(data).replace(b"\r\n", line_end)
    parsed = parse(raw)
    assert [a.filename for a in parsed.attachments] == ["Fotos Familientag.zip", "liste.txt"]
    assert parsed.attachments[0].data == data
    assert parsed.attachments[0].sha256 == hashlib.sha256(data).hexdigest()
    assert parsed.attachments[1].text.strip() == "Teilnehmerliste"
    assert "anbei die Fotos" in parsed.text


def test_a_mail_cannot_name_a_large_body_placeholder_of_its_own():
    data = bytes(range(256)) * 8_000
    raw = _photos_mail(data, body="HUBLARGEBODY0000000000000000" + "0\n")
    parsed = parse(raw)
    assert parsed.text.startswith("HUBLARGEBODY")
    assert parsed.attachments[0].data == data
