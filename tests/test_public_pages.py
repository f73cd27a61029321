"""Issue 12, the public pages: what an attacker could do with /subscribe, the double opt-in and the unsubscribe
address, and what holds now (SQLite and, with HUB_TEST_DATABASE_URL, PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from hub import mailings, newsletter, newsletter_mail
from hub.alliance import unit_of_work
from hub.models import AuditLog, Consent, Delivery, OutboundMail, Partner
from hub.web.app import create_app

VICTIM = "opfer@familie.example"
SPAM = "Gewinnen Sie jetzt! https://betrug.example"
YILMAZ = "a.yilmaz@awo-musterhausen.example"


@pytest.fixture
def app(config, alliance):
    return create_app(config)


def _client(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def _csrf(response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)


def _mails(config, kind: str) -> list[tuple[Delivery, OutboundMail]]:
    with unit_of_work(config) as s:
        return list(s.exec(select(Delivery, OutboundMail).join(OutboundMail, OutboundMail.id == Delivery.mail_id)
                           .where(OutboundMail.kind == kind).order_by(Delivery.id)))


def _subscribe(c: TestClient, email: str, **extra):
    form = c.get("/subscribe")
    return c.post("/subscribe", data={"csrf": _csrf(form), "email": email, "consent": "yes", **extra})


def test_twenty_requests_for_one_address_send_one_confirmation_mail(app, config):
    answers = [_subscribe(_client(app), VICTIM, name=SPAM).status_code for _ in range(20)]
    assert answers[0] == 200 and set(answers) <= {200, 429}
    assert len(_mails(config, "subscribe_confirm")) == 1
    # Another case of the same address is the same address.
    _subscribe(_client(app), VICTIM.upper())
    assert len(_mails(config, "subscribe_confirm")) == 1


def test_one_client_address_is_limited_and_the_limit_survives_a_restart(app, config):
    answers = [_subscribe(_client(app), f"person{i}@familie.example").status_code for i in range(14)]
    assert answers[:mailings.SUBSCRIBE_PER_CLIENT] == [200] * mailings.SUBSCRIBE_PER_CLIENT
    assert set(answers[mailings.SUBSCRIBE_PER_CLIENT:]) == {429}
    assert len(_mails(config, "subscribe_confirm")) == mailings.SUBSCRIBE_PER_CLIENT
    restarted = create_app(config)
    refused = _subscribe(_client(restarted), "noch-eine@familie.example")
    assert refused.status_code == 429 and "in einer Stunde" in refused.text
    assert len(_mails(config, "subscribe_confirm")) == mailings.SUBSCRIBE_PER_CLIENT


def test_the_confirmation_mail_carries_nothing_the_requester_typed(app, config):
    assert _subscribe(_client(app), VICTIM, name=SPAM, organisation=SPAM).status_code == 200
    [(delivery, mail)] = _mails(config, "subscribe_confirm")
    assert "Gewinnen" not in mail.text and "Gewinnen" not in (mail.html or "") and "Gewinnen" not in mail.subject
    assert delivery.recipient_name == "" and delivery.recipient == VICTIM
    assert "betrug" not in repr(delivery.values)
    assert mail.text.splitlines()[0] == "Guten Tag,"


def test_a_self_subscriber_is_a_reader_never_listed_in_the_newsletter(app, config, partners):
    c = _client(app)  # the web's path: the address only; name and organisation on the confirmation page
    _subscribe(c, "leser@familie.example")
    [(_, mail)] = _mails(config, "subscribe_confirm")
    path = next(w for w in mail.text.split() if "/subscribe/confirm/" in w).split("127.0.0.1", 1)[1].split("/", 1)[1]
    landing = c.get("/" + path)
    assert 'name="organisation"' in landing.text
    done = c.post("/" + path, data={"csrf": _csrf(landing), "name": "Leo Leser", "organisation": SPAM})
    assert done.status_code == 200 and "Vielen Dank" in done.text
    with unit_of_work(config) as s:
        reader = s.exec(select(Partner).where(Partner.email_key == "leser@familie.example")).one()
        assert (reader.audience, reader.organisation, reader.newsletter) == ("public", SPAM, True)
        issue = newsletter.draft(s, config, editorial="Liebe Leserinnen und Leser")
        assert [p for p in issue.content["new_partners"] if p["name"] == "Leo Leser"] == []
        for audience in newsletter_mail.AUDIENCES:
            mail = newsletter_mail.render(config, issue, audience=audience)
            assert "Gewinnen" not in mail.text and "Gewinnen" not in mail.html


def test_unsubscribe_by_mail_from_an_unverified_sender_asks_first(config, session, partners):
    partner = mailings.unsubscribe_by_mail(session, config, YILMAZ, verified=False)
    assert partner.email == YILMAZ and partner.newsletter is True  # nothing changed
    [(delivery, mail)] = _mails_in(session, "unsubscribe_confirm")
    assert delivery.recipient == YILMAZ and delivery.partner_id == partner.id
    assert mailings.unsubscribe_url(config, partner.id) in mail.text
    assert mail.subject == "Bitte bestätigen Sie die Abmeldung vom Newsletter"
    # A flood of forged mails makes one confirmation mail a day, not one each.
    for _ in range(5):
        mailings.unsubscribe_by_mail(session, config, YILMAZ.upper(), verified=False)
    assert len(_mails_in(session, "unsubscribe_confirm")) == 1
    assert session.exec(select(Consent).where(Consent.partner_id == partner.id,
                                              Consent.source == "unsubscribe")).all() == []
    # The owner clicks the link: that is the web's signed unsubscribe.
    token = mailings.unsubscribe_url(config, partner.id).rsplit("/", 1)[1]
    assert mailings.unsubscribe(session, config, token).newsletter is False
    # An authenticated sender is believed at once.
    weiss = mailings.unsubscribe_by_mail(session, config, "j.weiss@gesundheitsamt-musterhausen.example",
                                         verified=True)
    assert weiss.newsletter is False


def _mails_in(session, kind: str) -> list[tuple[Delivery, OutboundMail]]:
    session.flush()
    return list(session.exec(select(Delivery, OutboundMail).join(OutboundMail, OutboundMail.id == Delivery.mail_id)
                             .where(OutboundMail.kind == kind).order_by(Delivery.id)))


def test_every_request_passed_on_is_in_the_audit_log_with_the_client_address(app, config):
    _subscribe(_client(app), VICTIM)
    with unit_of_work(config) as s:
        [row] = s.exec(select(AuditLog).where(AuditLog.action == "public.subscribe_request")).all()
        assert row.ip and VICTIM not in repr(row.detail) and VICTIM not in row.target
