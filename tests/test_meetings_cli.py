"""`hub meetings` with dates as a German office types them, and all-day meetings (never a silent 00:00)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def hub(hub_in_process):
    assert hub_in_process("init").returncode == 0
    return hub_in_process


def test_a_day_without_a_time_needs_all_day(hub):
    bare = hub("meetings", "add", "aktionstage", "20.06.2030")
    assert bare.returncode == 2 and "--all-day" in bare.stderr and bare.stderr.count("\n") == 1
    made = hub("meetings", "add", "aktionstage", "20.6.30", "--all-day", "--end", "21.06.2030", "--json")
    assert made.returncode == 0, made.stderr
    meeting = json.loads(made.stdout)
    assert (meeting["all_day"], meeting["start"], meeting["end"]) == (True, "2030-06-20", "2030-06-21")
    ics = hub("meetings", "show", str(meeting["id"]), "--ics").stdout
    assert "DTSTART;VALUE=DATE:20300620" in ics and "DTEND;VALUE=DATE:20300622" in ics


def test_german_date_and_an_end_given_as_a_time(hub):
    made = hub("meetings", "add", "gesundheit", "20.06.2030, 18.30 Uhr", "--end", "20 Uhr", "--json")
    assert made.returncode == 0, made.stderr
    meeting = json.loads(made.stdout)
    assert (meeting["start"], meeting["end"]) == ("2030-06-20T18:30:00+02:00", "2030-06-20T20:00:00+02:00")
    moved = hub("meetings", "edit", str(meeting["id"]), "--start", "21.06.2030 17 Uhr", "--end", "19 Uhr")
    assert moved.returncode == 0, moved.stderr
    shown = json.loads(hub("meetings", "show", str(meeting["id"]), "--json").stdout)
    assert (shown["start"], shown["end"]) == ("2030-06-21T17:00:00+02:00", "2030-06-21T19:00:00+02:00")


def test_impossible_dates_are_named(hub):
    refused = hub("meetings", "add", "gesundheit", "31.02.2030 18:00")
    assert refused.returncode == 2 and "einen 31. gibt es im Februar" in refused.stderr


def test_newsletter_since_takes_a_german_date(hub):
    made = hub("newsletter", "draft", "--since", "1.12.25", "--json")
    assert made.returncode == 0, made.stderr
    refused = hub("newsletter", "draft", "--since", "30.02.2026")
    assert refused.returncode == 2 and "Februar" in refused.stderr


def test_a_draft_starting_in_the_future_names_the_day_as_typed(hub):
    refused = hub("newsletter", "draft", "--since", "1.3.2030")
    assert refused.returncode == 2 and "01.03.2030" in refused.stderr  # not 28.02. (midnight in Berlin as UTC)
