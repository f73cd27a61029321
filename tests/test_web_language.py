"""The web speaks one language, the installation's: every page in German without English leftovers or stored
codes, the same pages in English without German navigation, no command-line hints anywhere, and a favicon.

Every page is rendered as a signed-in coordinator with example data present (partners, a held and a filed
protocol, meetings, a newsletter draft, outbox rows, a bounce), plus the public pages with good and bad tokens.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from hub import accounts as users
from hub import alliance as alliance_module
from hub import i18n, mailings, newsletter
from hub.alliance import unit_of_work
from hub.db import utcnow
from hub.models import BounceEvent, Delivery, InboundMessage, OutboundMail, Partner
from hub.outbound import outbox
from hub.scheduler import meetings
from hub.web.app import create_app

PASSWORD = "richtig-langes-passwort"
COORDINATOR = "koordination@buendnis-musterhausen.example"
# Stored codes and English words that must never reach a German page.
ENGLISH = ["sent", "sending", "representative", "draft", "approved", "queued", "failed", "held", "filed", "pending",
           "rejected", "member", "coordinator", "viewer", "cancelled", "confirmed", "proposed", "deferred", "digest",
           "report", "invitation", "reminder", "protocol", "Save", "Delete", "Cancel", "Back", "Edit", "Search",
           "Send", "Next", "yes", "no", "none", "unknown", "True", "False", "None"]
# The navigation, buttons and labels of the German pages, which must not show on the English ones. (Not every
# German word: what the core says, such as a CSV file's mistakes, is the core catalog's to translate.)
GERMAN = ["Übersicht", "Prüfen", "Protokolle", "Termine", "Postausgang", "Änderungen", "Abmelden", "Anmelden",
          "Speichern", "Abbrechen", "Zurück", "Zur Startseite", "Freigeben", "Ablehnen", "Bearbeiten",
          "Newsletter abbestellen", "Uhr", "gesendet", "wartet", "fehlgeschlagen", "Entwurf", "zurückgehalten"]
# "`hub newsletter approve 3`", "see hub partners list": what only a command line understands.
CLI_HINT = re.compile(r"`hub |\bhub (init|status|groups|partners|ingest|protocols|users|outbox|meetings|schedule"
                      r"|serve|newsletter)\b")


@pytest.fixture(autouse=True)
def _german_again():
    """An English app sets the process language; the tests after this one expect the default again."""
    yield
    i18n.activate(i18n.DEFAULT_LOCALE)


def visible_text(page: str) -> str:
    """What a reader sees: no scripts or styles, no tags (and so no attribute values), no e-mail addresses."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    text = html.unescape(text)
    return re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", " ", text)


def words_found(page: str, words: list[str]) -> list[str]:
    text = visible_text(page)
    return [w for w in words if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]


@pytest.fixture
def example(config, partners) -> dict:
    """Something on every page: the states a reader meets, each at least once."""
    with unit_of_work(config) as s:
        alliance = alliance_module.current(s, config)
        group = alliance_module.groups(s, alliance)[0]
        held = InboundMessage(message_id="<held@example.org>", content_hash="h1", raw_path="messages/h.eml",
                              sender="unbekannt@example.org", subject="Protokoll vom Sommerfest", kind="protocol",
                              status="held", reason="Absender unbekannt", text="Wir haben das Sommerfest geplant.")
        filed = InboundMessage(message_id="<filed@example.org>", content_hash="f1", raw_path="messages/f.eml",
                               sender="vertretung@example.org", subject="Ergebnisprotokoll März", kind="protocol",
                               status="filed", group_id=group.id, text="Ergebnisse der Sitzung.",
                               next_meeting_start="2030-04-09T18:00", tasks=[{"what": "Flyer drucken",
                                                                              "who": "Anna", "due": "2030-04-01"}])
        s.add(held)
        s.add(filed)
        s.flush()
        start = utcnow() + timedelta(days=30)
        confirmed = meetings.add(s, config, alliance, group.slug, start, location="Rathaus, Raum 3")
        proposed = meetings.add(s, config, alliance, group.slug, start + timedelta(days=28), status="proposed",
                                source=f"protocol:{filed.id}")
        issue = newsletter.draft(s, config, editorial="Liebe Partnerinnen und Partner,", source="web")
        mail = OutboundMail(kind="newsletter", subject="Rundbrief Mai", from_address="geschaeftsstelle@example.org",
                            text="Hallo", bulk=True, source_ref="newsletter:1")
        s.add(mail)
        s.flush()
        outbox.enqueue(s, mail, [outbox.Recipient(f"p{i}@example.org") for i in range(3)])
        rows = s.exec(select(Delivery).where(Delivery.mail_id == mail.id).order_by(Delivery.id)).all()
        outbox.mark_sent(s, rows[0], "250 ok")
        outbox.mark_failed(s, rows[1], "550 5.1.1 unbekannter Empfänger")
        partner = s.exec(select(Partner).where(Partner.left_at.is_(None)).order_by(Partner.id)).first()
        s.add(BounceEvent(address=partner.email, permanent=True, status="5.1.1", partner_id=partner.id))
        users.add_user(s, COORDINATOR, PASSWORD, "coordinator")
        return {"held": held.id, "filed": filed.id, "meeting": confirmed.id, "proposed": proposed.id,
                "issue": issue.id, "mail": mail.id, "partner": partner.id, "email": partner.email,
                "group": group.slug,
                "unsubscribe": mailings.unsubscribe_token(config, partner.id),
                "confirm": mailings.subscribe_token(config, "neu@familie.example")}


def english(config):
    return config.model_copy(update={"alliance": config.alliance.model_copy(update={"language": "en"})})


def signed_in(app) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    token = csrf_of(c.get("/login").text)
    response = c.post("/login", data={"csrf": token, "email": COORDINATOR, "password": PASSWORD, "next": "/"})
    assert response.status_code == 303, response.text
    # A change, so that the audit page shows an entry with details (role, newsletter, groups).
    example = app.state.example
    edited = c.post(f"/partners/{example['partner']}", data={
        "csrf": csrf_of(c.get("/").text), "email": example["email"], "name": "Erika Beispiel",
        "role": "representative", "groups": example["group"], "newsletter": "yes"})
    assert edited.status_code == 303, edited.text
    return c


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def all_pages(app, example: dict) -> dict[str, str]:
    """Every page a coordinator or a partner can see, by a name for the failure message."""
    app.state.example = example
    c = signed_in(app)
    pages = {path: c.get(path) for path in [
        "/", "/review", f"/messages/{example['held']}", f"/messages/{example['filed']}", "/protocols",
        "/partners", "/partners?all=1", f"/partners/{example['partner']}", "/partners/new", "/partners/import",
        "/groups", "/schedule", f"/schedule/meetings/{example['meeting']}", f"/schedule/meetings/{example['proposed']}",
        "/newsletter", f"/newsletter/issues/{example['issue']}", f"/newsletter/mails/{example['mail']}", "/outbox",
        "/outbox?state=failed", "/audit",
    ]}
    token = csrf_of(pages["/schedule"].text)
    pages["meeting preview"] = c.post(f"/schedule/meetings/{example['meeting']}/cancel", data={"csrf": token})
    pages["policy preview"] = c.post("/schedule/policies", data={"csrf": token, "name": "auto_confirm", "value": "ja"})
    csv_text = b"Name;Organisation;E-Mail;Gruppen;Rolle;Newsletter\nZweite;Kita;zweite@example.org;;Mitglied;ja\n"
    pages["import preview"] = c.post("/partners/import", data={"csrf": token},
                                     files={"file": ("p.csv", csv_text, "text/csv")})
    pages["import refused"] = c.post("/partners/import", data={"csrf": token},
                                     files={"file": ("p.csv", b"name,email\nx,y\n", "text/csv")})
    pages["unknown message"] = c.get("/messages/999999")
    pages["refused release"] = c.post(f"/messages/{example['filed']}/release", data={"csrf": token})
    pages["refused send"] = c.post(f"/newsletter/issues/{example['issue']}/send", data={"csrf": token})
    pages["refused retry"] = c.post("/outbox/999999/retry", data={"csrf": token})
    pages["not found"] = c.get("/gibt-es-nicht")

    anonymous = TestClient(app, follow_redirects=False)
    public = anonymous.get("/subscribe")
    pages.update({
        "/login": anonymous.get("/login"),
        "/subscribe": public,
        "subscribe refused": anonymous.post("/subscribe", data={"csrf": csrf_of(public.text),
                                                                "email": "x@example.org"}),
        "unsubscribe": anonymous.get(f"/unsubscribe/{example['unsubscribe']}"),
        "unsubscribe bad token": anonymous.post("/unsubscribe/1.gefaelscht", data={"List-Unsubscribe": "One-Click"}),
        "confirm": anonymous.get(f"/subscribe/confirm/{example['confirm']}"),
        "confirm bad token": anonymous.post("/subscribe/confirm/kaputt", data={"csrf": csrf_of(public.text)}),
        "anonymous not found": anonymous.get("/gibt-es-nicht"),
    })
    pages["unsubscribed"] = anonymous.post(f"/unsubscribe/{example['unsubscribe']}", data={})
    pages["confirmed"] = anonymous.post(f"/subscribe/confirm/{example['confirm']}",
                                        data={"csrf": csrf_of(pages["confirm"].text)})
    for name, response in pages.items():
        assert response.status_code in (200, 400, 404), (name, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), name
    return {name: response.text for name, response in pages.items()}


def test_every_page_speaks_german_only(config, example):
    pages = all_pages(create_app(config), example)
    for name, page in pages.items():
        assert '<html lang="de">' in page, name
        assert words_found(page, ENGLISH) == [], name
    # Dates in the alliance's time zone, a list format and a detail format.
    assert re.search(r"\b(Mo|Di|Mi|Do|Fr|Sa|So)\., \d\d\.\d\d\.20\d\d, \d\d:\d\d\b", pages["/outbox"])
    assert re.search(r"(Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag), \d{1,2}\. \w+ 20\d\d, "
                     r"\d\d:\d\d Uhr", pages[f"/schedule/meetings/{example['meeting']}"])
    assert "Dienstag, 9. April 2030, 18:00 Uhr" in pages[f"/messages/{example['filed']}"]  # local, as in the mail
    assert "zur Prüfung zurückgehalten" in pages[f"/messages/{example['held']}"]
    assert "fehlgeschlagen (1)" in pages["/outbox"] and "Entwurf" in pages["/newsletter"]
    assert "Diese Seite gibt es nicht" in pages["not found"]


def test_every_page_speaks_english_when_the_installation_does(config, example):
    pages = all_pages(create_app(english(config)), example)
    for name, page in pages.items():
        assert '<html lang="en">' in page, name
        assert words_found(page, GERMAN) == [], name
    assert "Overview" in pages["/"] and "Sign out" in pages["/"]
    assert re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} 20\d\d, \d\d:\d\d\b", pages["/outbox"])
    assert "Tuesday, 9 April 2030, 18:00" in pages[f"/messages/{example['filed']}"]
    assert "failed (1)" in pages["/outbox"] and "held for review" in pages[f"/messages/{example['held']}"]


@pytest.mark.parametrize("language", ["de", "en"])
def test_no_page_tells_a_command_to_type(config, example, language):
    app = create_app(config if language == "de" else english(config))
    for name, page in all_pages(app, example).items():
        assert not CLI_HINT.search(visible_text(page)), name


def test_a_core_refusal_is_shown_without_its_command_line_advice(config, example):
    from hub.web.core import for_web

    assert for_web("no message with id 3; see `hub protocols list`") == "no message with id 3"
    assert for_web("newsletter 3 is a draft; preview it, then `hub newsletter approve 3`") == "newsletter 3 is a draft"
    assert not CLI_HINT.search(for_web("see `hub outbox list`"))


def test_favicon_answers_without_sign_in(config, alliance):
    c = TestClient(create_app(config), follow_redirects=False)
    response = c.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml") and b"<svg" in response.content
    assert c.get("/static/favicon.svg").status_code == 200
    assert '<link rel="icon" href="/static/favicon.svg"' in c.get("/login").text
    assert '<link rel="icon"' in c.get("/subscribe").text
