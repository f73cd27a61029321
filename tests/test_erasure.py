"""Forget means everywhere (invariant 8, DSGVO Art. 17): after `forget`, no byte under the data dir and no row of
the database names the person — plain, RFC 2047, quoted-printable or base64 in stored mail, or JSON-escaped.

One alliance with mail of every kind to and from Dr. Jürgen Weiß (protocols, receipts, relays, invitations
with calendar entries, a newsletter, a bounce, a reply, an unsubscribe by mail and its confirmation, the
welcome), all sent to the Maildir outbox; then the forget, then a scan of every file and of the database (the
SQLite file and its WAL after the checkpoint, or `pg_dump`)."""

from __future__ import annotations

import base64
import json
import logging
import os
import quopri
import re
import subprocess
from datetime import timedelta
from email import message_from_bytes, policy
from email.header import Header
from pathlib import Path

import itip_replies
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, select
from test_ingest import PROTOCOL, WEISS, mail

from hub import alliance as alliance_module
from hub import delivery, filing, mailings, newsletter, partner_actions, search_terms, sends
from hub.db import engine_for, utcnow
from hub.models import Delivery, GroupTask, InboundMessage, MeetingAnswer, OutboundMail, Partner
from hub.outbound import verp
from hub.scheduler import meetings

NAME = "Dr. Jürgen Weiß"
YILMAZ = "a.yilmaz@awo-musterhausen.example"
PROTOCOLS = "protokolle@buendnis-musterhausen.example"
PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


def needles() -> list[bytes]:
    """Every form the person may take in bytes: the address (any case), the name with and without the title,
    in UTF-8, Latin-1 and JSON escapes, and the name as an RFC 2047 encoded word."""
    texts = {WEISS, WEISS.upper(), NAME, "Jürgen Weiß"}
    out = set()
    for text in texts:
        out |= {text.encode(), text.encode("latin-1"), json.dumps(text)[1:-1].encode()}
    for charset in ("utf-8", "iso-8859-1"):
        for word in Header(NAME, charset).encode().split():
            if len(word) > 12:
                out.add(word.encode())
    # The full-text index's forms: SQLite's FTS5 table holds the stems in order, PostgreSQL's tsvector lexemes.
    out |= {search_terms.terms("Jürgen Weiß").encode(), b"'jurg':"}
    return sorted(out)


def hits(data: bytes) -> list[bytes]:
    low = data.lower()
    return [n for n in needles() if n.lower() in low]


def decoded_forms(data: bytes) -> list[bytes]:
    """The bytes as they are, and, when they are a mail, every header decoded and every part's payload decoded
    (base64, quoted-printable), nested messages included."""
    forms = [data]
    if not re.match(rb"^[\x21-\x39\x3b-\x7e]+:", data):
        return forms
    try:
        message = message_from_bytes(data, policy=policy.default)
        for part in message.walk():
            for key, value in part.items():
                forms.append(f"{key}: {value}".encode("utf-8", "surrogateescape"))
            payload = part.get_payload(decode=True) if not part.is_multipart() else None
            if payload:
                forms.append(payload)
    except Exception:  # noqa: BLE001 — not a mail after all: the bytes alone
        pass
    for chunk in re.findall(rb"[A-Za-z0-9+/=\r\n]{40,}", data):  # base64 anywhere (a part the parser missed)
        try:
            forms.append(base64.b64decode(re.sub(rb"\s", b"", chunk) + b"==", validate=False))
        except ValueError:
            pass
    forms.append(quopri.decodestring(data))
    return forms


def scan_files(root: Path) -> dict[str, list[bytes]]:
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        named = sorted({n for form in decoded_forms(data) for n in hits(form)})
        if named:
            found[str(path.relative_to(root))] = named
    return found


def scan_database(config) -> dict[str, list[bytes]]:
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database)
        files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
        return {p.name: hits(p.read_bytes()) for p in files if hits(p.read_bytes())}
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    dump = subprocess.run([PG_DUMP, "--data-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                           "-U", url.username, url.database], env=env, capture_output=True, check=True).stdout
    return {"pg_dump": hits(dump)} if hits(dump) else {}


def _dsn(config, delivery_id: int) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.gesundheitsamt-musterhausen.example\r\nTo: {verp.envelope_sender(config, delivery_id)}"
        "\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-weiss@mx.example.org>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: text/plain\r\n\r\nYour mail to {NAME} <{WEISS}> could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {WEISS}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: geschaeftsstelle@buendnis-musterhausen.example\r\nTo: =?utf-8?q?Dr=2E_J=C3=BCrgen_Wei=C3=9F?= "
        f"<{WEISS}>\r\nSubject: Eingang\r\n\r\nGuten Tag {NAME},\r\n--b--\r\n"
    ).encode()


def _ingest(config, raw: bytes, sender: str = WEISS, to: str = PROTOCOLS):
    return filing.ingest_bytes(config, raw, via="smtp", envelope_from=sender, envelope_to=[to])


def _everything(session: Session, config) -> None:
    """Mail of every kind to and from Dr. Weiß, all of it sent into the Maildir outbox."""
    alliance = alliance_module.current(session, config)
    weiss = session.exec(select(Partner).where(Partner.email == WEISS)).one()
    mailings.send_welcome(session, config, weiss)
    session.commit()
    # a protocol (body and a text attachment naming him, quoted-printable), receipt and relay follow
    protocol = mail(body=PROTOCOL + f"\nWer: {NAME} Was: Flyer drucken Bis wann: 15.01.\n"
                    f"Protokoll: {NAME}, {WEISS}\n", attachments=[
        ("teilnehmer.txt", "text/plain", f"Anwesend: {NAME}\nKontakt: {WEISS}\n".encode())])
    assert _ingest(config, protocol).status == "filed"
    # a protocol of someone else that has him in Cc only
    other = mail(sender=YILMAZ, subject="Ergebnisprotokoll AG Gesundheit vom 19.03.2026",
                 message_id="<protokoll-yilmaz@awo-musterhausen.example>",
                 headers={"Cc": f"=?utf-8?q?Dr=2E_J=C3=BCrgen_Wei=C3=9F?= <{WEISS}>"},
                 body="Nächstes Treffen: 21. April 2027, 18 Uhr, Familienzentrum Regenbogen\nTOP 1: Flyer\n")
    filing.ingest_bytes(config, other, via="smtp", envelope_from=YILMAZ, envelope_to=[PROTOCOLS])
    # an invitation with its calendar entry
    meeting = meetings.add(session, config, alliance, "gesundheit", utcnow() + timedelta(days=30),
                           location="Rathaus")
    session.commit()
    sends.execute(config, f"meeting:{meeting.id}:invitation@seq{meeting.sequence}", force=True)
    # his answer to it from his calendar, with a comment that names him
    answer = itip_replies.reply_mail("thunderbird", meeting.uid, meeting.sequence, WEISS, NAME, "ACCEPTED",
                                     utcnow(), comment=f"Ich komme gern. {NAME}")
    assert _ingest(config, answer, to="geschaeftsstelle@buendnis-musterhausen.example").status == "recorded"
    # a newsletter
    issue = newsletter.draft(session, config, since=utcnow() - timedelta(days=60))
    newsletter.approve(session, issue.id)
    newsletter.send(session, config, issue.id)
    # an unsubscribe by mail from an unauthenticated sender: a confirmation mail with the signed link
    mailings.unsubscribe_by_mail(session, config, WEISS, verified=False)
    session.commit()
    delivery.flush(config)
    # a bounce of one of his mails, to its VERP address
    session.expire_all()
    sent = session.exec(select(Delivery).where(Delivery.partner_id == weiss.id, Delivery.state == "sent")).first()
    _ingest(config, _dsn(config, sent.id), sender="", to=verp.envelope_sender(config, sent.id))
    # his reply to the receipt, quoting it
    receipt = session.exec(select(Delivery).join(OutboundMail, OutboundMail.id == Delivery.mail_id)
                           .where(OutboundMail.kind == "receipt")).first()
    reply = mail(subject="Re: Eingang", message_id="<antwort-weiss@gesundheitsamt-musterhausen.example>",
                 headers={"In-Reply-To": receipt.smtp_message_id},
                 body=f"Danke!\n\n> Guten Tag {NAME},\n\n--\n{NAME}\nGesundheitsamt\n{WEISS}\n")
    _ingest(config, reply)
    # and a held mail of his to the office
    _ingest(config, mail(subject="Frage", message_id="<frage@gesundheitsamt-musterhausen.example>",
                         body=f"Mit freundlichen Grüßen\n{NAME}"), to="geschaeftsstelle@buendnis-musterhausen.example")
    delivery.flush(config)
    session.expire_all()


def test_forget_leaves_no_byte_that_names_the_person(session, config, partners, caplog):
    caplog.set_level(logging.INFO)
    _everything(session, config)
    assert NAME in session.exec(select(GroupTask.who)).all()
    assert NAME in session.exec(select(MeetingAnswer.comment)).one()
    kinds = {m.kind for m in session.exec(select(OutboundMail))}
    assert {"welcome", "receipt", "relay", "invitation", "newsletter", "unsubscribe_confirm"} <= kinds
    assert {m.kind for m in session.exec(select(InboundMessage))} >= {"protocol", "bounce", "reply"}
    assert scan_files(config.data_dir), "the flow should have stored the person somewhere"

    alliance = alliance_module.current(session, config)
    before = partner_actions.describe(session, config, alliance, WEISS)
    assert before["raw_messages"] and before["deliveries"] and before["outbox_files"]
    assert {d["recipient"] for d in before["deliveries"]} == {WEISS}
    report = partner_actions.forget(session, config, alliance, WEISS)
    session.commit()
    session.close()
    engine_for(config.database_url).dispose()

    assert report.own_messages >= 4 and report.maildir_removed >= 5 and report.other_protocols == []
    assert scan_files(config.data_dir) == {}
    assert scan_database(config) == {}
    # the protocol he sent stays the alliance's record, without him
    session.expire_all()
    kept = session.exec(select(InboundMessage).where(InboundMessage.kind == "protocol",
                                                     InboundMessage.subject.contains("12.03.2026"))).one()
    assert kept.status == "filed" and kept.text.startswith("Liebe Kolleginnen")
    assert "Protokoll: [gelöscht], [gelöscht]" in kept.text and kept.sender is None
    # no log line named him, at any time
    assert not [r.getMessage() for r in caplog.records if hits(r.getMessage().encode())]


def test_others_protocols_that_mention_the_person_are_counted_not_changed(session, config, partners):
    minutes = mail(sender=YILMAZ, message_id="<erwaehnt@awo-musterhausen.example>",
                   body=PROTOCOL + f"\nAnwesend: Aylin Yılmaz, {NAME}\n")
    message_id = filing.ingest_bytes(config, minutes, via="smtp", envelope_from=YILMAZ,
                                     envelope_to=[PROTOCOLS]).data["id"]
    alliance = alliance_module.current(session, config)
    assert partner_actions.describe(session, config, alliance, WEISS)["mentioned_in_protocols"] == [message_id]
    report = partner_actions.forget(session, config, alliance, WEISS)
    session.commit()
    assert report.other_protocols == [message_id]
    assert NAME in session.get(InboundMessage, message_id).text
    assert partner_actions.review_note(report.other_protocols).startswith("1 weiteres Protokoll")


def test_the_cli_reports_the_protocols_to_review_and_logs_no_address(hub, hub_dir):
    assert hub("init").returncode == 0
    assert hub("partners", "import", "config/partners.example.csv").returncode == 0
    path = hub_dir / "protokoll.eml"
    path.write_bytes(mail(body=PROTOCOL + f"\n{NAME}\n"))
    ingested = hub("ingest", str(path))
    assert ingested.returncode == 0, ingested.stderr
    flushed = hub("outbox", "flush")
    assert flushed.returncode == 0, flushed.stderr
    result = hub("partners", "forget", WEISS, "--yes")
    assert result.returncode == 0, result.stderr
    assert "Kein anderes Protokoll erwähnt" in result.stdout
    for output in (ingested, flushed, result):
        assert not hits(output.stderr.encode())
    assert scan_files(hub_dir / "var") == {}


@pytest.mark.skipif(not Path(PG_DUMP).exists(), reason="pg_dump of PostgreSQL 15 is not installed")
def test_pg_dump_is_used_on_postgresql(config):
    if make_url(config.database_url).get_backend_name() == "sqlite":
        pytest.skip("this pass runs on SQLite; the scan above reads the SQLite file and its WAL instead of pg_dump")
    assert scan_database(config) == {}
