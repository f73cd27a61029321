"""Typed dates: every form a German office writes, in winter and summer time; bad input is one German line."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hub import dates
from hub.errors import UsageError

TZ = ZoneInfo("Europe/Berlin")
WINTER = datetime(2030, 1, 20, 17, 0, tzinfo=UTC)  # 18:00 CET
SUMMER = datetime(2030, 7, 20, 16, 0, tzinfo=UTC)  # 18:00 CEST


@pytest.mark.parametrize("text", [
    "20.01.2030 18:00", "20.1.30 18 Uhr", "20.01.2030, 18.00 Uhr", "20.01.2030 18:00 Uhr", "2030-01-20 18:00",
    "2030-01-20T18:00", "20.01.30 18:00", "20.01.2030 um 18 Uhr", "  20.01.2030   18:00  ", "20.01.2030 18:00 uhr",
    "2030-01-20T18:00:00+01:00", "2030-01-20T17:00:00Z",
])
def test_every_form_in_winter(text):
    value = dates.parse_datetime(text, TZ)
    assert value == WINTER and value.tzinfo == UTC


@pytest.mark.parametrize("text", [
    "20.07.2030 18:00", "20.7.30 18 Uhr", "20.07.2030, 18.00 Uhr", "20.07.2030 18:00 Uhr", "2030-07-20 18:00",
    "2030-07-20T18:00",
])
def test_every_form_in_summer(text):
    assert dates.parse_datetime(text, TZ) == SUMMER


def test_minutes_and_two_digit_years():
    assert dates.parse_datetime("20.01.2030, 18.30 Uhr", TZ) == datetime(2030, 1, 20, 17, 30, tzinfo=UTC)
    assert dates.parse_datetime("1.2.27 9:05", TZ) == datetime(2027, 2, 1, 8, 5, tzinfo=UTC)
    assert dates.parse_date("3.10.99") == date(2099, 10, 3)
    assert dates.parse_date("29.02.2028") == date(2028, 2, 29)


def test_a_bare_date_is_a_day_and_not_midnight():
    assert dates.parse_when("20.01.2030", TZ) == date(2030, 1, 20)
    assert not isinstance(dates.parse_when("2030-01-20", TZ), datetime)
    assert dates.parse_when("20.1.30 18 Uhr", TZ) == WINTER
    assert dates.parse_date("20.1.30") == date(2030, 1, 20)
    assert dates.parse_date("2030-01-20") == date(2030, 1, 20)
    with pytest.raises(dates.MissingTimeError, match=r"„20\.01\.2030“ hat keine Uhrzeit; .*z\. B\. 20\.01\.2030 18:00"):
        dates.parse_datetime("20.01.2030", TZ)
    with pytest.raises(dates.DateError, match="nur ein Datum"):
        dates.parse_date("20.01.2030 18:00")


def test_times_of_day():
    assert dates.parse_time("18:00") == time(18)
    assert dates.parse_time("18 Uhr") == time(18)
    assert dates.parse_time("18.30") == time(18, 30)
    assert dates.parse_time("9:30 Uhr") == time(9, 30)
    for bad in ("24:00", "18:60", "abends", "", "18:00+01:00"):
        with pytest.raises(dates.DateError, match="Uhrzeit"):
            dates.parse_time(bad)


@pytest.mark.parametrize(("text", "says"), [
    ("31.02.2030", "einen 31. gibt es im Februar 2030 nicht, er hat 28 Tage"),
    ("31.04.2030 18:00", "einen 31. gibt es im April 2030 nicht, er hat 30 Tage"),
    ("2030-02-29", "einen 29. gibt es im Februar 2030 nicht"),
    ("13.13.2030", "einen 13. Monat gibt es nicht"),
    ("20.01.2030 25:00", "die Uhrzeit gibt es nicht; Stunden 0 bis 23"),
    ("20.01.2030 18:75", "die Uhrzeit gibt es nicht"),
    ("25:00", "„25:00“ ist kein Datum; schreiben Sie es z. B. als 20.01.2027 18:00"),
    ("morgen", "„morgen“ ist kein Datum"),
    ("nächsten Dienstag 18 Uhr", "ist kein Datum"),
    ("", "Es fehlt ein Datum"),
    ("20.01.", "das Jahr fehlt"),
    ("20.01.2030 abends", "nach dem Datum verstehe ich die Uhrzeit nicht"),
    ("20.01.2030T18:00", "nach dem Datum verstehe ich die Uhrzeit nicht"),
    ("0001-01-20", "das Jahr 1 ist sicher nicht gemeint"),
])
def test_bad_input_is_one_clear_german_line(text, says):
    with pytest.raises(dates.DateError) as caught:
        dates.parse_when(text, TZ)
    message = str(caught.value)
    assert says in message and "\n" not in message
    assert isinstance(caught.value, UsageError) and caught.value.exit_status == 2


def test_the_hour_skipped_in_spring_is_refused_and_day_start_is_local_midnight():
    with pytest.raises(dates.DateError, match="Sommerzeit"):
        dates.parse_datetime("31.03.2030 02:30", TZ)
    assert dates.parse_datetime("31.03.2030 03:30", TZ) == datetime(2030, 3, 31, 1, 30, tzinfo=UTC)
    assert dates.day_start(date(2030, 1, 20), TZ) == datetime(2030, 1, 19, 23, 0, tzinfo=UTC)
    assert dates.day_start(date(2030, 7, 20), TZ) == datetime(2030, 7, 19, 22, 0, tzinfo=UTC)
    assert dates.local_day(datetime(2030, 7, 19, 22, 0, tzinfo=UTC), TZ) == date(2030, 7, 20)


def test_an_end_may_be_only_a_time_on_the_start_day():
    start = dates.parse_datetime("20.07.2030 18 Uhr", TZ)
    assert dates.parse_end("20 Uhr", start, TZ) == datetime(2030, 7, 20, 18, 0, tzinfo=UTC)
    assert dates.parse_end("20.30 Uhr", start, TZ) == datetime(2030, 7, 20, 18, 30, tzinfo=UTC)
    with pytest.raises(dates.DateError, match="das Jahr fehlt"):
        dates.parse_end("22.07", start, TZ)
    assert dates.parse_end("21.07.2030 01:00", start, TZ) == datetime(2030, 7, 20, 23, 0, tzinfo=UTC)
    assert dates.parse_end("22.07.2030", date(2030, 7, 20), TZ) == date(2030, 7, 22)
    with pytest.raises(dates.DateError, match="ist kein Datum"):
        dates.parse_end("20 Uhr", date(2030, 7, 20), TZ)  # an all-day meeting ends on a day
