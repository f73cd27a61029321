"""What a protocol or a reply reports as done: "erledigt: Flyer", "Flyer: erledigt", "Flyer – erledigt",
"Flyer (erledigt)", "Flyer ist erledigt", or a bare "erledigt" answering a reminder."""

from __future__ import annotations

import re

_DONE_WORD = r"(?:erledigt|abgeschlossen|done)"
_DONE_FIRST = re.compile(rf"^\s*(?:[-*•✓✔]\s*)?{_DONE_WORD}\s*[:–-]\s*(?P<what>.+?)\s*\.?$", re.IGNORECASE)
_DONE_LAST = re.compile(rf"^\s*(?:[-*•✓✔]\s*)?(?P<what>.+?)\s*(?:[:–-]|\(|\bist\b|\bsind\b|\bwurde\b)\s*{_DONE_WORD}"
                        rf"\s*\)?\s*[.!]?$", re.IGNORECASE)
_BARE = re.compile(rf"^\s*(?:ist\s+|schon\s+|bereits\s+)?{_DONE_WORD}\b[\s.!,]*(?:danke\b.*|gruß.*|grüße.*)?$",
                   re.IGNORECASE)
# "Erledigt, die Flyer liegen im Büro." answers a reminder too; "Erledigt ist es noch nicht" does not.
_LEADING = re.compile(rf"^\s*(?:ist\s+|schon\s+|bereits\s+)?{_DONE_WORD}\s*[,.!:;–-]", re.IGNORECASE)


def is_done_line(line: str) -> bool:
    return done_item(line) is not None


def done_item(line: str) -> str | None:
    """The task a line reports as done, as it names it."""
    if "rledigt" not in line and "bgeschlossen" not in line and "done" not in line.lower():
        return None
    m = _DONE_FIRST.match(line) or _DONE_LAST.match(line)
    return m.group("what").strip(" .:–-*•") if m else None


def done_items(text: str) -> list[str]:
    return [item for line in text.splitlines() if (item := done_item(line))]


def says_done(text: str) -> bool:
    """A reply whose first words say "erledigt" (what is quoted below it does not count)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return bool(_BARE.match(first) or _LEADING.match(first)) or done_item(first) is not None


def names_task(item: str, what: str) -> bool:
    """"Flyer" names the task "Flyer drucken"; "den Fragebogen" names "den Fragebogen erstellen"."""
    words = {w for w in re.findall(r"\w+", item.casefold()) if len(w) > 2 and w not in _FILLER}
    task = set(re.findall(r"\w+", what.casefold()))
    return bool(words) and words <= task


_FILLER = frozenset(("der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "und", "für", "zum", "zur"))
