"""The next meeting in the forms coordinators write (issue 16): relative to the meeting, the meeting's own time
and place, spoken times, ranges, the turn of the year, corrections in replies, options still to vote on, and the
dates around it that are not the next meeting. Every mail date is fixed: nothing here depends on today."""

from __future__ import annotations

from datetime import date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from hub.inbound.extract import extract
from hub.inbound.message import Extraction, NextMeeting, ParsedMessage
from hub.inbound.parse import parse

BERLIN = ZoneInfo("Europe/Berlin")
MARCH = datetime(2026, 3, 13, 9, 30, tzinfo=BERLIN)  # the day after a meeting on Thursday, 12 March 2026
DECEMBER = datetime(2026, 12, 11, 8, 0, tzinfo=BERLIN)  # the day after a meeting on Thursday, 10 December 2026


def extraction(text: str, subject: str = "Protokoll", sent_at: datetime = MARCH, quoted: str = "") -> Extraction:
    parsed = ParsedMessage(
        message_id="<n@example>", content_hash="0" * 64, sender="ag@example.org", sender_name="", subject=subject,
        sent_at=sent_at, to=[], headers=[], text=text, quoted=quoted,
    )
    return extract(parsed, BERLIN)


def next_meeting(text: str, subject: str = "Protokoll", sent_at: datetime = MARCH,
                 quoted: str = "") -> NextMeeting | None:
    return extraction(text, subject, sent_at, quoted).next_meeting


def protocol(closing: str, opening: str = "Protokoll der Sitzung vom 12.03.2026") -> str:
    return (f"{opening}\n\nTeilnehmende: Aylin Yılmaz (Kita Sonnenschein), Jürgen Weiß (Familienzentrum)\n\n"
            "1. Familientag\nDer Stand wird gemeinsam mit dem Elterncafé betreut.\n\n"
            f"{closing}\n\nViele Grüße\nAylin Yılmaz\n")


# --- relative to the meeting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("closing, expected", [
    ("Nächstes Treffen in vier Wochen um 17 Uhr im Familienzentrum.",
     NextMeeting(datetime(2026, 4, 9, 17, 0), "Familienzentrum")),
    ("Wir treffen uns wieder in 14 Tagen, 16:00 Uhr, Kita Sonnenschein.",
     NextMeeting(datetime(2026, 3, 26, 16, 0), "Kita Sonnenschein")),
    ("Nächstes Treffen: am nächsten Dienstag, 18 Uhr, Elterncafé im Stadtteilhaus",
     NextMeeting(datetime(2026, 3, 17, 18, 0), "Elterncafé im Stadtteilhaus")),
    ("Nächste Sitzung: übernächste Woche Mittwoch um 9:30 Uhr in der Kita Regenbogen",
     NextMeeting(datetime(2026, 3, 25, 9, 30), "Kita Regenbogen")),
    ("Das nächste Treffen findet in zwei Wochen statt.", NextMeeting(date(2026, 3, 26))),
], ids=["in vier Wochen", "in 14 Tagen", "am nächsten Dienstag", "übernächste Woche Mittwoch", "date only"])
def test_relative_to_the_meeting_date(closing, expected):
    assert next_meeting(protocol(closing)) == expected


def test_relative_dates_count_from_the_meeting_not_from_the_mail():
    # Sent a week after the meeting: "in vier Wochen" is four weeks after 12 March, not after the 19th.
    late = datetime(2026, 3, 19, 20, 0, tzinfo=BERLIN)
    assert next_meeting(protocol("Wir treffen uns wieder in vier Wochen."), sent_at=late) == \
        NextMeeting(date(2026, 4, 9))


# --- the meeting's own time and place ------------------------------------------------------------------------

def test_same_time_and_place_from_the_protocol_head():
    text = protocol("Nächstes Treffen: 16.04.2026, gleiche Zeit, gleicher Ort.",
                    opening="Protokoll Runder Tisch Frühe Hilfen\nDatum: 12.03.2026\nZeit: 18:00–19:30 Uhr\n"
                            "Ort: Familienzentrum Regenbogen, Lindenstraße 4")
    assert next_meeting(text) == NextMeeting(datetime(2026, 4, 16, 18, 0), "Familienzentrum Regenbogen, Lindenstraße 4")


def test_same_time_and_place_from_the_meeting_line_with_a_relative_date():
    text = protocol("Wir treffen uns wieder in vier Wochen – selbe Uhrzeit, selber Ort.",
                    opening="Protokoll der Sitzung vom 12.03.2026, 18:00 Uhr, Elterncafé am Markt")
    assert next_meeting(text) == NextMeeting(datetime(2026, 4, 9, 18, 0), "Elterncafé am Markt")


def test_same_place_but_a_new_time():
    text = protocol("Nächstes Treffen: 23.04.2026 um 17 Uhr, gleicher Ort",
                    opening="Sitzung vom 12.03.2026, 19:00 Uhr, im Rathaus, Raum 104")
    assert next_meeting(text) == NextMeeting(datetime(2026, 4, 23, 17, 0), "Rathaus, Raum 104")


def test_same_time_but_a_place_of_its_own():
    text = protocol("Nächstes Treffen: 16.04.2026, selbe Zeit wie heute, im Rathaus",
                    opening="Sitzung vom 12.03.2026, 18:00 Uhr, Kita Sonnenschein")
    assert next_meeting(text) == NextMeeting(datetime(2026, 4, 16, 18, 0), "Rathaus")


def test_same_time_and_place_when_the_protocol_never_said_them():
    assert next_meeting(protocol("Nächstes Treffen: 16.04.2026, gleiche Zeit, gleicher Ort.")) == \
        NextMeeting(date(2026, 4, 16))


# --- times as people say them --------------------------------------------------------------------------------

@pytest.mark.parametrize("closing, expected", [
    ("Nächstes Treffen: Mittwoch, 15.04.2026, um halb fünf in der Stadtbücherei",
     NextMeeting(datetime(2026, 4, 15, 16, 30), "Stadtbücherei")),
    ("Nächster Termin: 22.04.2026, halb 5 nachmittags, Rathaus, Sitzungssaal",
     NextMeeting(datetime(2026, 4, 22, 16, 30), "Rathaus, Sitzungssaal")),
    ("Nächstes Treffen am 23.04.2026 um 16.30 Uhr im Familienzentrum",
     NextMeeting(datetime(2026, 4, 23, 16, 30), "Familienzentrum")),
    ("Nächste Sitzung: 23.04.2026, 16 Uhr 30, Kita Pusteblume",
     NextMeeting(datetime(2026, 4, 23, 16, 30), "Kita Pusteblume")),
    ("Nächstes Elterncafé-Treffen: 24.04.2026 um halb acht abends im Gemeindehaus St. Marien",
     NextMeeting(datetime(2026, 4, 24, 19, 30), "Gemeindehaus St. Marien")),
    ("Nächstes Treffen: 24.04.2026, halb zehn vormittags, Kita Sonnenschein",
     NextMeeting(datetime(2026, 4, 24, 9, 30), "Kita Sonnenschein")),
], ids=["halb fünf", "halb 5 nachmittags", "16.30 Uhr", "16 Uhr 30", "halb acht abends", "halb zehn vormittags"])
def test_times_as_people_write_them(closing, expected):
    assert next_meeting(protocol(closing)) == expected


def test_halb_is_not_a_time_without_an_hour():
    assert next_meeting(protocol("Nächstes Treffen: 24.04.2026 – die halbe Gruppe ist dann im Urlaub.")) == \
        NextMeeting(date(2026, 4, 24))


# --- a range starts on its first day -------------------------------------------------------------------------

@pytest.mark.parametrize("closing, expected", [
    ("Nächstes Treffen (Klausur): 12.–14. Juni 2026 im Jugendgästehaus Waldblick",
     NextMeeting(date(2026, 6, 12), "Jugendgästehaus Waldblick")),
    ("Das nächste Treffen ist unsere Klausur vom 3. bis 5. Mai in der Bildungsstätte Haus Sonnenberg.",
     NextMeeting(date(2026, 5, 3), "Bildungsstätte Haus Sonnenberg")),
    ("Nächste Sitzung: 12.06.–13.06.2026, Familienzentrum Regenbogen",
     NextMeeting(date(2026, 6, 12), "Familienzentrum Regenbogen")),
])
def test_a_date_range_gives_its_first_day(closing, expected):
    assert next_meeting(protocol(closing)) == expected


# --- across the turn of the year -----------------------------------------------------------------------------

@pytest.mark.parametrize("closing, opening, expected", [
    ("Nächstes Treffen am 14.01. um 18 Uhr im Rathaus", "Protokoll der Sitzung vom 10.12.2026",
     NextMeeting(datetime(2027, 1, 14, 18, 0), "Rathaus")),
    ("Nächstes Treffen: Donnerstag, 14. Januar, 17 Uhr, Kita Regenbogen", "Protokoll der Sitzung vom 10.12.2026",
     NextMeeting(datetime(2027, 1, 14, 17, 0), "Kita Regenbogen")),
    ("Wir treffen uns wieder in vier Wochen.", "Protokoll der Sitzung vom 10.12.2026", NextMeeting(date(2027, 1, 7))),
    ("Nächstes Treffen: am nächsten Dienstag um 10 Uhr im Familienzentrum", "Protokoll der Sitzung vom 30.12.2026",
     NextMeeting(datetime(2027, 1, 5, 10, 0), "Familienzentrum")),
], ids=["14.01.", "14. Januar", "in vier Wochen", "nächsten Dienstag"])
def test_across_the_turn_of_the_year(closing, opening, expected):
    assert next_meeting(protocol(closing, opening=opening), sent_at=DECEMBER if "10.12" in opening
                        else datetime(2026, 12, 31, 9, 0, tzinfo=BERLIN)) == expected


# --- corrections in replies ----------------------------------------------------------------------------------

ANNOUNCED = ("> Protokoll der Sitzung vom 28.04.2026\n> …\n"
             "> Nächstes Treffen: 12.05.2026, 18 Uhr, Rathaus, Raum 104\n")
REPLY = {"subject": "AW: Protokoll AG Kinderbetreuung vom 28.04.2026",
         "sent_at": datetime(2026, 4, 30, 11, 0, tzinfo=BERLIN)}


@pytest.mark.parametrize("text, expected", [
    ("Liebe alle,\nkleine Korrektur zum Protokoll: Das nächste Treffen ist nicht am 12.05. sondern am 19.05., "
     "wie gehabt um 18 Uhr im Rathaus.\nViele Grüße\nSabine",
     NextMeeting(datetime(2026, 5, 19, 18, 0), "Rathaus", replaces=date(2026, 5, 12))),
    ("Hallo zusammen,\nKorrektur: Das Treffen ist am 19.05.2026 um 17 Uhr, nicht wie im Protokoll angegeben "
     "am 12.05.\nGruß Sabine",
     NextMeeting(datetime(2026, 5, 19, 17, 0), "Rathaus, Raum 104", replaces=date(2026, 5, 12))),
    ("Hallo,\nunser Termin wird verschoben auf den 19.05.\nBeste Grüße\nSabine",
     NextMeeting(datetime(2026, 5, 19, 18, 0), "Rathaus, Raum 104", replaces=date(2026, 5, 12))),
    ("Hallo,\nsorry, Fehler im Protokoll: das nächste Treffen ist am 19.05., nicht am 12.05.\nLG Sabine",
     NextMeeting(datetime(2026, 5, 19, 18, 0), "Rathaus, Raum 104", replaces=date(2026, 5, 12))),
    ("Hallo,\nunser Treffen wird vom 12.05. auf den 19.05. verschoben.\nGruß Sabine",
     NextMeeting(datetime(2026, 5, 19, 18, 0), "Rathaus, Raum 104", replaces=date(2026, 5, 12))),
], ids=["nicht am … sondern am …", "Korrektur: das Treffen ist am …", "verschoben auf", "Fehler im Protokoll",
        "vom … auf … verschoben"])
def test_a_corrected_date_in_a_reply(text, expected):
    # What the correction does not name (time, room) stays as the corrected announcement said; `replaces` is the
    # day the correction names as wrong, else the announced one: the meeting the scheduler moves.
    assert next_meeting(text, quoted=ANNOUNCED, **REPLY) == expected


def test_a_corrected_date_without_the_announcement_quoted():
    text = "Korrektur: das nächste Treffen ist nicht am 12.05. sondern am 19.05.2026!"
    assert next_meeting(text, **REPLY) == NextMeeting(date(2026, 5, 19), replaces=date(2026, 5, 12))


def test_a_changed_room_only_keeps_the_announced_date_and_time():
    text = ("Hallo zusammen,\nder Raum hat sich geändert: Wir treffen uns im Familienzentrum, Großer Saal.\n"
            "Gruß Petra")
    assert next_meeting(text, quoted=ANNOUNCED, **REPLY) == \
        NextMeeting(datetime(2026, 5, 12, 18, 0), "Familienzentrum, Großer Saal", replaces=date(2026, 5, 12))


@pytest.mark.parametrize("text, place", [
    ("Hallo zusammen,\nwir müssen leider in einen anderen Raum: Raum 2.14 im Rathaus.\nGruß", "Raum 2.14 im Rathaus"),
    ("Hallo,\nOrt: Familienzentrum statt Rathaus.\nGruß", "Familienzentrum"),
])
def test_other_ways_to_change_the_room(text, place):
    assert next_meeting(text, quoted=ANNOUNCED, **REPLY) == \
        NextMeeting(datetime(2026, 5, 12, 18, 0), place, replaces=date(2026, 5, 12))


@pytest.mark.parametrize("text, expected, cancelled", [
    ("Hallo,\ndie Sitzung am 12.05. fällt leider aus, neuer Termin folgt.\nGruß", None, date(2026, 5, 12)),
    ("Hallo,\ndas Treffen am 12.05. fällt aus – wir treffen uns stattdessen am 26.05.\nGruß",
     NextMeeting(datetime(2026, 5, 26, 18, 0), "Rathaus, Raum 104", replaces=date(2026, 5, 12)), None),
    ("Hallo,\ndas Treffen am 12.05. fällt aus.\nNeuer Termin: 26.05., 17 Uhr\nGruß",
     NextMeeting(datetime(2026, 5, 26, 17, 0), "Rathaus, Raum 104", replaces=date(2026, 5, 12)), None),
])
def test_a_cancelled_meeting_is_not_the_next_meeting(text, expected, cancelled):
    # The cancelled day is what the scheduler cancels, or moves when a new date is given.
    assert next_meeting(text, quoted=ANNOUNCED, **REPLY) == expected
    assert extraction(text, quoted=ANNOUNCED, **REPLY).cancelled == cancelled


def test_a_reply_that_only_mentions_the_date_is_no_correction():
    text = "Danke für das Protokoll! Ich kann am 12.05. leider nicht.\nGruß Jürgen"
    assert next_meeting(text, quoted=ANNOUNCED, **REPLY) is None


def test_a_changed_room_without_the_announcement_quoted_is_no_next_meeting():
    # NextMeeting needs a start: a room alone, with no date in the mail, is nothing to propose.
    text = "Hallo zusammen,\nneuer Raum für unser Treffen: Familienzentrum, Großer Saal.\nGruß Petra"
    assert next_meeting(text, **REPLY) is None


def test_a_postponed_summer_party_is_not_a_meeting():
    text = "Hallo,\nkleine Korrektur: das Sommerfest wird auf den 4.7. verschoben.\nGruß Petra"
    assert next_meeting(text, quoted=ANNOUNCED, **REPLY) is None


# --- no date fixed yet ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("closing", [
    "Nächstes Treffen: 3.6. oder 10.6. – bitte bis Freitag zurückmelden, welcher Termin passt.",
    "Terminvorschläge für das nächste Treffen: Di 2.6., Mi 3.6. oder Do 4.6.2026",
    "Nächster Termin: bitte per Doodle abstimmen (Link folgt)",
    "Nächstes Treffen: Anfang Juni, den genauen Termin stimmen wir per Doodle ab.",
    "Nächstes Treffen:\nVorschlag 1: Mo, 8.6.2026, 17 Uhr\nVorschlag 2: Di, 9.6.2026, 17 Uhr\n"
    "Bitte im Doodle eintragen.",
    "Wie, wann und wo geht es weiter?\nEine Umfrage zum nächsten Termin folgt per Mail.",
    "Nächste Sitzung: 8.6.2026 oder 15.6.2026, Umfrage folgt",
], ids=["oder", "Terminvorschläge", "per Doodle", "Anfang Juni per Doodle", "Vorschlag 1/2", "Umfrage folgt",
        "two dates, Umfrage"])
def test_options_still_to_vote_on_are_no_next_meeting(closing):
    assert next_meeting(protocol(closing)) is None


# --- dates that are not the next meeting ---------------------------------------------------------------------

def test_a_letterhead_date_is_not_the_next_meeting():
    text = ("Familienzentrum Regenbogen · Lindenstraße 4 · 12345 Musterhausen\nMusterhausen, den 14.03.2026\n\n"
            "Protokoll der Sitzung vom 12.03.2026\n\nNächstes Treffen: Termin wird noch abgestimmt.\n")
    result = extract(ParsedMessage(message_id="<l@x>", content_hash="0" * 64, sender=None, sender_name="",
                                   subject="Protokoll", sent_at=MARCH, to=[], headers=[], text=text), BERLIN)
    assert result.meeting_date == date(2026, 3, 12)
    assert result.next_meeting is None


def test_a_letterhead_date_under_the_cue_is_skipped():
    closing = "Nächstes Treffen:\nMusterhausen, den 14.03.2026\nam 16.04.2026 um 18 Uhr im Rathaus"
    assert next_meeting(protocol(closing)) == NextMeeting(datetime(2026, 4, 16, 18, 0), "Rathaus")


@pytest.mark.parametrize("closing", ["Nächstes Treffen: Dienstag, den 21.04.2026, 18 Uhr, Bürgerhaus",
                                     "Nächstes Treffen:\nDi., den 21.04.2026, 18 Uhr, Bürgerhaus"])
def test_a_weekday_with_den_is_no_letterhead(closing):
    assert next_meeting(protocol(closing)) == NextMeeting(datetime(2026, 4, 21, 18, 0), "Bürgerhaus")


@pytest.mark.parametrize("closing, expected", [
    ("Wie, wann und wo geht es weiter?\nAnmeldeschluss für den Familientag ist der 30.04.\n"
     "Nächstes Treffen am 7. Mai 2026 um 17 Uhr im Elterncafé.",
     NextMeeting(datetime(2026, 5, 7, 17, 0), "Elterncafé")),
    ("Nächstes Treffen:\nBis zum 30.04. bitte alle Beiträge für den Flyer an Frau Yılmaz.\n"
     "Dann treffen wir uns am 07.05.2026 im Rathaus.",
     NextMeeting(date(2026, 5, 7), "Rathaus")),
    ("Nächstes Treffen: 7. Mai 2026, 17 Uhr, Elterncafé (Rückmeldung bitte bis 30.04.)",
     NextMeeting(datetime(2026, 5, 7, 17, 0), "Elterncafé")),
    ("Wie, wann und wo geht es weiter?\nAbgabefrist für den Förderantrag: 15.04.2026\nWir treffen uns wieder am "
     "23.04.2026 in der Kita Sonnenschein.",
     NextMeeting(date(2026, 4, 23), "Kita Sonnenschein")),
], ids=["Anmeldeschluss", "bis zum", "Rückmeldung bis", "Abgabefrist"])
def test_deadlines_are_not_the_next_meeting(closing, expected):
    assert next_meeting(protocol(closing)) == expected


def test_a_past_event_is_not_the_next_meeting():
    # The protocol of 12 March is sent on the 20th, after the flea market it looks back on.
    closing = ("Wie, wann und wo geht es weiter?\nDer Flohmarkt am 14.03. war ein voller Erfolg, danke an alle!\n"
               "Nächste Sitzung: 16.04.2026, 18 Uhr, Familienzentrum")
    late = datetime(2026, 3, 20, 9, 0, tzinfo=BERLIN)
    assert next_meeting(protocol(closing), sent_at=late) == NextMeeting(datetime(2026, 4, 16, 18, 0), "Familienzentrum")


def test_an_agreement_in_the_past_tense_is_the_next_meeting():
    closing = "Als nächster Termin wurde der 16.04.2026, 18 Uhr, festgelegt."
    assert next_meeting(protocol(closing)) == NextMeeting(datetime(2026, 4, 16, 18, 0))


def test_a_past_event_after_the_date_on_the_same_line():
    closing = "Nächste Sitzung: 16.04.2026, Anmeldeschluss für den Familientag war der 10.03."
    assert next_meeting(protocol(closing)) == NextMeeting(date(2026, 4, 16))


def test_a_poll_about_something_else_after_a_fixed_meeting():
    closing = ("Nächstes Treffen: 16.04.2026, 18 Uhr, Familienzentrum\n"
               "Bitte tragt euch bis Freitag in die Doodle-Liste für den Kuchenverkauf ein.")
    assert next_meeting(protocol(closing)) == NextMeeting(datetime(2026, 4, 16, 18, 0), "Familienzentrum")


def test_a_past_event_under_the_cue_with_nothing_fixed():
    closing = "Wie, wann und wo geht es weiter?\nDas Kinderfest am 14.03. hat gut stattgefunden; Termin folgt."
    assert next_meeting(protocol(closing), sent_at=datetime(2026, 3, 20, 9, 0, tzinfo=BERLIN)) is None


def test_a_signature_after_an_empty_cue_is_not_the_next_meeting():
    text = ("Protokoll der Sitzung vom 12.03.2026\n\nNächstes Treffen:\nViele Grüße\nPetra Schulz\n"
            "Familienbüro der Stadt Musterhausen\nStand: 13.03.2026")
    assert next_meeting(text) is None


def test_a_signature_with_a_date_after_the_next_meeting():
    text = ("Protokoll der Sitzung vom 12.03.2026\n\nNächstes Treffen: noch offen\n-- \n"
            "Petra Schulz, Musterhausen, 13.03.2026")
    assert next_meeting(text) is None


def test_quoted_older_mail_is_not_the_next_meeting():
    quoted = "Am 04.02.2026 um 10:15 schrieb Petra Schulz:\n> Nächstes Treffen: 5.3.\n"
    assert next_meeting("Danke, ich bin dabei!\nGruß Jürgen", subject="AW: Protokoll", quoted=quoted) is None


def test_quote_lines_left_in_the_text_are_not_the_next_meeting():
    # An interleaved answer keeps quote lines between the new ones.
    text = "Liebe Petra,\n> Nächstes Treffen: 05.03.2026\nda kann ich leider nicht.\nGruß Jürgen"
    assert next_meeting(text, subject="AW: Protokoll", sent_at=datetime(2026, 2, 20, tzinfo=BERLIN)) is None


def test_quoted_older_mail_in_a_raw_reply_is_not_the_next_meeting():
    mail = EmailMessage()
    mail["From"] = "juergen@example.org"
    mail["To"] = "protokolle@example.org"
    mail["Subject"] = "AW: Protokoll AG Familie"
    mail["Date"] = "Fri, 20 Feb 2026 10:00:00 +0100"
    mail["Message-ID"] = "<reply@example.org>"
    mail.set_content("Danke für das Protokoll, ich bin beim nächsten Mal leider nicht dabei.\n\n"
                     "Am 19.02.2026 um 18:02 schrieb Petra Schulz <petra@example.org>:\n"
                     "> Protokoll der Sitzung vom 18.02.2026\n> Nächstes Treffen: 5.3., 18 Uhr, Rathaus\n")
    assert extract(parse(mail.as_bytes()), BERLIN).next_meeting is None
