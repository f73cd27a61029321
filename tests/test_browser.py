"""The web admin in a real browser: Debian's Chromium, driven by Playwright, against a real uvicorn server.

The coordinator's day in one flow; screenshots land in tests/output/ to look at.
"""

from __future__ import annotations

import email
import shutil
import socket
import threading
from contextlib import contextmanager
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright
from smtp_sink import SmtpSink, configure

from hub import accounts as users
from hub.alliance import unit_of_work
from hub.web.server import WebServer

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).parent / "output"
COORDINATOR = "koordination@buendnis-musterhausen.example"
PASSWORD = "richtig-langes-passwort"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

if not shutil.which(CHROMIUM):
    raise RuntimeError(f"{CHROMIUM} is missing: run scripts/setup --test (apt-get install chromium)")


@contextmanager
def serving(config):
    """The real app on a free port of 127.0.0.1, as `hub serve` runs it, stopped afterwards."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    web = WebServer(config, sock)
    web.start()
    try:
        yield web.url
    finally:
        web.stop()


@pytest.fixture
def server(config, alliance, partners):
    with unit_of_work(config) as s:
        users.add_user(s, COORDINATOR, PASSWORD, "coordinator")
    with serving(config) as url:
        yield url


@pytest.fixture
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


# Every visible form field has a label a screen reader announces.
UNLABELLED = """[...document.querySelectorAll('input, select, textarea')]
  .filter(el => !['hidden', 'submit', 'button'].includes(el.type) && el.labels.length === 0
                && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id)"""


def shot(page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / f"{name}.png", full_page=True)


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login?next=%2F")
    page.get_by_label("E-Mail-Adresse").fill(COORDINATOR)
    page.get_by_label("Passwort").fill(PASSWORD)
    shot(page, "01-login")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", name="Übersicht")).to_be_visible()


HELD = (
    "From: Vertretung Familienzentrum <neu@familienzentrum.example>\r\n"
    "To: protokolle@buendnis-musterhausen.example\r\n"
    "Subject: Ergebnisprotokoll AG Gesundheit vom 12. März\r\n"
    "Message-ID: <held-1@familienzentrum.example>\r\n"
    "Date: Thu, 12 Mar 2026 20:00:00 +0100\r\n"
    "Content-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>Mit welcher Idee wollen wir starten? Ein Ferienprogramm für Familien.</p>"
    "<script>document.title='pwned'; alert(1)</script><p onmouseover=\"alert(3)\">Wer übernimmt was?</p>"
    "<a href=\"javascript:alert(2)\">Klick</a>\r\n"
).encode()

def test_sign_in_and_pages_at_phone_width(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="de-DE")
    sign_in(page, server)
    shot(page, "02-dashboard")
    page.get_by_role("link", name="Gruppen").click()
    expect(page.get_by_role("heading", name="Arbeitsgruppen")).to_be_visible()
    shot(page, "06-groups")

    # The same pages at phone width: nothing wider than the screen, reachable with the keyboard.
    phone = browser.new_page(viewport={"width": 375, "height": 740}, locale="de-DE")
    phone.context.add_cookies(page.context.cookies())
    for path, name in [("/partners", "05-partners-phone"), ("/", "07-dashboard-phone"),
                       ("/schedule", "10-schedule-phone"), ("/partners/new", "11-partner-new-phone"),
                       ("/protocols", None), ("/outbox", None), ("/subscribe", None)]:
        phone.goto(f"{server}{path}")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375 + 1, path
        assert phone.evaluate(UNLABELLED) == [], f"{path}: form fields without a label"
        if name:
            shot(phone, name)
    phone.keyboard.press("Tab")
    expect(phone.get_by_role("link", name="Zum Inhalt springen")).to_be_focused()
    phone.keyboard.press("Enter")
    phone.keyboard.press("Tab")
    focused = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused != "none", "the focused element shows no focus ring"


def test_create_a_meeting_and_see_its_invitation_planned(server, browser, config):
    from datetime import date, timedelta

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="de-DE")
    sign_in(page, server)
    page.get_by_role("navigation").get_by_role("link", name="Termine").click()
    day = date.today() + timedelta(days=40)
    form = page.locator("form[action='/schedule/meetings/new']")
    form.get_by_label("Gruppe").select_option(label="AG Gesundheit")
    form.get_by_label("Datum").fill(day.isoformat())
    form.get_by_label("Beginn").fill("18:30")
    form.get_by_label("Ort").fill("Familienzentrum, Saal")
    form.get_by_role("button", name="Weiter").click()
    expect(page.get_by_role("heading", name="Bitte bestätigen")).to_be_visible()
    added = page.locator("#planned-added")
    expect(added).to_contain_text("Einladung – Treffen AG Gesundheit an Mitglieder AG Gesundheit")
    expect(added).to_contain_text("Erinnerung")
    shot(page, "08-meeting-confirm")
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_role("status")).to_contain_text("Das Treffen ist eingetragen")
    timeline = page.locator("ol.timeline")
    expect(timeline.locator("li.meeting")).to_contain_text("Familienzentrum, Saal")
    invitation = timeline.locator("li.send", has_text="Einladung – Treffen AG Gesundheit")
    expect(invitation).to_have_count(1)
    expect(invitation).to_contain_text("an Mitglieder AG Gesundheit")
    shot(page, "09-schedule")


def test_newsletter_progress_updates_live(server, browser, config):
    from sqlmodel import select

    from hub.models import Delivery, OutboundMail
    from hub.outbound import outbox

    with unit_of_work(config) as s:
        mail = OutboundMail(kind="newsletter", subject="Rundbrief Juni", from_address="geschaeftsstelle@example.org",
                            text="Hallo", bulk=True, source_ref="newsletter:7")
        s.add(mail)
        s.flush()
        outbox.enqueue(s, mail, [outbox.Recipient(f"p{i}@example.org") for i in range(3)])
        mail_id = mail.id
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="de-DE")
    sign_in(page, server)
    page.goto(f"{server}/newsletter/mails/{mail_id}")
    expect(page.locator("[data-progress-text]")).to_have_text("0 von 3 erledigt (3 wartet)")
    with unit_of_work(config) as s:
        for delivery in s.exec(select(Delivery).where(Delivery.mail_id == mail_id)):
            outbox.mark_sent(s, delivery, "250 2.0.0 ok")
    # No reload: the page polls and shows the new state by itself.
    expect(page.locator("[data-progress-text]")).to_have_text("3 von 3 erledigt (3 gesendet)", timeout=15000)
    assert page.locator("progress").evaluate("p => p.value") == 3
    shot(page, "12-newsletter-progress")


def test_release_a_held_protocol(server, browser, config):
    from hub import filing
    from hub.models import InboundMessage

    held = filing.ingest_bytes(config, HELD)
    assert held.status == "held", held.data
    message_id = held.data["id"]
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="de-DE")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, server)
    expect(page.get_by_text("Ergebnisprotokoll AG Gesundheit vom 12. März")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Prüfen").click()
    page.get_by_role("link", name="Ergebnisprotokoll AG Gesundheit vom 12. März").click()
    expect(page.get_by_text("ist kein bekannter Bündnispartner")).to_be_visible()
    frame = page.frame_locator("iframe.mailhtml")
    expect(frame.get_by_text("Ein Ferienprogramm für Familien")).to_be_visible()
    assert frame.locator("a[href^='javascript'], script, [onmouseover]").count() == 0
    frame.get_by_text("Wer übernimmt was?").hover()
    shot(page, "03-held-protocol")
    page.get_by_label("Gruppe zuordnen").select_option(label="AG Gesundheit")
    page.get_by_role("button", name="Zuordnen und ablegen").click()
    expect(page.get_by_role("status")).to_contain_text(f"Nachricht {message_id} wurde der Gruppe AG Gesundheit")
    with unit_of_work(config) as s:
        filed = s.get(InboundMessage, message_id)
        assert filed.status == "filed" and filed.decided_by == COORDINATOR
    page.get_by_role("navigation").get_by_role("link", name="Protokolle").click()
    page.get_by_label("Suche im Text").fill("Ferienprogramm")
    page.get_by_role("button", name="Suchen").click()
    expect(page.get_by_role("link", name="Ergebnisprotokoll AG Gesundheit vom 12. März")).to_be_visible()
    shot(page, "04-protocols")
    assert page.title() != "pwned" and dialogs == [], "mail content ran script in the browser"


def test_newsletter_preview_send_and_unsubscribe(hub_dir, config, alliance, partners, browser):
    from hub.models import Partner
    from hub.outbox_worker import run as run_worker

    with unit_of_work(config) as s:
        users.add_user(s, COORDINATOR, PASSWORD, "coordinator")
        subscribers = s.exec(select_subscribers()).all()
    with SmtpSink() as sink:
        # https, as in production: only then do mails carry the RFC 8058 one-click header.
        mailing = configure(hub_dir, sink, outbox={"poll_seconds": 0.2})
        mailing = mailing.model_copy(update={"web": mailing.web.model_copy(
            update={"base_url": "https://hub.buendnis-musterhausen.example"})})
        stop = threading.Event()
        worker = threading.Thread(target=run_worker, args=(mailing, stop), daemon=True)
        worker.start()
        try:
            with serving(mailing) as base:
                page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="de-DE")
                sign_in(page, base)
                page.get_by_role("navigation").get_by_role("link", name="Newsletter").click()
                page.get_by_role("button", name="Entwurf anlegen").click()
                expect(page.get_by_role("status")).to_contain_text("Der Entwurf ist angelegt")

                # The editorial in Markdown, with its preview while typing (once the page's script runs).
                page.wait_for_load_state("load")
                page.get_by_label("Text (Markdown").fill("Liebe Partner,\n\n**Sommerfest** am 1. Juli!")
                expect(page.locator("#editorial-preview strong")).to_have_text("Sommerfest")
                page.get_by_role("button", name="Editorial speichern").click()
                expect(page.get_by_role("status")).to_contain_text("Das Editorial ist gespeichert")
                for frame in ("iframe.phone", "iframe.desktop"):
                    expect(page.frame_locator(frame).get_by_text("Sommerfest").first).to_be_visible()
                assert page.locator("iframe.phone").evaluate("f => f.getBoundingClientRect().width") <= 376
                shot(page, "13-newsletter-preview")

                # A test to myself, through the outbox to the SMTP sink.
                page.get_by_role("button", name="Test an mich senden").click()
                expect(page.get_by_role("status")).to_contain_text(f"Eine Test-Mail geht an {COORDINATOR}")
                sink.wait_for(1)
                test = email.message_from_bytes(sink.messages[0].data, policy=policy.default)
                assert sink.messages[0].recipients == (COORDINATOR,)
                assert str(test["Subject"]).startswith("[Test]")

                # Approve, send, and watch the progress reach everyone.
                page.get_by_role("button", name="Freigeben").click()
                expect(page.get_by_role("status")).to_contain_text("Freigegeben")
                # With the keyboard, as some coordinators do (a mouse click here raced the preview frames' layout).
                page.get_by_role("button", name=f"Jetzt an {len(subscribers)} Abonnent/innen senden").press("Enter")
                expect(page.get_by_role("status")).to_contain_text(f"Der Newsletter geht an {len(subscribers)}")
                expect(page.locator("[data-progress-text]")).to_have_text(
                    f"{len(subscribers)} von {len(subscribers)} erledigt ({len(subscribers)} gesendet)",
                    timeout=30000)
                shot(page, "14-newsletter-sent")
                sink.wait_for(1 + len(subscribers))

                # A partner unsubscribes with the link from the mail the sink received.
                received = [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages[1:]]
                first = received[0]
                link = next(part.strip(" <>") for part in str(first["List-Unsubscribe"]).split(",")
                            if part.strip(" <").startswith("http"))
                assert "List-Unsubscribe=One-Click" in str(first["List-Unsubscribe-Post"])
                assert urlsplit(link).path in first.get_body(("plain",)).get_content()
                reader = browser.new_page(viewport={"width": 375, "height": 740}, locale="de-DE")
                reader.goto(base + urlsplit(link).path)
                reader.get_by_role("button", name="Ja, Newsletter abbestellen").click()
                expect(reader.get_by_role("heading", name="Sie sind abgemeldet")).to_be_visible()
                shot(reader, "15-unsubscribed-phone")

                # RFC 8058: a mail program posts One-Click and needs no page, no cookie, no token.
                second = received[1]
                one_click = next(part.strip(" <>") for part in str(second["List-Unsubscribe"]).split(",")
                                 if part.strip(" <").startswith("http"))
                answer = reader.context.request.post(base + urlsplit(one_click).path,
                                                     form={"List-Unsubscribe": "One-Click"},
                                                     headers={"Cookie": ""})
                assert answer.status == 200
        finally:
            stop.set()
            worker.join(30)
    addresses = {str(first["To"].addresses[0].addr_spec), str(second["To"].addresses[0].addr_spec)}
    with unit_of_work(config) as s:
        for partner in s.exec(select_subscribers(Partner.email_key.in_(addresses))):
            raise AssertionError(f"{partner.email} still gets the newsletter")
        assert len(s.exec(select_subscribers()).all()) == len(subscribers) - 2


def select_subscribers(*where):
    from sqlmodel import select

    from hub.models import Partner

    return select(Partner).where(Partner.newsletter.is_(True), Partner.left_at.is_(None), *where)
