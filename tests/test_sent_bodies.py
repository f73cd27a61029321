"""A mail rendered for one person keeps its body only until it is sent (issue 13): the receipt's "Guten Tag
Dr. Jürgen Weiß" is not kept in the database after it went out; mails for many are kept as they are."""

from __future__ import annotations

from sqlmodel import select
from test_ingest import WEISS, mail

from hub import delivery, filing
from hub.models import Delivery, OutboundMail


def test_a_receipts_body_goes_once_it_is_sent_a_relays_stays(config, partners, session):
    assert filing.ingest_bytes(config, mail(), via="smtp", envelope_from=WEISS,
                               envelope_to=["protokolle@buendnis-musterhausen.example"]).status == "filed"
    filing.follow_up.follow_up(config)
    session.expire_all()
    receipt = session.exec(select(OutboundMail).where(OutboundMail.kind == "receipt")).one()
    relay = session.exec(select(OutboundMail).where(OutboundMail.kind == "relay")).one()
    assert "Jürgen Weiß" in receipt.text  # rendered for him, kept until it is sent
    relay_text = relay.text
    delivery.flush(config)
    session.expire_all()
    receipt, relay = session.get(OutboundMail, receipt.id), session.get(OutboundMail, relay.id)
    assert receipt.text == "" and receipt.html is None and receipt.subject  # subject and kind stay
    assert session.exec(select(Delivery).where(Delivery.mail_id == receipt.id)).one().state == "sent"
    assert relay.text == relay_text  # a mail for many holds no one's personal values
    outbox_files = list((config.data_dir / "outbox").rglob("*"))
    assert any(f.is_file() and "Weiß".encode() in f.read_bytes().replace(b"=\n", b"") or
               f.is_file() and b"Wei=C3=9F" in f.read_bytes() for f in outbox_files)  # what was sent is unchanged
