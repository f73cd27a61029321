"""Issue 14: a partner's language is set where partners are kept — the CSV's `language` column, `hub partners
add/edit --language`, the web partner form — and every mail to them is written in it."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from hub import accounts as users
from hub import partner_actions, protocol_mail
from hub.alliance import unit_of_work
from hub.db import utcnow
from hub.errors import UsageError
from hub.models import Group, InboundMessage, OutboundMail, Partner
from hub.web.app import create_app

PASSWORD = "richtig-langes-passwort"
YILMAZ = "a.yilmaz@awo-musterhausen.example"


def _partner(config, email: str) -> Partner:
    with unit_of_work(config) as s:
        partner = s.exec(select(Partner).where(Partner.email == email)).one()
        s.expunge(partner)
        return partner


def _subjects(config, kind: str) -> list[str]:
    with unit_of_work(config) as s:
        return [m.subject for m in s.exec(select(OutboundMail).where(OutboundMail.kind == kind).order_by(
            OutboundMail.id))]


def test_the_csv_language_column_is_read_and_written(config, session, alliance):
    text = ("name,organisation,email,groups,role,newsletter,language\n"
            "Eve English,School,eve@school.example,gesundheit,member,yes,en\n"
            "Dora Deutsch,Kita,dora@kita.example,,member,yes,\n")
    partner_actions.import_csv(session, config, alliance, text, source="test", welcome=False)
    people = {p.email: p.language for p in session.exec(select(Partner))}
    assert people == {"eve@school.example": "en", "dora@kita.example": None}
    exported = partner_actions.export_csv(session, alliance)
    assert "eve@school.example,gesundheit,member,yes,en" in exported


def test_hub_partners_add_with_a_language_welcomes_in_it(hub, config, alliance):
    added = hub("partners", "add", "eve@school.example", "--name", "Eve", "--language", "en")
    assert added.returncode == 0, added.stderr
    assert _partner(config, "eve@school.example").language == "en"
    assert _subjects(config, "welcome") == ["Welcome to Bündnis für Familie Musterhausen"]
    assert hub("partners", "add", "fr@school.example", "--language", "fr").returncode == 2


def test_hub_partners_edit_changes_name_organisation_and_language(hub, config, partners):
    session_partner = _partner(config, YILMAZ)
    assert session_partner.language is None
    changed = hub("partners", "edit", YILMAZ, "--language", "en", "--organisation", "AWO Musterhausen")
    assert changed.returncode == 0, changed.stderr
    partner = _partner(config, YILMAZ)
    assert (partner.language, partner.organisation, partner.name) == ("en", "AWO Musterhausen", "Aylin Yılmaz")
    assert hub("partners", "edit", YILMAZ, "--name", "Aylin Y.").returncode == 0
    assert _partner(config, YILMAZ).language == "en"  # a field not named stays as it is
    assert hub("partners", "edit", YILMAZ, "--language", "default").returncode == 0
    assert _partner(config, YILMAZ).language is None
    assert hub("partners", "edit", YILMAZ).returncode == 2  # nothing to change
    unknown = hub("partners", "edit", "niemand@example.org", "--name", "X")
    assert unknown.returncode != 0 and "niemand@example.org" in unknown.stderr


def test_edit_refuses_an_unknown_language(session, alliance, partners):
    with pytest.raises(UsageError, match="keine unterstützte Sprache"):
        partner_actions.edit(session, alliance, YILMAZ, language="fr")


def test_the_web_partner_form_sets_the_language(config, alliance, partners):
    with unit_of_work(config) as s:
        users.add_user(s, "koordination@buendnis-musterhausen.example", PASSWORD, "coordinator")
    c = TestClient(create_app(config), follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"csrf": token, "email": "koordination@buendnis-musterhausen.example",
                                  "password": PASSWORD, "next": "/"}).status_code == 303
    partner = _partner(config, YILMAZ)
    form = c.get(f"/partners/{partner.id}").text
    assert '<select id="language" name="language">' in form
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    fields = {"csrf": token, "email": YILMAZ, "name": partner.name, "organisation": partner.organisation,
              "role": "member", "groups": ["gesundheit", "erziehungslotsen"], "newsletter": "yes"}
    assert c.post(f"/partners/{partner.id}", data={**fields, "language": "en"}).status_code == 303
    assert _partner(config, YILMAZ).language == "en"
    assert '<option value="en" selected>' in c.get(f"/partners/{partner.id}").text
    assert c.post(f"/partners/{partner.id}", data={**fields, "language": ""}).status_code == 303
    assert _partner(config, YILMAZ).language is None
    created = c.post("/partners/new", data={**fields, "email": "eve@school.example", "language": "en"})
    assert created.status_code == 303
    assert _partner(config, "eve@school.example").language == "en"


def test_a_relay_is_written_in_each_recipients_language(config, session, alliance, partners):
    partner_actions.edit(session, alliance, YILMAZ, language="en")
    group = session.exec(select(Group).where(Group.slug == "gesundheit")).one()
    message = InboundMessage(
        message_id="<relay-language@example.org>", content_hash=hashlib.sha256(b"relay").hexdigest(),
        raw_path="x.eml", sender="j.weiss@gesundheitsamt-musterhausen.example", subject="Protokoll vom 14.04.",
        kind="protocol", status="filed", group_id=group.id, text="TOP 1: Gesundheitstag", received_at=utcnow(),
        meeting_date=date(2026, 4, 14))
    session.add(message)
    session.flush()
    protocol_mail.relay_protocol(session, config, message)
    mails = session.exec(select(OutboundMail).where(OutboundMail.kind == "relay")).all()
    assert [m.subject for m in mails] == ["Protocol AG Gesundheit of 14 Apr 2026"]
    assert "Hello," in mails[0].text

