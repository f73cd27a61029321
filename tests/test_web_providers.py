"""The provider's accounts of an installation of many alliances (issue 17): they belong to the installation, sign in
at every alliance's web admin with the same address and password, may change there what a coordinator may, see
a list to switch between the alliances, and every session of theirs ends everywhere at sign-out, a new password or
removal. An alliance's own accounts stay in their alliance; a single alliance's installation has no provider."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import select
from starlette.testclient import TestClient
from test_migration_tenancy import empty_url  # noqa: F401  (a fixture)
from test_web import csrf_of
from test_web_alliances import COORDINATOR, MARKS, _signed_in, alliances, alliances_on_one_host  # noqa: F401  (fixtures)

from hub import accounts, provider_accounts
from hub.alliance import unit_of_work
from hub.db import alembic_config, engine_for, session_scope, upgrade
from hub.models import AuditLog, InboundMessage, MessageStatus, ProviderAccount
from hub.web.app import create_app
from hub.web.hosts import ByAddress
from hub.web.security import SESSION_COOKIE

PROVIDER = "betreuung@servicestelle.example"
SECRET = "passwort-der-servicestelle"


def _add_provider(config, email: str = PROVIDER, password: str = SECRET) -> None:
    with session_scope(config.database_url) as session:  # the installation's: no alliance's unit of work
        provider_accounts.add_provider(session, email, password)


def _as_provider(app, slug: str, base_url: str | None = None) -> TestClient:
    return _signed_in(app, slug, base_url, email=PROVIDER, password=SECRET)


def _switch(page) -> list[tuple[str, str, bool]]:
    """The menu "Bündnis wechseln" of a page: (name, address, is this alliance) each."""
    menu = re.search(r'<details class="switch">(.*?)</details>', page.text, re.S)
    if menu is None:
        return []
    assert "Bündnis wechseln" in menu.group(1)
    return [(name, url, bool(here))
            for url, here, name in re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', menu.group(1))]


def _audit(config, action: str) -> list[AuditLog]:
    with unit_of_work(config) as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def _post(c: TestClient, path: str, page: str = "review"):
    return c.post(path, data={"csrf": csrf_of(c.get(page))})


def test_a_provider_signs_in_at_each_alliance_sees_only_its_data_and_the_list_to_switch(alliances):  # noqa: F811
    _add_provider(alliances["eins"])
    app = ByAddress(list(alliances.values()))
    for own, other in (("eins", "zwei"), ("zwei", "eins")):
        c = _as_provider(app, own)
        review = c.get("/review")
        assert review.status_code == 200
        assert MARKS[own] in review.text and MARKS[other] not in review.text
        assert f"{PROVIDER} (technische Betreuung)" in review.text
        assert _switch(review) == [("Eins", "http://eins.example.test/", own == "eins"),
                                   ("Zwei", "http://zwei.example.test/", own == "zwei")]
    # The list leads to the other alliance's sign-in, where the same address and password work.
    arriving = TestClient(app, base_url="http://zwei.example.test", follow_redirects=False).get("/")
    assert arriving.status_code == 303 and arriving.headers["location"] == "/login?next=%2F"
    # An alliance's own accounts see no such list.
    assert _switch(_signed_in(app, "eins").get("/review")) == []
    logins = _audit(alliances["zwei"], "login")
    assert [(row.actor, row.target, row.detail) for row in logins if row.actor == PROVIDER] == [
        (PROVIDER, f"provider:{PROVIDER}", {"role": "provider"})]


def test_the_list_to_switch_names_each_alliances_path_on_a_shared_host(alliances_on_one_host):  # noqa: F811
    _add_provider(alliances_on_one_host["eins"])
    app = ByAddress(list(alliances_on_one_host.values()))
    c = _as_provider(app, "zwei", "http://hub.example.test/a/zwei/")
    review = c.get("review")
    assert MARKS["zwei"] in review.text and MARKS["eins"] not in review.text
    assert _switch(review) == [("Eins", "http://hub.example.test/a/eins/", False),
                               ("Zwei", "http://hub.example.test/a/zwei/", True)]
    cookie = next(cookie for cookie in c.cookies.jar if cookie.name == SESSION_COOKIE)
    assert cookie.path == "/a/zwei/"
    arriving = TestClient(app, base_url="http://hub.example.test", follow_redirects=False).get("/a/eins/")
    assert arriving.headers["location"] == "/a/eins/login?next=%2F"


def test_a_provider_may_change_what_a_coordinator_may_and_the_audit_log_names_them(alliances):  # noqa: F811
    _add_provider(alliances["eins"])
    app = ByAddress(list(alliances.values()))
    c = _as_provider(app, "eins")
    review = c.get("/review")
    message = int(re.search(r'href="/messages/(\d+)"', review.text).group(1))
    rejected = _post(c, f"/messages/{message}/reject")
    assert rejected.status_code == 303, rejected.text
    with unit_of_work(alliances["eins"]) as session:
        assert session.get(InboundMessage, message).status == MessageStatus.rejected
    [row] = _audit(alliances["eins"], "review.reject")
    assert (row.actor, row.target, row.detail) == (PROVIDER, f"message:{message}", {"role": "provider"})
    assert _audit(alliances["zwei"], "review.reject") == []
    page = c.get("/audit").text
    assert "Rolle: technische Betreuung" in page and "Nachricht abgelehnt" in page


def test_an_alliances_own_account_signs_in_only_there_and_comes_first(alliances):  # noqa: F811
    with unit_of_work(alliances["eins"]) as session:
        accounts.add_user(session, "gast@example.org", SECRET, "viewer")
    app = ByAddress(list(alliances.values()))
    assert "gast@example.org (nur ansehen)" in _signed_in(app, "eins", email="gast@example.org",
                                                          password=SECRET).get("/").text
    elsewhere = TestClient(app, base_url="http://zwei.example.test", follow_redirects=False)
    refused = elsewhere.post("/login", data={"csrf": csrf_of(elsewhere.get("/login")), "email": "gast@example.org",
                                             "password": SECRET, "next": "/"})
    assert refused.status_code == 401
    # A provider with a coordinator's address: the alliance's own account is the one that signs in.
    _add_provider(alliances["eins"], COORDINATOR, SECRET)
    mistaken = elsewhere.post("/login", data={"csrf": csrf_of(elsewhere.get("/login")), "email": COORDINATOR,
                                              "password": SECRET, "next": "/"})
    assert mistaken.status_code == 401
    assert f"{COORDINATOR} (Koordination)" in _signed_in(app, "zwei").get("/").text


def test_a_providers_cookie_opens_nothing_in_another_alliance(alliances):  # noqa: F811
    _add_provider(alliances["eins"])
    app = ByAddress(list(alliances.values()))
    stolen = _as_provider(app, "eins").cookies.get(SESSION_COOKIE)
    elsewhere = TestClient(app, base_url="http://zwei.example.test", follow_redirects=False)
    elsewhere.cookies.set(SESSION_COOKIE, stolen)
    refused = elsewhere.get("/review")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")


def test_signing_out_ends_a_providers_sessions_in_every_alliance(alliances):  # noqa: F811
    _add_provider(alliances["eins"])
    app = ByAddress(list(alliances.values()))
    here, there = _as_provider(app, "eins"), _as_provider(app, "zwei")
    assert there.get("/review").status_code == 200
    signed_out = _post(here, "/logout")
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"
    assert there.get("/review").status_code == 303
    [row] = _audit(alliances["eins"], "logout")
    assert (row.actor, row.target, row.detail) == (PROVIDER, f"provider:{PROVIDER}", {"role": "provider"})


def test_a_new_password_or_removal_ends_a_providers_sessions(alliances):  # noqa: F811
    _add_provider(alliances["eins"])
    app = ByAddress(list(alliances.values()))
    before = _as_provider(app, "zwei")
    with session_scope(alliances["eins"].database_url) as session:
        provider_accounts.change_password(session, PROVIDER, "ein-ganz-neues-passwort")
    assert before.get("/review").status_code == 303
    after = _signed_in(app, "zwei", email=PROVIDER, password="ein-ganz-neues-passwort")
    assert after.get("/review").status_code == 200
    with session_scope(alliances["eins"].database_url) as session:
        provider_accounts.remove_provider(session, PROVIDER)
    assert after.get("/review").status_code == 303


def test_a_providers_failed_sign_ins_count_in_every_alliance_together(alliances):  # noqa: F811
    _add_provider(alliances["eins"])
    app = ByAddress(list(alliances.values()))
    clients = {slug: TestClient(app, base_url=f"http://{slug}.example.test", follow_redirects=False)
               for slug in alliances}
    tries = ["eins", "zwei", "eins", "zwei", "eins"]
    assert len(tries) == accounts.MAX_FAILED_PER_ACCOUNT
    for slug in tries:
        c = clients[slug]
        failed = c.post("/login", data={"csrf": csrf_of(c.get("/login")), "email": PROVIDER,
                                        "password": "falsch-falsch"})
        assert failed.status_code == 401
    c = clients["zwei"]
    waiting = c.post("/login", data={"csrf": csrf_of(c.get("/login")), "email": PROVIDER, "password": SECRET})
    assert waiting.status_code == 429 and "15 Minuten" in waiting.text
    assert [row.target for row in _audit(alliances["eins"], "login.failed")] == [f"provider:{PROVIDER}"] * 3
    # The alliance's own accounts are counted as before: the coordinator still signs in there.
    assert _signed_in(app, "zwei").get("/review").status_code == 200


def test_providers_cli_adds_lists_changes_and_removes_and_refuses_a_short_password(hub, alliances):  # noqa: F811
    added = hub("alliances", "providers", "add", "Betreuung@Servicestelle.example", "--password-stdin",
                input=f"{SECRET}\n")
    assert added.returncode == 0, added.stderr
    listed = json.loads(hub("alliances", "providers", "list", "--json").stdout)
    assert [row["email"] for row in listed] == [PROVIDER] and listed[0]["last_login"] is None
    with session_scope(alliances["eins"].database_url) as session:
        stored = session.exec(select(ProviderAccount)).one()
        assert stored.password_hash.startswith("$argon2id$") and SECRET not in stored.password_hash
    short = hub("alliances", "providers", "add", "b@example.org", "--password-stdin", input="kurz\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    twice = hub("alliances", "providers", "add", PROVIDER, "--password-stdin", input=f"{SECRET}\n")
    assert twice.returncode == 2 and "schon einen Zugang" in twice.stderr
    app = ByAddress(list(alliances.values()))
    c = _as_provider(app, "eins")
    changed = hub("alliances", "providers", "password", PROVIDER, "--password-stdin", input="noch-ein-passwort\n")
    assert changed.returncode == 0, changed.stderr
    assert c.get("/review").status_code == 303
    assert hub("alliances", "providers", "remove", PROVIDER).returncode == 0
    assert "(keine)" in hub("alliances", "providers", "list").stdout
    gone = hub("alliances", "providers", "remove", PROVIDER)
    assert gone.returncode == 2 and "hub alliances providers list" in gone.stderr


def test_an_alliance_exported_leaves_the_providers_accounts_behind(hub, alliances, tmp_path):  # noqa: F811
    _add_provider(alliances["eins"])
    target = tmp_path / "eins-allein"
    exported = hub("alliances", "export", "eins", "--to", str(target))
    assert exported.returncode == 0, exported.stderr
    with engine_for(f"sqlite:///{target / 'var' / 'hub.db'}").connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM provideraccount")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM webuser")).scalar() == 1


def test_a_single_alliances_installation_has_no_provider(hub, config, alliance):
    _add_provider(config)  # as if the table were filled by hand: the web and the CLI still know no provider
    app = create_app(config)
    c = TestClient(app, follow_redirects=False)
    refused = c.post("/login", data={"csrf": csrf_of(c.get("/login")), "email": PROVIDER, "password": SECRET})
    assert refused.status_code == 401
    cli = hub("alliances", "providers", "list")
    assert cli.returncode == 2 and "hub users add" in cli.stderr


def test_migration_0014_adds_the_providers_table_and_takes_it_away_again(empty_url):  # noqa: F811
    def tables() -> set[str]:
        with engine_for(empty_url).connect() as conn:
            return set(sa.inspect(conn).get_table_names())

    command.upgrade(alembic_config(empty_url), "0013")
    assert "provideraccount" not in tables()
    upgrade(empty_url)
    row = {"email": "a@example.org", "password_hash": "-", "created_at": "2026-03-01 12:00:00+00:00",
           "session_version": 7}
    insert = sa.text("INSERT INTO provideraccount (email, password_hash, created_at, session_version) "
                     "VALUES (:email, :password_hash, :created_at, :session_version)")
    with engine_for(empty_url).begin() as conn:
        conn.execute(insert, row)
    with pytest.raises(sa.exc.IntegrityError), engine_for(empty_url).begin() as conn:
        conn.execute(insert, row)  # one account per address
    command.downgrade(alembic_config(empty_url), "0013")
    assert "provideraccount" not in tables()
    upgrade(empty_url)
    assert "provideraccount" in tables()
