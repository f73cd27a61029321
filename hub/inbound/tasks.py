"""Who does what: task lists and task tables ("Wer übernimmt was?"), `Wer:`/`Was:` lines and sentences that give
someone work, with owners and due dates. Who attended is `attendees`."""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date

from hub.inbound.attendees import ATTENDEES
from hub.inbound.duedates import due_date, trailing_due
from hub.inbound.message import Task
from hub.inbound.taskdone import is_done_line
from hub.inbound.taskprose import WORK_VERBS, sentence_task
from hub.inbound.textlines import BULLET, HEADING, lines_holding, next_cue, table_cells

# The four-question form's "Wer (von uns) übernimmt was?" plain, numbered, as Markdown or bold (its "Was ist zu
# tun?" lists work nobody has taken yet: not tasks to follow up); and "Aufgaben", "To-dos", "Vereinbarungen".
_TASK_HEADING = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?(?:\d+[.)]\s*|top\s*\d+\s*[:.]?\s*)?(?:wer\s+(?:von\s+uns\s+)?(?:übernimmt|macht)\s+was"
    r"(?:\s*\(?\s*(?:bis\s+wann|und\s+bis\s+wann)\s*\)?)?|aufgaben(?:verteilung)?"
    r"|to-?\s?dos?|todo-liste|offene\s+punkte|vereinbarungen|action\s+items|tasks)\s*[?:]?\s*(?:\*\*)?\s*$",
    re.IGNORECASE,
)
# What a line needs for `find_tasks` to look at it: a table's separator, a label's colon, or a word that a task
# heading (`_TASK_HEADING`: "wer … was", "Aufgaben", "To-dos", …) cannot be without.
_TASK_LINE_WORDS = ("|", "\t", ":", "wer", "aufgaben", "do", "offene", "vereinbarungen", "action", "tasks")


_SEPARATOR = re.compile(r"\s+(?:–|—|-|->|→|=>)\s+|\s*:\s+|\s*\|\s*")
_PERSON_WORD = re.compile(r"^(?:[A-ZÄÖÜ][\w.'-]*|\(.*\)?|.*\)|und|&|/|von|van|de|zu|alle|all)$")


_WHAT_COLUMN = re.compile(r"^(?:was|aufgabe|aufgaben|maßnahme|task|what|action|thema)\b", re.IGNORECASE)
_WHO_COLUMN = re.compile(r"^(?:wer|verantwortlich|zuständig|who|owner|person)\b", re.IGNORECASE)


_LABEL_WORDS = r"(?:wer|was|aufgabe|verantwortlich|zuständig|bis\s*wann|frist|erledigen\s+bis)"
_LABEL = re.compile(rf"^\s*(?:[-*•]\s*)?{_LABEL_WORDS}\s*:", re.IGNORECASE)
_LABEL_ANYWHERE = re.compile(rf"(?:^|(?<=\s))(?P<label>{_LABEL_WORDS})\s*:\s*", re.IGNORECASE)
# Cheap test before the sentence patterns: a capitalised name followed by a lower-case word.
_HINT_WORDS = (*sorted(WORK_VERBS), "übernimmt", "übernehmen", "kümmert", "kümmern", "sorgt", "wird", "werden")
_PROSE_HINT = re.compile(r"[A-ZÄÖÜ][\w.'-]+\s+(?:[A-ZÄÖÜ][\w'-]+\s+)?(?:" + "|".join(_HINT_WORDS) +
                         r"|\w+t\s.*\bbis\b)")
_SENTENCE_END = re.compile(r"(?<=[a-zäöüß)])[.!;]\s+(?=[A-ZÄÖÜ])")


_DUE_COLUMN = re.compile(r"^(?:bis\s*wann|bis|frist|termin|wann|due|deadline|erledigen\s+bis)\b", re.IGNORECASE)


def find_tasks(sources: list[list[str]], reference: date | None, next_meeting: date | None = None) -> list[Task]:
    """Tasks from task sections and tables, `Wer:`/`Was:` lines, and sentences that give someone work anywhere."""
    tasks: list[Task] = []
    at = _At(reference, next_meeting)
    for lines in sources:
        hints = _hints_in(lines)
        # Any other line is passed over below: no branch can take it.
        worth_a_look = lines_holding(lines, (*_TASK_LINE_WORDS, *(hint.lower() for hint in hints)))
        looked, number = 0, 0
        while (looked := bisect_left(worth_a_look, number, looked)) < len(worth_a_look):
            number = worth_a_look[looked]
            line = lines[number]
            if _is_task_table_header(line):
                number = _task_table(lines, number, at, tasks)
                continue
            if _TASK_HEADING.match(line):
                number = _task_list(lines, number + 1, at, tasks)
                continue
            if _LABEL.match(line):
                number = _labelled(lines, number, at, tasks)
                continue
            if any(word in line for word in hints):
                tasks.extend(_prose(line, at))
            number += 1
    return _without_repeats(tasks)


def _hints_in(lines: list[str]) -> tuple[str, ...]:
    """The words of `_PROSE_HINT` that occur in the text: a line is tried against the pattern only when it holds
    one. Most lines of a protocol hold none, and substring tests are ten times cheaper than the pattern
    (bench/inbound.py: filing's hot path). The pattern's verbs follow whitespace, so they begin a word; its
    other branch needs "bis"."""
    starts = [word for word in {w for line in lines for w in line.split()} if word.startswith(_HINT_WORDS)]
    hints = tuple(hint for hint in _HINT_WORDS if any(word.startswith(hint) for word in starts))
    return (*hints, "bis") if any("bis" in line for line in lines) else hints


@dataclass(frozen=True)
class _At:
    """What a due date is read against: the meeting's day and the next meeting's."""

    reference: date | None
    next_meeting: date | None


def _without_repeats(tasks: list[Task]) -> list[Task]:
    """A task named twice (in a list and again in a sentence) is kept once; one without owner yields to one with."""
    owned = {t.what.casefold() for t in tasks if t.who}
    kept, seen = [], set()
    for task in tasks:
        key = (task.what.casefold(), task.who)
        if key in seen or (task.who is None and task.what.casefold() in owned):
            continue
        seen.add(key)
        kept.append(task)
    return kept


def _is_task_table_header(line: str) -> bool:
    cells = table_cells(line)
    return len(cells) >= 2 and any(_WHAT_COLUMN.match(c) for c in cells) and any(_WHO_COLUMN.match(c) for c in cells)


def _task_table(lines: list[str], header: int, at: _At, tasks: list[Task]) -> int:
    columns = table_cells(lines[header])
    what = next(i for i, c in enumerate(columns) if _WHAT_COLUMN.match(c))
    who = next(i for i, c in enumerate(columns) if _WHO_COLUMN.match(c) and i != what)
    due = next((i for i, c in enumerate(columns) if _DUE_COLUMN.match(c) and i not in (what, who)), None)
    number = header + 1
    while number < len(lines):
        line = lines[number]
        if not line.strip():  # HTML tables come with a blank line between rows
            number += 1
            continue
        if "|" not in line and "\t" not in line or next_cue(line) or ATTENDEES.match(line):
            break
        # Keep empty cells so that columns stay aligned; a row may also stop short ("Kitas informieren | Hoffmann").
        cells = [c.strip() for c in re.split(r"[|\t]", line.strip().strip("|"))]
        cell = {i: cells[i] for i in range(len(cells)) if cells[i] not in ("", "-", "—")}
        if what in cell:
            tasks.append(Task(what=cell[what], who=cell.get(who),
                              due=due_date(cell[due], at.reference, at.next_meeting) if due in cell else None))
        number += 1
    return number


def _task_list(lines: list[str], number: int, at: _At, tasks: list[Task]) -> int:
    seen_item = False
    while number < len(lines):
        line = lines[number]
        if not line.strip():
            following = next((x for x in lines[number + 1:] if x.strip()), "")
            if seen_item and not BULLET.match(following):
                return number
            number += 1
            continue
        if _is_task_table_header(line) or _LABEL.match(line):
            return number
        if (next_cue(line) or ATTENDEES.match(line) or _TASK_HEADING.match(line)
                or (HEADING.match(line) and not BULLET.match(line))):
            return number
        task = _task_item(BULLET.sub("", line).strip(), at)
        if task.what and not is_done_line(line):  # "Flyer: erledigt" closes a task, it gives none
            tasks.append(task)
            seen_item = True
        number += 1
    return number


def _labelled(lines: list[str], number: int, at: _At, tasks: list[Task]) -> int:
    """`Was: … Wer: … Bis wann: …` on one line or on consecutive lines, one task per `Was`."""
    fields: dict[str, str] = {}

    def flush() -> None:
        if fields.get("what") and fields.get("who"):
            due = fields.get("due")
            tasks.append(Task(what=fields["what"], who=fields["who"],
                              due=due_date(due, at.reference, at.next_meeting) if due else None))
        fields.clear()

    while number < len(lines):
        line = BULLET.sub("", lines[number])
        labels = list(_LABEL_ANYWHERE.finditer(line))
        if not labels or labels[0].start() > 0:
            break
        for label, following in zip(labels, [*labels[1:], None], strict=True):
            name = _label_name(label.group("label"))
            if name in fields:  # a second "Was:" or "Wer:" starts the next task
                flush()
            fields[name] = line[label.end():following.start() if following else len(line)].strip(" ;,")
        number += 1
    flush()
    return number


def _label_name(label: str) -> str:
    label = label.lower()
    if label.startswith(("wer", "verantwortlich", "zuständig")):
        return "who"
    if label.startswith(("was", "aufgabe")):
        return "what"
    return "due"


def _prose(line: str, at: _At) -> list[Task]:
    """Sentences outside any task section that give someone work."""
    if not _PROSE_HINT.search(line):
        return []
    found = []
    for sentence in _SENTENCE_END.split(BULLET.sub("", line)):
        task = _sentence(sentence, at, in_section=False)
        if task is not None:
            found.append(task)
    return found


def _sentence(text: str, at: _At, in_section: bool) -> Task | None:
    due = None
    text = text.strip().rstrip(".")
    trailing = trailing_due(text, at.reference, at.next_meeting)
    if trailing is not None:
        text, due = text[:trailing[0]].rstrip(" ,;–-"), trailing[1]
    found = sentence_task(text, in_section, dated=trailing is not None)
    return Task(what=found[0], who=found[1], due=due) if found else None


def _task_item(text: str, at: _At) -> Task:
    who = due = None
    # Parenthesised or trailing additions: "(bis 15.04.)", "(Frau Krüger)", ", bis zum 30.4.".
    while True:
        text = text.strip(" ;,–-")
        parenthesis = re.search(r"\((?P<inner>[^()]+)\)$", text)
        inner = parenthesis.group("inner").strip() if parenthesis else None
        if inner and (phrase := trailing_due(inner, at.reference, at.next_meeting)) and phrase[0] == 0:
            due, text = phrase[1], text[:parenthesis.start()]
        elif inner and who is None and _person_like(inner):
            who, text = inner, text[:parenthesis.start()]
        elif due is None and (phrase := trailing_due(text, at.reference, at.next_meeting)) is not None:
            due, text = phrase[1], text[:phrase[0]]
        else:
            break
    text = text.rstrip(" .")
    if who is not None:
        return Task(what=text, who=who, due=due)
    parts = _SEPARATOR.split(text, maxsplit=1)
    if len(parts) == 2:
        left, right = (p.strip() for p in parts)
        if _person_like(right):
            return Task(what=left, who=right, due=due)
        if _person_like(left):
            return Task(what=right, who=left, due=due)
    sentence = sentence_task(text, in_section=True, dated=due is not None)
    if sentence is not None:
        return Task(what=sentence[0], who=sentence[1], due=due)
    return Task(what=text, who=None, due=due)


def _person_like(text: str) -> bool:
    """Names and institutions ("Dr. Jürgen Weiß", "Frau Öztürk und Herr Wagner", "AWO (Aylin)", "alle")."""
    words = text.replace(",", " ").split()
    return 0 < len(words) <= 7 and not any(c.isdigit() for c in text) and all(
        _PERSON_WORD.match(w) for w in words)
