"""Issue 12, two audiences of the newsletter: partners of the registry get every section their groups' relay
policy allows; public subscribers only what a coordinator marked public (`public = true` on a group), and never a
protocol of a group with `relay = "group"`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from test_web import PASSWORD, csrf_of, sign_in

from hub import accounts, mailings, newsletter, newsletter_mail
from hub import config as config_module
from hub.db import utcnow
from hub.models import Delivery, Group, InboundMessage, OutboundMail, Partner
from hub.web.app import create_app


@pytest.fixture
def marked(hub_dir, partners, session):
    """The example alliance with AG Aktionstage (relay digest) and AG Gesundheit (relay group) marked public."""
    path = hub_dir / "config" / "hub.toml"
    text = path.read_text(encoding="utf-8")
    for slug in ("aktionstage", "gesundheit"):
        head = f'slug = "{slug}"\n'
        assert head in text
        text = text.replace(head, head + "public = true\n", 1)
    path.write_text(text, encoding="utf-8")
    return config_module.load(path)


def _file(session, slug: str, subject: str) -> None:
    group = session.exec(select(Group).where(Group.slug == slug)).one()
    session.add(InboundMessage(
        message_id=f"<{uuid.uuid4()}@example.org>", content_hash=uuid.uuid4().hex, raw_path="x.eml",
        sender="j.weiss@gesundheitsamt-musterhausen.example", subject=subject, kind="protocol", status="filed",
        group_id=group.id, received_at=utcnow() - timedelta(days=2), text=f"Ergebnisse: {subject}"))


def _reader(session, config, email: str = "leser@familie.example", name: str = "Leo Leser") -> Partner:
    mailings.subscribe_request(session, config, email)
    delivery = session.exec(select(Delivery).where(Delivery.recipient == email)).one()
    text = session.get(OutboundMail, delivery.mail_id).text
    token = next(w for w in text.split() if "/subscribe/confirm/" in w).rsplit("/", 1)[1]
    return mailings.subscribe_confirm(session, config, token, name=name)


def test_a_group_relay_protocol_never_reaches_a_public_subscriber(marked, session):
    config = marked
    _file(session, "gesundheit", "Interna der AG Gesundheit")  # relay = "group", marked public all the same
    _file(session, "aktionstage", "Familientag im Juni")  # relay = "digest", public
    _file(session, "unternehmen", "Nur für Partner")  # not marked public
    reader = _reader(session, config)
    assert reader.audience == "public"
    issue = newsletter.draft(session, config, since=utcnow() - timedelta(days=7), editorial="Hallo zusammen")
    newsletter.approve(session, issue.id)
    newsletter.send(session, config, issue.id)
    session.flush()
    rows = session.exec(select(Delivery, OutboundMail).join(OutboundMail, OutboundMail.id == Delivery.mail_id)
                        .where(OutboundMail.kind == "newsletter")).all()
    public = [mail for delivery, mail in rows if delivery.partner_id == reader.id]
    partner = [mail for delivery, mail in rows if delivery.recipient == "a.yilmaz@awo-musterhausen.example"]
    [public_mail], [partner_mail] = public, partner
    for text in (public_mail.text, public_mail.html):
        assert "Interna der AG Gesundheit" not in text and "Nur für Partner" not in text
        assert "Familientag im Juni" in text and "Hallo zusammen" in text
    assert "Neu im Bündnis" not in public_mail.text
    for wanted in ("Interna der AG Gesundheit", "Familientag im Juni", "Nur für Partner"):
        assert wanted in partner_mail.text
    assert public_mail.id != partner_mail.id and public_mail.source_ref.endswith(":public")


def test_without_marks_the_public_edition_has_only_the_editorial(config, session, partners):
    _file(session, "aktionstage", "Familientag im Juni")
    issue = newsletter.draft(session, config, since=utcnow() - timedelta(days=7), editorial="Hallo zusammen")
    public = newsletter_mail.render(config, issue, audience="public")
    assert "Familientag im Juni" not in public.text and "Hallo zusammen" in public.text
    assert "Familientag im Juni" in newsletter_mail.render(config, issue).text


def test_an_issue_frozen_before_the_marks_shows_the_public_no_protocol(config, session, partners):
    _file(session, "aktionstage", "Familientag im Juni")
    issue = newsletter.draft(session, config, since=datetime(2020, 1, 1, tzinfo=UTC))
    for group in issue.content["groups"]:
        group.pop("public")
    assert "Familientag im Juni" not in newsletter_mail.render(config, issue, audience="public").text


def test_a_coordinator_approves_a_reader_in_the_cli_and_on_the_web(hub, config, session, partners):
    reader = _reader(session, config)
    other = _reader(session, config, "zweite@familie.example", "Zora Zweit")
    accounts.add_user(session, "koordination@buendnis-musterhausen.example", PASSWORD, "coordinator")
    session.commit()
    assert hub("partners", "approve", reader.email).returncode == 0
    client = sign_in(create_app(config))
    page = client.get(f"/partners/{other.id}")
    assert "Als Bündnispartner/in aufnehmen" in page.text
    assert client.post(f"/partners/{other.id}/approve", data={"csrf": csrf_of(page)}).status_code == 303
    session.expire_all()
    assert [session.get(Partner, p.id).audience for p in (reader, other)] == ["partner", "partner"]
    assert "Als Bündnispartner/in aufnehmen" not in client.get(f"/partners/{other.id}").text
