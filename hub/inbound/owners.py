"""Who a task's owner is in the registry: "Thomas Becker", "Herr Becker", "Dr. Weiß", "AWO", "Geschäftsstelle",
"Vertretung".

A task gets an owner's address only when exactly one partner fits: a wrong reminder to a namesake is worse than
none, and an owner left open is shown for the coordinator to assign. Among several namesakes a member of the
protocol's group fits better than the others (people write "Herr Becker" about the Becker at the table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from hub.inbound.message import Directory, SenderEntry, Task

_TITLES = frozenset(("frau", "herr", "hr", "fr", "dr", "prof", "dipl", "ing", "mr", "mrs", "ms"))
_OFFICE = re.compile(r"^(?:die\s+|der\s+)?(?:geschaeftsstelle|koordination|koordinator(?:in|/in|:in|\*in)?"
                     r"|buendnisbuero|buero|office)$")
_REPRESENTATIVE = re.compile(r"^(?:die\s+|der\s+)?(?:ag-|gruppen)?(?:vertretung|vertreter(?:in|/in|:in|\*in)?"
                             r"|sprecher(?:in|/in|:in|\*in)?|leitung|ag-leitung)$")
_SEVERAL = re.compile(r"\s(?:und|&|sowie|and)\s|[,/;+]")


def resolve_owners(tasks: Iterable[Task], directory: Directory, group: str | None) -> list[Task]:
    """The tasks with `who_email` set where exactly one partner fits their `who`."""
    partners = [s for s in directory.senders.values() if s.audience == "partner"]
    resolved = []
    for task in tasks:
        owner = match_owner(task.who, partners, group) if task.who else None
        resolved.append(replace(task, who_email=owner.email if owner else None))
    return resolved


def match_owner(who: str, partners: list[SenderEntry], group: str | None) -> SenderEntry | None:
    """The one partner `who` names, or None when none or several fit."""
    plain = " ".join(who.replace("(", " ( ").split())
    hint = None
    if "(" in plain:  # "Aylin (AWO)": the parenthesis tells namesakes apart
        plain, _, hint = plain.partition("(")
        hint = _fold(hint.strip(" )"))
    text = _fold(plain.strip())
    if not text or _SEVERAL.search(f" {text} "):
        return None
    if _OFFICE.match(text):
        return _one([p for p in partners if p.role == "coordinator"], group)
    if _REPRESENTATIVE.match(text):
        return _one([p for p in partners if p.role == "representative" and group in p.groups], None)
    words = [w for w in _words(text) if w not in _TITLES]
    if not words:
        return None
    fitting = [p for p in partners if _name_fits(words, _words(_fold(p.name)))]
    if not fitting:
        fitting = [p for p in partners if p.organisation and _fold(p.organisation) == text]
    if hint and len(fitting) > 1:
        fitting = [p for p in fitting if hint in _fold(p.organisation) or hint in _fold(p.name)] or fitting
    return _one(fitting, group)


def _one(fitting: list[SenderEntry], group: str | None) -> SenderEntry | None:
    if len(fitting) > 1 and group is not None:
        members = [p for p in fitting if group in p.groups]
        fitting = members or fitting
    return fitting[0] if len(fitting) == 1 else None


def _name_fits(words: list[str], name: list[str]) -> bool:
    """Surname last and every other word a given name or its initial: "thomas becker", "t. becker", "becker"."""
    name = [w for w in name if w not in _TITLES]
    if not name or words[-1] != name[-1]:
        return False
    given = name[:-1]
    return all(any(g == w or (len(w) == 1 and g.startswith(w)) for g in given) for w in words[:-1])


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s.]+", text) if w]


def _fold(text: str) -> str:
    return (text.casefold().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
            .replace("ı", "i"))
