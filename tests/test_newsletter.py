"""The newsletter and the half-yearly report: collecting, rendering once, approving, sending once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
import time_machine
from mailcheck import CHROMIUM, CHROMIUM_ARGS, OUTPUT, Page, assert_golden
from PIL import Image, ImageStat
from sqlmodel import select

from hub import mailings, newsletter, newsletter_content, newsletter_mail
from hub.errors import HubError
from hub.models import Blob, Delivery, Group, InboundMessage, Meeting, NewsletterIssue, OutboundMail, Partner
from hub.outbound import assemble

BERLIN = ZoneInfo("Europe/Berlin")
SINCE = datetime(2026, 3, 1, tzinfo=BERLIN)
UNTIL = datetime(2026, 4, 1, tzinfo=BERLIN)
# The protocols and meetings below are of spring 2026: these tests run in the week after that issue's period,
# whatever clock the session runs on (and whatever day it is).
NOW = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _spring_2026():
    with time_machine.travel(NOW, tick=True):
        yield
EVIL = ('Ergebnisse: <script>alert("x")</script> Siehe <a href="javascript:alert(1)">hier</a>.\n'
        "Der Gesundheitstag findet am 20. Juni auf dem Marktplatz statt.")


def _group(session, slug):
    return session.exec(select(Group).where(Group.slug == slug)).one()


def _file(session, slug, subject, received, text="Wir haben beschlossen, einen Familientag zu veranstalten.",
          **fields):
    message = InboundMessage(
        message_id=f"<{uuid.uuid4()}@example.org>", content_hash=uuid.uuid4().hex, raw_path="x.eml",
        sender="j.weiss@gesundheitsamt-musterhausen.example", subject=subject, kind="protocol", status="filed",
        group_id=_group(session, slug).id, received_at=received, text=text, **fields)
    session.add(message)
    return message


@pytest.fixture
def filed(session, config, partners):
    """A month of an alliance's life, with fixed dates."""
    _file(session, "gesundheit", "AW: [AG Gesundheit] Protokoll vom 10.03.", datetime(2026, 3, 12, 9, tzinfo=UTC),
          text="Hallo zusammen,\n\n" + EVIL, meeting_date=date(2026, 3, 10), next_meeting_start="2026-04-14T18:00",
          next_meeting_location="Rathaus, Raum 2",
          tasks=[{"what": "Flyer gestalten", "who": "Frau Yılmaz", "due": None},
                 {"what": "Stand anmelden", "who": "Herr Dr. Weiß", "due": None}])
    _file(session, "aktionstage", "Protokoll AG Aktionstage", datetime(2026, 3, 20, 15, tzinfo=UTC),
          meeting_date=date(2026, 3, 18))
    _file(session, "koordinierungskreis", "Interna Koordinierungskreis", datetime(2026, 3, 21, tzinfo=UTC),
          meeting_date=date(2026, 3, 21))
    _file(session, "gesundheit", "Altes Protokoll", datetime(2026, 2, 1, tzinfo=UTC))  # before the period
    days = _group(session, "aktionstage")
    session.add(Meeting(alliance_id=days.alliance_id, group_id=days.id,
                        title="Treffen AG Aktionstage", start=datetime(2026, 4, 22, 16, tzinfo=UTC),
                        end=datetime(2026, 4, 22, 18, tzinfo=UTC), location="Familienzentrum Regenbogen",
                        status="confirmed", uid=f"{uuid.uuid4()}@hub"))
    lena = session.exec(select(Partner).where(Partner.email == "l.fischer@kita-sonnenschein.example")).one()
    lena.joined_at = datetime(2026, 3, 5, tzinfo=UTC)
    for partner in session.exec(select(Partner).where(Partner.id != lena.id)):
        partner.joined_at = datetime(2025, 1, 1, tzinfo=UTC)
    session.flush()


def test_an_issue_collects_everything_since_the_last_one(config, session, filed):
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL, editorial="**Liebe Partner**, ein Gruß.")
    assert issue.state == "draft" and issue.title == "Newsletter März 2026"
    content = issue.content
    assert [g["name"] for g in content["groups"]] == ["AG Aktionstage", "AG Gesundheit"]  # Koordinierungskreis: none
    health = content["groups"][1]["protocols"][0]
    assert health["title"] == "Protokoll vom 10.03."
    assert health["excerpt"].startswith("Ergebnisse:") and "Hallo zusammen" not in health["excerpt"]
    assert health["tasks"][0] == {"what": "Flyer gestalten", "who": "Frau Yılmaz", "due": ""}
    # the protocol's next meeting is in no schedule: only proposed, not announced unless the coordinator asks
    assert [(u["group"], u["status"]) for u in content["upcoming"]] == [("AG Aktionstage", "confirmed"),
                                                                        ("AG Gesundheit", "proposed")]
    assert [u["group"] for u in newsletter_content.shown_upcoming(content)] == ["AG Aktionstage"]
    assert content["new_partners"] == [{"organisation": "Kita Sonnenschein"}]
    mail = newsletter_mail.render(config, issue)
    assert_golden("newsletter-issue.de.txt", f"Betreff: {mail.subject}\n\n{mail.text}")


def test_the_html_has_its_sections_escapes_protocol_content_and_stays_small(config, session, filed):
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL,
                             editorial="Siehe [Programm](https://example.org/p) und [x](javascript:alert(1))")
    html = newsletter_mail.render(config, issue).html
    page = Page(html)
    assert {"section-groups", "section-upcoming", "section-partners", "editorial"} <= page.classes
    assert "script" not in page.tags
    assert not any(h.lower().startswith("javascript:") for h in page.hrefs)
    assert "https://example.org/p" in page.hrefs
    assert '<script>alert("x")</script>' in page.text
    assert "Dienstag, 14. April 2026, 18:00 Uhr" in page.text and "Mittwoch, 22. April 2026, 18:00 Uhr" in page.text
    assert "%%greeting%%" in html and "%%unsubscribe_url%%" in html
    assert len(html.encode()) < 100_000


def test_a_busy_issue_stays_under_gmails_clipping_limit(config, session, partners):
    for n in range(60):
        _file(session, ["gesundheit", "aktionstage", "unternehmen", "erziehungslotsen"][n % 4], f"Protokoll {n}",
              SINCE + timedelta(hours=n), text="Sehr lange Ergebnisse. " * 400,
              tasks=[{"what": f"Aufgabe {i}", "who": "Jemand"} for i in range(20)])
    session.flush()
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    html = newsletter_mail.render(config, issue).html
    assert sum(len(g["protocols"]) for g in issue.content["groups"]) == 60
    assert len(html.encode()) < 100_000


def test_the_half_yearly_report_has_a_summary_table(config, session, filed):
    issue = newsletter.draft(session, config, since=datetime(2025, 10, 1, tzinfo=BERLIN), until=UNTIL, report=True)
    assert issue.kind == "report" and issue.title.startswith("Bericht über die Bündnisaktivitäten")
    rows = {r["group"]: r for r in issue.content["summary"]}
    assert rows["AG Gesundheit"] == {"group": "AG Gesundheit", "meetings": 1, "protocols": 2,  # one undated
                                     "public": False}
    assert rows["Koordinierungskreis"]["protocols"] == 1
    mail = newsletter_mail.render(config, issue)
    assert_golden("newsletter-report.de.txt", f"Betreff: {mail.subject}\n\n{mail.text}")
    assert "section-summary" in Page(mail.html).classes


def test_approve_then_send_once_to_subscribers_with_their_own_values(config, session, filed):
    people = {p.email: p for p in session.exec(select(Partner))}
    people["s.wagner@musterhausen.example"].language = "en"
    people["k.hoffmann@st-martin-musterhausen.example"].left_at = UNTIL
    people["l.fischer@kita-sonnenschein.example"].disabled_at = UNTIL
    session.flush()
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    with pytest.raises(HubError, match="Entwurf"):
        newsletter.send(session, config, issue.id)
    newsletter.approve(session, issue.id)
    with pytest.raises(HubError):
        newsletter.approve(session, issue.id)
    result = newsletter.send(session, config, issue.id)
    # 10 partners: Becker has no consent, Hoffmann left, Fischer's address is disabled
    assert (result.recipients, result.queued) == (7, 7)
    mails = session.exec(select(OutboundMail).where(OutboundMail.kind == "newsletter")).all()
    assert sorted(m.source_ref for m in mails) == [f"newsletter:{issue.id}:de", f"newsletter:{issue.id}:en"]
    assert all(m.bulk for m in mails)
    english = next(m for m in mails if m.source_ref.endswith(":en"))
    assert "From the working groups" in english.text
    with pytest.raises(HubError, match="nie zweimal gesendet"):
        newsletter.send(session, config, issue.id)
    assert session.get(NewsletterIssue, issue.id).state == "sent"

    delivery = session.exec(select(Delivery).where(Delivery.recipient == "a.yilmaz@awo-musterhausen.example")).one()
    assert delivery.values["greeting"] == "Guten Tag Aylin Yılmaz,"
    token = delivery.values["unsubscribe_url"].rsplit("/", 1)[1]
    mail = session.get(OutboundMail, delivery.mail_id)
    raw = assemble.skeleton(config, mail, {b.sha256: b for b in session.exec(select(Blob))}).render(config, delivery)
    parsed = message_from_bytes(raw[0], policy=policy.default)
    html = parsed.get_body(("html",)).get_content()
    assert "Guten Tag Aylin Yılmaz," in html and delivery.values["unsubscribe_url"] in html
    assert "%%" not in parsed.get_body(("plain",)).get_content()
    assert delivery.values["unsubscribe_url"] in parsed["List-Unsubscribe"]
    assert mailings.unsubscribe(session, config, token).email == "a.yilmaz@awo-musterhausen.example"


def test_the_next_issue_starts_where_the_last_one_ended(config, session, filed):
    first = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    newsletter.approve(session, first.id)
    newsletter.send(session, config, first.id)
    second = newsletter.draft(session, config)
    assert second.period_start == UNTIL


def test_a_scheduled_date_sends_the_approved_issue_or_prepares_a_draft(config, session, filed):
    made = newsletter.scheduled(session, config, "digest", "2026-04-01", "newsletter:digest@2026-04-01")
    issue = session.get(NewsletterIssue, made.issue_id)
    assert issue.state == "draft" and made.queued == 0 and "freigeben" in made.note
    newsletter.approve(session, issue.id)
    made = newsletter.scheduled(session, config, "digest", "2026-05-01", "newsletter:digest@2026-05-01")
    assert made.issue_id == issue.id and made.queued == 9
    assert session.get(NewsletterIssue, issue.id).state == "sent"


def test_the_cli_drafts_previews_approves_and_sends(hub, hub_dir, config, session, filed):
    session.commit()
    editorial = hub_dir / "editorial.md"
    editorial.write_text("# Liebe Partnerinnen und Partner\n\nDer Frühling kommt.", encoding="utf-8")
    made = hub("newsletter", "draft", "--since", "2026-03-01", "--editorial", str(editorial), "--json")
    assert made.returncode == 0, made.stderr
    issue_id = json.loads(made.stdout)["id"]
    shown = hub("newsletter", "preview", str(issue_id), "--out", str(hub_dir / "vorschau"))
    html_path, text_path = shown.stdout.split()
    assert "Der Frühling kommt." in open(text_path, encoding="utf-8").read()
    assert "Guten Tag Erika Mustermann," in open(html_path, encoding="utf-8").read()
    refused = hub("newsletter", "send", str(issue_id))
    assert refused.returncode == 1 and "approve" in refused.stderr
    assert hub("newsletter", "approve", str(issue_id)).returncode == 0
    sent = hub("newsletter", "send", str(issue_id), "--json")
    assert json.loads(sent.stdout)["queued"] == 9
    again = hub("newsletter", "send", str(issue_id))
    assert again.returncode == 1 and "nie zweimal gesendet" in again.stderr
    listed = json.loads(hub("newsletter", "list", "--json").stdout)
    assert [(i["id"], i["state"], i["recipients"]) for i in listed] == [(issue_id, "sent", 9)]
    assert hub("newsletter", "draft", "--since", "gestern").returncode == 2


def test_the_newsletter_reads_on_a_phone_and_a_desktop_in_chromium(config, session, filed):
    from playwright.sync_api import sync_playwright

    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL,
                             editorial="Liebe Partnerinnen und Partner,\n\nder **Familientag** steht vor der Tür.")
    mail = newsletter_mail.fill(newsletter_mail.render(config, issue), {
        "greeting": "Guten Tag Aylin Yılmaz,", "unsubscribe_url": "https://hub.example/unsubscribe/1.x"})
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, width in (("phone", 375), ("desktop", 1024)):
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.set_content(mail.html)
                assert page.evaluate("document.documentElement.scrollWidth") <= width, f"wider than a {name}"
                path = OUTPUT / f"newsletter-{name}.png"
                page.screenshot(path=path, full_page=True)
                page.close()
                image = Image.open(path).convert("L")
                assert image.width == width and image.height > 800
                assert ImageStat.Stat(image).stddev[0] > 20, f"{path} looks blank"
        finally:
            browser.close()
