"""Two alliances in one database see nothing of each other (issue 17): the same group slugs and the same partner
addresses in both, a protocol filed in each, and every listing of one checked for the other's marks, through
the CLI, the web admin and the database itself (hub.tenancy)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel, select
from test_ingest import WEISS, mail
from test_web import PASSWORD, client, csrf_of

from hub import accounts, filing, retention
from hub import config as config_module
from hub.alliance import unit_of_work
from hub.db import utcnow
from hub.models import Blob, Delivery, InboundMessage, MessageAttachment, OutboundMail, Partner, WebUser
from hub.tenancy import CrossAllianceWrite, TenantRow
from hub.web.app import create_app

SECOND = "buendnis-beispielstadt.example"
COORDINATOR = "koordination@example.org"  # an account of that name in each alliance
# What only one alliance has: found in its own listings, never in the other's.
MARKS = {"eins": "Nur-im-Ersten-Bündnis", "zwei": "Nur-im-Zweiten-Bündnis"}


@pytest.fixture
def two(hub, hub_dir, config, partners):
    """The example alliance and a second one on the same database, with the same groups and partners."""
    text = (hub_dir / "config" / "hub.toml").read_text(encoding="utf-8")
    text = text.replace("buendnis-musterhausen.example", SECOND).replace("Musterhausen", "Beispielstadt")
    (hub_dir / "config" / "zwei.toml").write_text(text, encoding="utf-8")
    second = config_module.load(hub_dir / "config" / "zwei.toml")
    for args in (["init"], ["partners", "import", "--no-welcome", "config/partners.example.csv"]):
        done = hub("--config", "config/zwei.toml", *args)
        assert done.returncode == 0, done.stderr
    configs = {"eins": config, "zwei": second}
    for name, each in configs.items():
        domain = each.alliance.domain
        for number, (sender, to) in enumerate([(WEISS, f"protokolle@{domain}"),
                                               ("fremd@example.org", f"geschaeftsstelle@{domain}")]):
            raw = mail(sender=sender, to=to, subject=f"Ergebnisprotokoll AG Gesundheit {MARKS[name]} {number}",
                       message_id=f"<{name}-{number}@example.org>")
            filing.ingest_bytes(each, raw, via="smtp", envelope_from=sender, envelope_to=[to])
        with unit_of_work(each) as session:
            accounts.add_user(session, COORDINATOR, PASSWORD, "coordinator")
            session.add(Partner(email=f"{name}@example.org", email_key=f"{name}@example.org", name=MARKS[name]))
    return configs


def _cli(hub, name: str, *args: str):
    found = hub(*(["--config", "config/zwei.toml"] if name == "zwei" else []), *args)
    assert found.returncode == 0, (args, found.stderr)
    return found.stdout


LISTINGS = [["status", "--json"], ["protocols", "list", "--json"], ["protocols", "list", "--held", "--json"],
            ["protocols", "list", "--all", "--json"],
            ["protocols", "search", "Ergebnisprotokoll", "--json"], ["partners", "list", "--all", "--json"],
            ["outbox", "list", "--json"], ["meetings", "list", "--json"], ["tasks", "list", "--json"],
            ["users", "list", "--json"], ["partners", "export"], ["newsletter", "list", "--json"]]


def test_every_cli_listing_shows_its_own_alliance_only(hub, two):
    for own, other in (("eins", "zwei"), ("zwei", "eins")):
        for listing in LISTINGS:
            shown = _cli(hub, own, *listing)
            assert MARKS[other] not in shown, (own, listing)
        assert MARKS[own] in _cli(hub, own, "protocols", "list", "--json")
        assert MARKS[own] in _cli(hub, own, "partners", "list", "--json")
        status = json.loads(_cli(hub, own, "status", "--json"))
        assert (status["protocols_filed"], status["held_for_review"]) == (1, 1), own


def test_a_row_of_the_other_alliance_is_not_found_by_its_id(hub, two):
    with unit_of_work(two["eins"]) as session:
        theirs = session.exec(select(InboundMessage).where(InboundMessage.status == "held")).one()
        delivery = session.exec(select(Delivery)).first()
    for args in (["protocols", "show", str(theirs.id)], ["protocols", "release", str(theirs.id), "gesundheit"],
                 ["protocols", "reject", str(theirs.id)], ["outbox", "show", str(delivery.id)],
                 ["outbox", "cancel", str(delivery.id)]):
        refused = hub("--config", "config/zwei.toml", *args)
        assert refused.returncode != 0, args
        assert MARKS["eins"] not in refused.stdout + refused.stderr
    with unit_of_work(two["eins"]) as session:
        assert session.get(InboundMessage, theirs.id).status == "held"
        assert session.get(Delivery, delivery.id).state == delivery.state


def test_the_partner_in_both_alliances_is_two_partners(hub, two):
    _cli(hub, "zwei", "partners", "leave", WEISS)
    for name, left in (("eins", False), ("zwei", True)):
        with unit_of_work(two[name]) as session:
            weiss = session.exec(select(Partner).where(Partner.email_key == WEISS)).one()
            assert (weiss.left_at is not None) is left, name


WEB_PAGES = ["/", "/protocols", "/review", "/partners", "/outbox", "/groups", "/schedule",
             "/newsletter", "/tasks", "/audit", "/protocols?q=Ergebnisprotokoll"]


def test_every_web_page_shows_its_own_alliance_only(two):
    for own, other in (("eins", "zwei"), ("zwei", "eins")):
        c = client(create_app(two[own]))
        token = csrf_of(c.get("/login"))
        signed = c.post("/login", data={"csrf": token, "email": COORDINATOR, "password": PASSWORD, "next": "/"})
        assert signed.status_code == 303, signed.text
        shown = {path: c.get(path) for path in WEB_PAGES}
        for path, page in shown.items():
            assert page.status_code == 200, (own, path)
            assert MARKS[other] not in page.text, (own, path)
        assert MARKS[own] in shown["/protocols"].text


def test_a_session_cannot_write_a_row_of_another_alliance(two):
    with unit_of_work(two["eins"]) as session:
        first = session.exec(select(Partner)).first()
    with pytest.raises(CrossAllianceWrite), unit_of_work(two["zwei"]) as session:
        session.add(WebUser(alliance_id=first.alliance_id, email="x@example.org", password_hash="-"))
        session.flush()
    with pytest.raises(CrossAllianceWrite), unit_of_work(two["zwei"]) as session:
        session.add(Partner(email="y@example.org", email_key="y@example.org"))
        session.flush()
        session.get(Partner, first.id)  # not found in this alliance: a second lookup cannot move it either
        mine = session.exec(select(Partner).where(Partner.email_key == "y@example.org")).one()
        mine.alliance_id = first.alliance_id
        session.flush()


def _tenant_tables() -> list[sa.Table]:
    return [table for table in SQLModel.metadata.sorted_tables if "alliance_id" in table.c]


def test_every_scoped_query_sees_one_alliance_and_every_row_has_one(two):
    ids = {}
    for name, each in two.items():
        with unit_of_work(each) as session:
            ids[name] = session.info["alliance_id"]
    for name, each in two.items():
        with unit_of_work(each) as session:
            for model in TenantRow.__subclasses__():
                seen = session.exec(select(model)).all()
                assert {row.alliance_id for row in seen} <= {ids[name]}, model.__name__
                every = session.execute(select(sa.func.count()).select_from(model.__table__)
                                        .where(model.__table__.c.alliance_id == ids[name])).scalar_one()
                assert len(seen) == every, model.__name__
    with unit_of_work(two["zwei"]) as session:
        assert session.exec(select(InboundMessage)).all(), "the second alliance filed its own"
        assert session.exec(select(OutboundMail)).all(), "and was sent its own receipts"


def _crossings(config) -> list[str]:
    """Rows that point at a row of another alliance (a message filed under another alliance's group, a
    delivery of another alliance's mail, …): each foreign key between two tables of alliances, checked."""
    found = []
    with unit_of_work(config) as session:
        connection = session.connection()
        for table in _tenant_tables():
            for key in table.foreign_keys:
                target = key.column.table
                if target is table or "alliance_id" not in target.c:
                    continue
                other = target.alias("other")
                count = connection.execute(
                    sa.select(sa.func.count()).select_from(table.join(other, key.parent == other.c[key.column.name]))
                    .where(table.c.alliance_id != other.c.alliance_id)).scalar_one()
                if count:
                    found.append(f"{table.name}.{key.parent.name}: {count}")
    return found


ACTIONS = st.lists(st.tuples(st.sampled_from(["eins", "zwei"]),
                             st.sampled_from(["protocol", "stranger", "partner", "leave", "user"]),
                             st.integers(0, 3)), min_size=1, max_size=6)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_random_actions_in_both_alliances_never_cross(two, actions):
    for step, (name, action, n) in enumerate(actions):
        each = two[name]
        domain = each.alliance.domain
        if action in ("protocol", "stranger"):
            sender = WEISS if action == "protocol" else f"fremd{n}@example.org"
            raw = mail(sender=sender, to=f"protokolle@{domain}", message_id=f"<r{step}-{n}-{action}@example.org>",
                       subject=f"Ergebnisprotokoll AG Gesundheit Nr. {n}")
            filing.ingest_bytes(each, raw, via="smtp", envelope_from=sender, envelope_to=[f"protokolle@{domain}"])
            continue
        with unit_of_work(each) as session:
            if action == "partner":
                key = f"gemeinsam{n}@example.org"  # the same address in both: two partners
                if session.exec(select(Partner).where(Partner.email_key == key)).first() is None:
                    session.add(Partner(email=key, email_key=key, name=f"Gemeinsam {n}"))
            elif action == "leave":
                for partner in session.exec(select(Partner).where(Partner.email_key == WEISS)):
                    partner.left_at = partner.joined_at
                    session.add(partner)
            elif session.exec(select(WebUser).where(WebUser.email == f"u{n}@example.org")).first() is None:
                accounts.add_user(session, f"u{n}@example.org", PASSWORD, "viewer")
    assert _crossings(two["eins"]) == []
    for name, each in two.items():
        with unit_of_work(each) as session:
            mine = session.info["alliance_id"]
            for model in TenantRow.__subclasses__():
                assert {row.alliance_id for row in session.exec(select(model))} <= {mine}, (name, model.__name__)


def test_the_same_mail_to_both_alliances_is_filed_in_each_and_kept_by_each(two):
    raw = mail(sender="fremd@example.org", message_id="<an-beide@example.org>", subject="Einladung an beide",
               attachments=[("flyer.txt", "text/plain", b"Familienfest im Park")])
    for each in two.values():
        to = f"geschaeftsstelle@{each.alliance.domain}"
        result = filing.ingest_bytes(each, raw, via="smtp", envelope_from="fremd@example.org", envelope_to=[to])
        assert result.status == "held", result.as_json()
    with unit_of_work(two["eins"]) as session:
        retention.run(session, two["eins"], now=utcnow() + timedelta(days=400))
    with unit_of_work(two["zwei"]) as session:
        kept = session.exec(select(InboundMessage).where(InboundMessage.message_id == "<an-beide@example.org>")).one()
        blobs = session.exec(select(Blob).join(MessageAttachment, MessageAttachment.blob_sha256 == Blob.sha256)
                             .where(MessageAttachment.message_id == kept.id)).all()
    assert (two["zwei"].data_dir / kept.raw_path).is_file(), "the first alliance's retention took the second's mail"
    assert blobs and all((two["zwei"].data_dir / blob.path).is_file() for blob in blobs)
    with unit_of_work(two["eins"]) as session:
        assert session.exec(select(InboundMessage).where(InboundMessage.message_id == "<an-beide@example.org>")
                            ).first() is None
