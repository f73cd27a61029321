"""Extracting meeting date, next meeting, attendees and tasks from realistic German (and English) protocols."""

from __future__ import annotations

import io
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.inbound.extract import extract
from hub.inbound.message import Attachment, Forwarded, NextMeeting, ParsedMessage, Task
from hub.inbound.parse import parse
from hub.inbound.textlines import _CUE_WORDS, cue_lines

BERLIN = ZoneInfo("Europe/Berlin")
SENT = datetime(2026, 3, 13, 9, 30, tzinfo=BERLIN)


def message(text: str = "", subject: str = "Protokoll", sent_at: datetime | None = SENT, quoted: str = "",
            forwarded=(), documents=()) -> ParsedMessage:
    attachments = [
        Attachment(filename=name, content_type="application/vnd.openxmlformats-officedocument."
                   "wordprocessingml.document", declared_type="application/octet-stream", data=b"PK",
                   sha256="2" * 64, text=content)
        for name, content in documents
    ]
    return ParsedMessage(
        message_id="<x@example>", content_hash="0" * 64, sender="a@example.org", sender_name="", subject=subject,
        sent_at=sent_at, to=[], headers=[], text=text, quoted=quoted, forwarded=list(forwarded),
        attachments=attachments,
    )


def run(text: str = "", **kwargs):
    return extract(message(text, **kwargs), BERLIN)


PROTOCOL = """Liebe Kolleginnen und Kollegen,

anbei das Ergebnisprotokoll unserer Sitzung vom 12.03.2026.

Teilnehmende: Dr. Jürgen Weiß, Aylin Yılmaz, Maria Öztürk

1. Mit welcher Idee wollen wir starten?
Ein Gesundheitstag für Familien im Stadtpark.

2. Wer von uns übernimmt was?
- Flyer gestalten: Aylin Yılmaz
- Raum reservieren: Dr. Jürgen Weiß (bis 31.03.)

Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen

Viele Grüße
Jürgen Weiß
"""


def test_complete_protocol_in_the_body():
    result = run(PROTOCOL, subject="Ergebnisprotokoll AG Gesundheit")
    assert result.meeting_date == date(2026, 3, 12)
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 21, 18, 0), "Familienzentrum Regenbogen")
    assert result.attendees == ["Dr. Jürgen Weiß", "Aylin Yılmaz", "Maria Öztürk"]
    assert result.tasks == [
        Task("Flyer gestalten", "Aylin Yılmaz"),
        Task("Raum reservieren", "Dr. Jürgen Weiß", date(2026, 3, 31)),
    ]


# --- the meeting date ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("subject, expected", [
    ("Protokoll AG Gesundheit vom 12.03.2026", date(2026, 3, 12)),
    ("Protokoll Sitzung am 3. März 2026", date(2026, 3, 3)),
    ("Protokoll vom 05.02.26", date(2026, 2, 5)),
    ("Protokoll 7.5.2025", date(2025, 5, 7)),
    ("Protokoll 12. März", date(2026, 3, 12)),
    ("Protokoll 12. Maerz", date(2026, 3, 12)),
    ("Protokoll 10.3.", date(2026, 3, 10)),
    ("Protokoll 12. Dezember", date(2025, 12, 12)),  # the December before the March mail
    ("Protokoll 2026-03-11", date(2026, 3, 11)),
    ("[AG Aktionstage] Protokoll Di., 10. März 2026", date(2026, 3, 10)),
    ("WG: Protokoll PG Erziehungslotsen 05.02.26", date(2026, 2, 5)),
    ("Protokoll Klausurtagung 6.–7.3.2026", date(2026, 3, 6)),
    ("Protokoll Klausur vom 6. bis 7. März 2026", date(2026, 3, 6)),
    ("Minutes of the meeting on March 4, 2026", date(2026, 3, 4)),
    ("Minutes 4 March 2026", date(2026, 3, 4)),
])
def test_meeting_date_from_the_subject(subject, expected):
    assert run("Anbei das Protokoll.", subject=subject).meeting_date == expected


@pytest.mark.parametrize("text, expected", [
    ("Protokoll der Sitzung am 3. März 2026\n\nTOP 1 …", date(2026, 3, 3)),
    ("Ergebnisprotokoll\nDatum: 05.03.2026\nOrt: Rathaus", date(2026, 3, 5)),
    ("Hallo,\nhier das Protokoll unseres Treffens vom 7.3.\nGruß", date(2026, 3, 7)),
    ("Sitzung: Donnerstag, 26. Februar 2026, 17:00–19:00 Uhr", date(2026, 2, 26)),
    ("Ergebnisprotokoll\n\n11.03.2026\n\nAnwesend: …", date(2026, 3, 11)),  # a bare date at the top
])
def test_meeting_date_from_the_text(text, expected):
    assert run(text).meeting_date == expected


def test_year_for_a_date_without_year_comes_from_the_mail_date_across_new_year():
    result = run("Protokoll unserer Sitzung vom 18.12.", sent_at=datetime(2026, 1, 8, 10, tzinfo=BERLIN))
    assert result.meeting_date == date(2025, 12, 18)


def test_mail_date_is_taken_in_the_alliances_time_zone():
    # 23:30 UTC on 31 December is already 1 January in Berlin.
    sent = datetime(2025, 12, 31, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert run("Protokoll der Sitzung vom 1.1.", sent_at=sent).meeting_date == date(2026, 1, 1)


def test_date_without_year_and_without_mail_date_is_not_guessed():
    assert run("Protokoll der Sitzung vom 12.03.", sent_at=None).meeting_date is None
    assert run("Protokoll der Sitzung vom 12.03.2026", sent_at=None).meeting_date == date(2026, 3, 12)


def test_quoted_older_protocol_in_a_reply_does_not_set_the_meeting_date():
    quoted = "> Protokoll der Sitzung vom 12.02.2026\n> Nächstes Treffen: 19.03.2026, 18 Uhr, Rathaus\n"
    result = run("Danke, ich ergänze noch: Frau Öztürk bringt Getränke mit.\n", subject="AW: Protokoll",
                 quoted=quoted)
    assert result.meeting_date is None
    assert result.next_meeting is None


def test_new_protocol_in_a_reply_wins_over_the_quoted_one():
    quoted = "Am 12.02.2026 schrieb Weiß:\n> Protokoll der Sitzung vom 12.02.2026"
    result = run("Hier das Protokoll der Sitzung vom 10.03.2026.\n", subject="AW: Protokoll", quoted=quoted)
    assert result.meeting_date == date(2026, 3, 10)


def test_due_dates_and_next_meeting_are_not_the_meeting_date():
    text = ("Aufgaben:\n- Flyer bis 20.03.2026 (Frau Krüger)\n\n"
            "Nächstes Treffen: 02.03.2026\n\nProtokoll der Sitzung vom 27.02.2026")
    assert run(text).meeting_date == date(2026, 2, 27)


def test_future_date_is_not_the_meeting_date_of_a_mail_already_sent():
    text = "Hallo,\nder Aktionstag ist am 20.06.2026.\nProtokoll folgt."
    assert run(text).meeting_date is None


def test_section_numbers_are_not_dates():
    text = "Protokoll\n\n2.1. Finanzen\n3.2. Öffentlichkeitsarbeit\n"
    assert run(text).meeting_date is None


def test_meeting_date_from_a_docx_attachment():
    doc = "Ergebnisprotokoll Projektgruppe Erziehungslotsen\nSitzung vom 05.02.26\nTeilnehmer/innen: A, B"
    result = run("Anbei das Protokoll.", documents=[("Protokoll.docx", doc)])
    assert result.meeting_date == date(2026, 2, 5)
    assert result.attendees == ["A", "B"]


def test_meeting_date_from_a_forwarded_message():
    forwarded = Forwarded(sender="x@example.org", subject="Protokoll", sent_at=None,
                          text="Protokoll der Sitzung vom 3. März 2026")
    assert run("Zur Ablage.", subject="WG: Protokoll", forwarded=[forwarded]).meeting_date == date(2026, 3, 3)


# --- the next meeting -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, start, location", [
    ("Nächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, Familienzentrum Regenbogen",
     datetime(2026, 4, 21, 18, 0), "Familienzentrum Regenbogen"),
    ("Nächste Sitzung am 5. Mai 2026 um 17 Uhr im Rathaus", datetime(2026, 5, 5, 17, 0), "Rathaus"),
    ("Nächster Termin: 7.5.2026, 9.30 Uhr, in der Kita Sonnenschein, Lindenweg 3",
     datetime(2026, 5, 7, 9, 30), "Kita Sonnenschein, Lindenweg 3"),
    ("Das nächste Treffen findet am 12.05.2026 um 18 Uhr im Rathaus, Raum 2.14 statt.",
     datetime(2026, 5, 12, 18, 0), "Rathaus, Raum 2.14"),
    ("Wir treffen uns wieder am 28.4. um 17:30 Uhr bei der AWO.", datetime(2026, 4, 28, 17, 30), "AWO"),
    ("Nächstes Treffen: 21.04.", date(2026, 4, 21), None),
    ("Nächstes Treffen am 21.04.2026 von 18 bis 20 Uhr, online per Zoom", datetime(2026, 4, 21, 18, 0),
     "online per Zoom"),
    ("Fortsetzung am Mittwoch, 22. April 2026, 16 Uhr, Stadtbibliothek", datetime(2026, 4, 22, 16, 0),
     "Stadtbibliothek"),
    ("Nächstes AG-Treffen: 05.05.2026 18.00 Uhr im Jugendzentrum", datetime(2026, 5, 5, 18, 0), "Jugendzentrum"),
    ("Next meeting: Tuesday, April 21, 2026, 6 pm, City Hall, Room 2.14", datetime(2026, 4, 21, 18, 0),
     "City Hall, Room 2.14"),
])
def test_next_meeting_on_the_cue_line(line, start, location):
    result = run(f"Protokoll der Sitzung vom 12.03.2026\n\nTOP 1 Begrüßung\n\n{line}\n\nViele Grüße")
    assert result.next_meeting == NextMeeting(start, location)


def test_next_meeting_under_the_form_question_with_place_on_its_own_line():
    text = ("4. Wie, wann und wo geht es weiter?\n\n"
            "Wir treffen uns am Dienstag, 21. April 2026, um 18 Uhr.\n"
            "Ort: Familienzentrum Regenbogen, Am Markt 2\n\n"
            "Protokoll: Maria Öztürk")
    assert run(text).next_meeting == NextMeeting(datetime(2026, 4, 21, 18, 0), "Familienzentrum Regenbogen, Am Markt 2")


def test_next_meeting_heading_with_date_and_place_lines():
    text = "Nächste Sitzung\n\nDonnerstag, 7. Mai 2026\n17:00 Uhr\nim Rathaus, Sitzungssaal\n"
    assert run(text).next_meeting == NextMeeting(datetime(2026, 5, 7, 17, 0), "Rathaus, Sitzungssaal")


@pytest.mark.parametrize("line", [
    "Nächstes Treffen: noch offen",
    "Nächstes Treffen: wird per Doodle abgestimmt",
    "Der nächste Termin steht noch nicht fest.",
    "Nächster Termin: wird noch bekannt gegeben",
    "Next meeting: TBD",
])
def test_open_next_meeting_is_no_next_meeting(line):
    text = f"Protokoll der Sitzung vom 12.03.2026\n\n{line}\n\nDer Aktionstag findet am 20.06.2026 statt.\n"
    assert run(text).next_meeting is None


def test_open_next_meeting_on_the_line_after_the_heading():
    text = "Nächstes Treffen:\nnoch offen\n\nDer Aktionstag findet am 20.06.2026 statt.\n"
    assert run(text).next_meeting is None


def test_a_cue_in_prose_does_not_take_a_date_from_the_next_sentence():
    text = ("Im nächsten Treffen wollen wir die Flyer besprechen.\n"
            "Der Aktionstag findet am 20.06.2026 im Stadtpark statt.\n")
    assert run(text).next_meeting is None


def test_next_meeting_year_rolls_over_after_a_december_meeting():
    text = "Protokoll der Sitzung vom 10.12.2025\n\nNächstes Treffen: 14.01. um 18 Uhr im Rathaus"
    result = run(text, sent_at=datetime(2025, 12, 11, 9, tzinfo=BERLIN))
    assert result.meeting_date == date(2025, 12, 10)
    assert result.next_meeting == NextMeeting(datetime(2026, 1, 14, 18, 0), "Rathaus")


def test_next_meeting_before_the_meeting_date_is_ignored():
    text = "Protokoll der Sitzung vom 12.03.2026\n\nNächstes Treffen: 12.02.2026 (verschoben)\n"
    assert run(text).next_meeting is None


def test_next_meeting_in_a_docx_table():
    doc = ("Ergebnisprotokoll AG Aktionstage\n"
           "Datum | 10.03.2026\n"
           "Was | Wer | Bis wann\n"
           "Plakate drucken | Klaus Hoffmann | 01.04.2026\n"
           "Stände einteilen | Lena Fischer, Maria Öztürk | 15.04.\n"
           "\n"
           "Nächstes Treffen | Montag, 20. April 2026, 19 Uhr | Gemeindehaus St. Martin\n")
    result = run("Anbei das Protokoll als Word-Datei.", documents=[("Protokoll.docx", doc)])
    assert result.meeting_date == date(2026, 3, 10)
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 20, 19, 0), "Gemeindehaus St. Martin")
    assert result.tasks == [
        Task("Plakate drucken", "Klaus Hoffmann", date(2026, 4, 1)),
        Task("Stände einteilen", "Lena Fischer, Maria Öztürk", date(2026, 4, 15)),
    ]


def test_relative_next_meeting_from_the_meeting_date():
    text = "Protokoll der Sitzung vom 12.03.2026\n\nWir treffen uns wieder in vier Wochen, gleiche Zeit.\n"
    assert run(text).next_meeting == NextMeeting(date(2026, 4, 9), None)


def test_next_weekday_after_the_meeting():
    text = "Protokoll der Sitzung vom Donnerstag, 12.03.2026\n\nNächstes Treffen: am kommenden Dienstag um 17 Uhr\n"
    assert run(text).next_meeting == NextMeeting(datetime(2026, 3, 17, 17, 0), None)


def test_first_cue_with_a_date_wins():
    text = ("Protokoll der Sitzung vom 12.03.2026\n"
            "TOP 3: Nächstes Treffen – Termin wird per Doodle gesucht.\n"
            "Nachtrag: Nächstes Treffen am 23.04.2026 um 18 Uhr im Rathaus.\n")
    assert run(text).next_meeting == NextMeeting(datetime(2026, 4, 23, 18, 0), "Rathaus")


def test_im_before_a_month_or_an_idiom_is_no_place():
    text = "Nächstes Treffen am 23.04.2026 um 18 Uhr, im Anschluss an den Elternabend.\n"
    assert run(text).next_meeting == NextMeeting(datetime(2026, 4, 23, 18, 0), None)


# --- English protocol --------------------------------------------------------------------------------------------

def test_english_protocol():
    text = """Minutes of the working group meeting on 4 March 2026

Attendees: Anna Schmidt, John Miller, Fatma Demir

Action items
- Anna Schmidt: book the room by March 20, 2026
- John Miller: draft the flyer

Next meeting: Tuesday, April 21, 2026, 6:30 pm at the Family Centre
"""
    result = run(text, subject="Minutes")
    assert result.meeting_date == date(2026, 3, 4)
    assert result.attendees == ["Anna Schmidt", "John Miller", "Fatma Demir"]
    assert result.tasks == [Task("book the room", "Anna Schmidt", date(2026, 3, 20)),
                            Task("draft the flyer", "John Miller")]
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 21, 18, 30), "Family Centre")


# --- attendees -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Anwesend: Frau Müller (AWO, Kita Sonnenschein), Herr Wagner; Frau Öztürk und Herr Becker",
     ["Frau Müller (AWO, Kita Sonnenschein)", "Herr Wagner", "Frau Öztürk", "Herr Becker"]),
    ("Teilnehmer/innen:\n- Dr. Jürgen Weiß (Gesundheitsamt)\n- Aylin Yılmaz (AWO)\n- Maria Öztürk\n\nTOP 1",
     ["Dr. Jürgen Weiß (Gesundheitsamt)", "Aylin Yılmaz (AWO)", "Maria Öztürk"]),
    ("Teilnehmer:innen: Lena Fischer, Klaus Hoffmann\nEntschuldigt: Thomas Becker",
     ["Lena Fischer", "Klaus Hoffmann"]),
    ("Teilnehmende\nLena Fischer\nKlaus Hoffmann\nEntschuldigt: Thomas Becker\n", ["Lena Fischer", "Klaus Hoffmann"]),
    ("Anwesend | Lena Fischer, Klaus Hoffmann", ["Lena Fischer", "Klaus Hoffmann"]),
])
def test_attendees(text, expected):
    assert run(text).attendees == expected


def test_no_attendee_list_gives_none():
    assert run("Protokoll vom 12.03.2026\nWir waren zu fünft.").attendees == []


# --- tasks ---------------------------------------------------------------------------------------------------------

def test_tasks_in_various_list_forms():
    text = """3. Wer von uns übernimmt was?
- Frau Krüger übernimmt die Raumbuchung
- Flyer entwerfen (Thomas Becker), bis 15.04.2026
• Presseartikel – Stefan Wagner – bis zum 30.4.
- Herr Weiß: Kontakt zur Kinderärztin herstellen
- Alle: Ideen für den Aktionstag sammeln
- Getränke besorgen

4. Wie, wann und wo geht es weiter?
Nächstes Treffen am 21.04.2026.
"""
    assert run(text).tasks == [
        Task("die Raumbuchung", "Frau Krüger"),
        Task("Flyer entwerfen", "Thomas Becker", date(2026, 4, 15)),
        Task("Presseartikel", "Stefan Wagner", date(2026, 4, 30)),
        Task("Kontakt zur Kinderärztin herstellen", "Herr Weiß"),
        Task("Ideen für den Aktionstag sammeln", "Alle"),
        Task("Getränke besorgen", None),
    ]


def test_task_table_from_outlook_html():
    text = ("Protokoll AG Familienfreundliches Unternehmen vom 10.03.2026\n\n"
            "Aufgabe | Verantwortlich | Frist\n"
            "Unternehmensbefragung auswerten | Sabine Krüger | 31.03.2026\n"
            "Siegel-Kriterien entwerfen | Thomas Becker | -\n")
    assert run(text).tasks == [
        Task("Unternehmensbefragung auswerten", "Sabine Krüger", date(2026, 3, 31)),
        Task("Siegel-Kriterien entwerfen", "Thomas Becker", None),
    ]


def test_no_tasks_without_a_task_section():
    assert run("Protokoll vom 12.03.2026\n- Punkt eins\n- Punkt zwei\n").tasks == []


def test_empty_message():
    assert run("", subject="") == extract(message(""), BERLIN)
    result = run("", subject="")
    assert (result.meeting_date, result.next_meeting, result.attendees, result.tasks) == (None, None, [], [])


def test_protocol_on_a_single_line():
    result = run("Protokoll der Sitzung vom 12.03.2026: alles besprochen. Nächstes Treffen am 21.04.2026 um 18 Uhr "
                 "im Rathaus.")
    assert result.meeting_date == date(2026, 3, 12)
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 21, 18, 0), "Rathaus")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("0123456789 .,:;|-–\n\tUhrNächstesTreffenAnwesend:()bisimäß/")) |
                    st.characters(), max_size=400),
       subject=st.text(max_size=80))
def test_extract_never_raises_and_finds_only_real_dates(text, subject):
    result = run(text, subject=subject)
    assert result.meeting_date is None or isinstance(result.meeting_date, date)
    if result.next_meeting is not None:
        assert isinstance(result.next_meeting.start, date)
    assert all(isinstance(name, str) and name for name in result.attendees)


def test_forward_header_block_does_not_date_the_meeting():
    text = ("-----Ursprüngliche Nachricht-----\nVon: Maria Öztürk\nGesendet: Mittwoch, 11. März 2026 22:10\n"
            "An: Protokolle\nBetreff: Protokoll\n\nHier das Protokoll unseres Treffens vom 10. März.\n")
    assert run(text).meeting_date == date(2026, 3, 10)


def test_outlook_table_with_headed_columns_for_the_next_meeting():
    text = ("Protokoll der Sitzung vom 12.03.2026\n\n"
            "Nächstes Treffen | Uhrzeit | Ort\n"
            "Di, 21.04.2026 | 18:00 – 20:00 Uhr | Familienbildungsstätte, Raum 3\n")
    assert run(text).next_meeting == NextMeeting(datetime(2026, 4, 21, 18, 0), "Familienbildungsstätte, Raum 3")


def test_protocol_form_header_as_table_rows():
    text = ("Ergebnisprotokoll\n"
            "Gruppe: | AG Gesundheit\n"
            "Termin: | 12.03.2026, 17:00 – 19:00 Uhr\n"
            "Ort: | Gesundheitsamt\n"
            "Anwesend: | Dr. Jürgen Weiß, Aylin Yılmaz\n\n"
            "Wer von uns übernimmt was?\n"
            "Was | Wer | Bis wann\n"
            "Elternbrief schreiben | Aylin Yılmaz | 20.3.\n\n"
            "Nächster Termin: | 16.04.2026, 17 Uhr | Gesundheitsamt, Besprechungsraum\n")
    result = run(text)
    assert result.meeting_date == date(2026, 3, 12)
    assert result.attendees == ["Dr. Jürgen Weiß", "Aylin Yılmaz"]
    assert result.tasks == [Task("Elternbrief schreiben", "Aylin Yılmaz", date(2026, 3, 20))]
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 16, 17, 0), "Gesundheitsamt, Besprechungsraum")


def test_outlook_bullets_and_time_with_h():
    text = ("Protokoll vom 12.3.2026\n\nAufgaben\n·         Flyer drucken – Thomas Becker\n"
            "·         Stand anmelden – Lena Fischer\n\nNächstes Treffen: 23.4., 18.30h, Rathaus\n")
    result = run(text)
    assert result.tasks == [Task("Flyer drucken", "Thomas Becker"), Task("Stand anmelden", "Lena Fischer")]
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 23, 18, 30), "Rathaus")


def test_hard_wrapped_next_meeting_sentence():
    text = ("Protokoll der Sitzung vom 12.03.2026\n\nDas nächste Treffen findet am Dienstag,\n"
            "21. April 2026 um 18 Uhr im Familienzentrum Regenbogen statt.\nBitte bringt eure Ideen mit.\n")
    assert run(text).next_meeting == NextMeeting(datetime(2026, 4, 21, 18, 0), "Familienzentrum Regenbogen")


@pytest.mark.parametrize("text", [
    "Im Mai 20 Familien beim Picknick, im April 15 Kinder beim Basteln.",
    "TOP 2.1. Finanzen\nTOP 3.2. Presse",
    "Die Kosten betragen 12.50 Euro pro Person, Version 1.2.3 des Flyers.",
])
def test_numbers_that_are_not_dates(text):
    assert run(text).meeting_date is None


# --- end to end: real mail bytes through hub.inbound.parse ------------------------------------------------------

def mail_bytes(body: str | None = None, subject: str = "Protokoll", html: str | None = None, charset: str | None = None,
               attachments: list[tuple[str, bytes]] = ()) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sabine Krüger <s.krueger@stadtwerke-musterhausen.example>"
    msg["To"] = "protokolle@buendnis-musterhausen.example"
    msg["Subject"] = subject
    msg["Date"] = "Fri, 13 Mar 2026 09:30:00 +0100"
    if html is not None:
        msg.set_content(html, subtype="html")
    elif charset:
        msg.set_content(body, charset=charset)
    else:
        msg.set_content(body)
    for filename, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes()


def test_end_to_end_docx_protocol_with_tables():
    document = Document()
    document.add_heading("Ergebnisprotokoll AG Aktionstage", 1)
    document.add_paragraph("Sitzung vom 10. März 2026, Gemeindehaus St. Martin")
    document.add_paragraph("Teilnehmende: Maria Öztürk, Klaus Hoffmann, Lena Fischer")
    rows = [("Was", "Wer", "Bis wann"), ("Plakate drucken", "Klaus Hoffmann", "01.04.2026"),
            ("Stände einteilen", "Lena Fischer", "15.04.")]
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    following = document.add_table(rows=1, cols=3)
    for c, value in enumerate(("Nächstes Treffen", "Montag, 20. April 2026, 19 Uhr", "Gemeindehaus St. Martin")):
        following.cell(0, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    raw = mail_bytes("Hallo zusammen,\n\nanbei das Protokoll.\n\nViele Grüße\nMaria\n",
                     attachments=[("Protokoll Aktionstage.docx", buffer.getvalue())])
    result = extract(parse(raw), BERLIN)
    assert result.meeting_date == date(2026, 3, 10)
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 20, 19, 0), "Gemeindehaus St. Martin")
    assert result.attendees == ["Maria Öztürk", "Klaus Hoffmann", "Lena Fischer"]
    assert result.tasks == [Task("Plakate drucken", "Klaus Hoffmann", date(2026, 4, 1)),
                            Task("Stände einteilen", "Lena Fischer", date(2026, 4, 15))]


def test_end_to_end_outlook_html_with_a_task_table():
    html = """<html><body><p class=MsoNormal>Liebe Frau Schulze,</p>
<p class=MsoNormal>hier das Protokoll der AG Familienfreundliches Unternehmen vom 10.03.2026.</p>
<p><b>Anwesend:</b> Sabine Krüger, Thomas Becker, Petra Schulze</p>
<table class=MsoTableGrid><tr><td><p><b>Aufgabe</b></p></td><td><p><b>Verantwortlich</b></p></td>
<td><p><b>Frist</b></p></td></tr>
<tr><td><p>Befragung auswerten</p></td><td><p>Sabine Krüger</p></td><td><p>31.03.2026</p></td></tr></table>
<p><b>Nächste Sitzung:</b> Donnerstag, 16. April 2026, 17:00 Uhr, Stadtwerke, Konferenzraum 1</p>
<p>Mit freundlichen Grüßen<br>Sabine Krüger</p></body></html>"""
    result = extract(parse(mail_bytes(html=html)), BERLIN)
    assert result.meeting_date == date(2026, 3, 10)
    assert result.attendees == ["Sabine Krüger", "Thomas Becker", "Petra Schulze"]
    assert result.tasks == [Task("Befragung auswerten", "Sabine Krüger", date(2026, 3, 31))]
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 16, 17, 0), "Stadtwerke, Konferenzraum 1")


def test_end_to_end_reply_quoting_the_older_protocol():
    raw = mail_bytes("Hallo,\nkleine Korrektur: Herr Becker war auch da.\n\n"
                     "Am 12.02.2026 um 10:00 schrieb Sabine Krüger:\n> Protokoll der Sitzung vom 11.02.2026\n"
                     "> Nächstes Treffen: 10.03.2026, 17 Uhr\n", subject="AW: Protokoll")
    parsed = parse(raw)
    assert "11.02.2026" in parsed.quoted
    result = extract(parsed, BERLIN)
    assert (result.meeting_date, result.next_meeting) == (None, None)


def test_end_to_end_outlook_inline_forward():
    raw = mail_bytes("zur Ablage\n\n-----Ursprüngliche Nachricht-----\n"
                     "Von: Sabine Krüger <s.krueger@stadtwerke-musterhausen.example>\n"
                     "Gesendet: Mittwoch, 11. März 2026 22:10\nAn: Petra Schulze\n"
                     "Betreff: Protokoll AG Familienfreundliches Unternehmen 10.03.\n\n"
                     "Hallo,\nhier das Protokoll unseres Treffens.\nNächstes Treffen: 16.04.2026, 17 Uhr, Stadtwerke\n",
                     subject="WG: Protokoll")
    result = extract(parse(raw), BERLIN)
    assert result.meeting_date == date(2026, 3, 10)
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 16, 17, 0), "Stadtwerke")


def test_end_to_end_latin1_plain_text():
    raw = mail_bytes("Protokoll der Sitzung vom 10.03.2026\nTeilnehmer: Sabine Krüger, Thomas Becker\n"
                     "Nächstes Treffen: 16.04.2026 um 17 Uhr im Rathaus, Saal Süd\n", charset="iso-8859-1")
    result = extract(parse(raw), BERLIN)
    assert result.meeting_date == date(2026, 3, 10)
    assert result.attendees == ["Sabine Krüger", "Thomas Becker"]
    assert result.next_meeting == NextMeeting(datetime(2026, 4, 16, 17, 0), "Rathaus, Saal Süd")


# --- the fixture mails in tests/mails ----------------------------------------------------------------------------

MAILS = Path(__file__).parent / "mails"
GESUNDHEIT_NEXT = NextMeeting(datetime(2026, 4, 21, 18, 0), "Familienzentrum Regenbogen, Lindenstraße 5")


@pytest.mark.parametrize("name, meeting_date, next_meeting", [
    ("plain_protokoll_gesundheit.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("docx_anhang.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("odt_anhang.eml", date(2026, 2, 5), NextMeeting(datetime(2026, 5, 7, 9, 30), "AWO-Begegnungsstätte")),
    ("pdf_anhang.eml", date(2026, 3, 3), NextMeeting(datetime(2026, 4, 28, 16, 0), "Stadtwerken, Großer Saal")),
    ("outlook_html_tabelle.eml", date(2026, 3, 12), NextMeeting(datetime(2026, 4, 21, 18, 0),
                                                                "Familienzentrum Regenbogen")),
    ("iso88591_ohne_charset.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("windows1252_ohne_charset.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("lf_ohne_datum_und_id.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("kaputt_base64.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("weiterleitung_outlook.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("weiterleitung_gmail.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("weiterleitung_apple.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("weiterleitung_als_anhang.eml", date(2026, 3, 12), GESUNDHEIT_NEXT),
    ("antwort_outlook_ohne_zitatzeichen.eml", None, None),  # the quoted protocol is not this mail's
    ("antwort_mit_zitat.eml", date(2026, 3, 12), None),  # the subject dates it; "Nächstes Treffen" is only quoted
])
def test_fixture_mails(name, meeting_date, next_meeting):
    result = extract(parse((MAILS / name).read_bytes()), BERLIN)
    assert (result.meeting_date, result.next_meeting) == (meeting_date, next_meeting)


def test_fixture_docx_tasks_and_attendees():
    result = extract(parse((MAILS / "docx_anhang.eml").read_bytes()), BERLIN)
    assert result.attendees == ["Dr. Jürgen Weiß (Gesundheitsamt)", "Aylin Yılmaz (AWO)",
                                "Maria Öztürk (Familienzentrum Regenbogen)", "Klaus Hoffmann (Kita St. Martin)"]
    assert result.tasks == [
        Task("Flyer gestalten und drucken lassen", "Aylin Yılmaz", date(2026, 4, 15)),
        Task("Genehmigung beim Ordnungsamt", "Dr. Jürgen Weiß", date(2026, 3, 31)),
        Task("Kitas und Schulen informieren", "Klaus Hoffmann"),
    ]


def test_fixture_odt_task_rows_without_a_header():
    result = extract(parse((MAILS / "odt_anhang.eml").read_bytes()), BERLIN)
    assert result.tasks == [Task("Schulung der neuen Lotsinnen vorbereiten", "Maria Öztürk"),
                            Task("Elternbrief übersetzen (Türkisch)", "Aylin Yılmaz")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*"ä ÄsSnNtT:İΣ\t", "chste", "CHSTE", "Näch", "uns", "UNS", "Treffen", "meet",
                                          "Next", "folge", "wann", "Fortsetzung"]), max_size=8).map("".join),
                max_size=8))
def test_the_lines_looked_at_for_a_cue_are_every_line_with_a_cue_word(lines):
    """_next_windows tests only `cue_lines` for the next meeting's cue: each line that holds a cue word, once,
    in order (the words found in the whole lowered text, their line by the breaks before them)."""
    assert cue_lines(lines) == [n for n, line in enumerate(lines) if any(w in line.lower() for w in _CUE_WORDS)]


def test_a_cue_after_lines_that_lowering_lengthens_is_found():
    text = ("Protokoll\nİİİİ Teilnehmende\n\nNächstes Treffen: Dienstag, 21. April 2026, 18:00 Uhr, "
            "Familienzentrum Regenbogen\n")
    assert cue_lines(text.split("\n")) == [3]
    found = extract(parse(mail_bytes(text)), BERLIN)
    assert found.next_meeting is not None and found.next_meeting.start == datetime(2026, 4, 21, 18, 0)
