"""Bounce bookkeeping: a decaying score per partner, disabling past the threshold, and what resets it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from hub.db import utcnow
from hub.models import BounceEvent, Delivery, OutboundMail, Partner
from hub.outbound import bounces, outbox, verp
from hub.outbound.outbox import Recipient


@pytest.fixture
def partner(session, partners) -> Partner:
    return session.exec(select(Partner).where(Partner.left_at.is_(None)).order_by(Partner.id)).first()


def _deliveries(session, partner, count: int) -> list[Delivery]:
    mail = OutboundMail(kind="newsletter", subject="x", from_address="", text="x")
    outbox.enqueue(session, mail, [Recipient(partner.email, dedupe_key=f"{partner.email}:{i}") for i in range(count)])
    return session.exec(select(Delivery).where(Delivery.partner_id == partner.id).order_by(Delivery.id)).all()


def _sent(session, delivery: Delivery) -> None:
    delivery.state, delivery.sent_at = "sent", utcnow()
    session.add(delivery)


def _report(to: str, named: str, message_id: str = "<dsn-1@mx.example.org>",
            sender: str = "MAILER-DAEMON@mx.example.org") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {named}\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
    ).encode()


def test_permanent_bounces_disable_the_address_past_the_threshold(session, config, partner):
    since = utcnow()
    deliveries = _deliveries(session, partner, 6)
    threshold = int(config.bounces.threshold / config.bounces.permanent_score)
    for delivery in deliveries[: threshold - 1]:
        bounces.record_bounce(session, config, partner.email, True, status="5.1.1", delivery_id=delivery.id)
    assert partner.disabled_at is None and partner.bounce_score == pytest.approx(threshold - 1, rel=0.01)
    assert bounces.disabled_since(session, since) == []
    counted = bounces.record_bounce(session, config, partner.email, True, status="5.1.1",
                                    delivery_id=deliveries[threshold - 1].id)
    session.commit()
    assert counted.id == partner.id and partner.disabled_at is not None
    assert "5.1.1" in partner.disabled_reason
    assert [p.id for p in bounces.disabled_since(session, since)] == [partner.id]
    assert bounces.disabled_since(session, utcnow() + timedelta(seconds=1)) == []
    assert len(session.exec(select(BounceEvent).where(BounceEvent.partner_id == partner.id)).all()) == threshold
    # a disabled address gets nothing more
    result = outbox.enqueue(session, OutboundMail(kind="receipt", subject="y", from_address="", text="y"),
                            [Recipient(partner.email)])
    assert result.queued == 0 and result.skipped == [partner.email]


def test_one_delivery_counts_once_and_transient_counts_less(session, config, partner):
    (delivery,) = _deliveries(session, partner, 1)
    for _ in range(3):  # the smarthost's 5xx, then the DSN, then a duplicate DSN
        bounces.record_bounce(session, config, partner.email, True, delivery_id=delivery.id)
    assert partner.bounce_score == pytest.approx(config.bounces.permanent_score)
    bounces.record_bounce(session, config, partner.email, False, status="4.2.2")
    assert partner.bounce_score == pytest.approx(config.bounces.permanent_score + config.bounces.transient_score,
                                                 rel=0.01)


def test_old_bounces_decay(session, config, partner):
    for _ in range(4):
        bounces.record_bounce(session, config, partner.email, True)
    assert partner.bounce_score == pytest.approx(4, rel=0.01)
    half = utcnow() - timedelta(days=config.bounces.decay_days / 2)
    partner.bounce_updated_at = half
    assert bounces.decayed_score(config, partner) == pytest.approx(2, rel=0.01)
    partner.bounce_updated_at = utcnow() - timedelta(days=config.bounces.decay_days + 1)
    bounces.record_bounce(session, config, partner.email, True)
    assert partner.bounce_score == pytest.approx(1) and partner.disabled_at is None


def test_a_later_delivery_that_did_not_bounce_resets_the_score(session, config, partner):
    for _ in range(4):
        bounces.record_bounce(session, config, partner.email, True)
    (delivery,) = _deliveries(session, partner, 1)
    # delivered after the last bounce, but too recently to prove anything: the smarthost may still bounce it
    outbox.mark_sent(session, delivery, "250 ok")
    bounces.record_bounce(session, config, partner.email, False)
    assert partner.bounce_score == pytest.approx(4.5, rel=0.01)
    # a day later it still has not bounced: the address worked
    delivery.sent_at = partner.bounce_updated_at + timedelta(seconds=1)
    partner.bounce_updated_at -= timedelta(hours=config.bounces.success_after_hours + 1)
    delivery.sent_at = partner.bounce_updated_at + timedelta(seconds=1)
    session.add_all([delivery, partner])
    session.flush()
    bounces.record_bounce(session, config, partner.email, True)
    assert partner.bounce_score == pytest.approx(config.bounces.permanent_score)


def test_a_bounce_of_an_unknown_address_is_kept_without_a_partner(session, config, alliance):
    assert bounces.record_bounce(session, config, "stranger@example.org", True, status="5.1.1") is None
    event = session.exec(select(BounceEvent)).one()
    assert event.partner_id is None and event.address == "stranger@example.org"
    assert bounces.bounce_counts(session, utcnow() - timedelta(hours=1)) == {"permanent": 1, "transient": 0}


def test_a_permanent_bounce_marks_a_sent_delivery_failed(session, config, partner):
    (delivery,) = _deliveries(session, partner, 1)
    outbox.mark_sent(session, delivery, "250 ok")
    bounces.record_bounce(session, config, "", True, status="5.1.1", delivery_id=delivery.id)
    assert delivery.state == "failed" and "5.1.1" in delivery.last_reply


def test_cli_partners_enable_resets(hub, session, config, partner):
    for _ in range(5):
        bounces.record_bounce(session, config, partner.email, True)
    session.commit()
    assert partner.disabled_at is not None
    result = hub("partners", "enable", partner.email)
    assert result.returncode == 0, result.stderr
    assert "wieder aktiviert" in result.stdout
    session.expire_all()
    partner = session.get(Partner, partner.id)
    assert partner.disabled_at is None and partner.bounce_score == 0
    assert outbox.enqueue(session, OutboundMail(kind="receipt", subject="y", from_address="", text="y"),
                          [Recipient(partner.email)]).queued == 1
    session.commit()
    unknown = hub("partners", "enable", "nobody@example.org")
    assert unknown.returncode == 1 and "no partner with address nobody@example.org" in unknown.stderr


def test_a_bounce_report_by_mail_that_disables_an_address_notifies_the_office(session, config, partner):
    from hub import filing

    [delivery] = _deliveries(session, partner, 1)
    _sent(session, delivery)
    partner.bounce_score = config.bounces.threshold - config.bounces.permanent_score
    partner.bounce_updated_at = utcnow()
    session.add(partner)
    session.commit()
    to = verp.envelope_sender(config, delivery.id)
    result = filing.ingest_bytes(config, _report(to, partner.email), via="smtp", envelope_from="", envelope_to=[to])
    assert (result.data["kind"], result.data["bounce"]["permanent"]) == ("bounce", True)
    session.expire_all()
    assert session.get(Partner, partner.id).disabled_at is not None
    [notice] = session.exec(select(OutboundMail).where(OutboundMail.kind == "bounce_notice")).all()
    assert partner.email in notice.text


@pytest.mark.parametrize("local", ["²³.abcdefghij", "1٣.abcdefghij", "ä.ö", "1." + "x" * 300, "+.",
                                   "99999999999999999999999.a"])
def test_a_malformed_verp_address_is_recorded_as_a_bounce_never_an_error(session, config, partner, local):
    from hub import filing

    [delivery] = _deliveries(session, partner, 1)
    state = delivery.state
    session.commit()
    base, domain = config.mail.bounce_address.rsplit("@", 1)
    to = f"{base}+{local}@{domain}"
    report = (
        f"From: MAILER-DAEMON@mx.example.org\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-verp@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDelivery failed.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; niemand@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
    )
    result = filing.ingest_bytes(config, report.encode(), via="smtp", envelope_from="", envelope_to=[to])
    assert (result.data["kind"], result.status) == ("bounce", "recorded")
    session.expire_all()
    assert session.get(Delivery, delivery.id).state == state  # the forged token names no delivery
    assert not session.get(Partner, partner.id).bounce_score


def test_forged_bounce_reports_to_the_protocol_address_are_shown_never_scored(session, config, partner):
    from hub import filing

    session.commit()
    protocols = config.mail.protocol_address
    for n in range(6):  # more than the threshold's worth of permanent bounces
        result = filing.ingest_bytes(config, _report(protocols, partner.email, f"<forged-{n}@evil.example>",
                                                     "MAILER-DAEMON@evil.example"),
                                     via="smtp", envelope_from="", envelope_to=[protocols])
        assert (result.data["kind"], result.status) == ("bounce", "recorded")
    session.expire_all()
    victim = session.get(Partner, partner.id)
    assert not victim.bounce_score and victim.disabled_at is None
    events = session.exec(select(BounceEvent).where(BounceEvent.partner_id == partner.id)).all()
    assert len(events) == 6 and {e.source for e in events} == {"unverified"}  # shown with the partner they name


def test_a_report_to_the_verp_address_of_a_mail_never_sent_counts_for_no_one(session, config, partner):
    from hub import filing

    [delivery] = _deliveries(session, partner, 1)  # queued, not sent
    session.commit()
    to = verp.envelope_sender(config, delivery.id)
    filing.ingest_bytes(config, _report(to, partner.email), via="smtp", envelope_from="", envelope_to=[to])
    session.expire_all()
    assert not session.get(Partner, partner.id).bounce_score
    assert session.get(Delivery, delivery.id).state == "queued"


def test_a_verp_report_counts_once_against_the_delivery_recipient_whatever_it_names(session, config, partner):
    from hub import filing

    [delivery] = _deliveries(session, partner, 1)
    _sent(session, delivery)
    session.commit()
    to = verp.envelope_sender(config, delivery.id)
    filing.ingest_bytes(config, _report(to, "weitergeleitet@anderswo.example"), via="smtp", envelope_from="",
                        envelope_to=[to])
    filing.ingest_bytes(config, _report(to, partner.email, "<dsn-2@mx.example.org>"), via="smtp", envelope_from="",
                        envelope_to=[to])
    session.expire_all()
    assert session.get(Partner, partner.id).bounce_score == config.bounces.permanent_score  # one delivery, once
    assert session.get(Delivery, delivery.id).state == "failed"
