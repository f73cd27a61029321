"""Tokens and form fields that are not well-formed — non-ASCII, cut off, garbled — give a page that says so,
never an HTTP 500 (hmac.compare_digest raised TypeError on non-ASCII text)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from hub import accounts
from hub.alliance import unit_of_work
from hub.web.app import create_app
from hub.web.security import SESSION_COOKIE

PASSWORD = "richtig-langes-passwort"
ODD = ["ä", "zz.ä", "1.ääää", "\u200b", "x" * 500, "1.", ".", "é.é.é"]


@pytest.fixture
def web(config, alliance):
    with unit_of_work(config) as s:
        accounts.add_user(s, "koordination@buendnis-musterhausen.example", PASSWORD, "coordinator")
    return TestClient(create_app(config), follow_redirects=False, raise_server_exceptions=False)


@pytest.mark.parametrize("token", ODD)
def test_odd_unsubscribe_and_confirm_tokens_are_refused_with_a_page(web, token):
    for path in (f"/unsubscribe/{quote(token)}", f"/subscribe/confirm/{quote(token)}"):
        shown = web.get(path)
        assert shown.status_code in (200, 400, 404), (path, shown.status_code)
        posted = web.post(path, data={})
        assert posted.status_code in (400, 403, 404), (path, posted.status_code)


@pytest.mark.parametrize("value", ODD)
def test_odd_session_cookies_and_csrf_fields_never_break_a_page(web, value):
    cookie = {"cookie": f"{SESSION_COOKIE}={value}".encode()}  # raw bytes, as a hostile client sends them
    assert web.get("/", headers=cookie).status_code in (303, 302)  # to the sign-in page, as without a cookie
    assert web.get("/login", headers=cookie).status_code == 200
    refused = web.post("/login", data={"csrf": value, "email": "a@b.example", "password": "x"}, headers=cookie)
    assert refused.status_code in (400, 403)


def test_a_valid_sign_in_still_works_after_odd_input(web):
    assert web.get("/login", headers={"cookie": f"{SESSION_COOKIE}=ä.ä".encode()}).status_code == 200
    page = web.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    signed_in = web.post("/login", data={"csrf": csrf, "email": "koordination@buendnis-musterhausen.example",
                                         "password": PASSWORD, "next": "/"})
    assert signed_in.status_code == 303
