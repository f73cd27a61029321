"""Replies and out-of-office notes are not protocols, and no mail is answered that the hub should not answer:
a reply to a hub mail (by In-Reply-To/References, or by "Re:/AW:/WG:" of a subject the hub sent) and mail to
the office address wait for the Geschäftsstelle, never receipted or relayed; a coordinator files one as a
protocol with one action."""

from __future__ import annotations

from sqlmodel import select
from test_ingest import WEISS, mail

from hub import delivery, filing, review
from hub.models import Delivery, InboundMessage, OutboundMail

PROTOCOLS = "protokolle@buendnis-musterhausen.example"
OFFICE = "geschaeftsstelle@buendnis-musterhausen.example"


def ingest(config, raw: bytes, to: str = PROTOCOLS):
    return filing.ingest_bytes(config, raw, via="smtp", envelope_from=WEISS, envelope_to=[to])


def mails(session, kind: str) -> list[OutboundMail]:
    session.expire_all()
    return list(session.exec(select(OutboundMail).where(OutboundMail.kind == kind)))


def sent_receipt(session, config) -> tuple[OutboundMail, str]:
    """A protocol filed, its receipt sent (to the Maildir outbox): the receipt and its Message-ID."""
    assert ingest(config, mail()).status == "filed"
    delivery.flush(config)
    [receipt] = mails(session, "receipt")
    sent = session.exec(select(Delivery).where(Delivery.mail_id == receipt.id)).one()
    assert sent.smtp_message_id
    return receipt, sent.smtp_message_id


def test_a_reply_to_a_receipt_is_held_as_a_reply_never_receipted_or_relayed(session, config, partners):
    receipt, message_id = sent_receipt(session, config)
    relays = len(mails(session, "relay"))
    reply = mail(subject=f"Re: {receipt.subject}", message_id="<antwort-1@gesundheitsamt-musterhausen.example>",
                 body="Danke, angekommen! Zum Familientag kommen wir gern.",
                 headers={"In-Reply-To": message_id, "References": message_id})
    result = ingest(config, reply)
    assert (result.data["kind"], result.status) == ("reply", "held")
    assert receipt.subject in result.data["reason"]
    assert len(mails(session, "receipt")) == 1 and len(mails(session, "relay")) == relays


def test_a_reply_by_subject_alone_is_a_reply(session, config, partners):
    receipt, _message_id = sent_receipt(session, config)
    reply = mail(subject=f"AW: WG: {receipt.subject}", message_id="<antwort-2@gesundheitsamt-musterhausen.example>")
    assert ingest(config, reply).data["kind"] == "reply"


def test_a_forged_reference_is_no_reply(session, config, partners):
    _receipt, message_id = sent_receipt(session, config)
    forged = message_id.replace(message_id.split(".")[2].split("@")[0], "aaaaaaaaaaaa")
    protocol = mail(subject="Ergebnisprotokoll AG Gesundheit vom 14.04.2026",
                    message_id="<protokoll-2@gesundheitsamt-musterhausen.example>",
                    headers={"In-Reply-To": forged})
    assert ingest(config, protocol).status == "filed"


def test_mail_to_the_office_is_never_relayed_and_can_be_filed_with_one_action(session, config, partners):
    result = ingest(config, mail(to=OFFICE), to=OFFICE)
    assert (result.data["kind"], result.status) == ("reply", "held")
    assert not mails(session, "receipt") and not mails(session, "relay")
    review.assign(session, config, result.data["id"], "gesundheit", by="koordination@buendnis-musterhausen.example")
    session.commit()
    message = session.get(InboundMessage, result.data["id"])
    assert (message.kind, message.status) == ("protocol", "filed")
    assert len(mails(session, "receipt")) == 1 and len(mails(session, "relay")) == 1


def test_an_out_of_office_note_without_headers_is_an_autoreply_and_not_answered(session, config, partners):
    note = mail(to=OFFICE, subject="Re: Einladung: AG Gesundheit am 21.04.2026",
                message_id="<abwesend@gesundheitsamt-musterhausen.example>",
                body="Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 24.04. nicht im Büro.")
    result = ingest(config, note, to=OFFICE)
    assert (result.data["kind"], result.status) == ("autoreply", "recorded")
    assert not mails(session, "receipt") and not mails(session, "relay")
