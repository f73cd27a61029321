"""Extract what a reader wants from a protocol: the meeting date, the next meeting, attendees and tasks.

Only the protocol's own text is read: the subject, the new text of the body, forwarded messages and the
text of document attachments — never the quoted text of a reply, which belongs to an older mail. The one use
of it: a reply correcting the next meeting ("verschoben auf den 19.05.") keeps from the quoted announcement
what the correction does not name (time, room).

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

from hub.inbound import nextforms
from hub.inbound.attendees import find_attendees
from hub.inbound.datefind import DUE_BEFORE, Date, complete_after, complete_before, find_dates, find_time, relative_date
from hub.inbound.message import Extraction, NextMeeting, ParsedMessage
from hub.inbound.places import PLACE_LABEL, clean_place, place_in, says_something
from hub.inbound.tasks import find_tasks
from hub.inbound.textlines import HEADING, cue_lines, next_cue, table_cells, text_lines

OPENING_LINES = 15  # an undated-cue date is only taken as the meeting date near the top of a text
NEXT_WINDOW = 4  # lines after a next-meeting heading that may hold its date, time and place
CONTEXT = 80  # characters before a date that say what it is (bounded, so a huge one-line PDF stays linear)

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


def _sources(parsed: ParsedMessage) -> list[list[str]]:
    """The protocol's own texts, each as lines: body, forwarded messages, documents."""
    texts = [parsed.text, *(f.text for f in parsed.forwarded), *(a.text for a in parsed.documents())]
    return [text_lines(t) for t in texts if t and t.strip()]


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
        for number in cue_lines(lines):
            line = lines[number]
            cue = next_cue(line)
            if not cue or line.lstrip().startswith(">"):
                continue  # a quote line left in the new text announces an older mail's meeting
            rest = line[cue.end():].strip(" :?–-|\t")
            last = number
            if (says_something(rest) and not rest.endswith((".", "!", "?")) and number + 1 < len(lines)
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
                if next_cue(text) or nextforms.ends_window(text) or (HEADING.match(text) and not find_dates(text)):
                    break
                window.append(text)
                last = following
                if len(window) > NEXT_WINDOW:
                    break
            windows.append(_Window(window, index, number, cue.start(), last))
    return windows


def _next_meeting(lines: list[str], reference: date | None,
                  setting: nextforms.Setting | None = None) -> NextMeeting | None:
    for position, text in enumerate(lines):
        dates = nextforms.meeting_dates(text)
        opened = _OPEN.search(text)
        if dates and not (opened and opened.start() < dates[0].start):
            # The line after a date and time ("… 18 Uhr, Familienzentrum\nBitte in die Doodle-Liste für den
            # Kuchen eintragen") is about something else; after a bare date it may say the date is a proposal.
            timed = find_time(text[dates[0].end:])
            if nextforms.undecided(" ".join(lines[position:position + (1 if timed else 2)]), dates):
                return None
            day = complete_after(dates[0], reference)
            if day is None or (reference is not None and day <= reference):
                return None
            return _with_time_and_place(day, text, dates[0], lines[position + 1:], setting)
        if opened:
            return None
        relative = relative_date(text, reference)
        day = complete_after(relative, reference) if relative is not None else None
        if day is not None:
            return _with_time_and_place(day, text, relative, lines[position + 1:], setting)
        # The cue's line going on in prose ends the search, unless it only held dates set aside ("Rückmeldung
        # bis 30.04."): then the following lines may still hold the meeting.
        if position == 0 and says_something(text) and not find_dates(text):
            return None
    return None


def _with_time_and_place(day: date, text: str, found: Date | None, following: list[str],
                         setting: nextforms.Setting | None) -> NextMeeting:
    cells = table_cells(text)
    after = text[found.end:] if found else text
    timed = find_time(after)
    if timed is None:
        timed = find_time(text)
    if timed is None and following and not find_dates(following[0]):
        timed = find_time(following[0])
    start: date | datetime = day
    if timed is not None:
        start = datetime(day.year, day.month, day.day, timed[0], timed[1])
    place = None
    for candidate in (text, *following[:2]):
        labelled = PLACE_LABEL.search(candidate)
        if labelled:
            place = clean_place(labelled.group("place"))
            break
    if place is None and len(cells) > 1:
        place = next((clean_place(c) for c in cells if not find_dates(c) and not find_time(c)
                      and not next_cue(c) and c[:1].isupper()), None)
    if place is None:
        place = place_in(text, found)
    if place is None:
        for candidate in following[:2]:
            if find_dates(candidate):
                break
            place = place_in(candidate, None, whole_line=True)
            if place:
                break
    if setting is not None:
        # "gleiche Zeit, gleicher Ort": the time and place of the meeting this protocol records, where it says
        # them; a time the line gives itself ("um 17 Uhr, gleicher Ort") still wins.
        same_time, same_place = nextforms.same_setting(text)
        if same_time and timed is None and setting[0] is not None:
            start = datetime(day.year, day.month, day.day, *setting[0])
        if same_place:
            place = setting[1]
    return NextMeeting(start=start, location=place or None)


def _meeting_date(parsed: ParsedMessage, sources: list[list[str]], excluded: dict[tuple[int, int], int],
                  sent: date | None) -> date | None:
    latest = sent + timedelta(days=1) if sent else None

    def plausible(found: Date, line: str) -> date | None:
        before = line[max(0, found.start - CONTEXT):found.start]
        if DUE_BEFORE.search(before) or next_cue(before):
            return None
        day = complete_before(found, sent)
        if day is None or (latest is not None and day > latest):
            return None
        return day

    for subject in (parsed.subject, *(f.subject for f in parsed.forwarded)):
        for found in find_dates(subject or ""):
            day = plausible(found, subject)
            if day:
                return day
    fallback = None
    for index, lines in enumerate(sources):
        for number, line in enumerate(lines):
            if _SENT_HEADER.match(line):
                continue
            for found in find_dates(line):
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


def _first(sources: list[list[str]], reference: date | None) -> NextMeeting | None:
    return next((m for w in _next_windows(sources) if (m := _next_meeting(w.lines, reference)) is not None), None)


def _corrected(parsed: ParsedMessage, reference: date | None) -> tuple[NextMeeting | None, date | None]:
    """A reply that corrects the next meeting, and the day of a meeting it cancels with no new date. What it does
    not name stays as the quoted announcement said: "verschoben auf den 19.05." keeps the announced time and room.
    A changed room alone keeps the announced date and time — NextMeeting needs a start, so without a quoted
    announcement a room alone is no next meeting. The correction replaces the day it names as wrong or cancelled
    (in its line or an earlier one), else the announced day: the scheduler moves the meeting proposed for it."""
    corrections = nextforms.correction_lines(parsed.text, parsed.subject, parsed.quoted)
    if not corrections:
        return None, None
    announced = _first([nextforms.unquoted(parsed.quoted)], reference) if parsed.quoted else None
    named: date | None = None  # the day an earlier line named as wrong ("fällt aus.\nNeuer Termin: …")
    cancelled: date | None = None
    for line, about_room in corrections:
        replaced = nextforms.replaced(line)
        if replaced is not None:
            named = complete_after(replaced[0], reference) or named
        replaces = named or (_day(announced.start) if announced else None)
        corrected = _next_meeting([line], reference)
        if corrected is None and about_room and announced is not None:
            labelled = PLACE_LABEL.search(line)
            place = clean_place(labelled.group("place")) if labelled else place_in(line, None)
            if place:
                return NextMeeting(start=announced.start, location=place, replaces=replaces), None
        if corrected is None:
            if replaced is not None and replaced[1]:
                cancelled = cancelled or named
            continue
        start = corrected.start
        if announced is not None and not isinstance(start, datetime) and isinstance(announced.start, datetime):
            start = datetime.combine(start, announced.start.time())
        location = corrected.location or (announced.location if announced else None)
        return NextMeeting(start=start, location=location, replaces=replaces), None
    return None, cancelled


def _day(start: date | datetime) -> date:
    return start.date() if isinstance(start, datetime) else start


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
    # The recorded meeting's own time and place are looked up only for "gleiche Zeit, gleicher Ort".
    same = any(any(nextforms.same_setting(t)) for w in windows for t in w.lines)
    setting = nextforms.own_setting(sources) if same else None
    next_meeting, cancelled = _corrected(parsed, reference)
    for window in windows:
        if next_meeting is not None:
            break
        next_meeting = _next_meeting(window.lines, reference, setting)
    if next_meeting is not None and cancelled is not None:
        # "Das Treffen am 12.05. fällt aus." and "Nächstes Treffen: 26.05." in lines of their own: moved, not lost.
        next_meeting.replaces, cancelled = cancelled, None
    return Extraction(
        meeting_date=meeting_date,
        next_meeting=next_meeting,
        cancelled=cancelled,
        attendees=find_attendees(sources),
        tasks=find_tasks(sources, reference, _day(next_meeting.start) if next_meeting else None),
    )
