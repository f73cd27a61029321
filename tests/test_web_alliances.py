"""The web admins of an installation of many alliances on one port (issue 17): each alliance's `[web] base_url`
names its host, or a path of its own on a host they share (`/a/<slug>`); a request goes to the alliance of the
address it asks for, a session of one alliance opens nothing in another, and an unknown address gets no
alliance's page."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient
from test_alliances_config import GROUPS, _installation_only
from test_web import PASSWORD, csrf_of

from hub import accounts, filing
from hub import config as config_module
from hub.alliance import unit_of_work
from hub.config import ConfigError
from hub.web.hosts import ByAddress
from hub.web.security import SESSION_COOKIE

MARKS = {"eins": "Nur-im-Ersten-Bündnis", "zwei": "Nur-im-Zweiten-Bündnis"}
COORDINATOR = "koordination@example.org"


@pytest.fixture
def alliances(hub, hub_dir):
    return _alliances(hub, hub_dir, lambda slug: f"http://{slug}.example.test")


@pytest.fixture
def alliances_on_one_host(hub, hub_dir):
    return _alliances(hub, hub_dir, lambda slug: f"http://hub.example.test/a/{slug}")


def _alliances(hub, hub_dir, base_url):
    path = hub_dir / "config" / "hub.toml"
    path.write_text(_installation_only(path.read_text(encoding="utf-8")), encoding="utf-8")
    configs = {}
    for slug in MARKS:
        assert hub("alliances", "add", slug, "--name", slug.title(), "--domain", f"{slug}.example").returncode == 0
        own = hub_dir / "config" / "alliances" / f"{slug}.toml"
        own.write_text(own.read_text(encoding="utf-8") + GROUPS + f'\n[web]\nbase_url = "{base_url(slug)}"\n',
                       encoding="utf-8")
        assert hub("--alliance", slug, "init").returncode == 0
        configs[slug] = config_module.load(path, slug)
        with unit_of_work(configs[slug]) as session:
            accounts.add_user(session, COORDINATOR, PASSWORD, "coordinator")
        raw = (f"From: fremd@example.org\r\nTo: geschaeftsstelle@{slug}.example\r\nSubject: Frage {MARKS[slug]}\r\n"
               f"Message-ID: <{slug}@example.org>\r\n\r\nText\r\n").encode()
        assert filing.ingest_bytes(configs[slug], raw, via="smtp", envelope_from="fremd@example.org",
                                   envelope_to=[f"geschaeftsstelle@{slug}.example"]).status == "held"
    return configs


def _signed_in(app, slug: str, base_url: str | None = None, email: str = COORDINATOR,
               password: str = PASSWORD) -> TestClient:
    c = TestClient(app, base_url=base_url or f"http://{slug}.example.test", follow_redirects=False)
    token = csrf_of(c.get("login"))
    response = c.post("login", data={"csrf": token, "email": email, "password": password, "next": "/"})
    assert response.status_code == 303, response.text
    return c


def test_each_host_is_its_alliances_admin_and_a_session_stays_in_its_alliance(alliances):
    app = ByAddress(list(alliances.values()))
    for own, other in (("eins", "zwei"), ("zwei", "eins")):
        review = _signed_in(app, own).get("/review")
        assert review.status_code == 200
        assert MARKS[own] in review.text and MARKS[other] not in review.text
    stolen = _signed_in(app, "eins").cookies.get(SESSION_COOKIE)
    elsewhere = TestClient(app, base_url="http://zwei.example.test", follow_redirects=False)
    elsewhere.cookies.set(SESSION_COOKIE, stolen)
    refused = elsewhere.get("/review")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    unknown = TestClient(app, base_url="http://drei.example.test").get("/login")
    assert unknown.status_code == 404 and "kein Bündnis" in unknown.text


def test_two_alliances_at_one_address_are_refused(alliances, hub_dir):
    own = hub_dir / "config" / "alliances" / "zwei.toml"
    own.write_text(own.read_text(encoding="utf-8").replace("zwei.example.test", "eins.example.test"),
                   encoding="utf-8")
    configs = [config_module.load(hub_dir / "config" / "hub.toml", slug) for slug in MARKS]
    with pytest.raises(ConfigError, match="eins.example.test"):
        ByAddress(configs)


def test_an_alliance_sets_only_its_web_address_of_the_machines_sections(hub, alliances, hub_dir):
    own = hub_dir / "config" / "alliances" / "eins.toml"
    own.write_text(own.read_text(encoding="utf-8") + "port = 9999\n", encoding="utf-8")
    refused = hub("--alliance", "eins", "groups", "list")
    assert refused.returncode == 2 and "web.port" in refused.stderr and "hub.toml" in refused.stderr


def test_alliances_on_one_host_each_have_their_admin_under_their_own_path(alliances_on_one_host):
    app = ByAddress(list(alliances_on_one_host.values()))
    for own, other in (("eins", "zwei"), ("zwei", "eins")):
        root = f"/a/{own}"
        c = _signed_in(app, own, f"http://hub.example.test{root}/")
        session_cookie = next(cookie for cookie in c.cookies.jar if cookie.name == SESSION_COOKIE)
        assert session_cookie.path == f"{root}/"  # the browser never sends it to the other alliance's pages
        review = c.get("review")
        assert review.status_code == 200
        assert MARKS[own] in review.text and MARKS[other] not in review.text
        links = re.findall(r'(?:href|action|src)="(/[^"]*)"', review.text)
        assert links and all(link.startswith(f"{root}/") for link in links), [
            link for link in links if not link.startswith(f"{root}/")]
        message = re.search(rf'href="{root}/(messages/\d+)"', review.text).group(1)
        assert MARKS[own] in c.get(message).text  # (the client's paths are below its base_url, the root)
        signed_out = c.post("logout", data={"csrf": csrf_of(review)})
        assert signed_out.status_code == 303 and signed_out.headers["location"] == f"{root}/login"
    anonymous = TestClient(app, base_url="http://hub.example.test", follow_redirects=False)
    asked = anonymous.get("/a/eins/review")
    assert asked.status_code == 303 and asked.headers["location"] == "/a/eins/login?next=%2Freview"
    assert anonymous.get("/a/eins").headers["location"] == "/a/eins/"
    public = anonymous.get("/a/zwei/subscribe")  # the page a newsletter's links lead to (base_url + path)
    assert public.status_code == 200 and 'action="/a/zwei/subscribe"' in public.text
    assert anonymous.get("/a/drei/login").status_code == 404
    assert anonymous.get("/login").status_code == 404


def test_two_alliances_at_one_path_of_one_host_are_refused(alliances_on_one_host, hub_dir):
    own = hub_dir / "config" / "alliances" / "zwei.toml"
    own.write_text(own.read_text(encoding="utf-8").replace("/a/zwei", "/a/eins/"), encoding="utf-8")
    configs = [config_module.load(hub_dir / "config" / "hub.toml", slug) for slug in MARKS]
    with pytest.raises(ConfigError, match="hub.example.test/a/eins"):
        ByAddress(configs)
