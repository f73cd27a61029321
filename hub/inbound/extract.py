"""Extract what a reader wants from a protocol: the meeting date, the next meeting, attendees and tasks.

Only the protocol's own text is read: the subject, the new text of the body, forwarded messages and the
text of document attachments — never the quoted text of a reply, which belongs to an older mail.

Design: cheap regular expressions find candidate phrases near cue words ("Sitzung vom", "Nächstes Treffen",
"Teilnehmende:", "Wer übernimmt was?"), and only those candidates are interpreted. Month and weekday names
come from CLDR via babel (German and English); relative phrases after a next-meeting cue ("in vier Wochen")
are interpreted by dateparser. Running dateparser's `search_dates` over whole protocols is ~50× slower and
finds false dates ("1. Mit welcher Idee …" as 1 March): `bench/extract.py` measures both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import get_day_names, get_month_names

from hub.inbound.message import Extraction, NextMeeting, ParsedMessage, Task

OPENING_LINES = 15  # an undated-cue date is only taken as the meeting date near the top of a text
NEXT_WINDOW = 4  # lines after a next-meeting heading that may hold its date, time and place
CONTEXT = 80  # characters before a date that say what it is (bounded, so a huge one-line PDF stays linear)


def _fold(text: str) -> str:
    return text.lower().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss").rstrip(".")


def _names(getter, widths: tuple[str, ...]) -> dict[str, int]:
    names: dict[str, int] = {}
    for locale in ("de", "en"):
        for width in widths:
            for context in ("format", "stand-alone"):
                for number, name in getter(width, context, locale).items():
                    names[_fold(name)] = number
                    names[name.lower().rstrip(".")] = number
    return names


_MONTHS = _names(get_month_names, ("wide", "abbreviated")) | {"sept": 9, "mrz": 3}
_WEEKDAYS = _names(get_day_names, ("wide", "abbreviated"))  # 0 = Monday
_MONTH_RE = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_WEEKDAY_RE = "|".join(sorted((re.escape(d) for d in _WEEKDAYS if len(d) > 3), key=len, reverse=True))

_DATE = re.compile(
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
_TIME = re.compile(
    r"""
    (?<![\d.:])(?P<h3>\d{1,2})(?::(?P<min3>\d{2}))?\s*(?P<ampm>[ap])\.?\s?m\b\.?
  | (?<![\d.:])(?P<h>\d{1,2})(?:[:.](?P<min>\d{2}))?\s*(?:(?:-|–|bis)\s*\d{1,2}(?:[:.]\d{2})?\s*)?(?:Uhr\b|h\b)
  | (?<![\d.:])(?P<h2>\d{1,2}):(?P<min2>\d{2})(?![\d.:])
    """,
    re.IGNORECASE | re.VERBOSE,
)
_NEXT_CUE = re.compile(
    r"n(?:ä|ae)chste[nrsm]?\s+(?:[\w-]*(?:treffen|sitzung|termin|runde|zusammenkunft|plenum)\b)"
    r"|\bfolge(?:treffen|termin|sitzung)\b|wie,?\s+wann\s+und\s+wo\s+geht\s+es\s+weiter"
    r"|\b(?:wir\s+treffen\s+uns|treffen\s+wir\s+uns)\s+(?:wieder|erneut)|\bfortsetzung\b(?!\s+folgt)"
    r"|\bnext\s+(?:meeting|session)\b|\bwe\s+(?:will\s+)?meet\s+again\b",
    re.IGNORECASE,
)
# Every alternative of _NEXT_CUE contains one of these: a cheap test that spares the regex on most lines.
_CUE_WORDS = ("chste", "folge", "wann", "uns", "fortsetzung", "next", "meet")


def _cue(text: str) -> re.Match | None:
    lowered = text.lower()
    if not any(word in lowered for word in _CUE_WORDS):
        return None
    return _NEXT_CUE.search(text)


_OPEN = re.compile(
    r"noch\s+offen|\boffen\b|steht\s+noch\s+nicht\s+fest|noch\s+nicht\s+(?:fest|bekannt|geklärt|terminiert)"
    r"|wird\s+noch\s+(?:bekannt|festgelegt|abgestimmt|vereinbart|mitgeteilt)|bekanntgegeben|doodle|\bfolgt\b"
    r"|\btb[ad]\b|to be (?:announced|decided)|nach\s+absprache|\bn\.\s?n\.",
    re.IGNORECASE,
)
_MEETING_CUE = re.compile(
    r"sitzung|treffen|protokoll|datum|besprechung|termin|klausur|plenum|zusammenkunft|meeting|minutes|\bdate\b"
    r"|\bheld\b|\bvom\b",
    re.IGNORECASE,
)
# The header block of an inline forward ("Gesendet: Donnerstag, 12. März 2026 10:15") dates the mail, not the meeting.
_SENT_HEADER = re.compile(r"^\s*[*>]*\s*(?:gesendet|sent|envoyé)\s*:", re.IGNORECASE)
_DUE_BEFORE = re.compile(r"(?:\bbis(?:\s+zum|\s+spätestens)?|\bfrist:?|\bfällig:?|\bdeadline:?|\bby|\buntil"
                         r"|\bspätestens|\bab)\s*(?:\w+,?\s*)?$", re.IGNORECASE)
_RELATIVE = re.compile(r"\bin\s+(?:\d+|ein|einer|zwei|drei|vier|fünf|sechs|sieben|acht|zehn|zwölf)\s+"
                       r"(?:woche|wochen|tag|tagen|monat|monaten|weeks?|days?|months?)\b", re.IGNORECASE)
_NEXT_WEEKDAY = re.compile(rf"\b(?:am\s+)?(?:kommenden|nächsten|naechsten|next)\s+(?P<wd>{_WEEKDAY_RE})\b",
                           re.IGNORECASE)

_PLACE_LABEL = re.compile(r"\b(?:ort|raum|treffpunkt|location|place|venue|wo)\s*[:|]\s*(?P<place>.+)", re.IGNORECASE)
_PLACE_PREPOSITION = re.compile(
    r"(?:^|[\s,;(])(?P<prep>im|in\s+der|in\s+den|in\s+dem|ins|in|bei\s+der|bei\s+dem|bei\s+den|beim|bei|auf\s+dem|at\s+the|at"
    r"|in\s+the)\s+(?P<place>[A-ZÄÖÜ0-9„\"].*)",
)
_ONLINE = re.compile(r"(?:^|[\s,;(])(?P<place>(?:online|digital|virtuell|per\s+(?:zoom|teams|video)|via\s+\w+"
                     r"|videokonferenz|zoom|microsoft\s+teams|webex|big\s?blue\s?button)\b.*)", re.IGNORECASE)
_NOT_A_PLACE = frozenset(_MONTHS) | {
    "anschluss", "rahmen", "vorfeld", "herbst", "fruehjahr", "fruehling", "sommer", "winter", "januar", "kw",
    "regel", "moment", "laufe", "anschluß", "jahr", "zwei", "drei", "vier", "fuenf", "sechs", "acht", "einer",
    "ein", "der", "die", "das", "anlehnung", "zukunft", "kalenderwoche", "form", "ferien", "sommerferien",
}
# Where a place phrase ends: "… statt.", a new sentence ("Bitte …"), but not "St. Martin" or "Raum 2.14".
_PLACE_END = re.compile(r"\s+(?:statt|stattfinden)\b.*$|;.*$|[.!]\s+(?=[A-ZÄÖÜ][a-zäöü]*\s+[a-zäöü]).*$"
                        r"|[.;:!,–-]\s*$|\s+\(?(?:bitte|siehe)\b.*$")

_ATTENDEES = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:teilnehmende|teilnehmer(?:/innen|/-innen|:innen|\*innen|_innen|innen)?|anwesend(?:e)?"
    r"|anwesenheit|present|attendees|participants)\b\s*(?:\([^)]*\))?\s*(?:[:|\t]\s*|$)(?P<rest>.*)$",
    re.IGNORECASE,
)
_SECTION_LABEL = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:entschuldigt|abwesend|es fehlten|gäste|gast|protokoll(?:führung)?|moderation|leitung"
    r"|absent|apologies|excused|minutes|chair|verteiler|datum|ort|zeit|beginn|ende|top\b|tagesordnung)",
    re.IGNORECASE,
)
_TASK_HEADING = re.compile(
    r"^\s*(?:\d+[.)]\s*|top\s*\d+\s*[:.]?\s*)?(?:wer\s+(?:von\s+uns\s+)?übernimmt\s+was|aufgaben(?:verteilung)?"
    r"|to-?\s?dos?|todo-liste|offene\s+punkte|vereinbarungen|action\s+items|tasks)\s*[?:]?\s*$",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^\s*(?:\d+[.)]\s+\S|top\s*\d+|[A-ZÄÖÜ][^.!]{0,60}[?:]\s*$)", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•–·▪]|\d+[.)]|[a-z]\))\s+")
_SEPARATOR = re.compile(r"\s+(?:–|—|-|->|→|=>)\s+|\s*:\s+|\s*\|\s*")
_TASK_VERB = re.compile(
    r"^(?P<who>(?:(?:Frau|Herr|Dr\.|Prof\.|Fr\.|Hr\.)\s+)*[A-ZÄÖÜ][\w.'-]*(?:\s+[A-ZÄÖÜ][\w'-]*)?"
    r"(?:\s+(?:und|&)\s+(?:(?:Frau|Herr|Dr\.)\s+)*[A-ZÄÖÜ][\w.'-]*(?:\s+[A-ZÄÖÜ][\w'-]*)?)?)\s+"
    r"(?:übernimmt|übernehmen|kümmert\s+sich\s+um|kümmern\s+sich\s+um|will\s+take|takes)\s+(?P<what>.+)$",
)
_PERSON_WORD = re.compile(r"^(?:[A-ZÄÖÜ][\w.'-]*|\(.*\)?|.*\)|und|&|/|von|van|de|zu|alle|all)$")
_WHAT_COLUMN = re.compile(r"^(?:was|aufgabe|aufgaben|maßnahme|task|what|action|thema)\b", re.IGNORECASE)
_WHO_COLUMN = re.compile(r"^(?:wer|verantwortlich|zuständig|who|owner|person)\b", re.IGNORECASE)
_DUE_COLUMN = re.compile(r"^(?:bis\s*wann|bis|frist|termin|wann|due|deadline|erledigen\s+bis)\b", re.IGNORECASE)


@dataclass
class _Date:
    start: int
    end: int
    day: int
    month: int
    year: int | None


def _find_dates(line: str, section_numbers: bool = True) -> list[_Date]:
    found = []
    for m in _DATE.finditer(line):
        if m.group("d"):
            day, month = int(m.group("d")), int(m.group("m"))
            year = m.group("y4") or m.group("y2")
        elif m.group("iy"):
            day, month, year = int(m.group("id")), int(m.group("im")), m.group("iy")
        elif m.group("td"):
            day, month, year = int(m.group("td")), _MONTHS[_fold(m.group("tm"))], m.group("ty")
        else:
            day, month, year = int(m.group("ed")), _MONTHS[_fold(m.group("em"))], m.group("ey") or m.group("ey2")
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
            found.append(_Date(start, m.end(), day, month, value))
    return found


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _complete_before(found: _Date, reference: date | None) -> date | None:
    """The meeting date: without a year, the one nearest before (or shortly after) the mail date."""
    if found.year is not None:
        return date(found.year, found.month, found.day) if _valid(found.year, found.month, found.day) else None
    if reference is None:
        return None
    options = [date(y, found.month, found.day) for y in (reference.year - 1, reference.year, reference.year + 1)
               if _valid(y, found.month, found.day)]
    options = [d for d in options if d <= reference + timedelta(days=60)]
    return max(options) if options else None


def _complete_after(found: _Date, reference: date | None) -> date | None:
    """A next meeting or due date: without a year, the first one on or after the reference date."""
    if found.year is not None:
        return date(found.year, found.month, found.day) if _valid(found.year, found.month, found.day) else None
    if reference is None:
        return None
    options = [date(y, found.month, found.day) for y in (reference.year, reference.year + 1)
               if _valid(y, found.month, found.day)]
    options = [d for d in options if d >= reference - timedelta(days=7)]
    return min(options) if options else None


def _find_time(text: str) -> tuple[int, int, int] | None:
    """(hour, minute, end of match) of the first time in `text`; a range "18–20 Uhr" gives its start."""
    for m in _TIME.finditer(text):
        if m.group("h") is not None:
            hour, minute = int(m.group("h")), int(m.group("min") or 0)
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


# --- the text ---------------------------------------------------------------------------------------------

def _sources(parsed: ParsedMessage) -> list[list[str]]:
    """The protocol's own texts, each as lines: body, forwarded messages, documents."""
    texts = [parsed.text, *(f.text for f in parsed.forwarded), *(a.text for a in parsed.documents())]
    return [_lines(t) for t in texts if t and t.strip()]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def _cells(line: str) -> list[str]:
    """A table row as rendered by the parser ("a | b | c" or tab-separated), else the line itself."""
    if "|" in line or "\t" in line:
        return [c.strip() for c in re.split(r"\s*[|\t]\s*", line.strip().strip("|")) if c.strip()]
    return [line.strip()]


# --- the next meeting ---------------------------------------------------------------------------------------

@dataclass
class _Window:
    lines: list[str]  # the text after the cue on its line (maybe empty), then the following lines
    source: int
    first_line: int
    cue_column: int
    last_line: int


def _next_windows(sources: list[list[str]]) -> list[_Window]:
    windows = []
    for index, lines in enumerate(sources):
        for number, line in enumerate(lines):
            cue = _cue(line)
            if not cue:
                continue
            rest = line[cue.end():].strip(" :?–-|\t")
            last = number
            if (_says_something(rest) and not rest.endswith((".", "!", "?")) and number + 1 < len(lines)
                    and lines[number + 1].strip()):
                # A hard-wrapped sentence: "Das nächste Treffen findet am Dienstag,\n21. April 2026 … statt."
                last = number + 1
                rest = f"{rest} {lines[last].strip()}"
            window = [rest]
            for following in range(last + 1, len(lines)):
                text = lines[following]
                if not text.strip():
                    if any(w.strip() for w in window):
                        break
                    continue
                if _cue(text) or (_HEADING.match(text) and not _find_dates(text)):
                    break
                window.append(text)
                last = following
                if len(window) > NEXT_WINDOW:
                    break
            windows.append(_Window(window, index, number, cue.start(), last))
    return windows


def _says_something(rest: str) -> bool:
    """Whether the cue's own line goes on in prose ("… wollen wir den Flyer besprechen") rather than being a
    heading or a bare place ("Nächstes Treffen: im Rathaus"), so that later lines are not its date."""
    return bool(re.search(r"\b[a-zäöüß]{5,}\b", _without_date_and_time(rest)))


def _next_meeting(window: _Window, reference: date | None) -> NextMeeting | None:
    for position, text in enumerate(window.lines):
        dates = _find_dates(text, section_numbers=False)
        opened = _OPEN.search(text)
        if dates and not (opened and opened.start() < dates[0].start):
            day = _complete_after(dates[0], reference)
            if day is None or (reference is not None and day <= reference):
                return None
            return _with_time_and_place(day, text, dates[0], window.lines[position + 1:])
        if opened:
            return None
        relative = _relative(text, reference)
        if relative is not None:
            return _with_time_and_place(relative, text, None, window.lines[position + 1:])
        if position == 0 and _says_something(text):
            return None
    return None


def _relative(text: str, reference: date | None) -> date | None:
    if reference is None:
        return None
    weekday = _NEXT_WEEKDAY.search(text)
    if weekday:
        wanted = _WEEKDAYS[_fold(weekday.group("wd"))]
        return reference + timedelta(days=(wanted - reference.weekday() - 1) % 7 + 1)
    phrase = _RELATIVE.search(text)
    if phrase:
        import dateparser  # loaded only for the rare relative phrase: it costs ~0.2 s on first use

        base = datetime(reference.year, reference.month, reference.day)
        parsed = dateparser.parse(phrase.group(0), languages=["de", "en"],
                                  settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future"})
        return parsed.date() if parsed else None
    return None


def _with_time_and_place(day: date, text: str, found: _Date | None, following: list[str]) -> NextMeeting:
    cells = _cells(text)
    after = text[found.end:] if found else text
    timed = _find_time(after)
    if timed is None:
        timed = _find_time(text)
    if timed is None and following and not _find_dates(following[0]):
        timed = _find_time(following[0])
    start: date | datetime = day
    if timed is not None:
        start = datetime(day.year, day.month, day.day, timed[0], timed[1])
    place = None
    for candidate in (text, *following[:2]):
        labelled = _PLACE_LABEL.search(candidate)
        if labelled:
            place = _clean_place(labelled.group("place"))
            break
    if place is None and len(cells) > 1:
        place = next((_clean_place(c) for c in cells if not _find_dates(c) and not _find_time(c)
                      and not _cue(c) and c[:1].isupper()), None)
    if place is None:
        place = _place_in(text, found)
    if place is None:
        for candidate in following[:2]:
            if _find_dates(candidate):
                break
            place = _place_in(candidate, None, whole_line=True)
            if place:
                break
    return NextMeeting(start=start, location=place or None)


def _place_in(text: str, found: _Date | None, whole_line: bool = False) -> str | None:
    """A place phrase: "im Rathaus, Raum 2.14", "in der Kita Sonnenschein", or what follows date and time.

    On a line of its own (`whole_line`) the place must start the line, so that a later sentence
    ("Der Aktionstag findet im Stadtpark statt.") is not taken for it.
    """
    stripped = _without_date_and_time(text).strip(" ,;:–-|\t")
    for m in _PLACE_PREPOSITION.finditer(stripped):
        if whole_line and m.start("prep") > 0:
            break
        first = _fold(re.split(r"[\s,]", m.group("place"), maxsplit=1)[0])
        if first not in _NOT_A_PLACE and not first[:1].isdigit():
            return _clean_place(m.group("place"))
    online = _ONLINE.search(stripped)
    if online and not (whole_line and online.start("place") > 0):
        return _clean_place(online.group("place"))
    if whole_line:
        short = len(stripped.split()) <= 8 and not _says_something(stripped)
        return _clean_place(stripped) if stripped[:1].isupper() and short else None
    if found is not None:
        # What follows the date and time on the cue's line: "…, 18:00 Uhr, Familienzentrum Regenbogen".
        parts = [p.strip() for p in re.split(r"\s*,\s*", text[found.end:]) if p.strip()]
        rest = ", ".join(p for p in parts if not _find_time(p) and not _find_dates(p))
        if rest[:1].isupper() and not re.match(r"(?:Uhr|Wir|Bitte|Die|Der|Das|Es|Sie|Ich)\b", rest):
            return _clean_place(rest)
    return None


def _without_date_and_time(text: str) -> str:
    text = _DATE.sub(" ", text)
    text = _TIME.sub(" ", text)
    text = re.sub(rf"\b(?:{_WEEKDAY_RE})\b,?", " ", text, flags=re.IGNORECASE)
    return re.sub(r"\b(?:am|um|ab|on)\s+(?=[\s,]|$)", " ", text)


def _clean_place(text: str) -> str:
    text = text.strip()
    for _ in range(3):
        text = _PLACE_END.sub("", text).strip()
    return text.strip(" ,;:–-\"„“")


# --- the meeting date ---------------------------------------------------------------------------------------

def _meeting_date(parsed: ParsedMessage, sources: list[list[str]], excluded: dict[tuple[int, int], int],
                  sent: date | None) -> date | None:
    latest = sent + timedelta(days=1) if sent else None

    def plausible(found: _Date, line: str) -> date | None:
        before = line[max(0, found.start - CONTEXT):found.start]
        if _DUE_BEFORE.search(before) or _cue(before):
            return None
        day = _complete_before(found, sent)
        if day is None or (latest is not None and day > latest):
            return None
        return day

    for subject in (parsed.subject, *(f.subject for f in parsed.forwarded)):
        for found in _find_dates(subject or ""):
            day = plausible(found, subject)
            if day:
                return day
    fallback = None
    for index, lines in enumerate(sources):
        for number, line in enumerate(lines):
            if _SENT_HEADER.match(line):
                continue
            for found in _find_dates(line):
                if found.start >= excluded.get((index, number), len(line)):
                    continue
                day = plausible(found, line)
                if day is None:
                    continue
                if _MEETING_CUE.search(line[max(0, found.start - CONTEXT):found.start]):
                    return day
                if fallback is None and number < OPENING_LINES:
                    fallback = day
    return fallback


# --- attendees ----------------------------------------------------------------------------------------------

def _attendees(sources: list[list[str]]) -> list[str]:
    for lines in sources:
        for number, line in enumerate(lines):
            m = _ATTENDEES.match(line)
            if not m:
                continue
            rest = m.group("rest").strip()
            if rest:
                return _split_names(rest)
            names: list[str] = []
            for following in lines[number + 1:]:
                if not following.strip():
                    if names:
                        break
                    continue
                if _SECTION_LABEL.match(following) or (_HEADING.match(following) and not _BULLET.match(following)):
                    break
                names.extend(_split_names(_BULLET.sub("", following)))
            if names:
                return names
    return []


def _split_names(text: str) -> list[str]:
    """Split "A, B (Org, Ort); C und D" at top-level separators only."""
    parts, depth, current = [], 0, []
    text = re.sub(r"\s+(?:und|sowie|and)\s+(?![^()]*\))", ", ", text)
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]" and depth:
            depth -= 1
        if char in ",;|\t" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip(" .-*•") for p in parts if p.strip(" .-*•")]


# --- tasks --------------------------------------------------------------------------------------------------

def _tasks(sources: list[list[str]], reference: date | None) -> list[Task]:
    tasks: list[Task] = []
    for lines in sources:
        number = 0
        while number < len(lines):
            line = lines[number]
            if _is_task_table_header(line):
                number = _task_table(lines, number, reference, tasks)
                continue
            if _TASK_HEADING.match(line):
                number = _task_list(lines, number + 1, reference, tasks)
                continue
            number += 1
    return tasks


def _is_task_table_header(line: str) -> bool:
    cells = _cells(line)
    return len(cells) >= 2 and any(_WHAT_COLUMN.match(c) for c in cells) and any(_WHO_COLUMN.match(c) for c in cells)


def _task_table(lines: list[str], header: int, reference: date | None, tasks: list[Task]) -> int:
    columns = _cells(lines[header])
    what = next(i for i, c in enumerate(columns) if _WHAT_COLUMN.match(c))
    who = next(i for i, c in enumerate(columns) if _WHO_COLUMN.match(c))
    due = next((i for i, c in enumerate(columns) if _DUE_COLUMN.match(c)), None)
    number = header + 1
    while number < len(lines):
        line = lines[number]
        if not line.strip():  # HTML tables come with a blank line between rows
            number += 1
            continue
        if "|" not in line and "\t" not in line or _cue(line) or _ATTENDEES.match(line):
            break
        # Keep empty cells so that columns stay aligned; a row may also stop short ("Kitas informieren | Hoffmann").
        cells = [c.strip() for c in re.split(r"[|\t]", line.strip().strip("|"))]
        cell = {i: cells[i] for i in range(len(cells)) if cells[i] not in ("", "-", "—")}
        if what in cell:
            tasks.append(Task(what=cell[what], who=cell.get(who),
                              due=_due(cell[due], reference) if due in cell else None))
        number += 1
    return number


def _task_list(lines: list[str], number: int, reference: date | None, tasks: list[Task]) -> int:
    seen_item = False
    while number < len(lines):
        line = lines[number]
        if not line.strip():
            following = next((x for x in lines[number + 1:] if x.strip()), "")
            if seen_item and not _BULLET.match(following):
                return number
            number += 1
            continue
        if _is_task_table_header(line):
            return number
        if (_cue(line) or _ATTENDEES.match(line) or _TASK_HEADING.match(line)
                or (_HEADING.match(line) and not _BULLET.match(line))):
            return number
        task = _task_item(_BULLET.sub("", line).strip(), reference)
        if task.what:
            tasks.append(task)
            seen_item = True
        number += 1
    return number


def _due(text: str, reference: date | None) -> date | None:
    dates = _find_dates(text)
    return _complete_after(dates[0], reference) if dates else None


_DUE_PHRASE = re.compile(
    rf"(?:\b(?:bis(?:\s+zum|\s+spätestens)?|frist|fällig|deadline|by|until|spätestens)\b:?\s*)"
    rf"(?:(?:{_WEEKDAY_RE})\.?,?\s+)?(?P<date>.*)$",
    re.IGNORECASE,
)


def _task_item(text: str, reference: date | None) -> Task:
    who = due = None
    # Parenthesised or trailing additions: "(bis 15.04.)", "(Frau Krüger)", ", bis zum 30.4.".
    while True:
        text = text.strip(" ;,–-")
        parenthesis = re.search(r"\((?P<inner>[^()]+)\)$", text)
        inner = parenthesis.group("inner").strip() if parenthesis else None
        if inner and (phrase := _DUE_PHRASE.match(inner)) and _find_dates(phrase.group("date")):
            due, text = _due(phrase.group("date"), reference), text[:parenthesis.start()]
        elif inner and who is None and _person_like(inner):
            who, text = inner, text[:parenthesis.start()]
        elif due is None and (phrase := _last_due_phrase(text)) is not None:
            due, text = _due(phrase.group("date"), reference), text[:phrase.start()]
        else:
            break
    text = text.rstrip(" .")
    if who is not None:
        return Task(what=text, who=who, due=due)
    verb = _TASK_VERB.match(text)
    if verb:
        return Task(what=verb.group("what").strip(" ."), who=verb.group("who"), due=due)
    parts = _SEPARATOR.split(text, maxsplit=1)
    if len(parts) == 2:
        left, right = (p.strip() for p in parts)
        if _person_like(right):
            return Task(what=left, who=right, due=due)
        if _person_like(left):
            return Task(what=right, who=left, due=due)
    return Task(what=text, who=None, due=due)


def _last_due_phrase(text: str) -> re.Match | None:
    """A due phrase ending the item whose rest is a date: "… bis zum 30.4.", "… by March 20, 2026"."""
    for m in re.finditer(r"\b(?:bis|frist|fällig|deadline|by|until|spätestens)\b", text, re.IGNORECASE):
        phrase = _DUE_PHRASE.match(text, m.start())
        if phrase:
            dates = _find_dates(phrase.group("date"), section_numbers=False)
            if dates and not phrase.group("date")[dates[0].end:].strip(" .,)"):
                return phrase
    return None


def _person_like(text: str) -> bool:
    """Names and institutions ("Dr. Jürgen Weiß", "Frau Öztürk und Herr Wagner", "AWO (Aylin)", "alle")."""
    words = text.replace(",", " ").split()
    return 0 < len(words) <= 7 and not any(c.isdigit() for c in text) and all(
        _PERSON_WORD.match(w) for w in words)


# --- the stage ------------------------------------------------------------------------------------------------

def extract(parsed: ParsedMessage, tz: ZoneInfo) -> Extraction:
    """Meeting date, next meeting, attendees and tasks from the protocol's own text (never the quoted text)."""
    sent = parsed.sent_at.astimezone(tz).date() if parsed.sent_at else None
    sources = _sources(parsed)
    windows = _next_windows(sources)
    # Dates from a next-meeting cue onwards are not the meeting date: (source, line) → first column excluded.
    excluded = {(w.source, n): (w.cue_column if n == w.first_line else 0)
                for w in windows for n in range(w.first_line, w.last_line + 1)}
    meeting_date = _meeting_date(parsed, sources, excluded, sent)
    reference = meeting_date or sent
    next_meeting = None
    for window in windows:
        next_meeting = _next_meeting(window, reference)
        if next_meeting is not None:
            break
    return Extraction(
        meeting_date=meeting_date,
        next_meeting=next_meeting,
        attendees=_attendees(sources),
        tasks=_tasks(sources, reference),
    )
