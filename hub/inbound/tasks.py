"""Who attended and who does what: attendee lists, task lists and task tables ("Wer übernimmt was?"),
with owners and due dates."""

from __future__ import annotations

import re
from datetime import date

from hub.inbound.datefind import WEEKDAY_RE, complete_after, find_dates
from hub.inbound.message import Task
from hub.inbound.textlines import HEADING, next_cue, table_cells

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


def find_attendees(sources: list[list[str]]) -> list[str]:
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
                if _SECTION_LABEL.match(following) or (HEADING.match(following) and not _BULLET.match(following)):
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


def find_tasks(sources: list[list[str]], reference: date | None) -> list[Task]:
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
    cells = table_cells(line)
    return len(cells) >= 2 and any(_WHAT_COLUMN.match(c) for c in cells) and any(_WHO_COLUMN.match(c) for c in cells)


def _task_table(lines: list[str], header: int, reference: date | None, tasks: list[Task]) -> int:
    columns = table_cells(lines[header])
    what = next(i for i, c in enumerate(columns) if _WHAT_COLUMN.match(c))
    who = next(i for i, c in enumerate(columns) if _WHO_COLUMN.match(c))
    due = next((i for i, c in enumerate(columns) if _DUE_COLUMN.match(c)), None)
    number = header + 1
    while number < len(lines):
        line = lines[number]
        if not line.strip():  # HTML tables come with a blank line between rows
            number += 1
            continue
        if "|" not in line and "\t" not in line or next_cue(line) or _ATTENDEES.match(line):
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
        if (next_cue(line) or _ATTENDEES.match(line) or _TASK_HEADING.match(line)
                or (HEADING.match(line) and not _BULLET.match(line))):
            return number
        task = _task_item(_BULLET.sub("", line).strip(), reference)
        if task.what:
            tasks.append(task)
            seen_item = True
        number += 1
    return number


def _due(text: str, reference: date | None) -> date | None:
    dates = find_dates(text)
    return complete_after(dates[0], reference) if dates else None


_DUE_PHRASE = re.compile(
    rf"(?:\b(?:bis(?:\s+zum|\s+spätestens)?|frist|fällig|deadline|by|until|spätestens)\b:?\s*)"
    rf"(?:(?:{WEEKDAY_RE})\.?,?\s+)?(?P<date>.*)$",
    re.IGNORECASE,
)


def _task_item(text: str, reference: date | None) -> Task:
    who = due = None
    # Parenthesised or trailing additions: "(bis 15.04.)", "(Frau Krüger)", ", bis zum 30.4.".
    while True:
        text = text.strip(" ;,–-")
        parenthesis = re.search(r"\((?P<inner>[^()]+)\)$", text)
        inner = parenthesis.group("inner").strip() if parenthesis else None
        if inner and (phrase := _DUE_PHRASE.match(inner)) and find_dates(phrase.group("date")):
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
            dates = find_dates(phrase.group("date"), section_numbers=False)
            if dates and not phrase.group("date")[dates[0].end:].strip(" .,)"):
                return phrase
    return None


def _person_like(text: str) -> bool:
    """Names and institutions ("Dr. Jürgen Weiß", "Frau Öztürk und Herr Wagner", "AWO (Aylin)", "alle")."""
    words = text.replace(",", " ").split()
    return 0 < len(words) <= 7 and not any(c.isdigit() for c in text) and all(
        _PERSON_WORD.match(w) for w in words)
