"""Where a meeting takes place: "Ort: …", "im Rathaus", "bei der AWO", online meetings; never a month,
a season or a phrase like "im Anschluss"."""

from __future__ import annotations

import re

from hub.inbound.datefind import DATE, MONTHS, TIME, WEEKDAY_RE, Date, find_dates, find_time, fold

PLACE_LABEL = re.compile(r"\b(?:ort|raum|treffpunkt|location|place|venue|wo)\s*[:|]\s*(?P<place>.+)", re.IGNORECASE)
_PLACE_PREPOSITION = re.compile(
    r"(?:^|[\s,;(])(?P<prep>im|in\s+der|in\s+den|in\s+dem|ins|in|bei\s+der|bei\s+dem|bei\s+den|beim|bei|auf\s+dem|at\s+the|at"
    r"|in\s+the)\s+(?P<place>[A-ZÄÖÜ0-9„\"].*)",
)
_ONLINE = re.compile(r"(?:^|[\s,;(])(?P<place>(?:online|digital|virtuell|per\s+(?:zoom|teams|video)|via\s+\w+"
                     r"|videokonferenz|zoom|microsoft\s+teams|webex|big\s?blue\s?button)\b.*)", re.IGNORECASE)


_NOT_A_PLACE = frozenset(MONTHS) | {
    "anschluss", "rahmen", "vorfeld", "herbst", "fruehjahr", "fruehling", "sommer", "winter", "januar", "kw",
    "regel", "moment", "laufe", "anschluß", "jahr", "zwei", "drei", "vier", "fuenf", "sechs", "acht", "einer",
    "ein", "der", "die", "das", "anlehnung", "zukunft", "kalenderwoche", "form", "ferien", "sommerferien",
    "urlaub", "protokoll",
}
# Where a place phrase ends: "… statt.", a new sentence ("Bitte …"), but not "St. Martin" or "Raum 2.14".
_DATED_REMARK = re.compile(r"\s*\([^()]*\)")
_PLACE_END = re.compile(r"\s+(?:statt|stattfinden)\b.*$|;.*$|[.!]\s+(?=[A-ZÄÖÜ][a-zäöü]*\s+[a-zäöü]).*$"
                        r"|[.;:!,–-]\s*$|\s+\(?(?:bitte|siehe)\b.*$")


def says_something(rest: str) -> bool:
    """Whether the cue's own line goes on in prose ("… wollen wir den Flyer besprechen") rather than being a
    heading or a bare place ("Nächstes Treffen: im Rathaus"), so that later lines are not its date."""
    return bool(re.search(r"\b[a-zäöüß]{5,}\b", _without_date_and_time(rest)))


def place_in(text: str, found: Date | None, whole_line: bool = False) -> str | None:
    """A place phrase: "im Rathaus, Raum 2.14", "in der Kita Sonnenschein", or what follows date and time.

    On a line of its own (`whole_line`) the place must start the line, so that a later sentence
    ("Der Aktionstag findet im Stadtpark statt.") is not taken for it.
    """
    if found is not None:
        # What follows the date and time on the cue's line: "…, 18:00 Uhr, Familienzentrum Regenbogen", also
        # "…, Elterncafé im Stadtteilhaus" (a preposition inside the place). A remark in brackets with a date of
        # its own ("(Rückmeldung bis 30.04.)") is not part of it.
        after = _DATED_REMARK.sub(lambda m: "" if find_dates(m.group()) else m.group(), text[found.end:])
        parts = [p.strip() for p in re.split(r"\s*,\s*", after) if p.strip() and not find_dates(p)]
        # A time with more words ("um 18 Uhr im Rathaus") leaves the place to its preposition below.
        timed = [p for p in parts if find_time(p)]
        rest = ", ".join(p for p in parts if p not in timed)
        if (rest[:1].isupper() and not any(_without_date_and_time(p).strip(" .") for p in timed)
                and not re.match(r"(?:Uhr|Wir|Bitte|Die|Der|Das|Es|Sie|Ich)\b", rest)):
            return clean_place(rest)
    stripped = _without_date_and_time(text).strip(" ,;:–-|\t")
    for m in _PLACE_PREPOSITION.finditer(stripped):
        if whole_line and m.start("prep") > 0:
            break
        first = fold(re.split(r"[\s,:;]", m.group("place"), maxsplit=1)[0])
        if first not in _NOT_A_PLACE and not first[:1].isdigit():
            return clean_place(m.group("place"))
    online = _ONLINE.search(stripped)
    if online and not (whole_line and online.start("place") > 0):
        return clean_place(online.group("place"))
    if whole_line:
        short = len(stripped.split()) <= 8 and not says_something(stripped)
        return clean_place(stripped) if stripped[:1].isupper() and short else None
    return None


def _without_date_and_time(text: str) -> str:
    text = DATE.sub(" ", text)
    text = TIME.sub(" ", text)
    text = re.sub(rf"\b(?:{WEEKDAY_RE})\b,?", " ", text, flags=re.IGNORECASE)
    return re.sub(r"\b(?:am|um|ab|on)\s+(?=[\s,]|$)", " ", text)


def clean_place(text: str) -> str:
    text = text.strip()
    for _ in range(3):
        text = _PLACE_END.sub("", text).strip()
    return text.strip(" ,;:–-\"„“")
