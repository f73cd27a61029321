"""Dates and times as protocols write them: "12.03.2026", "12. März", "March 12th", "18 Uhr", "18.30 Uhr",
ranges, and relative phrases after a cue ("in vier Wochen", "am nächsten Dienstag"). Month and weekday
names come from CLDR via babel (German and English)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from babel.dates import get_day_names, get_month_names


def fold(text: str) -> str:
    return text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss").rstrip(".")


def _names(getter, widths: tuple[str, ...]) -> dict[str, int]:
    names: dict[str, int] = {}
    for locale in ("de", "en"):
        for width in widths:
            for context in ("format", "stand-alone"):
                for number, name in getter(width, context, locale).items():
                    names[fold(name)] = number
                    names[name.lower().rstrip(".")] = number
    return names


MONTHS = _names(get_month_names, ("wide", "abbreviated")) | {"sept": 9, "mrz": 3, "jänner": 1, "jaenner": 1}
_WEEKDAYS = _names(get_day_names, ("wide", "abbreviated"))  # 0 = Monday


_MONTH_RE = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
MONTH_RE = _MONTH_RE
WEEKDAY_RE = "|".join(sorted((re.escape(d) for d in _WEEKDAYS if len(d) > 3), key=len, reverse=True))


DATE = re.compile(
    rf"""
    (?<![\d.])(?P<d>\d{{1,2}})\.\s?(?P<m>\d{{1,2}})\.(?:(?P<y4>\s?\d{{4}})|(?P<y2>\d{{2}}))?(?!\d|[.:]\d)
  | (?<!\d)(?P<iy>\d{{4}})-(?P<im>\d{{2}})-(?P<id>\d{{2}})(?!\d)
  | (?<![\d.])(?P<td>\d{{1,2}})(?:\.|st|nd|rd|th)?\s*(?P<tm>{_MONTH_RE})\b\.?(?:,?\s+(?P<ty>\d{{4}}))?(?!\d)
  | \b(?P<em>{_MONTH_RE})\.?\s+(?P<ed>\d{{1,2}})(?:(?:st|nd|rd|th)\b(?:,?\s+(?P<ey>\d{{4}}))?|,?\s+(?P<ey2>\d{{4}}))
    (?![\d.:])
    """,
    re.IGNORECASE | re.VERBOSE,
)
_NUMBERING = re.compile(r"(?:\b(?:top|punkt|tagesordnungspunkt|nr|kapitel|abschnitt|ziffer|version)|§)\.?\s*$",
                        re.IGNORECASE)


# "12.–13.03.2026", "vom 12. bis 13. März": a range starts on its first day.
_RANGE_START = re.compile(r"(?<![\d.])(\d{1,2})\.?\s*(?:-|–|—|bis)\s*$", re.IGNORECASE)
_HOURS = {"eins": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "fuenf": 5, "sechs": 6, "sieben": 7, "acht": 8,
          "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12, "zwoelf": 12}
_HOURS_RE = "|".join(_HOURS)
TIME = re.compile(
    rf"""
    (?<![\d.:])(?P<h3>\d{{1,2}})(?::(?P<min3>\d{{2}}))?\s*(?P<ampm>[ap])\.?\s?m\b\.?
  | (?<![\d.:])(?P<h>\d{{1,2}})(?:[:.](?P<min>\d{{2}}))?\s*(?:(?:-|–|bis)\s*\d{{1,2}}(?:[:.]\d{{2}})?\s*)?
    (?:Uhr\b(?:\s(?P<min4>\d{{2}})(?![\d.:]))?|h\b)
  | (?<![\d.:])(?P<h2>\d{{1,2}}):(?P<min2>\d{{2}})(?![\d.:])
  | \bhalb\s(?P<half>\d{{1,2}}|{_HOURS_RE})\b(?:\s*Uhr\b)?
    (?:\s(?P<part>morgens|früh|vormittags|mittags|nachmittags|abends))?
    """,
    re.IGNORECASE | re.VERBOSE,
)
_MORNING = ("morgens", "früh", "vormittags")
DUE_BEFORE = re.compile(r"(?:\bbis(?:\s+zum|\s+spätestens)?|\bfrist:?|\bfällig:?|\bdeadline:?|\bby|\buntil"
                         r"|\bspätestens|\bab)\s*(?:\w+,?\s*)?$", re.IGNORECASE)


_RELATIVE = re.compile(r"\bin\s+(?:\d+|ein|einer|zwei|drei|vier|fünf|sechs|sieben|acht|zehn|zwölf)\s+"
                       r"(?:woche|wochen|tag|tagen|monat|monaten|weeks?|days?|months?)\b", re.IGNORECASE)


# "(am) Mittwoch (in der) übernächsten Woche", "übernächste Woche Mittwoch": counted in calendar weeks.
_WEEK_AND_DAY = re.compile(
    rf"\b(?P<over>über)?n(?:ä|ae)chste[n]?\s+woche\s+(?:am\s+)?(?P<wd>{WEEKDAY_RE})\b"
    rf"|\b(?P<wd2>{WEEKDAY_RE})\s+(?:in\s+der\s+)?(?P<over2>über)?n(?:ä|ae)chsten\s+woche\b",
    re.IGNORECASE,
)
_NEXT_WEEKDAY = re.compile(rf"\b(?:am\s+)?(?:kommenden|nächsten|naechsten|next)\s+(?P<wd>{WEEKDAY_RE})\b",
                           re.IGNORECASE)


@dataclass
class Date:
    start: int
    end: int
    day: int
    month: int
    year: int | None


def find_dates(line: str, section_numbers: bool = True) -> list[Date]:
    found = []
    for m in DATE.finditer(line):
        if m.group("d"):
            day, month = int(m.group("d")), int(m.group("m"))
            year = m.group("y4") or m.group("y2")
        elif m.group("iy"):
            day, month, year = int(m.group("id")), int(m.group("im")), m.group("iy")
        elif m.group("td"):
            day, month, year = int(m.group("td")), MONTHS[fold(m.group("tm"))], m.group("ty")
        else:
            day, month, year = int(m.group("ed")), MONTHS[fold(m.group("em"))], m.group("ey") or m.group("ey2")
        value = int(year) if year else None
        if value is not None and value < 100:
            value += 2000
        if m.group("d") and value is None and (
                _NUMBERING.search(line, max(0, m.start() - 20), m.start())
                or (section_numbers and m.start() == len(line) - len(line.lstrip())
                    and re.match(r"\s*[A-Za-zÄÖÜäöü]", line[m.end():]))):
            continue  # "2.1. Finanzen", "TOP 3.2.": a section number, not a date
        start = m.start()
        range_start = _RANGE_START.search(line, max(0, start - 12), start)
        if range_start:
            day, start = int(range_start.group(1)), range_start.start()
        if 1 <= month <= 12 and 1 <= day <= 31 and _valid(value or 2024, month, day):
            found.append(Date(start, m.end(), day, month, value))
    return found


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def complete_before(found: Date, reference: date | None) -> date | None:
    """The meeting date: without a year, the one nearest before (or shortly after) the mail date."""
    if found.year is not None:
        return date(found.year, found.month, found.day) if _valid(found.year, found.month, found.day) else None
    if reference is None:
        return None
    options = [date(y, found.month, found.day) for y in (reference.year - 1, reference.year, reference.year + 1)
               if _valid(y, found.month, found.day)]
    options = [d for d in options if d <= reference + timedelta(days=60)]
    return max(options) if options else None


def complete_after(found: Date, reference: date | None) -> date | None:
    """A next meeting or due date: without a year, the first one on or after the reference date."""
    if found.year is not None:
        return date(found.year, found.month, found.day) if _valid(found.year, found.month, found.day) else None
    if reference is None:
        return None
    options = [date(y, found.month, found.day) for y in (reference.year, reference.year + 1)
               if _valid(y, found.month, found.day)]
    options = [d for d in options if d >= reference - timedelta(days=7)]
    return min(options) if options else None


def find_time(text: str) -> tuple[int, int, int] | None:
    """(hour, minute, end of match) of the first time in `text`; a range "18–20 Uhr" gives its start."""
    for m in TIME.finditer(text):
        if m.group("h") is not None:
            hour, minute = int(m.group("h")), int(m.group("min") or m.group("min4") or 0)
        elif m.group("half") is not None:
            hour, minute = _half(m.group("half"), (m.group("part") or "").lower()), 30
        elif m.group("h2") is not None:
            hour, minute = int(m.group("h2")), int(m.group("min2"))
        else:
            hour, minute = int(m.group("h3")), int(m.group("min3") or 0)
            if m.group("ampm").lower() == "p" and hour < 12:
                hour += 12
            elif m.group("ampm").lower() == "a" and hour == 12:
                hour = 0
        if hour <= 23 and minute <= 59:
            return hour, minute, m.end()
    return None


def _half(spoken: str, part: str) -> int:
    """"halb fünf" is half past four. Without "morgens"/"vormittags" a meeting at half past one to half past
    seven is in the afternoon or evening (16:30, 19:30); "halb neun" and later stay in the morning, as written."""
    hour = (int(spoken) if spoken.isdigit() else _HOURS[spoken.lower()]) - 1
    if part in _MORNING:
        return hour
    if hour == 0:
        return 12  # "halb eins": 12:30
    return hour + 12 if hour < 12 and (part in ("nachmittags", "abends") or hour < 8) else hour


def relative_date(text: str, reference: date | None) -> Date | None:
    """A phrase relative to the meeting date, as a found date (with its year) so that time and place are read
    after it: "in vier Wochen", "am nächsten Dienstag", "übernächste Woche Mittwoch"."""
    if reference is None:
        return None
    week = _WEEK_AND_DAY.search(text)
    if week:
        wanted = _WEEKDAYS[fold(week.group("wd") or week.group("wd2"))]
        weeks = 2 if (week.group("over") or week.group("over2")) else 1
        day = reference - timedelta(days=reference.weekday()) + timedelta(weeks=weeks, days=wanted)
        return Date(week.start(), week.end(), day.day, day.month, day.year)
    weekday = _NEXT_WEEKDAY.search(text)
    if weekday:
        wanted = _WEEKDAYS[fold(weekday.group("wd"))]
        day = reference + timedelta(days=(wanted - reference.weekday() - 1) % 7 + 1)
        return Date(weekday.start(), weekday.end(), day.day, day.month, day.year)
    phrase = _RELATIVE.search(text)
    if phrase:
        import dateparser  # loaded only for the rare relative phrase: it costs ~0.2 s on first use

        base = datetime(reference.year, reference.month, reference.day)
        parsed = dateparser.parse(phrase.group(0), languages=["de", "en"],
                                  settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future"})
        if parsed:
            return Date(phrase.start(), phrase.end(), parsed.day, parsed.month, parsed.year)
    return None
