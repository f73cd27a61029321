"""The web admin's security, through Starlette's TestClient on the real app and database.

Sign-in for every page but the public ones, viewers who cannot change anything, CSRF on every form,
rate-limited sign-in, the audit log, and mail content that never runs in the browser.
"""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from hub import accounts as users
from hub.alliance import unit_of_work
from hub.models import AuditLog, InboundMessage, Partner
from hub.web.app import create_app
from hub.web.security import SESSION_COOKIE

PASSWORD = "richtig-langes-passwort"
PUBLIC_PAGES = ["/login", "/subscribe", "/healthz"]


@pytest.fixture
def app(config, alliance):
    with unit_of_work(config) as s:
        users.add_user(s, "koordination@buendnis-musterhausen.example", PASSWORD, "coordinator")
        users.add_user(s, "gast@buendnis-musterhausen.example", PASSWORD, "viewer")
    return create_app(config)


def client(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def csrf_of(response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert match, "page has no CSRF field"
    return match.group(1)


def sign_in(app, email="koordination@buendnis-musterhausen.example", password=PASSWORD) -> TestClient:
    c = client(app)
    token = csrf_of(c.get("/login"))
    response = c.post("/login", data={"csrf": token, "email": email, "password": password, "next": "/"})
    assert response.status_code == 303, response.text
    return c


def page_csrf(c: TestClient, path: str = "/") -> str:
    return csrf_of(c.get(path))


def held_message(config, **values) -> int:
    defaults = dict(message_id="<held@example.org>", content_hash="h1", raw_path="messages/x.eml",
                    sender="unbekannt@example.org", subject="Protokoll", kind="protocol", status="held",
                    reason="Absender unbekannt", text="Text")
    with unit_of_work(config) as s:
        row = InboundMessage(**{**defaults, **values})
        s.add(row)
        s.flush()
        return row.id


def concrete(path: str, message_id: int, partner_id: int) -> str:
    return path.replace("{id:int}", str(message_id if "message" in path else partner_id)).replace("{token}", "t")


def test_every_admin_page_needs_sign_in(app, config, partners):
    message_id = held_message(config)
    web = app.state.web
    anonymous = client(app)
    gets = [r.path for r in web.routes if "GET" in r.methods and r.path not in web.public_paths]
    assert "/" in gets and "/review" in gets and "/partners" in gets and "/audit" in gets
    for path in gets:
        response = anonymous.get(concrete(path, message_id, 1))
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
    for path in web.change_routes:
        assert anonymous.post(concrete(path, message_id, 1), data={"csrf": "x"}).status_code == 403, path
    for path in PUBLIC_PAGES:
        assert anonymous.get(path).status_code == 200, path


def test_signed_in_pages_render(app, config, partners):
    message_id = held_message(config)
    c = sign_in(app)
    for path in ["/", "/review", f"/messages/{message_id}", "/protocols", "/partners", "/groups", "/audit",
                 "/partners/new", "/partners/import", "/schedule", "/newsletter", "/outbox"]:
        response = c.get(path)
        assert response.status_code == 200, path
        assert "Bündnis für Familie Musterhausen" in response.text


def test_a_viewer_cannot_change_anything(app, config, partners):
    message_id = held_message(config)
    with unit_of_work(config) as s:
        partner_id = s.exec(select(Partner.id)).first()
    viewer = sign_in(app, "gast@buendnis-musterhausen.example")
    token = page_csrf(viewer)
    assert app.state.web.change_routes, "no change routes registered"
    for path in app.state.web.change_routes:
        response = viewer.post(concrete(path, message_id, partner_id), data={"csrf": token, "group": "gesundheit"})
        assert response.status_code == 403, path
    with unit_of_work(config) as s:
        assert s.get(InboundMessage, message_id).status == "held"
        assert s.exec(select(AuditLog).where(AuditLog.actor == "gast@buendnis-musterhausen.example",
                                             AuditLog.action != "login")).all() == []
    # The viewer sees no buttons that would only be refused.
    page = viewer.get(f"/messages/{message_id}").text
    assert "/release" not in page and "/reject" not in page


def test_posts_without_a_valid_csrf_token_are_refused(app, config, partners):
    c = sign_in(app)
    with unit_of_work(config) as s:
        partner = s.exec(select(Partner).where(Partner.left_at.is_(None))).first()
    for data in ({}, {"csrf": ""}, {"csrf": "forged"}):
        response = c.post(f"/partners/{partner.id}/leave", data=data)
        assert response.status_code == 403
    # A token from another session is worth nothing here.
    other = page_csrf(sign_in(app))
    assert c.post(f"/partners/{partner.id}/leave", data={"csrf": other}).status_code == 403
    with unit_of_work(config) as s:
        assert s.get(Partner, partner.id).left_at is None
    # The login form has one too, and sign-in changes the session (and so the token).
    anonymous = client(app)
    before = page_csrf(anonymous, "/login")
    assert anonymous.post("/login", data={"email": "koordination@buendnis-musterhausen.example",
                                          "password": PASSWORD}).status_code == 403
    assert anonymous.post("/login", data={"csrf": before, "email": "koordination@buendnis-musterhausen.example",
                                          "password": PASSWORD, "next": "/"}).status_code == 303
    assert page_csrf(anonymous) != before


def test_a_change_is_written_to_the_audit_log(app, config, partners):
    c = sign_in(app)
    with unit_of_work(config) as s:
        partner = s.exec(select(Partner).where(Partner.left_at.is_(None))).first()
    response = c.post(f"/partners/{partner.id}/leave", data={"csrf": page_csrf(c)})
    assert response.status_code == 303
    with unit_of_work(config) as s:
        assert s.get(Partner, partner.id).left_at is not None
        row = s.exec(select(AuditLog).where(AuditLog.action == "partner.leave")).one()
        assert row.actor == "koordination@buendnis-musterhausen.example"
        assert row.target == f"partner:{partner.id}"
    assert "Austritt eingetragen" in c.get("/audit").text  # the action in words, not its code


def test_session_cookie_flags_and_security_headers(app, config):
    c = client(app)
    response = c.get("/login")
    cookie = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # base_url is http here
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert c.get("/static/hub.css").headers["x-content-type-options"] == "nosniff"


def test_secure_cookie_behind_https(config, alliance):
    secure = create_app(config.model_copy(update={"web": config.web.model_copy(
        update={"base_url": "https://hub.buendnis-musterhausen.example"})}))
    assert "Secure" in client(secure).get("/login").headers["set-cookie"]


def test_sign_in_is_rate_limited_per_address_and_place(app, config):
    c = client(app)
    token = csrf_of(c.get("/login"))
    email = "koordination@buendnis-musterhausen.example"
    for _ in range(users.MAX_FAILED_PER_ACCOUNT):
        response = c.post("/login", data={"csrf": token, "email": email, "password": "falsch-falsch"})
        assert response.status_code == 401
        assert "stimmen nicht" in response.text
    # Now even the right password is refused for a while, with a clear message.
    response = c.post("/login", data={"csrf": token, "email": email, "password": PASSWORD})
    assert response.status_code == 429
    assert "15 Minuten" in response.text
    # Another account from the same place still works.
    assert c.post("/login", data={"csrf": token, "email": "gast@buendnis-musterhausen.example",
                                  "password": PASSWORD, "next": "/"}).status_code == 303


def test_removed_user_is_signed_out_at_once(app, config):
    c = sign_in(app, "gast@buendnis-musterhausen.example")
    assert c.get("/").status_code == 200
    with unit_of_work(config) as s:
        users.remove_user(s, "gast@buendnis-musterhausen.example")
    assert c.get("/").status_code == 303


def test_next_after_sign_in_stays_on_this_site(app):
    c = client(app)
    token = csrf_of(c.get("/login"))
    response = c.post("/login", data={"csrf": token, "email": "koordination@buendnis-musterhausen.example",
                                      "password": PASSWORD, "next": "//evil.example/"})
    assert response.headers["location"] == "/"


HOSTILE_TEXT = 'Ergebnis <script>alert("x")</script> und <a href="javascript:alert(1)">Klick</a>'
HOSTILE_HTML = ('<p onclick="alert(2)">Hallo</p><script>alert("x")</script>'
                '<a href="javascript:alert(1)">Klick</a><img src="https://tracker.example/p.gif">')


def test_hostile_protocol_never_runs_or_links(app, config, partners):
    message_id = held_message(config, status="filed", text=HOSTILE_TEXT, html=HOSTILE_HTML,
                              subject='<script>alert("s")</script>', reason="")
    c = sign_in(app)
    for path in (f"/messages/{message_id}", "/protocols?q=Ergebnis", "/"):
        page = c.get(path).text
        assert "<script>alert" not in page, path
        assert 'href="javascript:' not in page, path
        assert "&lt;script&gt;" in page, path
    page = c.get(f"/messages/{message_id}").text
    assert f'<iframe class="mailhtml" sandbox="" src="/messages/{message_id}/html"' in page

    frame = c.get(f"/messages/{message_id}/html")
    assert "<script" not in frame.text and "javascript:" not in frame.text and "onclick" not in frame.text
    assert "Hallo" in frame.text and "Klick" in frame.text
    csp = frame.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"


def test_protocols_search_by_text_group_and_date(app, config, partners):
    from hub import alliance as alliance_module

    with unit_of_work(config) as s:
        groups = {g.slug: g.id for g in alliance_module.groups(s, alliance_module.current(s, config))}
    slug, other = sorted(groups)[:2]
    held_message(config, message_id="<a@x>", content_hash="a", status="filed", group_id=groups[slug],
                 subject="Sitzung März", text="Wir planen das Sommerfest 100% gemeinsam")
    held_message(config, message_id="<b@x>", content_hash="b", status="filed", group_id=groups[other],
                 subject="Sitzung April", text="Familienpass und Ferienprogramm")
    c = sign_in(app)
    assert "Sitzung März" in c.get("/protocols?q=sommerfest").text
    assert "Sitzung April" not in c.get("/protocols?q=sommerfest").text
    assert "1 Protokoll gefunden" in c.get("/protocols?q=100%25").text
    assert "0 Protokolle gefunden" in c.get("/protocols?q=_%25").text
    assert "Sitzung April" in c.get(f"/protocols?group={other}").text
    assert "Sitzung März" not in c.get(f"/protocols?group={other}").text
    assert "0 Protokolle" in c.get("/protocols?from=2099-01-01").text


def test_partner_add_edit_and_csv_round_trip(app, config, partners):
    c = sign_in(app)
    token = page_csrf(c, "/partners/new")
    response = c.post("/partners/new", data={"csrf": token, "email": "Neu@Example.org", "name": "Neue Person",
                                             "organisation": "Kita Sonne", "role": "member",
                                             "groups": ["gesundheit"], "newsletter": "yes"})
    assert response.status_code == 303
    page = c.get(response.headers["location"])
    assert "Neue Person" in page.text and "Kita Sonne" in page.text
    partner_id = int(response.headers["location"].rsplit("/", 1)[1])
    response = c.post(f"/partners/{partner_id}", data={"csrf": token, "email": "neu@example.org",
                                                       "name": "Neue Person", "organisation": "Kita Mond",
                                                       "role": "member"})
    assert response.status_code == 303
    with unit_of_work(config) as s:
        partner = s.get(Partner, partner_id)
        assert partner.organisation == "Kita Mond" and partner.newsletter is False
    history = c.get(f"/partners/{partner_id}").text
    assert history.count("<td>Verwaltung im Browser") == 2  # consent given, then withdrawn, both from the web

    exported = c.get("/partners/export.csv")
    assert exported.headers["content-disposition"].startswith("attachment")
    assert "neu@example.org" in exported.text

    csv_text = "name,organisation,email,groups,role,newsletter\nZweite,Verein,zweite@example.org,,member,yes\n"
    preview = c.post("/partners/import", data={"csrf": token},
                     files={"file": ("p.csv", csv_text.encode(), "text/csv")})
    assert preview.status_code == 200 and "noch nichts gespeichert" in preview.text
    with unit_of_work(config) as s:
        assert s.exec(select(Partner).where(Partner.email_key == "zweite@example.org")).first() is None
    done = c.post("/partners/import", data={"csrf": csrf_of(preview), "confirm": "1", "csv_text": csv_text})
    assert done.status_code == 303
    with unit_of_work(config) as s:
        assert s.exec(select(Partner).where(Partner.email_key == "zweite@example.org")).first() is not None
    bad = c.post("/partners/import", data={"csrf": token},
                 files={"file": ("p.csv", b"name,email\nx,y\n", "text/csv")})
    assert bad.status_code == 400 and "nichts wurde geändert" in bad.text


def test_users_cli_add_list_remove(hub, config, alliance):
    result = hub("users", "add", "Neu@Buendnis-Musterhausen.example", "--role", "viewer", "--password-stdin",
                 input="ein-gutes-passwort\n")
    assert result.returncode == 0, result.stderr
    listed = hub("users", "list", "--json")
    assert '"email": "neu@buendnis-musterhausen.example"' in listed.stdout and '"role": "viewer"' in listed.stdout
    with unit_of_work(config) as s:
        user = users.find_user(s, "neu@buendnis-musterhausen.example")
        assert user.password_hash.startswith("$argon2id$") and "ein-gutes-passwort" not in user.password_hash
    short = hub("users", "add", "b@example.org", "--role", "viewer", "--password-stdin", input="kurz\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    twice = hub("users", "add", "neu@buendnis-musterhausen.example", "--role", "coordinator", "--password-stdin",
                input="ein-gutes-passwort\n")
    assert twice.returncode == 2 and "already has an account" in twice.stderr
    assert hub("users", "remove", "neu@buendnis-musterhausen.example").returncode == 0
    assert "(keine)" in hub("users", "list").stdout


def test_partner_data_download_and_erasure(app, config, partners):
    c = sign_in(app)
    with unit_of_work(config) as s:
        partner = s.exec(select(Partner).where(Partner.left_at.is_(None))).first()
    data = c.get(f"/partners/{partner.id}/data.json")
    assert data.headers["content-disposition"].startswith("attachment")
    assert data.json()["partner"]["email"] == partner.email
    token = page_csrf(c, f"/partners/{partner.id}")
    refused = c.post(f"/partners/{partner.id}/forget", data={"csrf": token})
    assert refused.status_code == 400 and "Häkchen" in refused.text
    assert c.post(f"/partners/{partner.id}/forget", data={"csrf": token, "confirm": "yes"}).status_code == 303
    with unit_of_work(config) as s:
        gone = s.get(Partner, partner.id)
        assert gone.email is None and gone.forgotten_at is not None
    assert partner.email not in c.get("/partners?all=1").text


def test_outbox_page_shows_states_and_retries_failed(app, config, partners):
    from hub.models import Delivery, OutboundMail
    from hub.outbound import outbox

    with unit_of_work(config) as s:
        mail = OutboundMail(kind="relay", subject="Einladung AG", from_address="geschaeftsstelle@example.org",
                            text="Hallo")
        s.add(mail)
        s.flush()
        outbox.enqueue(s, mail, [outbox.Recipient("a@example.org"), outbox.Recipient("b@example.org")])
        failed = s.exec(select(Delivery).where(Delivery.recipient == "a@example.org")).one()
        outbox.mark_failed(s, failed, "550 5.1.1 <a@example.org>: no such user")
        failed_id = failed.id
    c = sign_in(app)
    assert "fehlgeschlagen (1)" in c.get("/outbox").text
    page = c.get("/outbox?state=failed").text
    assert "550 5.1.1" in page and "b@example.org" not in page
    response = c.post("/outbox/retry-failed", data={"csrf": page_csrf(c, "/outbox")})
    assert response.status_code == 303
    with unit_of_work(config) as s:
        assert s.get(Delivery, failed_id).state == "queued"
        assert s.exec(select(AuditLog).where(AuditLog.action == "outbox.retry_failed")).one().detail == {"count": 1}


def test_attachments_download_as_files_never_as_pages(app, config, partners):
    import hashlib

    from hub.models import Blob, MessageAttachment

    message_id = held_message(config)
    evil = b"<html><script>alert(1)</script></html>"
    sha = hashlib.sha256(evil).hexdigest()
    path = config.data_dir / "blobs" / sha[:2] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(evil)
    with unit_of_work(config) as s:
        s.add(Blob(sha256=sha, size=len(evil), content_type="text/html", path=f"blobs/{sha[:2]}/{sha}"))
        html = MessageAttachment(message_id=message_id, blob_sha256=sha, filename='pro"tokoll.html',
                                 content_type="text/html")
        pdf = MessageAttachment(message_id=message_id, blob_sha256=sha, filename="protokoll.pdf",
                                content_type="application/pdf", position=1)
        s.add(html)
        s.add(pdf)
        s.flush()
        html_id, pdf_id = html.id, pdf.id
    c = sign_in(app)
    assert f"/attachments/{html_id}" in c.get(f"/messages/{message_id}").text
    response = c.get(f"/attachments/{html_id}")
    assert response.content == evil
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert 'pro"tokoll' not in response.headers["content-disposition"]
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert c.get(f"/attachments/{pdf_id}").headers["content-type"] == "application/pdf"
    assert client(app).get(f"/attachments/{pdf_id}").status_code == 303


def test_web_server_service_starts_and_stops(config, alliance):
    import socket
    import urllib.request

    from hub.errors import HubError
    from hub.web.server import WebServer, bind

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    service = WebServer(config, sock)
    service.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.read() == b"ok\n"
            assert response.headers["X-Frame-Options"] == "DENY"
        taken = config.model_copy(update={"web": config.web.model_copy(update={"port": port})})
        with pytest.raises(HubError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind(taken)
        # In `hub serve` a taken port costs the web admin only, not the mail office.
        second = WebServer(taken)
        second.start()
        assert not second.running
        second.stop()
    finally:
        service.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_new_meeting_shows_what_it_will_send_before_saving(app, config, partners):
    from datetime import date, timedelta

    from hub.models import Meeting

    c = sign_in(app)
    token = page_csrf(c, "/schedule")
    day = (date.today() + timedelta(days=30)).isoformat()
    form = {"csrf": token, "group": "gesundheit", "date": day, "time": "18:00", "minutes": "90",
            "location": "Rathaus, Raum 3", "title": "", "agenda": "Sommerfest"}
    preview = c.post("/schedule/meetings/new", data=form)
    assert preview.status_code == 200
    assert "Noch ist nichts gespeichert" in preview.text
    assert "Einladung" in preview.text and "Erinnerung" in preview.text and "Mitglieder AG Gesundheit" in preview.text
    assert "Dr. Jürgen Weiß" in preview.text  # a member of AG Gesundheit in the example partners, by name
    with unit_of_work(config) as s:
        assert s.exec(select(Meeting)).all() == []
    saved = c.post("/schedule/meetings/new", data={**form, "csrf": csrf_of(preview), "confirm": "1"})
    assert saved.status_code == 303
    with unit_of_work(config) as s:
        meeting = s.exec(select(Meeting)).one()
        assert meeting.location == "Rathaus, Raum 3" and meeting.status == "confirmed"
        row = s.exec(select(AuditLog).where(AuditLog.action == "meeting.add")).one()
        assert any(p.startswith(f"meeting:{meeting.id}:invitation@") for p in row.detail["planned"])
    timeline = c.get("/schedule").text
    assert "Einladung – Treffen AG Gesundheit" in timeline
    assert "Einladung – Treffen AG Gesundheit" in c.get("/").text
    page = c.get(f"/schedule/meetings/{meeting.id}").text
    assert "Rathaus, Raum 3" in page and "Erinnerung" in page
    past = c.post("/schedule/meetings/new", data={**form, "date": "2001-01-01"})
    assert past.status_code == 400


def test_meeting_form_takes_german_dates_and_all_day_never_midnight(app, config, partners):
    from hub.models import Meeting

    c = sign_in(app)
    token = page_csrf(c, "/schedule")
    form = {"csrf": token, "group": "aktionstage", "date": "20.6.30", "time": "", "minutes": "",
            "location": "Marktplatz", "title": "Familienfest", "agenda": "", "confirm": "1"}
    no_time = c.post("/schedule/meetings/new", data=form)
    assert no_time.status_code == 400 and "ganztägig" in no_time.text
    typed = c.post("/schedule/meetings/new", data={**form, "csrf": csrf_of(no_time), "time": "18.30 Uhr",
                                                  "minutes": "90", "title": "Planung"})
    assert typed.status_code == 303
    whole_day = c.post("/schedule/meetings/new", data={**form, "csrf": page_csrf(c, "/schedule"), "all_day": "1"})
    assert whole_day.status_code == 303
    with unit_of_work(config) as s:
        meetings = {m.title: m for m in s.exec(select(Meeting))}
    planning, fest = meetings["Planung"], meetings["Familienfest"]
    assert not planning.all_day and planning.start.astimezone(config.tz).strftime("%d.%m.%Y %H:%M") == \
        "20.06.2030 18:30"
    assert fest.all_day and fest.start.astimezone(config.tz).strftime("%d.%m.%Y %H:%M") == "20.06.2030 00:00"
    page = c.get(f"/schedule/meetings/{fest.id}").text
    assert 'name="all_day" value="1" checked' in page


def test_pause_resume_and_run_now(app, config, partners):
    from datetime import timedelta

    from hub.db import utcnow
    from hub.models import Delivery
    from hub.scheduler import meetings, policies

    with unit_of_work(config) as s:
        from hub import alliance as alliance_module

        alliance = alliance_module.current(s, config)
        meeting = meetings.add(s, config, alliance, "gesundheit", utcnow() + timedelta(days=30), location="Rathaus")
        job = f"meeting:{meeting.id}:invitation"
    c = sign_in(app)
    token = page_csrf(c, "/schedule")
    preview = c.post("/schedule/pause", data={"csrf": token, "job": job})
    assert "(angehalten)" in preview.text and "Noch ist nichts gespeichert" in preview.text
    with unit_of_work(config) as s:
        assert policies.paused(s, alliance.id) == []
    assert c.post("/schedule/pause", data={"csrf": token, "job": job, "confirm": "1"}).status_code == 303
    with unit_of_work(config) as s:
        assert policies.paused(s, alliance.id) == [job]
    assert "angehalten" in c.get(f"/schedule/meetings/{meeting.id}").text
    c.post("/schedule/pause", data={"csrf": token, "job": job, "resume": "1", "confirm": "1"})
    with unit_of_work(config) as s:
        assert policies.paused(s, alliance.id) == []

    key = next(k for k in re.findall(r'name="key" value="([^"]+)"', c.get("/schedule").text) if k.startswith(job))
    confirm = c.post("/schedule/run-now", data={"csrf": token, "key": key})
    assert "Jetzt senden" in confirm.text and "Mitglieder AG Gesundheit" in confirm.text
    with unit_of_work(config) as s:
        assert s.exec(select(Delivery)).all() == []
    done = c.post("/schedule/run-now", data={"csrf": token, "key": key, "confirm": "1"})
    assert done.status_code == 303
    with unit_of_work(config) as s:
        queued = s.exec(select(Delivery)).all()
        assert queued and all(d.state == "queued" for d in queued)
        assert s.exec(select(AuditLog).where(AuditLog.action == "schedule.run_now")).one().detail["queued"] == len(
            queued)


def test_newsletter_results_and_progress(app, config, partners):
    from hub.models import Delivery, OutboundMail
    from hub.outbound import outbox

    with unit_of_work(config) as s:
        mail = OutboundMail(kind="newsletter", subject="Rundbrief Mai", from_address="geschaeftsstelle@example.org",
                            text="Hallo", bulk=True, source_ref="newsletter:1")
        s.add(mail)
        s.flush()
        outbox.enqueue(s, mail, [outbox.Recipient(f"p{i}@example.org") for i in range(4)])
        rows = s.exec(select(Delivery).order_by(Delivery.id)).all()
        outbox.mark_sent(s, rows[0], "250 ok")
        outbox.mark_failed(s, rows[1], "550 5.1.1 unknown user")
        mail_id = mail.id
    c = sign_in(app)
    assert "Rundbrief Mai" in c.get("/newsletter").text
    assert c.get(f"/newsletter/mails/{mail_id}/progress").json() == {
        "total": 4, "done": 2, "finished": False, "counts": {"queued": 2, "sent": 1, "failed": 1},
        "text": "2 von 4 erledigt (2 wartet, 1 gesendet, 1 fehlgeschlagen)"}
    page = c.get(f"/newsletter/mails/{mail_id}").text
    assert "550 5.1.1 unknown user" in page and 'data-progress-url="/newsletter/mails/' in page


def test_release_and_reject_from_the_review_queue(app, config, partners):
    from hub import alliance as alliance_module

    with unit_of_work(config) as s:
        group = alliance_module.groups(s, alliance_module.current(s, config))[0]
    first = held_message(config, group_id=group.id)
    second = held_message(config, message_id="<other@example.org>", content_hash="h2", subject="Werbung")
    c = sign_in(app)
    token = page_csrf(c, "/review")
    assert f"Freigeben für {group.name}" in c.get(f"/messages/{first}").text
    assert c.post(f"/messages/{first}/release", data={"csrf": token}).status_code == 303
    assert c.post(f"/messages/{second}/reject", data={"csrf": token}).status_code == 303
    with unit_of_work(config) as s:
        assert s.get(InboundMessage, first).status == "filed"
        assert s.get(InboundMessage, second).status == "rejected"
        actions = {a.action for a in s.exec(select(AuditLog))}
        assert {"review.release", "review.reject"} <= actions
    assert "Nichts wartet auf Prüfung" in c.get("/review").text
    again = c.post(f"/messages/{first}/release", data={"csrf": token})
    assert again.status_code == 400 and "wartet nicht mehr auf Prüfung" in again.text


def test_public_subscribe_confirm_and_unsubscribe(app, config, partners):
    from urllib.parse import urlsplit

    from hub import mailings
    from hub.models import Delivery

    anonymous = client(app)
    form = anonymous.get("/subscribe")
    refused = anonymous.post("/subscribe", data={"csrf": csrf_of(form), "email": "neu@familie.example"})
    assert refused.status_code == 400 and "bestätigen Sie" in refused.text
    sent = anonymous.post("/subscribe", data={"csrf": csrf_of(form), "email": "neu@familie.example",
                                              "name": "Nina Neu", "consent": "yes"})
    assert sent.status_code == 200 and "Fast geschafft" in sent.text
    with unit_of_work(config) as s:
        assert s.exec(select(Partner).where(Partner.email_key == "neu@familie.example")).first() is None
        delivery = s.exec(select(Delivery).where(Delivery.recipient == "neu@familie.example")).one()
        from hub.models import OutboundMail

        text = s.get(OutboundMail, delivery.mail_id).text
    path = next(urlsplit(w).path for w in text.split() if "/subscribe/confirm/" in w)
    landing = anonymous.get(path)
    assert landing.status_code == 200 and "Anmeldung bestätigen" in landing.text
    with unit_of_work(config) as s:  # a link scanner's GET confirms nothing
        assert s.exec(select(Partner).where(Partner.email_key == "neu@familie.example")).first() is None
    done = anonymous.post(path, data={"csrf": csrf_of(landing)})
    assert done.status_code == 200 and "Vielen Dank" in done.text
    with unit_of_work(config) as s:
        partner = s.exec(select(Partner).where(Partner.email_key == "neu@familie.example")).one()
        assert partner.newsletter
        token = mailings.unsubscribe_token(config, partner.id)
    page = anonymous.get(f"/unsubscribe/{token}")
    assert "Ja, Newsletter abbestellen" in page.text
    with unit_of_work(config) as s:
        assert s.get(Partner, partner.id).newsletter
    # RFC 8058 one-click: no cookie, no CSRF token; the signed token is the authorisation.
    one_click = client(app).post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "Sie sind abgemeldet" in one_click.text
    with unit_of_work(config) as s:
        assert not s.get(Partner, partner.id).newsletter
        assert s.exec(select(AuditLog).where(AuditLog.action == "public.unsubscribe")).one().detail == {
            "one_click": True}
    forged = client(app).post(f"/unsubscribe/{partner.id}.forged", data={"List-Unsubscribe": "One-Click"})
    assert forged.status_code == 400 and "ungültig" in forged.text
