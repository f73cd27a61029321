"""Where a group is named in a text, and how plainly: the names of the alliance's groups (name, slug, aliases, a
distinctive word of a longer name) as keys of folded, lightly stemmed words, and `find`, which ranks each group
named in a text (hub/inbound/route.py, "Routing rule": named as the protocol's author > the full name > a slug,
alias or short name > one word of a longer name).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from hub.inbound.message import GroupEntry

_PREFIXES = frozenset({"ag", "pg", "ak", "arbeitsgruppe", "projektgruppe", "arbeitskreis", "workinggroup"})
# Words that name no particular group: a name made only of these never matches on its own.
_GENERIC = frozenset({
    "gruppe", "protokoll", "ergebnisprotokoll", "sitzungsprotokoll", "buendnis", "familie", "familien", "treffen",
    "sitzung", "termin", "lokal", "lokales", "arbeit", "projekt", "kreis", "team", "group", "meeting", "minutes",
    "und", "fuer", "der", "die", "das", "des", "den", "dem", "von", "vom", "zur", "zum", "im", "in", "am", "an",
    "mit", "the", "of", "and", "for",
})
# Words that may stand between "Protokoll" and the group that wrote it: "Protokoll der Sitzung der AG …".
_FILLERS = frozenset({
    "der", "des", "die", "dem", "den", "vom", "von", "zur", "zum", "unserer", "unseres", "unsere", "sitzung",
    "treffen", "arbeitstreffen", "of", "the", "meeting", "und", "sowie", "and",
})
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_WORD = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ern", "en", "es", "er", "e", "n", "s")

# Ranks of a name found in text (see the module docstring).
AUTHOR, FULL_NAME, NAME, PART = 4, 3, 2, 1


def fold(text: str) -> str:
    """Lower case, umlauts as ae/oe/ue/ss, other accents dropped: how names are compared."""
    text = text.lower().translate(_FOLD)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@functools.lru_cache(maxsize=65536)  # a protocol's words repeat, and so do protocols' words
def _stem(word: str) -> str:
    # Two rounds of a light German suffix strip, so "Unternehmens"/"Unternehmen" and
    # "Aktionstag"/"Aktionstage"/"Aktionstagen" meet; never below four letters.
    for _round in range(2):
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)]
                break
    return word


def _words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(fold(text))]


_PREFIX_STEMS = frozenset(_stem(w) for w in _PREFIXES)
_GENERIC_STEMS = frozenset(_stem(w) for w in _GENERIC)
_FILLER_STEMS = frozenset(_stem(w) for w in _FILLERS)


def _is_protocol_word(stem: str) -> bool:
    return "protokoll" in stem or stem in ("minut", "minutes", "niederschrift")


@dataclass(frozen=True)
class Key:
    slug: str
    words: tuple[str, ...]
    rank: int  # FULL_NAME for the name without its prefix, NAME for slug/alias, PART for a single word
    named_with_prefix: bool  # the configured name starts with AG/PG/…, so "Gesundheit" alone is less than the name


@functools.lru_cache(maxsize=16)  # the same groups for every message of an alliance
def keys(groups: tuple[GroupEntry, ...]) -> list[Key]:
    cores: dict[str, tuple[str, ...]] = {}
    keys: list[Key] = []
    for group in groups:
        words = _words(group.name)
        prefixed = bool(words) and words[0] in _PREFIX_STEMS
        core = tuple(w for w in words if w not in _PREFIX_STEMS)
        cores[group.slug] = core
        keys.append(Key(group.slug, core, FULL_NAME, prefixed))
        for other in (group.slug, *group.aliases):
            keys.append(Key(group.slug, tuple(w for w in _words(other) if w not in _PREFIX_STEMS), NAME, True))
    # A single distinctive word of a longer name: not generic, not shared with another group's name.
    for slug, core in cores.items():
        if len(core) < 2:
            continue
        shared = {w for s, c in cores.items() if s != slug for w in c}
        for word in core:
            if word not in _GENERIC_STEMS and word not in shared and len(word) >= 5:
                keys.append(Key(slug, (word,), PART, True))
    return [k for k in keys if k.words and not all(w in _GENERIC_STEMS for w in k.words)]


def find(text: str, keys: list[Key]) -> dict[str, int]:
    """The best rank at which each group is named in `text`."""
    words = _words(text)
    if not words:
        return {}
    matches: list[tuple[int, int, Key]] = []
    first = {}
    for i, w in enumerate(words):
        first.setdefault(w, []).append(i)
    for key in keys:
        n = len(key.words)
        for i in first.get(key.words[0], ()):
            if tuple(words[i:i + n]) == key.words:
                matches.append((i, i + n, key))
    covered = {j for start, end, _rank in matches for j in range(start, end)}
    best: dict[str, int] = {}
    for start, end, key in matches:
        prefixed = (start > 0 and words[start - 1] in _PREFIX_STEMS) or (end < len(words) and words[end] in
                                                                          _PREFIX_STEMS)
        rank = key.rank
        if key.rank == FULL_NAME and key.named_with_prefix and not prefixed:
            rank = NAME
        if key.rank == NAME and prefixed:
            rank = FULL_NAME
        if key.rank >= NAME and _named_as_author(words, start, covered):
            rank = AUTHOR
        best[key.slug] = max(best.get(key.slug, 0), rank)
    return best


def _named_as_author(words: list[str], start: int, covered: set[int]) -> bool:
    """Whether the name follows "Protokoll" with only fillers, prefixes or other group names in between."""
    j = start - 1
    while j >= 0 and start - j <= 10:
        w = words[j]
        if _is_protocol_word(w):
            return True
        if not (w in _FILLER_STEMS or w in _PREFIX_STEMS or j in covered):
            return False
        j -= 1
    return False
