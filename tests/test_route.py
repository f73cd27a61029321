"""Routing a protocol to its working group (DESIGN.md, "Routing rule"), on plain ParsedMessage values.

The directory is the example alliance of config/hub.toml with the partners of config/partners.example.csv.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from docx import Document
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.inbound.message import Attachment, Directory, Forwarded, GroupEntry, ParsedMessage, SenderEntry
from hub.inbound.parse import parse
from hub.inbound.route import accepts_recipient, route

DOMAIN = "buendnis-musterhausen.example"
PROTOKOLLE = f"protokolle@{DOMAIN}"
OFFICE = f"geschaeftsstelle@{DOMAIN}"
BOUNCES = f"bounces@{DOMAIN}"
UNSUBSCRIBE = f"abmelden@{DOMAIN}"

COORDINATOR = "p.schulze@buendnis-musterhausen.example"  # coordinator, Koordinierungskreis
WEISS = "j.weiss@gesundheitsamt-musterhausen.example"  # representative: gesundheit, koordinierungskreis
YILMAZ = "a.yilmaz@awo-musterhausen.example"  # member: gesundheit, erziehungslotsen
KRUEGER = "s.krueger@stadtwerke-musterhausen.example"  # representative: unternehmen
OEZTUERK = "m.oeztuerk@familienzentrum-regenbogen.example"  # representative: aktionstage, erziehungslotsen
HOFFMANN = "k.hoffmann@st-martin-musterhausen.example"  # member: aktionstage
SCHAEFER = "i.schaefer@dgb-musterhausen.example"  # member of no group
STRANGER = "info@fremde-firma.example"

DIRECTORY = Directory(
    domain=DOMAIN,
    protocol_address=PROTOKOLLE,
    groups=[
        GroupEntry("koordinierungskreis", "Koordinierungskreis", ("koordinierung",)),
        GroupEntry("aktionstage", "AG Aktionstage", ("ag-aktionstage", "familientag")),
        GroupEntry("gesundheit", "AG Gesundheit", ("ag-gesundheit",)),
        GroupEntry("unternehmen", "AG Familienfreundliches Unternehmen",
                   ("ag-unternehmen", "familienfreundliche-unternehmen")),
        GroupEntry("erziehungslotsen", "Projektgruppe Erziehungslotsen", ("pg-erziehungslotsen", "lotsen")),
        GroupEntry("plenum", "Bündnistreffen", ("buendnistreffen",)),
    ],
    senders={
        COORDINATOR: SenderEntry(COORDINATOR, "coordinator", ("koordinierungskreis",)),
        WEISS: SenderEntry(WEISS, "representative", ("gesundheit", "koordinierungskreis")),
        YILMAZ: SenderEntry(YILMAZ, "member", ("erziehungslotsen", "gesundheit")),
        KRUEGER: SenderEntry(KRUEGER, "representative", ("unternehmen",)),
        OEZTUERK: SenderEntry(OEZTUERK, "representative", ("aktionstage", "erziehungslotsen")),
        HOFFMANN: SenderEntry(HOFFMANN, "member", ("aktionstage",)),
        SCHAEFER: SenderEntry(SCHAEFER, "member", ()),
    },
)


def message(sender: str | None = WEISS, subject: str = "Protokoll", text: str = "Anbei das Protokoll.\n",
            to: tuple[str, ...] = (PROTOKOLLE,), forwarded=(), attachments=()) -> ParsedMessage:
    return ParsedMessage(
        message_id="<x@example>", content_hash="0" * 64, sender=sender, sender_name="", subject=subject,
        sent_at=datetime(2026, 3, 13, 9, 30, tzinfo=UTC), to=list(to), headers=[], text=text,
        forwarded=list(forwarded), attachments=list(attachments),
    )


def document(filename: str, text: str) -> Attachment:
    return Attachment(filename=filename, content_type="application/pdf", declared_type="application/pdf",
                      data=b"%PDF", sha256="1" * 64, text=text)


def decide(parsed: ParsedMessage, envelope_to: tuple[str, ...] = (PROTOKOLLE,)):
    routing = route(parsed, list(envelope_to), DIRECTORY)
    return routing.status, routing.group


# --- step 1: the recipient address ---------------------------------------------------------------------

def test_group_alias_in_envelope_files_there_with_the_address_as_reason():
    routing = route(message(to=(f"ag-gesundheit@{DOMAIN}",)), [f"ag-gesundheit@{DOMAIN}"], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "gesundheit")
    assert routing.reason == f"Abgelegt unter AG Gesundheit: Empfängeradresse ag-gesundheit@{DOMAIN}."


def test_second_alias_of_a_group_and_case_of_the_address_do_not_matter():
    assert decide(message(sender=HOFFMANN), (f"Familientag@{DOMAIN.upper()}",)) == ("filed", "aktionstage")
    assert decide(message(sender=OEZTUERK), (f"lotsen@{DOMAIN}",)) == ("filed", "erziehungslotsen")


@pytest.mark.parametrize("tag", ["gesundheit", "ag-gesundheit", "AG-Gesundheit", "ag_gesundheit"])
def test_protocol_address_with_plus_slug_or_alias(tag):
    address = f"protokolle+{tag}@{DOMAIN}"
    assert decide(message(subject="Protokoll vom 12.03."), (address,)) == ("filed", "gesundheit")


def test_alias_in_the_to_header_counts_when_the_envelope_is_only_the_protocol_address():
    # Delivered via IMAP or a Postfix pipe, the envelope may only show the mailbox.
    parsed = message(sender=KRUEGER, to=(PROTOKOLLE, f"familienfreundliche-unternehmen@{DOMAIN}"))
    assert decide(parsed, (PROTOKOLLE,)) == ("filed", "unternehmen")


def test_alias_wins_over_another_group_in_the_subject():
    parsed = message(sender=WEISS, subject="Protokoll Koordinierungskreis vom 12.03.2026")
    routing = route(parsed, [f"ag-gesundheit@{DOMAIN}"], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "gesundheit")
    assert "Empfängeradresse" in routing.reason


def test_alias_at_a_foreign_domain_is_not_a_group_address():
    parsed = message(sender=OEZTUERK, subject="Protokoll", to=("ag-gesundheit@example.org",))
    routing = route(parsed, ["ag-gesundheit@example.org"], DIRECTORY)
    assert (routing.status, routing.group) == ("held", None)
    assert routing.reason == ("Zur Prüfung zurückgehalten: keine Gruppe genannt, und der Absender gehört zu "
                              "mehreren Gruppen (AG Aktionstage, Projektgruppe Erziehungslotsen).")


def test_two_group_aliases_narrowed_by_the_subject():
    to = (f"ag-gesundheit@{DOMAIN}", f"lotsen@{DOMAIN}")
    parsed = message(sender=YILMAZ, subject="Ergebnisprotokoll PG Erziehungslotsen", to=to)
    assert decide(parsed, to) == ("filed", "erziehungslotsen")


def test_two_group_aliases_without_anything_else_are_ambiguous():
    to = (f"ag-gesundheit@{DOMAIN}", f"lotsen@{DOMAIN}")
    routing = route(message(sender=YILMAZ, subject="Protokoll", to=to), list(to), DIRECTORY)
    assert (routing.status, routing.group) == ("held", None)
    assert routing.reason.startswith("Zur Prüfung zurückgehalten: mehrere Gruppen kommen in Frage "
                                     "(AG Gesundheit, Projektgruppe Erziehungslotsen)")


def test_unknown_plus_tag_falls_through_to_the_subject():
    address = f"protokolle+gesundhiet@{DOMAIN}"
    assert decide(message(subject="[AG Aktionstage] Protokoll", sender=HOFFMANN), (address,)) == \
        ("filed", "aktionstage")


def test_unknown_plus_tag_is_named_in_the_reason_when_nothing_else_decides():
    address = f"protokolle+gesundhiet@{DOMAIN}"
    routing = route(message(sender=HOFFMANN, subject="Protokoll"), [address], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "aktionstage")
    assert routing.reason == ("Abgelegt unter AG Aktionstage: keine Gruppe genannt, der Absender gehört nur zu "
                              f"dieser Gruppe. Die Empfängeradresse {address} passt zu keiner Gruppe.")


# --- step 2: the subject --------------------------------------------------------------------------------

@pytest.mark.parametrize("subject, sender, group", [
    ("[AG Gesundheit] Protokoll vom 12.03.2026", WEISS, "gesundheit"),
    ("AW: WG: Ergebnisprotokoll AG Gesundheit", WEISS, "gesundheit"),
    ("Protokoll Arbeitsgruppe Gesundheit", YILMAZ, "gesundheit"),
    ("ag gesundheit - protokoll", WEISS, "gesundheit"),
    ("Protokoll Erziehungslotsen 12.3.", YILMAZ, "erziehungslotsen"),
    ("Protokoll PG Erziehungslotsen", OEZTUERK, "erziehungslotsen"),
    ("Sitzung der Erziehungslotsen am 5.2.", OEZTUERK, "erziehungslotsen"),
    ("Protokoll Familienfreundliche Unternehmen", KRUEGER, "unternehmen"),
    ("Protokoll AG Familienfreundliches Unternehmen (Entwurf)", KRUEGER, "unternehmen"),
    ("Protokoll zum Aktionstag 2026", HOFFMANN, "aktionstage"),
    ("Protokoll der AG Aktionstage", OEZTUERK, "aktionstage"),
    ("Ergebnisprotokoll Koordinierungskreis", WEISS, "koordinierungskreis"),
    ("Protokoll Bündnistreffen 2026", COORDINATOR, "plenum"),
    ("Protokoll Buendnistreffen", COORDINATOR, "plenum"),
    ("Protokoll Plenum", COORDINATOR, "plenum"),
    ("Gesundheits-AG: Protokoll", WEISS, "gesundheit"),
])
def test_group_named_in_the_subject(subject, sender, group):
    assert decide(message(sender=sender, subject=subject)) == ("filed", group)


def test_subject_reason_quotes_the_subject():
    routing = route(message(subject="[AG Gesundheit] Protokoll vom 12.03.2026"), [PROTOKOLLE], DIRECTORY)
    assert routing.reason == "Abgelegt unter AG Gesundheit: im Betreff „[AG Gesundheit] Protokoll vom 12.03.2026“."


@pytest.mark.parametrize("subject", [
    "Protokoll", "Protokoll vom Treffen", "Protokoll Bündnis Treffen", "AG Protokoll", "Protokoll Gruppe Familie",
    "Ergebnisprotokoll der Sitzung", "Unser Treffen für Familien",
])
def test_generic_words_never_name_a_group(subject):
    # Hoffmann has one group, so a subject naming none ends with the sender's only group.
    routing = route(message(sender=HOFFMANN, subject=subject), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "aktionstage")
    assert "keine Gruppe genannt" in routing.reason


def test_the_group_the_protocol_is_of_beats_groups_mentioned_after_it():
    subject = "Protokoll Koordinierungskreis: Berichte aus AG Gesundheit und AG Aktionstage"
    assert decide(message(sender=WEISS, subject=subject)) == ("filed", "koordinierungskreis")


def test_full_name_beats_a_bare_topic_word():
    subject = "Protokoll AG Gesundheit – Thema Aktionstag"
    assert decide(message(sender=WEISS, subject=subject)) == ("filed", "gesundheit")


def test_joint_meeting_of_two_groups_is_ambiguous_for_a_member_of_both():
    routing = route(message(sender=YILMAZ, subject="Protokoll AG Gesundheit und PG Erziehungslotsen"),
                    [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("held", None)
    assert routing.reason == ("Zur Prüfung zurückgehalten: mehrere Gruppen kommen in Frage (AG Gesundheit, "
                              "Projektgruppe Erziehungslotsen), im Betreff „Protokoll AG Gesundheit und PG "
                              "Erziehungslotsen“.")


def test_joint_meeting_goes_to_the_senders_own_group_when_only_one_is_theirs():
    routing = route(message(sender=WEISS, subject="Gemeinsames Treffen AG Gesundheit und PG Erziehungslotsen"),
                    [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "gesundheit")
    assert "die des Absenders" in routing.reason


def test_joint_meeting_narrowed_by_the_opening_of_the_body():
    parsed = message(sender=YILMAZ, subject="Gemeinsame Sitzung AG Gesundheit / PG Erziehungslotsen",
                     text="Protokoll der Projektgruppe Erziehungslotsen\n\nTeilnehmende: …\n")
    assert decide(parsed) == ("filed", "erziehungslotsen")


def test_subject_wins_over_the_body():
    parsed = message(sender=YILMAZ, subject="Protokoll AG Gesundheit",
                     text="Ergebnisprotokoll der Projektgruppe Erziehungslotsen\n")
    assert decide(parsed) == ("filed", "gesundheit")


# --- step 3: forwarded message, opening lines of body and attachments -------------------------------------

def test_group_named_in_the_opening_lines_of_the_body():
    text = "Liebe Frau Schulze,\n\nanbei das Ergebnisprotokoll der AG Familienfreundliches Unternehmen.\n"
    routing = route(message(sender=KRUEGER, subject="Protokoll", text=text), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "unternehmen")
    assert routing.reason == "Abgelegt unter AG Familienfreundliches Unternehmen: am Anfang der Nachricht."


def test_group_named_only_far_down_the_body_does_not_count():
    text = "Liebe Frau Schulze,\n\nanbei das Protokoll.\n" + "\n".join(f"Punkt {i}" for i in range(20)) + \
        "\nHinweis: Die AG Gesundheit lädt zum Vortrag ein.\n"
    routing = route(message(sender=OEZTUERK, subject="Protokoll", text=text), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("held", None)
    assert "mehreren Gruppen" in routing.reason


def test_group_named_in_a_forwarded_protocols_subject():
    forwarded = Forwarded(sender=OEZTUERK, subject="Protokoll PG Erziehungslotsen 05.02.26", sent_at=None,
                          text="Hallo zusammen,\nhier das Protokoll.\n")
    parsed = message(sender=COORDINATOR, subject="WG: bitte ablegen", text="Zur Ablage.\n", forwarded=[forwarded])
    routing = route(parsed, [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "erziehungslotsen")
    assert routing.reason == ("Abgelegt unter Projektgruppe Erziehungslotsen: in der weitergeleiteten Nachricht "
                              "„Protokoll PG Erziehungslotsen 05.02.26“ (Absender ist Koordinator/in).")


def test_group_named_in_the_title_of_a_document():
    doc = document("Protokoll.pdf", "Ergebnisprotokoll\nAG Aktionstage\nSitzung vom 3. März 2026\n"
                                    "Anwesend: Frau Öztürk (AG Aktionstage), Herr Weiß (AG Gesundheit)\n")
    parsed = message(sender=OEZTUERK, subject="Protokoll", text="Anbei.\n", attachments=[doc])
    routing = route(parsed, [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "aktionstage")
    assert routing.reason == "Abgelegt unter AG Aktionstage: im Anhang „Protokoll.pdf“."


def test_group_named_in_a_document_file_name():
    doc = document("2026-03-12_Protokoll_AG_Gesundheit.pdf", "Sitzung vom 12.03.2026\nTOP 1 …\n")
    assert decide(message(sender=YILMAZ, subject="Protokoll", text="", attachments=[doc])) == \
        ("filed", "gesundheit")


def test_koordinierungskreis_document_listing_all_groups_in_its_attendance():
    doc = document("kk.pdf", "Ergebnisprotokoll Koordinierungskreis vom 12.03.2026\n"
                             "Anwesend: Dr. Weiß (AG Gesundheit), Frau Öztürk (AG Aktionstage), "
                             "Herr Wagner (PG Erziehungslotsen)\n")
    assert decide(message(sender=COORDINATOR, subject="Protokoll", attachments=[doc])) == \
        ("filed", "koordinierungskreis")


def test_quoted_text_is_not_read_for_the_group():
    parsed = message(sender=OEZTUERK, subject="AW: Protokoll", text="Danke, passt so.\n")
    parsed.quoted = "> Protokoll der AG Aktionstage vom 12.03.2026"
    routing = route(parsed, [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("held", None)


# --- step 4: the sender's only group ------------------------------------------------------------------------

def test_senders_only_group():
    routing = route(message(sender=KRUEGER, subject="Protokoll vom 12.03."), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "unternehmen")
    assert routing.reason == ("Abgelegt unter AG Familienfreundliches Unternehmen: keine Gruppe genannt, der "
                              "Absender gehört nur zu dieser Gruppe.")


def test_sender_address_is_compared_case_insensitively():
    assert decide(message(sender="S.Krueger@stadtwerke-musterhausen.example")) == ("filed", "unternehmen")


def test_sender_in_no_group_and_no_group_named():
    routing = route(message(sender=SCHAEFER), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("held", None)
    assert routing.reason == ("Zur Prüfung zurückgehalten: keine Gruppe genannt, und der Absender gehört zu "
                              "keiner Gruppe.")


# --- who may file for which group ---------------------------------------------------------------------------

def test_unknown_sender_is_held_whatever_it_claims():
    address = f"protokolle+gesundheit@{DOMAIN}"
    routing = route(message(sender=STRANGER, subject="[AG Gesundheit] Protokoll", to=(address,)), [address],
                    DIRECTORY)
    assert (routing.status, routing.group) == ("held", None)
    assert routing.reason == (f"Zur Prüfung zurückgehalten: Absender {STRANGER} ist kein bekannter "
                              "Bündnispartner. Die Nachricht nennt AG Gesundheit.")


def test_missing_sender_is_held():
    routing = route(message(sender=None, subject="Protokoll AG Gesundheit"), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("held", None)
    assert "kein bekannter Bündnispartner" in routing.reason


def test_member_naming_a_group_they_do_not_belong_to_is_held_with_that_group():
    routing = route(message(sender=HOFFMANN, subject="Protokoll AG Gesundheit"), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("held", "gesundheit")
    assert routing.reason == ("Zur Prüfung zurückgehalten: AG Gesundheit ist genannt (im Betreff „Protokoll AG "
                              f"Gesundheit“), aber der Absender {HOFFMANN} gehört nicht zu dieser Gruppe.")


def test_representative_writing_to_another_groups_alias_is_held():
    routing = route(message(sender=KRUEGER), [f"lotsen@{DOMAIN}"], DIRECTORY)
    assert (routing.status, routing.group) == ("held", "erziehungslotsen")


def test_coordinator_may_file_for_any_group():
    routing = route(message(sender=COORDINATOR, subject="Protokoll AG Familienfreundliches Unternehmen"),
                    [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "unternehmen")
    assert routing.reason.endswith("(Absender ist Koordinator/in).")


def test_group_without_aliases_and_a_new_group_from_the_directory():
    directory = Directory(DOMAIN, PROTOKOLLE, [*DIRECTORY.groups, GroupEntry("familie-beruf", "AG Familie und Beruf")],
                          dict(DIRECTORY.senders))
    parsed = message(sender=COORDINATOR, subject="Protokoll AG Familie und Beruf")
    assert route(parsed, [PROTOKOLLE], directory).group == "familie-beruf"
    # "Familie" alone is generic and names no group.
    assert route(message(sender=COORDINATOR, subject="Protokoll Familie"), [PROTOKOLLE], directory).group == \
        "koordinierungskreis"


# --- which RCPT addresses are the alliance's own -------------------------------------------------------------

OWN = (OFFICE, BOUNCES, UNSUBSCRIBE)


@pytest.mark.parametrize("address", [
    PROTOKOLLE, f"Protokolle@{DOMAIN.upper()}", f"protokolle+gesundheit@{DOMAIN}", f"protokolle+tippfehler@{DOMAIN}",
    f"ag-gesundheit@{DOMAIN}", f"LOTSEN@{DOMAIN}", f"familientag+2026@{DOMAIN}", OFFICE, BOUNCES,
    f"bounces+Zx81kq3.aa@{DOMAIN}", UNSUBSCRIBE, f"abmelden+token@{DOMAIN}", f"<{PROTOKOLLE}>",
])
def test_own_addresses_are_accepted(address):
    assert accepts_recipient(address, DIRECTORY, OWN)


@pytest.mark.parametrize("address", [
    f"gesundheit@{DOMAIN}",  # a slug is not an address unless it is an alias
    "ag-gesundheit@example.org", "protokolle@example.org", f"postmaster@{DOMAIN}", f"info@{DOMAIN}",
    f"protokolle@sub.{DOMAIN}", "someone@gmail.example", "", "kein-at-zeichen", f"@{DOMAIN}",
])
def test_other_addresses_are_refused(address):
    assert not accepts_recipient(address, DIRECTORY, OWN)


def test_office_is_only_own_when_passed():
    assert not accepts_recipient(OFFICE, DIRECTORY)
    assert accepts_recipient(OFFICE, DIRECTORY, [OFFICE, None])


@settings(max_examples=200, deadline=None)
@given(subject=st.text(max_size=120), text=st.text(max_size=400),
       tag=st.text(alphabet=st.characters(blacklist_characters="@\r\n "), max_size=30))
def test_route_never_raises_and_files_only_known_senders_groups(subject, text, tag):
    address = f"protokolle+{tag}@{DOMAIN}"
    routing = route(message(sender=HOFFMANN, subject=subject, text=text), [address], DIRECTORY)
    assert routing.status in ("filed", "held") and routing.reason
    if routing.status == "filed":
        assert routing.group == "aktionstage"  # Hoffmann is a member of that group only
    assert route(message(sender=STRANGER, subject=subject, text=text), [address], DIRECTORY).status == "held"


def test_file_name_of_a_scan_without_text_counts():
    scan = Attachment(filename="Protokoll_PG_Erziehungslotsen_2026-02-05.pdf", content_type="application/pdf",
                      declared_type="application/pdf", data=b"%PDF", sha256="3" * 64, text="")
    logo = Attachment(filename="AG_Gesundheit_Logo.png", content_type="image/png", declared_type="image/png",
                      data=b"\x89PNG", sha256="4" * 64, inline=True)
    routing = route(message(sender=YILMAZ, subject="Scan", text="", attachments=[logo, scan]), [PROTOKOLLE],
                    DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "erziehungslotsen")
    assert routing.reason == ("Abgelegt unter Projektgruppe Erziehungslotsen: im Anhang "
                              "„Protokoll_PG_Erziehungslotsen_2026-02-05.pdf“.")


# --- end to end: real mail bytes through hub.inbound.parse ------------------------------------------------------

def raw_mail(sender: str, subject: str, body: str, to: str = PROTOKOLLE, attachment: tuple[str, bytes] | None = None):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Fri, 13 Mar 2026 09:30:00 +0100"
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0])
    return msg.as_bytes()


def test_end_to_end_coordinator_forwards_a_groups_protocol():
    raw = raw_mail(f"Petra Schulze <{COORDINATOR}>", "WG: bitte ablegen",
                   "zur Ablage\n\n-----Ursprüngliche Nachricht-----\nVon: Maria Öztürk <m.oeztuerk@x.example>\n"
                   "Gesendet: Mittwoch, 11. März 2026 22:10\nAn: Petra Schulze\n"
                   "Betreff: Protokoll PG Erziehungslotsen\n\nHallo,\nhier unser Protokoll.\n")
    routing = route(parse(raw), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "erziehungslotsen")
    assert "weitergeleiteten Nachricht" in routing.reason


def test_end_to_end_document_title_and_encoded_sender_name():
    document = Document()
    document.add_paragraph("Ergebnisprotokoll der AG Gesundheit")
    document.add_paragraph("Sitzung vom 12.03.2026")
    buffer = io.BytesIO()
    document.save(buffer)
    raw = raw_mail(f"Dr. Jürgen Weiß <{WEISS}>", "Protokoll", "Anbei das Protokoll.\n",
                   attachment=("protokoll.docx", buffer.getvalue()))
    routing = route(parse(raw), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "gesundheit")
    assert routing.reason == "Abgelegt unter AG Gesundheit: im Anhang „protokoll.docx“."


def test_end_to_end_alias_in_the_header_only():
    raw = raw_mail(f"Sabine Krüger <{KRUEGER}>", "Protokoll", "Hallo,\nanbei.\n", to=f"AG-Unternehmen@{DOMAIN}")
    assert route(parse(raw), [], DIRECTORY).group == "unternehmen"


# --- the fixture mails in tests/mails ----------------------------------------------------------------------------

MAILS = Path(__file__).parent / "mails"


@pytest.mark.parametrize("name, status, group", [
    ("plain_protokoll_gesundheit.eml", "filed", "gesundheit"),
    ("docx_anhang.eml", "filed", "gesundheit"),
    ("odt_anhang.eml", "filed", "erziehungslotsen"),
    ("pdf_anhang.eml", "filed", "unternehmen"),
    ("outlook_html_tabelle.eml", "filed", "gesundheit"),
    ("iso88591_ohne_charset.eml", "filed", "gesundheit"),
    ("windows1252_ohne_charset.eml", "filed", "gesundheit"),
    ("antwort_mit_zitat.eml", "filed", "gesundheit"),
    # Weiß is in two groups and the reply names none outside the quote.
    ("antwort_outlook_ohne_zitatzeichen.eml", "held", None),
    # Öztürk forwards an AG Gesundheit protocol but is not in that group: held, with the group to release to.
    ("weiterleitung_outlook.eml", "held", "gesundheit"),
    ("weiterleitung_gmail.eml", "held", "gesundheit"),
    ("weiterleitung_als_anhang.eml", "held", "gesundheit"),
    ("unzustellbar_dsn.eml", "held", None),
])
def test_fixture_mails(name, status, group):
    routing = route(parse((MAILS / name).read_bytes()), [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == (status, group)


def test_fixture_forward_by_the_coordinator_is_filed():
    parsed = parse((MAILS / "weiterleitung_gmail.eml").read_bytes())
    parsed.sender = COORDINATOR
    routing = route(parsed, [PROTOKOLLE], DIRECTORY)
    assert (routing.status, routing.group) == ("filed", "gesundheit")
    assert routing.reason == ("Abgelegt unter AG Gesundheit: in der weitergeleiteten Nachricht „Ergebnisprotokoll "
                              "AG Gesundheit vom 12.03.2026“ (Absender ist Koordinator/in).")
