"""The next meeting in the forms coordinators write (issue 16): relative to the meeting, the meeting's own time
and place, spoken times, ranges, the turn of the year, corrections in replies, options still to vote on, and the
dates around it that are not the next meeting. Every mail date is fixed: nothing here depends on today."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from hub.inbound.extract import extract
from hub.inbound.message import NextMeeting, ParsedMessage

BERLIN = ZoneInfo("Europe/Berlin")
MARCH = datetime(2026, 3, 13, 9, 30, tzinfo=BERLIN)  # the day after a meeting on Thursday, 12 March 2026
DECEMBER = datetime(2026, 12, 11, 8, 0, tzinfo=BERLIN)  # the day after a meeting on Thursday, 10 December 2026


def next_meeting(text: str, subject: str = "Protokoll", sent_at: datetime = MARCH,
                 quoted: str = "") -> NextMeeting | None:
    parsed = ParsedMessage(
        message_id="<n@example>", content_hash="0" * 64, sender="ag@example.org", sender_name="", subject=subject,
        sent_at=sent_at, to=[], headers=[], text=text, quoted=quoted,
    )
    return extract(parsed, BERLIN).next_meeting


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
