"""The inbound spine end to end: bytes in → spool → parse → classify → route → extract → rows and files.

Through the filing use case (as `hub serve` calls it) and through the real `hub ingest` command
(as a Postfix pipe calls it), asserting the JSON contract of issue 3.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import CORPUS, needs_corpus
from sqlmodel import select

from hub import filing, follow_up, review
from hub.inbound import spool
from hub.models import Blob, InboundMessage, MessageAttachment, OutboundMail

BERLIN = ZoneInfo("Europe/Berlin")
WEISS = "j.weiss@gesundheitsamt-musterhausen.example"  # representative of AG Gesundheit (and Koordinierungskreis)
SCHAEFER = "i.schaefer@dgb-musterhausen.example"  # partner in no working group
COORDINATOR = "p.schulze@buendnis-musterhausen.example"

PROTOCOL = """Liebe Kolleginnen und Kollegen,

anbei das Ergebnisprotokoll unserer Sitzung vom 12.03.2026.

Teilnehmende: Dr. Jürgen Weiß, Aylin Yılmaz, Maria Öztürk

1. Mit welcher Idee wollen wir starten?
Ein Gesundheitstag für Familien im Stadtpark.

2. Wer von uns übernimmt was?
- Flyer gestalten: Aylin Yılmaz
- Raum reservieren: Dr. Jürgen Weiß

Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen

Viele Grüße
Jürgen Weiß
"""


def mail(sender: str = WEISS, to: str = "protokolle@buendnis-musterhausen.example",
         subject: str = "Ergebnisprotokoll AG Gesundheit vom 12.03.2026", body: str = PROTOCOL,
         message_id: str | None = "<protokoll-gesundheit-1@gesundheitsamt-musterhausen.example>",
         attachments: list[tuple[str, str, bytes]] = (), headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Dr. Jürgen Weiß <{sender}>" if sender == WEISS else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 3, 13, 9, 30, tzinfo=BERLIN))
    if message_id:
        msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


@pytest.fixture
def ingest(config, partners):
    def call(raw: bytes, envelope_to=("protokolle@buendnis-musterhausen.example",)) -> dict:
        return filing.ingest_bytes(config, raw, via="smtp", envelope_from=WEISS, envelope_to=envelope_to).as_json()

    return call


def test_protocol_is_filed_with_what_was_recognised(ingest, config, session):
    raw = mail()
    result = ingest(raw)
    assert result["kind"] == "protocol"
    assert result["status"] == "filed"
    assert result["group"] == "gesundheit"
    assert result["sender"] == WEISS
    assert result["subject"] == "Ergebnisprotokoll AG Gesundheit vom 12.03.2026"
    assert result["meeting_date"] == "2026-03-12"
    assert result["next_meeting"]["start"] == "2026-04-21T18:00:00"
    assert "Familienzentrum Regenbogen" in result["next_meeting"]["location"]
    assert "Gesundheitstag für Familien" in result["text"]
    assert result["bounce"] is None
    assert result["reason"]
    stored = session.exec(select(InboundMessage)).one()
    assert (config.data_dir / stored.raw_path).read_bytes() == raw
    assert spool.pending(config.data_dir) == []


def test_same_message_twice_is_filed_once(ingest, session):
    first = ingest(mail())
    second = ingest(mail())
    assert first["status"] == "filed"
    assert second["status"] == "duplicate"
    assert second["id"] == first["id"]
    assert len(session.exec(select(InboundMessage)).all()) == 1


def test_same_message_id_with_other_content_is_a_new_message(ingest, session):
    ingest(mail())
    other = ingest(mail(body=PROTOCOL.replace("Stadtpark", "Rathauspark")))
    assert other["status"] == "filed"
    assert len(session.exec(select(InboundMessage)).all()) == 2


def test_unknown_sender_is_held_whatever_it_claims(ingest):
    result = ingest(mail(sender="fremd@example.org", to="protokolle+gesundheit@buendnis-musterhausen.example"),
                    envelope_to=["protokolle+gesundheit@buendnis-musterhausen.example"])
    assert result["status"] == "held"
    assert result["kind"] == "protocol"
    assert result["reason"]


def test_group_alias_routes_before_subject(ingest):
    result = ingest(mail(sender=COORDINATOR, to="ag-unternehmen@buendnis-musterhausen.example"),
                    envelope_to=["ag-unternehmen@buendnis-musterhausen.example"])
    assert (result["status"], result["group"]) == ("filed", "unternehmen")


def test_missing_message_id_is_synthesised_and_still_deduplicated(ingest, session):
    first = ingest(mail(message_id=None))
    second = ingest(mail(message_id=None))
    assert first["message_id"].endswith("@hub.invalid>")
    assert second["status"] == "duplicate"


def test_attachments_are_stored_once_by_content(ingest, config, session):
    document = "Ergebnisprotokoll AG Gesundheit\nNächste Sitzung am 5. Mai 2026 um 17 Uhr im Rathaus".encode()
    a = ingest(mail(attachments=[("protokoll.txt", "text/plain", document)]))
    b = ingest(mail(message_id="<other@x.example>", subject="Nochmal das Protokoll",
                    attachments=[("kopie.txt", "text/plain", document)]))
    assert a["attachments"][0]["filename"] == "protokoll.txt"
    assert a["attachments"][0]["size"] == len(document)
    assert a["attachments"][0]["text_chars"] > 0
    assert b["attachments"][0]["filename"] == "kopie.txt"
    blobs = session.exec(select(Blob)).all()
    assert len(blobs) == 1
    assert (config.data_dir / blobs[0].path).read_bytes() == document
    assert len(session.exec(select(MessageAttachment)).all()) == 2


def test_autoreply_is_recorded_never_filed(ingest):
    raw = mail(subject="Abwesenheitsnotiz: Ergebnisprotokoll AG Gesundheit",
               body="Ich bin bis zum 3. April nicht im Büro.")
    raw = b"Auto-Submitted: auto-replied\r\n" + raw
    result = ingest(raw)
    assert result["kind"] == "autoreply"
    assert result["status"] == "recorded"
    assert result["group"] is None


def test_nul_characters_from_a_broken_mailer_are_kept_visible_on_every_database(ingest, session):
    raw = mail(message_id="<nul@gesundheitsamt-musterhausen.example>").replace(
        b"Ein Gesundheitstag", b"Ein\x00Gesundheitstag")
    assert b"\x00" in raw
    result = ingest(raw)
    assert result["status"] == "filed"
    stored = session.get(InboundMessage, result["id"])
    assert "Ein\ufffdGesundheitstag" in stored.text


def test_receipt_and_relay_follow_filing_once_as_a_stage_of_their_own(config, partners, session):
    entry = spool.write(config.data_dir, mail(), via="smtp", envelope_from=WEISS,
                        envelope_to=["protokolle@buendnis-musterhausen.example"])
    filed = filing.process_entry(config, entry, full=False).as_json()
    assert filed["status"] == "filed"
    stored = session.get(InboundMessage, filed["id"])
    assert stored.followed_up_at is None
    assert session.exec(select(OutboundMail)).all() == []  # stored first; nothing composed yet

    assert follow_up.follow_up(config) == 1
    session.expire_all()
    kinds = sorted(m.kind for m in session.exec(select(OutboundMail)))
    assert kinds == ["receipt", "relay"]  # AG Gesundheit relays to its members at once
    assert session.get(InboundMessage, filed["id"]).followed_up_at is not None
    assert follow_up.follow_up(config) == 0
    assert len(session.exec(select(OutboundMail)).all()) == 2


def test_a_batch_files_each_message_once_even_when_it_holds_the_same_mail_twice(config, partners, session):
    def spooled(raw: bytes) -> spool.SpoolEntry:
        return spool.write(config.data_dir, raw, via="smtp", envelope_from=WEISS,
                           envelope_to=["protokolle@buendnis-musterhausen.example"])

    other = mail(sender=SCHAEFER, message_id="<andere@dgb-musterhausen.example>")
    batch = [spooled(mail()), spooled(other), spooled(mail())]
    results = [r.as_json() for r in filing.process_entries(config, batch, full=False)]
    assert [r["status"] for r in results] == ["filed", "held", "duplicate"]
    assert results[2]["id"] == results[0]["id"]
    assert len(session.exec(select(InboundMessage)).all()) == 2
    assert spool.pending(config.data_dir) == []


def test_review_queue_assign_release_reject(ingest, config, session):
    held = ingest(mail(sender=SCHAEFER, subject="Protokoll", body="Kurze Notiz ohne Gruppenbezug."))
    assert held["status"] == "held"
    message = review.assign(session, config, held["id"], "unternehmen", by="p.schulze")
    session.commit()
    assert message.status == "filed"
    assert review.show(session, message.id)["group"] == "unternehmen"

    other = ingest(mail(sender="fremd@example.org", message_id="<fremd@example.org>"))
    with pytest.raises(Exception, match="noch keine Gruppe"):
        review.release(session, config, other["id"])
    rejected = review.reject(session, config, other["id"], by="p.schulze")
    assert rejected.status == "rejected"
    assert rejected.decided_by == "p.schulze"


def test_hub_ingest_cli_prints_one_json_line_per_message(hub, hub_dir):
    assert hub("init").returncode == 0
    assert hub("partners", "import", "config/partners.example.csv").returncode == 0
    (hub_dir / "a.eml").write_bytes(mail())
    (hub_dir / "b.eml").write_bytes(mail(message_id="<b@x.example>", sender="fremd@example.org"))
    result = hub("ingest", "--json", "a.eml", "b.eml")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["status"], r["group"]) for r in lines] == [("filed", "gesundheit"), ("held", None)]
    for key in ("message_id", "kind", "status", "group", "sender", "subject", "meeting_date", "next_meeting",
                "attachments", "text", "reason", "bounce"):
        assert key in lines[0]

    again = hub("ingest", "--json", "-", input=mail())
    assert json.loads(again.stdout)["status"] == "duplicate"

    held = json.loads(hub("protocols", "list", "--held", "--json").stdout)
    assert [m["sender"] for m in held] == ["fremd@example.org"]
    assert hub("protocols", "assign", str(held[0]["id"]), "gesundheit").returncode == 0
    shown = json.loads(hub("protocols", "show", str(held[0]["id"]), "--json").stdout)
    assert shown["status"] == "filed" and shown["group"] == "gesundheit"
    assert json.loads(hub("protocols", "list", "--held", "--json").stdout) == []


def test_hub_ingest_reports_unreadable_files_and_files_the_rest(hub, hub_dir):
    assert hub("init").returncode == 0
    (hub_dir / "a.eml").write_bytes(mail())
    result = hub("ingest", "missing.eml", "a.eml")
    assert result.returncode == 1
    assert "missing.eml: nicht lesbar" in result.stderr
    assert "a.eml: Protokoll" in result.stdout


def corpus_files():
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.parent != CORPUS and p.parent.name != "LICENSES")


@needs_corpus
def test_every_corpus_mail_is_stored_without_loss(config, session):
    files = corpus_files()
    assert len(files) > 400
    for path in files:
        raw = path.read_bytes()
        result = filing.ingest_bytes(config, raw, via="file").as_json()
        assert result["status"] in {"filed", "held", "recorded", "duplicate"}, path
        stored = session.get(InboundMessage, result["id"])
        assert stored is not None, path
        assert (config.data_dir / stored.raw_path).read_bytes() == raw, path
    assert spool.pending(config.data_dir) == []
