"""Due dates as protocols write them: "15.01.", "18. Dezember", "Ende Januar", "KW 3", "bis zum nächsten Treffen".

A date without a year is the first one on or after the meeting (`reference`), so a December meeting's
"15.01." falls in the next January. A calendar week is due on its Friday (the end of the working week
people mean), a month's "Anfang/Mitte/Ende" on its 1st, 15th and last day.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from hub.inbound.datefind import MONTH_RE, MONTHS, WEEKDAY_RE, complete_after, find_dates, fold

_WEEK = re.compile(r"\b(?:kw|kalenderwoche|woche)\s*\.?\s*(?P<week>\d{1,2})(?:\s*/\s*(?P<year>\d{2}|\d{4}))?\b",
                   re.IGNORECASE)
_PERIOD = re.compile(rf"\b(?P<part>anfang|mitte|ende)\s+(?P<month>{MONTH_RE})\b\.?(?:\s+(?P<year>\d{{4}}))?",
                     re.IGNORECASE)
_NEXT_MEETING = re.compile(r"\b(?:zum|zur|vor\s+dem|vor\s+der)?\s*n(?:ä|ae)chsten\s+(?:[\w-]*(?:treffen|sitzung|termin"
                           r"|runde|ag-sitzung))\b|\bnext\s+meeting\b", re.IGNORECASE)
# A due phrase's opening word; what follows it must be a due date for the phrase to count.
DUE_WORD = re.compile(r"\b(?:bis|frist|fällig|deadline|by|until|spätestens|erledigen\s+bis)\b", re.IGNORECASE)
_DUE_OPENING = re.compile(rf"(?:bis(?:\s+zum|\s+zur|\s+spätestens|\s+spätestens\s+zum)?|frist|fällig(?:\s+am)?"
                          rf"|deadline|by|until|spätestens(?:\s+am|\s+zum|\s+bis)?|erledigen\s+bis)\b:?\s*"
                          rf"(?:(?:{WEEKDAY_RE})\.?,?\s+)?(?:(?:den|dem|am)\s+)?",
                          re.IGNORECASE)


@dataclass
class Due:
    day: date | None  # None: a due phrase whose date is unknown ("bis zum nächsten Treffen" with no next meeting)
    start: int
    end: int


def due_in(text: str, reference: date | None, next_meeting: date | None) -> Due | None:
    """The first due expression in `text` (a date, a month period, a week, the next meeting), where it is."""
    found = []
    dates = find_dates(text, section_numbers=False)
    if dates:
        found.append(Due(complete_after(dates[0], reference), dates[0].start, dates[0].end))
    if (m := _PERIOD.search(text)) is not None:
        found.append(Due(_period(m, reference), m.start(), m.end()))
    if (m := _WEEK.search(text)) is not None:
        found.append(Due(_week(m, reference), m.start(), m.end()))
    if (m := _NEXT_MEETING.search(text)) is not None:
        found.append(Due(next_meeting, m.start(), m.end()))
    return min(found, key=lambda d: d.start) if found else None


def due_date(text: str, reference: date | None, next_meeting: date | None) -> date | None:
    """A due cell of a table or a `Bis wann:` line."""
    found = due_in(text, reference, next_meeting)
    return found.day if found else None


def trailing_due(text: str, reference: date | None, next_meeting: date | None) -> tuple[int, date | None] | None:
    """A due phrase that ends the text ("… bis zum 30.4.", "… bis Ende Januar", "… bis KW 3"): where it starts
    and its day."""
    for word in DUE_WORD.finditer(text):
        opening = _DUE_OPENING.match(text, word.start())
        if opening is None:
            continue
        rest = text[opening.end():]
        found = due_in(rest, reference, next_meeting)
        if found is not None and found.start == 0 and not rest[found.end:].strip(" .,;)"):
            return word.start(), found.day
    return None


def _period(m: re.Match, reference: date | None) -> date | None:
    month = MONTHS[fold(m.group("month"))]
    year = int(m.group("year")) if m.group("year") else _year_from(reference, month)
    if year is None:
        return None
    last = calendar.monthrange(year, month)[1]
    return date(year, month, {"anfang": 1, "mitte": 15}.get(m.group("part").lower(), last))


def _year_from(reference: date | None, month: int) -> int | None:
    if reference is None:
        return None
    return reference.year + 1 if month < reference.month else reference.year


def _week(m: re.Match, reference: date | None) -> date | None:
    week = int(m.group("week"))
    if not 1 <= week <= 53:
        return None
    if m.group("year"):
        years = [int(m.group("year")) + (2000 if len(m.group("year")) == 2 else 0)]
    elif reference is not None:
        years = [reference.year, reference.year + 1]
    else:
        return None
    for year in years:
        try:
            friday = date.fromisocalendar(year, week, 5)
        except ValueError:
            continue
        if reference is None or m.group("year") or friday >= reference - timedelta(days=7):
            return friday
    return None
