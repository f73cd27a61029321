"""Receipts, relays, welcome mails, bounce notices, double opt-in and unsubscribe — into the real outbox."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from email import message_from_bytes, policy

import pytest
from sqlmodel import select

from hub import mailings, protocol_mail
from hub.db import utcnow
from hub.models import Blob, Consent, Delivery, Group, InboundMessage, MessageAttachment, OutboundMail, Partner
from hub.outbound import assemble

WEISS = "j.weiss@gesundheitsamt-musterhausen.example"
YILMAZ = "a.yilmaz@awo-musterhausen.example"


def _group(session, slug: str) -> Group:
    return session.exec(select(Group).where(Group.slug == slug)).one()


def _partner(session, email: str) -> Partner:
    return session.exec(select(Partner).where(Partner.email == email)).one()


def _protocol(session, group_slug: str | None, sender: str = WEISS, status: str = "filed",
              kind: str = "protocol") -> InboundMessage:
    partner = session.exec(select(Partner).where(Partner.email == sender)).first()
    message = InboundMessage(
        message_id=f"<p{utcnow().timestamp()}@example.org>",
        content_hash=hashlib.sha256(f"{group_slug}{sender}{utcnow()}".encode()).hexdigest(),
        raw_path="x.eml", sender=sender, sender_name="Dr. Jürgen Weiß", subject="Protokoll AG Gesundheit",
        kind=kind, status=status, group_id=_group(session, group_slug).id if group_slug else None,
        partner_id=partner.id if partner else None, text="TOP 1: Gesundheitstag im Juni.\nFlyer: Frau Yılmaz",
        meeting_date=date(2026, 4, 14), next_meeting_start="2026-05-12T18:00", next_meeting_location="Rathaus",
        tasks=[{"what": "Flyer drucken", "who": "Frau Yılmaz", "due": None}],
    )
    session.add(message)
    session.flush()
    return message


def _deliveries(session, kind: str) -> list[tuple[Delivery, OutboundMail]]:
    return list(session.exec(select(Delivery, OutboundMail).join(OutboundMail, OutboundMail.id == Delivery.mail_id)
                             .where(OutboundMail.kind == kind).order_by(Delivery.id)))


def _bytes(config, session, delivery: Delivery, mail: OutboundMail) -> bytes:
    blobs = {b.sha256: b for b in session.exec(select(Blob))}
    return assemble.skeleton(config, mail, blobs).render(config, delivery)[0]


def test_receipt_for_a_filed_protocol_names_group_and_what_was_recognised(config, session, partners):
    message = _protocol(session, "gesundheit")
    result = protocol_mail.send_receipt(session, config, message)
    assert result.queued == 1
    [(delivery, mail)] = _deliveries(session, "receipt")
    assert delivery.recipient == WEISS
    assert "AG Gesundheit" in mail.subject
    assert "Dienstag, 14. April 2026" in mail.text and "Dienstag, 12. Mai 2026, 18:00 Uhr, Rathaus" in mail.text
    assert "an die Mitglieder von „AG Gesundheit“ weiter" in mail.text  # relay = group
    parsed = message_from_bytes(_bytes(config, session, delivery, mail), policy=policy.default)
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["In-Reply-To"] == message.message_id
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert protocol_mail.send_receipt(session, config, message).queued == 0  # once per message and status


def test_no_receipt_for_held_mail_unknown_or_unauthenticated_senders(config, session, partners):
    """Backscatter: an answer to anyone but a partner whose mail passed the sender check, for a filed protocol,
    may go to a forged address."""
    held = _protocol(session, None, status="held")
    unknown = _protocol(session, "gesundheit", sender="fremd@anderswo.example")
    forged = _protocol(session, "gesundheit")
    forged.sender_verified = False
    for message in (held, unknown, forged):
        assert protocol_mail.send_receipt(session, config, message) is None
    assert _deliveries(session, "receipt") == []
    verified = _protocol(session, "gesundheit")
    verified.sender_verified = True
    assert protocol_mail.send_receipt(session, config, verified) is not None


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.org", "noreply@example.org", "no-reply@example.org",
                                    "postmaster@example.org", "", "geschaeftsstelle@buendnis-musterhausen.example"])
def test_no_receipt_to_robots_or_ourselves(config, session, partners, sender):
    message = _protocol(session, "gesundheit", sender=sender)
    assert protocol_mail.send_receipt(session, config, message) is None
    assert _deliveries(session, "receipt") == []


@pytest.mark.parametrize("kind,status", [("bounce", "recorded"), ("autoreply", "recorded"), ("other", "recorded"),
                                         ("other", "held")])
def test_no_receipt_for_bounces_autoreplies_and_other_mail(config, session, partners, kind, status):
    message = _protocol(session, None, kind=kind, status=status)
    assert protocol_mail.send_receipt(session, config, message) is None


def test_relay_to_the_group_goes_to_its_members_without_the_sender(config, session, partners):
    message = _protocol(session, "gesundheit")
    result = protocol_mail.relay_protocol(session, config, message)
    rows = _deliveries(session, "relay")
    assert [d.recipient for d, _ in rows] == [YILMAZ]
    assert result.queued == 1
    mail = rows[0][1]
    assert mail.attachments == []
    assert "Flyer drucken – Frau Yılmaz" not in mail.text and "Flyer drucken (wer: Frau Yılmaz)" in mail.text
    assert "TOP 1: Gesundheitstag im Juni." in mail.text


def test_relay_carries_attachments_only_when_the_group_says_so(config, session, partners):
    blob = Blob(sha256="a" * 64, size=3, content_type="application/pdf", path="blobs/aa")
    session.add(blob)
    (config.data_dir / "blobs").mkdir(parents=True, exist_ok=True)
    (config.data_dir / "blobs" / "aa").write_bytes(b"%PD")
    message = _protocol(session, "erziehungslotsen", sender="s.wagner@musterhausen.example")
    session.add(MessageAttachment(message_id=message.id, blob_sha256=blob.sha256, filename="protokoll.pdf",
                                  content_type="application/pdf"))
    session.flush()
    protocol_mail.relay_protocol(session, config, message)
    rows = _deliveries(session, "relay")
    assert sorted(d.recipient for d, _ in rows) == [YILMAZ, "m.oeztuerk@familienzentrum-regenbogen.example"]
    assert rows[0][1].attachments == [{"blob": "a" * 64, "filename": "protokoll.pdf",
                                       "content_type": "application/pdf"}]
    parsed = message_from_bytes(_bytes(config, session, *rows[0]), policy=policy.default)
    assert [a.get_filename() for a in parsed.iter_attachments()] == ["protokoll.pdf"]


def test_relay_all_reaches_every_partner_and_digest_or_none_nothing_now(config, session, partners):
    groups = [g.model_copy(update={"relay": "all"}) if g.slug == "unternehmen" else g for g in config.group]
    everyone = config.model_copy(update={"group": groups})
    _partner(session, YILMAZ).left_at = utcnow()
    message = _protocol(session, "unternehmen", sender="s.krueger@stadtwerke-musterhausen.example")
    protocol_mail.relay_protocol(session, everyone, message)
    recipients = {d.recipient for d, _ in _deliveries(session, "relay")}
    assert len(recipients) == 8 and YILMAZ not in recipients  # 10 partners less the sender and one who left
    for slug in ("aktionstage", "koordinierungskreis"):  # digest, none
        assert protocol_mail.relay_protocol(session, config, _protocol(session, slug)) is None


def test_welcome_goes_out_exactly_once(config, session, partners):
    partner = _partner(session, YILMAZ)
    assert mailings.send_welcome(session, config, partner) is True
    assert mailings.send_welcome(session, config, partner) is False
    [(delivery, mail)] = _deliveries(session, "welcome")
    assert partner.welcome_sent_at is not None
    assert mail.subject == "Willkommen im Bündnis für Familie Musterhausen"
    for part in ("AG Gesundheit", "Projektgruppe Erziehungslotsen", config.mail.protocol_address,
                 "Wie Sie wieder austreten", "/unsubscribe/"):
        assert part in mail.text
    assert "Koordinierungskreis" not in mail.text.split("Unsere Arbeitsgruppen")[1].split("Sie sind")[0]


def test_welcome_after_an_import_reaches_each_new_partner_once(config, session, partners):
    emails = [p.email for p in partners]
    assert mailings.welcome_new(session, config, emails + ["unbekannt@example.org"]) == len(partners)
    assert mailings.welcome_new(session, config, emails) == 0
    assert len(_deliveries(session, "welcome")) == len(partners)


def test_unsubscribe_link_is_signed_and_one_click(config, session, partners):
    partner = _partner(session, YILMAZ)
    url = mailings.unsubscribe_url(config, partner.id)
    token = url.rsplit("/", 1)[1]
    with pytest.raises(mailings.TokenError):
        mailings.unsubscribe(session, config, f"{partner.id + 1}.{token.split('.')[1]}")
    with pytest.raises(mailings.TokenError):
        mailings.unsubscribe(session, config, "garbage")
    assert _partner(session, YILMAZ).newsletter is True
    assert mailings.unsubscribe(session, config, token).id == partner.id
    assert partner.newsletter is False
    mailings.unsubscribe(session, config, token)  # twice is fine
    consents = session.exec(select(Consent).where(Consent.partner_id == partner.id).order_by(Consent.id)).all()
    assert [(c.newsletter, c.source) for c in consents][-1] == (False, "unsubscribe")


def test_unsubscribe_by_mail_from_a_partner(config, session, partners):
    assert mailings.unsubscribe_by_mail(session, config, "fremd@example.org") is None
    assert mailings.unsubscribe_by_mail(session, config, "MAILER-DAEMON@example.org") is None
    partner = mailings.unsubscribe_by_mail(session, config, YILMAZ.upper())
    assert partner.email == YILMAZ and partner.newsletter is False


def test_double_opt_in_confirms_once_and_expires(config, session, alliance):
    mailings.subscribe_request(session, config, "Eva.Rot@Example.org")
    [(delivery, mail)] = _deliveries(session, "subscribe_confirm")
    assert session.exec(select(Partner)).all() == []  # nothing stored before the confirmation
    url = next(line for line in mail.text.splitlines() if "/subscribe/confirm/" in line).strip()
    token = url.rsplit("/", 1)[1]
    with pytest.raises(mailings.TokenError):
        mailings.subscribe_confirm(session, config, token[:-2] + "xx")
    with pytest.raises(mailings.TokenError, match="abgelaufen"):
        mailings.subscribe_confirm(session, config, token, now=utcnow() + timedelta(days=8))
    partner = mailings.subscribe_confirm(session, config, token, name="Eva Rot", organisation="Kita")
    assert (partner.name, partner.organisation, partner.newsletter) == ("Eva Rot", "Kita", True)
    assert partner.audience == "public"  # a reader only, until a coordinator approves
    assert partner.welcome_sent_at is not None
    assert len(_deliveries(session, "welcome")) == 1
    mailings.subscribe_confirm(session, config, token)  # a second click changes nothing
    assert len(_deliveries(session, "welcome")) == 1
    with pytest.raises(mailings.HubError):
        mailings.subscribe_request(session, config, "kein-at-zeichen")


def test_bounce_notice_lists_newly_disabled_addresses_to_the_office(config, session, partners):
    partner = _partner(session, YILMAZ)
    partner.disabled_at, partner.disabled_reason = utcnow(), "5.1.1 unbekannter Empfänger"
    assert mailings.send_bounce_notice(session, config, [_partner(session, WEISS)]) is None  # not disabled
    mailings.send_bounce_notice(session, config, [partner])
    [(delivery, mail)] = _deliveries(session, "bounce_notice")
    assert delivery.recipient == config.mail.office_address
    assert mail.subject == "Zustellprobleme: 1 Adresse deaktiviert"
    assert YILMAZ in mail.text and "5.1.1 unbekannter Empfänger" in mail.text
