"""classify(): bounces (DSN and MTA formats) before auto-replies, then reports and list mail, then protocols."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.inbound.classify import classify
from hub.inbound.parse import parse

MAILS = Path(__file__).parent / "mails"
DOMAIN = "buendnis-musterhausen.example"


def of(raw: bytes | str):
    raw = raw.encode() if isinstance(raw, str) else raw
    return classify(raw, parse(raw))


def fixture(name: str):
    return of((MAILS / name).read_bytes())


@pytest.mark.parametrize("name", [
    "plain_protokoll_gesundheit.eml", "outlook_html_tabelle.eml", "docx_anhang.eml", "pdf_anhang.eml",
    "odt_anhang.eml", "weiterleitung_outlook.eml", "weiterleitung_gmail.eml", "weiterleitung_apple.eml",
    "weiterleitung_als_anhang.eml", "antwort_mit_zitat.eml", "windows1252_ohne_charset.eml",
    "iso88591_ohne_charset.eml", "kaputt_ohne_endgrenze.eml", "kaputt_base64.eml", "lf_ohne_datum_und_id.eml",
])
def test_protocol_mails_are_protocols(name):
    result = fixture(name)
    assert result.kind == "protocol", result.reason
    assert result.bounce is None


@pytest.mark.parametrize("name", ["abwesenheitsnotiz.eml", "abwesenheitsnotiz_nur_betreff.eml"])
def test_out_of_office(name):
    result = fixture(name)
    assert result.kind == "autoreply"
    assert "Automatische Antwort" in result.reason


def test_dsn_bounce_even_with_auto_submitted():
    result = fixture("unzustellbar_dsn.eml")
    assert result.kind == "bounce"
    assert result.bounce.recipients == ["alt.partner@kita-sonnenschein.example"]
    assert result.bounce.permanent is True and result.bounce.status == "5.1.1"
    assert "alt.partner@kita-sonnenschein.example" in result.reason and "dauerhaft" in result.reason


def dsn(action: str, status: str, recipient: str = "Partner.Name@Kita.Example") -> str:
    return (f"From: MAILER-DAEMON@mx.{DOMAIN}\nTo: bounces@{DOMAIN}\nSubject: Delivery Status Notification\n"
            "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\n\n"
            "--r\nContent-Type: text/plain\n\nReport.\n\n--r\nContent-Type: message/delivery-status\n\n"
            f"Reporting-MTA: dns; mx.{DOMAIN}\n\nFinal-Recipient: rfc822; {recipient}\nAction: {action}\n"
            f"Status: {status}\n\n--r--\n")


@pytest.mark.parametrize("action, status, permanent", [
    ("failed", "5.2.2", True),
    ("failed", "4.4.7", False),  # given up after retries, but the status class says transient
    ("delayed", "4.4.1", False),  # a delay notice is a bounce that is not permanent
    ("delayed", "5.0.0", False),
])
def test_dsn_permanence(action, status, permanent):
    result = of(dsn(action, status))
    assert result.kind == "bounce"
    assert result.bounce.recipients == ["Partner.Name@kita.example"]  # normalised: domain in lower case
    assert result.bounce.permanent is permanent and result.bounce.status == status


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_success_dsn_is_not_a_bounce(action):
    result = of(dsn(action, "2.0.0"))
    assert result.kind == "other"


def test_postfix_bounce_without_dsn_part_read_by_flufl_bounce():
    raw = (f"From: MAILER-DAEMON@mx.{DOMAIN} (Mail Delivery System)\nTo: bounces@{DOMAIN}\n"
           "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\nContent-Type: text/plain\n\n"
           "This is the mail system at host mx.\n\nI'm sorry to have to inform you that your message could not\n"
           "be delivered to one or more recipients.\n\n                   The mail system\n\n"
           "<k.hoffmann@kita-st-martin.example>: host mx.kita-st-martin.example[192.0.2.1] said:\n"
           "    550 5.1.1 <k.hoffmann@kita-st-martin.example>: Recipient address rejected: User unknown\n")
    result = of(raw)
    assert result.kind == "bounce"
    assert result.bounce.recipients == ["k.hoffmann@kita-st-martin.example"]
    assert result.bounce.permanent is True


def test_exim_delay_warning_is_not_permanent():
    raw = (f"From: Mail Delivery System <Mailer-Daemon@mx.{DOMAIN}>\nTo: bounces@{DOMAIN}\n"
           "Subject: Warning: message 1pXyZ-0001 delayed 24 hours\nAuto-Submitted: auto-replied\n\n"
           "This message was created automatically by mail delivery software.\n"
           "A message that you sent has not yet been delivered to one or more of its\n"
           "recipients after more than 24 hours on the queue on mx.\n\n"
           "  i.schaefer@dgb-musterhausen.example\n    host mx.dgb: 451 4.3.0 try again later\n\n"
           "No action is required on your part. Delivery attempts will continue for some time.\n")
    result = of(raw)
    assert result.kind == "bounce"
    assert result.bounce.permanent is False


def test_auto_submitted_reply_and_vendor_headers():
    base = f"From: a.yilmaz@awo-musterhausen.example\nTo: protokolle@{DOMAIN}\nSubject: Re: Protokoll\n"
    assert of(base + "Auto-Submitted: auto-replied (vacation)\n\nBin weg.\n").kind == "autoreply"
    assert of(base + "X-Autorespond: yes\n\nBin weg.\n").kind == "autoreply"
    assert of(base + "Precedence: auto_reply\n\nBin weg.\n").kind == "autoreply"
    assert of(base + "X-Auto-Response-Suppress: All\n\nBin weg.\n").kind == "autoreply"
    # Auto-Submitted: no is what a person's mail may say
    assert of(base + "Auto-Submitted: no\n\nHier das Protokoll vom 12.03.2026.\n").kind == "protocol"


@pytest.mark.parametrize("subject", ["Out of Office: Protokoll", "AUTO: Abwesend bis 27.03.", "Autoreply: Ihre Mail",
                                     "Automatische Antwort: Protokoll"])
def test_subject_markers(subject):
    raw = (f"From: a.yilmaz@awo-musterhausen.example\nTo: protokolle@{DOMAIN}\nSubject: {subject}\n\n"
           "Ich bin nicht im Büro.\n")
    assert of(raw).kind == "autoreply"


def test_read_receipt_is_automatic():
    raw = ("From: a.yilmaz@awo-musterhausen.example\nTo: protokolle@buendnis-musterhausen.example\n"
           "Subject: Gelesen: Protokoll\nMIME-Version: 1.0\n"
           "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"m\"\n\n"
           "--m\nContent-Type: text/plain\n\nIhre Nachricht wurde gelesen.\n--m\n"
           "Content-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; a.yilmaz@awo.example\n"
           "Disposition: manual-action/MDN-sent-manually; displayed\n--m--\n")
    result = of(raw)
    assert result.kind == "autoreply" and "Lesebestätigung" in result.reason


def test_feedback_report_list_and_bulk_mail_and_empty_mail_are_other():
    arf = ("From: abuse@provider.example\nTo: bounces@buendnis-musterhausen.example\nSubject: Abuse report\n"
           "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"f\"\n\n"
           "--f\nContent-Type: text/plain\n\nThis is an abuse report.\n--f\nContent-Type: message/feedback-report"
           "\n\nFeedback-Type: abuse\nUser-Agent: x/1.0\nVersion: 1\n--f--\n")
    assert of(arf).kind == "other"
    person = "From: j.weiss@gesundheitsamt-musterhausen.example\nTo: protokolle@buendnis-musterhausen.example\n"
    assert of(person + "Subject: Newsletter\nList-Id: <news.example.org>\n\nText\n").kind == "other"
    assert of(person + "Subject: Angebot\nPrecedence: bulk\n\nText\n").kind == "other"
    assert of(person + "Subject: leer\n\n\n").kind == "other"
    assert of(person + "Subject: Protokoll\n\nProtokoll der AG Gesundheit vom 12.03.2026\n").kind == "protocol"


def test_person_writing_about_an_undeliverable_mail_is_not_a_bounce():
    raw = ("From: j.weiss@gesundheitsamt-musterhausen.example\nTo: protokolle@buendnis-musterhausen.example\n"
           "Subject: Protokoll AG Gesundheit\n\nHallo, meine letzte Mail war unzustellbar, hier noch einmal das "
           "Protokoll vom 12.03.2026.\n")
    assert of(raw).kind == "protocol"


def test_a_mail_nobody_could_read_goes_to_review_not_to_other():
    from hub.inbound.message import ParsedMessage
    from hub.inbound.parse import PARSE_FAILED

    parsed = ParsedMessage(message_id="<x@hub.invalid>", content_hash="0" * 64, sender=None, sender_name="",
                           subject="", sent_at=None, to=[], headers=[], text="",
                           defects=[f"{PARSE_FAILED}: RecursionError: maximum recursion depth exceeded"])
    result = classify(b"\x00", parsed)
    assert result.kind == "protocol" and "Prüfung" in result.reason


@pytest.mark.parametrize("subject, body", [
    ("Re: Eingangsbestätigung: Protokoll AG Gesundheit",
     "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 24.07.2026 nicht im Büro und lese meine "
     "E-Mails nicht. In dringenden Fällen wenden Sie sich bitte an das Sekretariat."),
    ("Protokoll AG Gesundheit", "Ich bin vom 1. bis 10. August im Urlaub. Meine Vertretung ist Frau Müller."),
    ("Ihre Nachricht", "Abwesenheitsnotiz: bis 3. August bin ich nur eingeschränkt erreichbar."),
    ("Your message", "Thank you for your email. I am currently out of the office until Monday, 3 August."),
])
def test_out_of_office_texts_without_rfc3834_headers_are_autoreplies(subject, body):
    raw = (f"From: a.vogel@caritas-musterhausen.example\r\nTo: geschaeftsstelle@buendnis-musterhausen.example\r\n"
           f"Subject: {subject}\r\nMessage-ID: <ooo@caritas-musterhausen.example>\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()
    assert classify(raw, parse(raw)).kind == "autoreply"


def test_a_protocol_that_lists_who_was_away_is_still_a_protocol():
    body = ("Liebe alle,\nanbei das Protokoll.\n\nAnwesend: A. Vogel, J. Weiß\nAbwesend: M. Öztürk (im Urlaub)\n\n"
            "TOP 1: Familientag\nIch bin ab nächster Woche für die Flyer zuständig.\nNächstes Treffen: 21.04.2026")
    raw = ("From: a.vogel@caritas-musterhausen.example\r\nTo: protokolle@buendnis-musterhausen.example\r\n"
           "Subject: Protokoll AG Gesundheit\r\nMessage-ID: <p@caritas-musterhausen.example>\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()
    assert classify(raw, parse(raw)).kind == "protocol"
