"""The forms around a next meeting (issue 16): dates under a next-meeting cue that are not the meeting
(deadlines, letterheads, past events, the date a correction replaces), options still to vote on, where a
window ends (a greeting, a signature, a quote), "gleiche Zeit, gleicher Ort", and corrections in replies with
the date they replace or cancel.

Every regex here runs on a window line or on a line the cheap cue test already picked, never over a whole text.
"""

from __future__ import annotations

import re
from itertools import pairwise

from hub.inbound.datefind import WEEKDAY_RE, Date, find_dates, find_time
from hub.inbound.places import PLACE_LABEL, clean_place, place_in
from hub.inbound.textlines import next_cue

OPENING_LINES = 15  # where a protocol states its own meeting's time and place
CONTEXT = 60  # characters around a date that say what it is
CORRECTIONS = 5  # a reply corrects a meeting in a line or two; a long text of such lines is read no further

# Before the date: "Anmeldeschluss ist der", "Abgabefrist für den Antrag:", "Rückmeldung bitte bis".
_DEADLINE = re.compile(r"(?:schluss|frist|\b(?:abgabe|deadline|fällig|spätestens|rückmeldung|bis))\b[^.;!?]{0,30}$",
                       re.IGNORECASE)
# A letterhead or a signature dates the paper, not a meeting: "Musterhausen, den 14.03.2026", "Stand: 13.03.2026";
# but "Dienstag, den 21.04.2026" is the meeting.
_LETTERHEAD = re.compile(rf"^\s*(?!(?:{WEEKDAY_RE}|mo|di|mi|do|fr|sa|so)\b)[A-ZÄÖÜ][\w.-]*(?:[ /-][\w.()-]+){{0,3}}"
                         r",\s*den\s*$|\bstand\s*:?\s*$", re.IGNORECASE)
# The date a correction replaces: "nicht am 12.05.", "nicht wie im Protokoll angegeben am", "statt am".
_NEGATED = re.compile(r"\b(?:nicht|statt|anstatt|anstelle)\b(?:(?!sondern)[^.;]){0,40}$", re.IGNORECASE)
# The day a meeting is moved from: "vom 12.05. auf den 19.05. verschoben" (before the date; after it, matched
# at its end).
_MOVED_FROM, _MOVED_TO = re.compile(r"\bvom\s*$", re.IGNORECASE), re.compile(r"[\s,]*(?:auf|nach)\b", re.IGNORECASE)
# Not "wurde": "Als nächster Termin wurde der 16.04. festgelegt" is the agreement, not a past event.
_PAST = re.compile(r"\b(?:war|waren|(?:statt)?fand|(?:statt)?fanden|stattgefunden|gewesen)\b", re.IGNORECASE)
# A cancelled meeting is not the next one: "die Sitzung am 12.05. fällt aus", "… wird abgesagt", "entfällt".
_CANCELLED = re.compile(r"\bf(?:ä|ae)llt\s+(?:\w+\s+){0,2}aus\b|abgesagt|\bentf(?:ä|ae)llt|\bstorniert", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[,;!?–—(]|\.(?:\s|$)")
_VOTE = re.compile(r"doodle|nuudel|dudle|terminumfrage|umfrage\s+(?:folgt|kommt|läuft)|per\s+umfrage|terminvorschl"
                   r"|terminoptionen|\b(?:vorschlag|option)\s*\d|zur\s+(?:aus)?wahl|terminfindung"
                   r"|bitte\s+(?:\w+\s+){0,3}abstimmen", re.IGNORECASE)
_OR = re.compile(r"\boder\b|\bbzw\b|/")
# A window ends at the greeting, the signature delimiter or a quoted line of an older mail.
_CLOSING = re.compile(r"^\s*(?:>|--\s*$|(?:viele|liebe|beste|herzliche|freundliche|schöne)\s+grüße"
                      r"|(?:mit\s+)?(?:freundlichen|besten|herzlichen|lieben)\s+grüßen|(?:lg|vg|mfg|gruß|grüße)\b)",
                      re.IGNORECASE)
_SAME_TIME = re.compile(r"\b(?:gleiche[nrs]?|selbe[nrs]?|gewohnte[nrs]?|übliche[nrs]?)\s+(?:uhr)?zeit\b",
                        re.IGNORECASE)
_SAME_PLACE = re.compile(r"\b(?:gleiche[nrms]?|selbe[nrms]?|gewohnte[nrms]?|bekannte[nrms]?)\s+(?:ort|raum|stelle)\b",
                         re.IGNORECASE)
_TIME_LABEL = re.compile(r"\b(?:uhrzeit|zeit|beginn)\s*:", re.IGNORECASE)
_REPLY = re.compile(r"^\s*(?:re|aw|antw)\s*:", re.IGNORECASE)
_CORRECTION = re.compile(r"korrektur|berichtig|fehler|falsch|\brichtig\b|verschoben|verlegt|geändert|änderung"
                         r"|stattdessen|abgesagt|\bentf(?:ä|ae)llt|\bf(?:ä|ae)llt\s+(?:\w+\s+){0,2}aus\b"
                         r"|\b(?:neue|andere)[nrm]?\s+(?:termin|raum|ort)\b"
                         r"|(?-i:\bstatt\s+(?:im\s+|in\s+der\s+|am\s+)?[A-ZÄÖÜ\d])", re.IGNORECASE)
# "der Termin für den Familientag wird verschoben" is about an event, not about the group's meeting.
_ABOUT_MEETING = re.compile(r"\b(?:treffen|sitzung|runde|termin(?!\s+(?:für|des|der|vom|zum|zur)\b))\b",
                            re.IGNORECASE)
_ABOUT_ROOM = re.compile(r"\b(?:raum|ort|räumlichkeiten)\b", re.IGNORECASE)

Setting = tuple[tuple[int, int] | None, str | None]  # a meeting's (hour, minute) and place, each maybe unknown


def ends_window(line: str) -> bool:
    return bool(_CLOSING.match(line))


def meeting_dates(text: str) -> list[Date]:
    """The dates of a window line that may be the next meeting: not a deadline, a letterhead, a past or
    cancelled event, or the date a correction replaces."""
    kept = []
    for found in find_dates(text, section_numbers=False):
        before = text[max(0, found.start - CONTEXT):found.start]
        if (_DEADLINE.search(before) or _LETTERHEAD.search(text, 0, found.start) or _NEGATED.search(before)
                or _moved_from(text, found)):
            continue
        clause = _clause(text, found)
        if _PAST.search(clause) or _CANCELLED.search(clause):
            continue
        kept.append(found)
    return kept


def replaced(text: str) -> tuple[Date, bool] | None:
    """The date a correction line names as wrong ("nicht am 12.05.", "statt am 12.05.") or as cancelled ("die
    Sitzung am 12.05. fällt aus"), and whether it is cancelled: the meeting the correction is about."""
    for found in find_dates(text, section_numbers=False):
        if _CANCELLED.search(_clause(text, found)):
            return found, True
        if _NEGATED.search(text[max(0, found.start - CONTEXT):found.start]) or _moved_from(text, found):
            return found, False
    return None


def _moved_from(text: str, found: Date) -> bool:
    return bool(_MOVED_FROM.search(text, max(0, found.start - CONTEXT), found.start)
                and _MOVED_TO.match(text, found.end))


def _clause(text: str, found: Date) -> str:
    before = text[max(0, found.start - CONTEXT):found.start]
    after = text[found.end:found.end + CONTEXT]
    cut = _CLAUSE_END.search(after)
    return "".join([*_CLAUSE_END.split(before)[-1:], after[:cut.start()] if cut else after])


def undecided(text: str, dates: list[Date]) -> bool:
    """Options still to vote on: "3.6. oder 10.6.", "Vorschlag 1: …", "bitte per Doodle abstimmen" (in the
    date's line, or the line after it when the date has no time)."""
    if _VOTE.search(text):
        return True
    return any(len(text[a.end:b.start]) < 20 and _OR.search(text, a.end, b.start) for a, b in pairwise(dates))


def same_setting(text: str) -> tuple[bool, bool]:
    """Whether a next meeting keeps the recorded meeting's time ("gleiche Zeit") and place ("selber Ort")."""
    return bool(_SAME_TIME.search(text)), bool(_SAME_PLACE.search(text))


def own_setting(sources: list[list[str]]) -> Setting:
    """The time and place of the meeting the protocol records, from its opening lines: "Sitzung vom
    12.03.2026, 18:00 Uhr, Familienzentrum" or "Zeit: 18:00–19:30 Uhr" and "Ort: Rathaus"."""
    time: tuple[int, int] | None = None
    place: str | None = None
    for lines in sources:
        for line in lines[:OPENING_LINES]:
            if next_cue(line):
                break
            dates = find_dates(line)
            if time is None and (dates or _TIME_LABEL.search(line)):
                found = find_time(line)
                time = found[:2] if found else None
            if place is None:
                labelled = PLACE_LABEL.search(line)
                place = clean_place(labelled.group("place")) if labelled else (
                    place_in(line, dates[0]) if dates else None)
        if time or place:
            break
    return time, place


def correction_lines(text: str, subject: str, quoted: str) -> list[tuple[str, bool]]:
    """Lines of a reply's own text that correct a meeting ("Korrektur: das Treffen ist am …", "der Termin wird
    verschoben auf …", "der Raum hat sich geändert: …"), each with whether it is about the room. Only replies:
    in a protocol, "verschoben" is about anything ("das Sommerfest wird verschoben")."""
    if not quoted.strip() and not _REPLY.match(subject or ""):
        return []
    found = []
    for line in text.splitlines():
        if _CORRECTION.search(line) and (_ABOUT_MEETING.search(line) or _ABOUT_ROOM.search(line)):
            found.append((line.strip(), bool(_ABOUT_ROOM.search(line))))
            if len(found) == CORRECTIONS:
                break
    return found


def unquoted(quoted: str) -> list[str]:
    """The quoted text of a reply as the older mail's own lines."""
    return [line.lstrip().lstrip(">").strip() for line in quoted.splitlines()]
