"""Issue 14: what the newsletter and the relay say is true and readable — only confirmed meetings (proposed ones
when the coordinator asks, marked), never a cancelled one, each once; "Neu im Bündnis" only new organisations;
protocols with their structure; the text part without Markdown; subjects that say nothing twice; the reader's
language."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from mailcheck import Page, assert_golden
from sqlmodel import select

from hub import newsletter, newsletter_mail, protocol_mail
from hub.compose.plain import markdown_text
from hub.compose.render import compose
from hub.compose.subjects import protocol_topic
from hub.models import Delivery, Group, InboundMessage, Meeting, OutboundMail, Partner

SINCE = datetime(2026, 3, 1, tzinfo=ZoneInfo("Europe/Berlin"))
UNTIL = datetime(2026, 4, 1, tzinfo=ZoneInfo("Europe/Berlin"))
NOW = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)
PROTOCOL = """Hallo zusammen,

anbei das Ergebnisprotokoll.

Ort: Familienzentrum Regenbogen
Anwesend: M. Brandt (Caritas), A. Yılmaz (AWO), J. Weiß (Gesundheitsamt)

TOP 1: Familientag 2027
- Termin: 12. Juni 2027
- Ort: Marktplatz

TOP 2: Flyer
Wir drucken 500 Stück.

Nächstes Treffen: 14. April 2026, 18 Uhr, Rathaus

Viele Grüße
Jürgen Weiß"""


@pytest.fixture(autouse=True)
def _spring_2026():
    with time_machine.travel(NOW, tick=True):
        yield


def _group(session, slug) -> Group:
    return session.exec(select(Group).where(Group.slug == slug)).one()


def _protocol(session, slug="gesundheit", text=PROTOCOL, subject="Ergebnisprotokoll AG Gesundheit vom 10.03.2026",
              next_meeting="2026-04-14T18:00", **fields) -> InboundMessage:
    message = InboundMessage(
        message_id=f"<{uuid.uuid4()}@example.org>", content_hash=uuid.uuid4().hex, raw_path="x.eml",
        sender="j.weiss@gesundheitsamt-musterhausen.example", subject=subject, kind="protocol", status="filed",
        group_id=_group(session, slug).id, received_at=datetime(2026, 3, 12, 9, tzinfo=UTC), text=text,
        meeting_date=date(2026, 3, 10), next_meeting_start=next_meeting, next_meeting_location="Rathaus", **fields)
    session.add(message)
    session.flush()
    return message


def _meeting(session, slug, start, status, source="coordinator", title="") -> Meeting:
    group = _group(session, slug)
    meeting = Meeting(alliance_id=group.alliance_id, group_id=group.id, title=title or f"Treffen {group.name}",
                      start=start, end=start.replace(hour=start.hour + 2), status=status, source=source,
                      uid=f"{uuid.uuid4()}@hub", location="Rathaus")
    session.add(meeting)
    session.flush()
    return meeting


@pytest.fixture
def settled(session, partners):
    """The example registry, imported long before the issue (the founding partners)."""
    for partner in session.exec(select(Partner)):
        partner.joined_at = datetime(2025, 1, 1, tzinfo=UTC)
    session.flush()


def _blocks(html: str) -> str:
    """The HTML's text as a reader sees it: block elements on lines of their own, inline ones run together."""
    text = re.sub(r"(?i)<(br|/?p|/?div|/?li|/?ul|/?ol|/?tr|/?td|/?table|/?h\d)\b[^>]*>", "\n", html)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[ \t]+", " ", text)


# --- Nächste Termine -------------------------------------------------------------------------------------


def test_a_cancelled_meeting_made_of_a_protocol_is_never_announced(config, session, settled):
    message = _protocol(session)
    _meeting(session, "gesundheit", datetime(2026, 4, 14, 16, tzinfo=UTC), "cancelled",
             source=f"protocol:{message.id}")
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL, with_proposed=True)
    assert issue.content["upcoming"] == []
    [item] = issue.content["groups"][0]["protocols"]
    assert item["next_meeting"] is None  # nor in the protocol's item
    mail = newsletter_mail.render(config, issue)
    assert "14. April 2026" not in mail.text and "14. April 2026" not in Page(mail.html).text


def test_only_confirmed_meetings_unless_the_coordinator_ticks_proposed_ones(config, session, settled):
    _meeting(session, "aktionstage", datetime(2026, 4, 22, 16, tzinfo=UTC), "confirmed")
    _meeting(session, "unternehmen", datetime(2026, 4, 29, 16, tzinfo=UTC), "proposed")
    _meeting(session, "erziehungslotsen", datetime(2026, 5, 6, 16, tzinfo=UTC), "cancelled")
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    mail = newsletter_mail.render(config, issue)
    section = mail.text.split("== Nächste Termine ==")[1]
    assert "AG Aktionstage" in section and "Unternehmen" not in section and "Erziehungslotsen" not in section
    assert newsletter.describe(issue)["upcoming"] == 1

    newsletter.edit(session, issue.alliance_id, issue.id, with_proposed=True)
    session.flush()
    session.refresh(issue)
    mail = newsletter_mail.render(config, issue)
    section = mail.text.split("== Nächste Termine ==")[1]
    assert re.search(r"Unternehmen.*\(vorgeschlagen\)", section)
    assert "AG Aktionstage" in section and "Erziehungslotsen" not in section
    assert "(vorgeschlagen)" in Page(mail.html).text
    english = newsletter_mail.render(config, issue, "en")
    assert "(proposed)" in english.text


def test_each_meeting_once_from_the_schedule_and_from_the_protocol(config, session, settled):
    message = _protocol(session)  # next meeting 14.04. 18:00 local
    start = datetime(2026, 4, 14, 16, tzinfo=UTC)
    _meeting(session, "gesundheit", start, "confirmed", source=f"protocol:{message.id}")
    _meeting(session, "gesundheit", start, "proposed", source="schedule-file")  # the same meeting entered twice
    _protocol(session, subject="Nachtrag", next_meeting="2026-04-14T18:00")  # a second protocol naming it
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL, with_proposed=True)
    assert [(u["group"], u["start"], u["status"]) for u in issue.content["upcoming"]] == [
        ("AG Gesundheit", "2026-04-14T18:00", "confirmed")]
    section = newsletter_mail.render(config, issue).text.split("== Nächste Termine ==")[1]
    assert section.count("14. April 2026") == 1


# --- Neu im Bündnis ---------------------------------------------------------------------------------------


def test_new_in_the_alliance_lists_new_organisations_only(config, session, settled, alliance):
    joined = datetime(2026, 3, 10, tzinfo=UTC)

    def person(email, organisation, **fields):
        session.add(Partner(alliance_id=alliance.id, email=email, email_key=email, name="N. N.",
                            organisation=organisation, joined_at=joined, newsletter=True, **fields))

    person("info@kita-regenbogen.example", "Kita Regenbogen")
    person("leitung@kita-regenbogen.example", "Kita Regenbogen")  # one organisation, once
    person("neu@awo-musterhausen.example", "AWO Kreisverband")  # the AWO was a partner before
    person("buero@buendnis-musterhausen.example", "Geschäftsstelle Bündnis für Familie")  # the office itself
    person("chefin@verein.example", "Verein Chefsache", role="coordinator")
    person("leser@example.org", "Leserverein", audience="public")  # subscribed on the public page
    session.flush()
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    assert issue.content["new_partners"] == [{"organisation": "Kita Regenbogen"}]
    text = newsletter_mail.render(config, issue).text
    welcome = text.split("== Neu im Bündnis ==")[1].split("Mit freundlichen Grüßen")[0]
    assert "Kita Regenbogen" in welcome and "Geschäftsstelle" not in welcome and "AWO" not in welcome


def test_the_first_issue_after_the_import_welcomes_nobody(config, session, partners):
    for partner in session.exec(select(Partner)):
        partner.joined_at = datetime(2026, 3, 2, 10, tzinfo=UTC)  # all imported in the issue's period
    session.flush()
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    assert issue.content["new_partners"] == []
    assert "Neu im Bündnis" not in newsletter_mail.render(config, issue).text


# --- protocols a partner can read ----------------------------------------------------------------------


def test_a_protocol_keeps_its_structure_and_names_its_next_meeting_once(config, session, settled):
    _protocol(session, tasks=[{"what": "Flyer drucken", "who": "Frau Yılmaz", "due": "2026-04-01"}])
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    [item] = issue.content["groups"][0]["protocols"]
    assert item["excerpt"].split("\n") == ["TOP 1: Familientag 2027",
                                           "- Termin: 12. Juni 2027", "- Ort: Marktplatz", "", "TOP 2: Flyer",
                                           "Wir drucken 500 Stück."]
    mail = newsletter_mail.render(config, issue)
    assert "  TOP 1: Familientag 2027\n  - Termin: 12. Juni 2027\n  - Ort: Marktplatz\n" in mail.text
    assert "Anwesend" not in mail.text and "Viele Grüße" not in mail.text
    assert "Flyer drucken – Frau Yılmaz (bis 01.04.2026)" in mail.text
    assert mail.text.count("Nächstes Treffen") == 1
    seen = _blocks(mail.html)
    assert seen.count("Nächstes Treffen") == 1
    assert not re.search(r"\S *Nächstes Treffen", seen), "glued to the previous word"
    assert "<li>Termin: 12. Juni 2027</li>" in mail.html
    assert re.search(r"<p[^>]*font-weight:bold[^>]*>TOP 1: Familientag 2027</p>", mail.html)


def test_a_long_protocol_is_cut_at_a_line_with_a_way_to_the_whole(config, session, settled):
    long = "\n".join(f"TOP {n}: Punkt {n}\nWir haben über Punkt {n} ausführlich beraten und beschlossen." for n in
                     range(1, 30))
    _protocol(session, text=long)
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    [item] = issue.content["groups"][0]["protocols"]
    assert item["truncated"] and item["excerpt"].endswith(" …")
    assert all(line.startswith(("TOP", "Wir")) for line in item["excerpt"].split("\n"))
    mail = newsletter_mail.render(config, issue)
    assert config.mail.office_address in mail.text.split("Aus den Arbeitsgruppen")[1]
    assert any(h.startswith(f"mailto:{config.mail.office_address}?subject=") for h in Page(mail.html).hrefs)


def test_the_text_part_names_the_office_once_for_all_shortened_protocols(config, session, settled):
    long = "\n".join(f"TOP {n}: Punkt {n}\nWir haben über Punkt {n} ausführlich beraten und beschlossen." for n in
                     range(1, 30))
    _protocol(session, text=long)
    _protocol(session, slug="aktionstage", text=long, subject="Protokoll AG Aktionstage")
    _protocol(session, slug="aktionstage", text="TOP 1: Kurz\nNichts weiter.", subject="Kurzprotokoll")
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    mail = newsletter_mail.render(config, issue)
    section = mail.text.split("== Aus den Arbeitsgruppen ==")[1].split("\n-- \n")[0]
    assert section.count(config.mail.office_address) == 1
    assert "\n2 Protokolle oben sind gekürzt (…); die Geschäftsstelle sendet sie Ihnen gern ganz: " \
           f"{config.mail.office_address}\n" in section
    assert len(re.findall(r" …\n", section)) == 2
    # the HTML keeps a link under each shortened protocol, with the protocol in its subject
    assert len([h for h in Page(mail.html).hrefs if h.startswith(f"mailto:{config.mail.office_address}?")]) == 2
    english = newsletter_mail.render(config, issue, "en").text
    assert "2 protocols above are shortened (…); the coordinating office will gladly send you the full texts: " \
           f"{config.mail.office_address}" in english


# --- the text part --------------------------------------------------------------------------------------


def test_the_text_part_has_the_editorial_as_plain_text(config, session, settled):
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL, editorial=(
        "## Familientag\n\n**Danke** an alle! Das [Programm](https://example.org/p) steht.\n\n- Stände\n- *Musik*"))
    text = newsletter_mail.render(config, issue).text
    assert "**" not in text and "##" not in text and "*Musik*" not in text
    assert "Familientag\n\nDanke an alle! Das Programm (https://example.org/p) steht.\n\n- Stände\n- Musik" in text


def test_markdown_text_reads_as_a_letter():
    assert markdown_text("**Danke**, [hier](https://x.example/a) und <https://y.example>") == \
        "Danke, hier (https://x.example/a) und https://y.example"
    assert markdown_text("1. eins\n2. zwei\n\nEnde") == "1. eins\n2. zwei\n\nEnde"
    assert markdown_text("> zitiert *so*") == "> zitiert so"
    assert markdown_text("[Mail](mailto:a@b.example)") == "Mail (a@b.example)"


# --- subjects -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("subject", "topic"), [
    ("Ergebnisprotokoll AG Gesundheit vom 12.03.2026", ""),
    ("AW: [AG Gesundheit] Protokoll vom 12.03.", ""),
    ("Ergebnisprotokoll AG Gesundheit vom 12.03.2026 – Gesundheitstag", "Gesundheitstag"),
    ("Protokoll 12.3.26: Flyer und Stände", "Flyer und Stände"),
    ("Planung bis 30.06.", "Planung bis 30.06."),  # another date is news
])
def test_a_protocol_topic_is_what_the_subject_adds(subject, topic):
    assert protocol_topic(subject, "AG Gesundheit", date(2026, 3, 12)) == topic


def test_the_relay_subject_does_not_repeat_the_protocols(config, session, partners):
    message = _protocol(session, subject="Ergebnisprotokoll AG Gesundheit vom 12.03.2026")
    message.meeting_date = date(2026, 3, 12)
    protocol_mail.relay_protocol(session, config, message)
    subjects = {m.subject for m in session.exec(select(OutboundMail).where(OutboundMail.kind == "relay"))}
    assert subjects == {"Protokoll AG Gesundheit vom 12.03.2026"}
    english = compose("relay", {"group": "AG Gesundheit", "protocol_subject": "Protokoll vom 12.03.",
                                "meeting_date": date(2026, 3, 12), "text": "x"}, "en", config)
    assert english.subject == "Protocol AG Gesundheit of 12 Mar 2026"


# --- the reader's language ------------------------------------------------------------------------------


def test_english_readers_get_an_english_subject_and_receipt(config, session, settled):
    _protocol(session)
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    assert newsletter_mail.render(config, issue, "en").subject == "Newsletter March 2026"
    assert newsletter_mail.render(config, issue, "de").subject == "Newsletter März 2026"
    newsletter.edit(session, issue.alliance_id, issue.id, title="Frühlingsgrüße")
    assert newsletter_mail.render(config, issue, "en").subject == "Frühlingsgrüße"  # the coordinator's own words
    weiss = session.exec(select(Partner).where(Partner.email == "j.weiss@gesundheitsamt-musterhausen.example")).one()
    weiss.language = "en"
    message = _protocol(session, slug="aktionstage")
    message.partner_id = weiss.id
    protocol_mail.send_receipt(session, config, message)
    receipt = session.exec(select(OutboundMail).where(OutboundMail.kind == "receipt")).one()
    assert "It will appear in the alliance's next newsletter." in receipt.text
    assert "Bündnisses" not in receipt.text


def test_each_partner_gets_the_newsletter_in_their_language(config, session, settled):
    _protocol(session)
    wagner = session.exec(select(Partner).where(Partner.email == "s.wagner@musterhausen.example")).one()
    wagner.language = "en"
    session.flush()
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL)
    newsletter.approve(session, issue.id)
    newsletter.send(session, config, issue.id)
    rows = session.exec(select(Delivery.recipient, OutboundMail.subject).join(
        OutboundMail, OutboundMail.id == Delivery.mail_id).where(OutboundMail.kind == "newsletter")).all()
    by_subject = {subject for recipient, subject in rows if recipient == wagner.email}
    assert by_subject == {"Newsletter March 2026"}
    assert {subject for recipient, subject in rows if recipient != wagner.email} == {"Newsletter März 2026"}


def test_golden_newsletters_in_both_languages(config, session, settled):
    """The issue a partner reads, in German and English, public edition too (review the diff when it changes)."""
    message = _protocol(session, tasks=[{"what": "Flyer drucken", "who": "Frau Yılmaz", "due": "2026-04-01"}])
    _meeting(session, "gesundheit", datetime(2026, 4, 14, 16, tzinfo=UTC), "confirmed",
             source=f"protocol:{message.id}")
    _meeting(session, "aktionstage", datetime(2026, 4, 22, 16, tzinfo=UTC), "proposed")
    issue = newsletter.draft(session, config, since=SINCE, until=UNTIL, with_proposed=True,
                             editorial="**Danke** für ein gutes Frühjahr! [Programm](https://example.org/p)")
    for locale, word in (("de", "Betreff"), ("en", "Subject")):
        mail = newsletter_mail.render(config, issue, locale)
        assert_golden(f"newsletter-partners.{locale}.txt", f"{word}: {mail.subject}\n\n{mail.text}")
        public = newsletter_mail.render(config, issue, locale, "public")
        assert_golden(f"newsletter-public.{locale}.txt", f"{word}: {public.subject}\n\n{public.text}")


def test_the_coordinator_ticks_proposed_meetings_in_the_cli(hub, config, session, settled):
    _meeting(session, "unternehmen", datetime(2026, 4, 29, 16, tzinfo=UTC), "proposed")
    session.commit()
    made = hub("newsletter", "draft", "--since", "01.03.2026", "--with-proposed", "--json")
    assert made.returncode == 0, made.stderr
    issue_id = json.loads(made.stdout)["id"]
    assert json.loads(made.stdout)["with_proposed"] is True and json.loads(made.stdout)["upcoming"] == 1
    assert hub("newsletter", "edit", str(issue_id), "--without-proposed").returncode == 0
    listed = {i["id"]: i for i in json.loads(hub("newsletter", "list", "--json").stdout)}
    assert (listed[issue_id]["with_proposed"], listed[issue_id]["upcoming"]) == (False, 0)
