"""Sign-in to the web admin under attack (issue 12): a client address made up per guess, a cookie kept after
signing out, files under the data dir anyone on the machine could read, and no HSTS under https.

The real app through Starlette's TestClient (whose `client` is the socket's peer address), and for proxy
headers the real uvicorn that `hub serve` starts (hub/web/server.py). SQLite or PostgreSQL, as conftest says.
"""

from __future__ import annotations

import io
import os
import re
import socket
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from sqlmodel import select
from starlette.testclient import TestClient
from test_ingest import mail

from hub import accounts
from hub import config as config_module
from hub.alliance import unit_of_work
from hub.models import AuditLog
from hub.web.app import create_app
from hub.web.security import SESSION_COOKIE
from hub.web.server import WebServer

PASSWORD = "richtig-langes-passwort"
COORDINATOR = "koordination@buendnis-musterhausen.example"
VIEWER = "gast@buendnis-musterhausen.example"
WRONG = "falsch-falsch-falsch"


@pytest.fixture
def app(config, alliance):
    with unit_of_work(config) as s:
        accounts.add_user(s, COORDINATOR, PASSWORD, "coordinator")
        accounts.add_user(s, VIEWER, PASSWORD, "viewer")
    return create_app(config)


def csrf_of(text: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', text)
    assert match, "page has no CSRF field"
    return match.group(1)


def from_address(app, ip: str) -> TestClient:
    """A browser whose connection comes from `ip`."""
    return TestClient(app, follow_redirects=False, client=(ip, 40000))


def attempt(c, email: str, password: str) -> int:
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"csrf": token, "email": email, "password": password, "next": "/"}).status_code


def signed_in(app, email=COORDINATOR, ip="192.0.2.10") -> TestClient:
    c = from_address(app, ip)
    assert attempt(c, email, PASSWORD) == 303
    assert c.get("/").status_code == 200
    return c


def failed_ips(config) -> list[str]:
    with unit_of_work(config) as s:
        return list(s.exec(select(AuditLog.ip).where(AuditLog.action == "login.failed").order_by(AuditLog.id)))


# --- throttling -------------------------------------------------------------------------------------------------


def test_an_account_is_locked_whatever_address_the_guesses_come_from(app):
    for n in range(accounts.MAX_FAILED_PER_ACCOUNT):
        assert attempt(from_address(app, f"198.51.100.{n + 1}"), COORDINATOR, WRONG) == 401
    # The right password from yet another address waits too, with the clear message.
    c = from_address(app, "198.51.100.99")
    token = csrf_of(c.get("/login").text)
    response = c.post("/login", data={"csrf": token, "email": COORDINATOR, "password": PASSWORD})
    assert response.status_code == 429
    assert "15 Minuten" in response.text
    # Only that account: the other one signs in from any of those addresses.
    assert attempt(from_address(app, "198.51.100.1"), VIEWER, PASSWORD) == 303


def test_an_address_is_locked_after_guesses_at_many_accounts(app):
    spraying = from_address(app, "203.0.113.7")
    for n in range(accounts.MAX_FAILED_PER_IP):
        assert attempt(spraying, f"niemand-{n}@example.org", WRONG) == 401
    assert attempt(spraying, COORDINATOR, PASSWORD) == 429
    # The account itself is not locked: from another address it signs in.
    assert attempt(from_address(app, "192.0.2.44"), COORDINATOR, PASSWORD) == 303


# --- sessions ---------------------------------------------------------------------------------------------------


def test_signing_out_ends_every_session_of_the_account(app):
    office = signed_in(app, ip="192.0.2.10")
    laptop = signed_in(app, ip="192.0.2.11")
    stolen = office.cookies[SESSION_COOKIE]
    other = signed_in(app, VIEWER, ip="192.0.2.12")
    response = office.post("/logout", data={"csrf": csrf_of(office.get("/").text)})
    assert response.status_code == 303
    # The cookie as it was before signing out, replayed from elsewhere, opens nothing.
    thief = from_address(app, "198.51.100.66")
    assert thief.get("/", headers={"cookie": f"{SESSION_COOKIE}={stolen}"}).status_code == 303
    assert laptop.get("/").status_code == 303
    # Another account's session goes on; signing in again works.
    assert other.get("/").status_code == 200
    assert attempt(office, COORDINATOR, PASSWORD) == 303
    assert office.get("/").status_code == 200


def test_a_new_password_ends_every_session_of_the_account(app, hub_in_process, monkeypatch):
    browser = signed_in(app)
    other = signed_in(app, VIEWER, ip="192.0.2.12")
    monkeypatch.setattr(sys, "stdin", io.StringIO("ein-ganz-neues-passwort\n"))
    result = hub_in_process("users", "password", COORDINATOR, "--password-stdin")
    assert result.returncode == 0, result.stderr
    assert "Sitzungen" in result.stdout
    assert browser.get("/").status_code == 303
    assert other.get("/").status_code == 200
    assert attempt(from_address(app, "192.0.2.20"), COORDINATOR, PASSWORD) == 401
    assert attempt(from_address(app, "192.0.2.21"), COORDINATOR, "ein-ganz-neues-passwort") == 303


def test_a_new_password_is_checked_and_needs_an_account(hub_in_process, config, alliance, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("kurz\n"))
    assert hub_in_process("users", "password", "niemand@example.org", "--password-stdin").returncode != 0
    with unit_of_work(config) as s:
        accounts.add_user(s, COORDINATOR, PASSWORD, "coordinator")
    monkeypatch.setattr(sys, "stdin", io.StringIO("kurz\n"))
    result = hub_in_process("users", "password", COORDINATOR, "--password-stdin")
    assert result.returncode != 0 and "10" in result.stderr


def test_a_cookie_of_a_removed_account_does_not_fit_the_account_added_again(app, config):
    browser = signed_in(app, VIEWER)
    cookie = browser.cookies[SESSION_COOKIE]
    with unit_of_work(config) as s:
        accounts.remove_user(s, VIEWER)
    with unit_of_work(config) as s:
        accounts.add_user(s, VIEWER, "ein-anderes-passwort", "coordinator")
    replay = from_address(app, "192.0.2.13")
    assert replay.get("/", headers={"cookie": f"{SESSION_COOKIE}={cookie}"}).status_code == 303


# --- HSTS -------------------------------------------------------------------------------------------------------


def _with_base_url(config, base_url: str):
    return config.model_copy(update={"web": config.web.model_copy(update={"base_url": base_url})})


def test_hsts_when_the_base_url_is_https(config, alliance):
    secure = TestClient(create_app(_with_base_url(config, "https://hub.buendnis-musterhausen.example")))
    for path in ("/login", "/static/hub.css", "/no-such-page"):
        assert secure.get(path).headers["strict-transport-security"].startswith("max-age=31536000"), path
    plain = TestClient(create_app(config))
    assert "strict-transport-security" not in plain.get("/login").headers


# --- proxy headers through the real uvicorn ---------------------------------------------------------------------


@pytest.fixture
def web_server(app, config):
    """Start the web server of `hub serve` with these [web] settings; yields its address."""
    servers = []

    def start(**web):
        cfg = config.model_copy(update={"web": config.web.model_copy(update=web)})
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = WebServer(cfg, sock)
        server.start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http_attempt(url: str, email: str, password: str, forwarded_for: str) -> int:
    """One sign-in over a real connection from 127.0.0.1, whose X-Forwarded-For names another client."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect)
    with opener.open(f"{url}/login", timeout=30) as page:
        token = csrf_of(page.read().decode())
    form = urllib.parse.urlencode({"csrf": token, "email": email, "password": password}).encode()
    request = urllib.request.Request(f"{url}/login", data=form, headers={"X-Forwarded-For": forwarded_for})
    try:
        with opener.open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_forwarded_for_from_an_untrusted_peer_is_not_believed(web_server, config, monkeypatch):
    # uvicorn's own default (and this variable) would believe 127.0.0.1; the hub's default is nobody.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    url = web_server()
    for n in range(accounts.MAX_FAILED_PER_ACCOUNT):
        assert http_attempt(url, COORDINATOR, WRONG, f"198.51.100.{n + 1}") == 401
    assert http_attempt(url, COORDINATOR, PASSWORD, "198.51.100.99") == 429
    assert set(failed_ips(config)) == {"127.0.0.1"}


def test_forwarded_for_from_a_trusted_proxy_names_the_client(web_server, config):
    url = web_server(trusted_proxies=["127.0.0.0/8"])
    assert http_attempt(url, COORDINATOR, WRONG, "198.51.100.1") == 401
    assert http_attempt(url, COORDINATOR, WRONG, "203.0.113.5, 198.51.100.2") == 401
    assert failed_ips(config) == ["198.51.100.1", "198.51.100.2"]
    # Behind the proxy, per account still holds whatever addresses the proxy reports.
    for n in range(3, accounts.MAX_FAILED_PER_ACCOUNT + 1):
        assert http_attempt(url, COORDINATOR, WRONG, f"198.51.100.{n}") == 401
    assert http_attempt(url, COORDINATOR, PASSWORD, "198.51.100.99") == 429


@pytest.mark.parametrize("value", ["*", "localhost", "10.0.0.1/8", "300.1.1.1"])
def test_trusted_proxies_are_addresses_or_networks(hub_dir, value):
    path = hub_dir / "config" / "hub.toml"
    text = path.read_text(encoding="utf-8").replace("[web]\n", f'[web]\ntrusted_proxies = ["{value}"]\n', 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(config_module.ConfigError) as info:
        config_module.load(path)
    assert "web.trusted_proxies" in str(info.value) and "keine IP-Adresse" in str(info.value)


def test_trusted_proxies_default_to_none(config):
    assert config.web.trusted_proxies == []


# --- files under the data dir -----------------------------------------------------------------------------------


def test_files_under_the_data_dir_are_the_hubs_alone(hub, hub_dir, db_url):
    env = {"HUB_DATABASE_URL": f"sqlite:///{hub_dir / 'var' / 'hub.db'}"} if db_url.startswith("sqlite") else {}
    previous = os.umask(0o022)  # what a login shell or systemd would give
    try:
        steps = [("init",), ("partners", "import", "config/partners.example.csv"), ("ingest", "-"),
                 ("outbox", "flush")]
        for args in steps:
            result = hub(*args, input=mail() if args == ("ingest", "-") else None, env=env)
            assert result.returncode == 0, (args, result.stderr)
    finally:
        os.umask(previous)
    var = hub_dir / "var"
    found = {p.relative_to(var).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in var.rglob("*")}
    names = " ".join(found)
    assert "secret.key" in names and ".eml" in names and "outbox" in names, names
    if env:
        assert "hub.db" in found
    open_to_others = {name: oct(mode) for name, mode in found.items() if mode & 0o077}
    assert open_to_others == {}
