"""Who attended: the attendee list of a protocol ("Teilnehmende: …" on its line or below it)."""

from __future__ import annotations

import re

from hub.inbound.textlines import BULLET, HEADING

ATTENDEES = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:teilnehmende|teilnehmer(?:/innen|/-innen|:innen|\*innen|_innen|innen)?|anwesend(?:e)?"
    r"|anwesenheit|present|attendees|participants)\b\s*(?:\([^)]*\))?\s*(?:[:|\t]\s*|$)(?P<rest>.*)$",
    re.IGNORECASE,
)
_SECTION_LABEL = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:entschuldigt|abwesend|es fehlten|gäste|gast|protokoll(?:führung)?|moderation|leitung"
    r"|absent|apologies|excused|minutes|chair|verteiler|datum|ort|zeit|beginn|ende|top\b|tagesordnung)",
    re.IGNORECASE,
)


def find_attendees(sources: list[list[str]]) -> list[str]:
    for lines in sources:
        for number, line in enumerate(lines):
            m = ATTENDEES.match(line)
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
                if _SECTION_LABEL.match(following) or (HEADING.match(following) and not BULLET.match(following)):
                    break
                names.extend(_split_names(BULLET.sub("", following)))
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
