"""Searching the protocol archive: the use case behind `hub protocols search` and the web archive's search field.

The query is words and "quoted phrases"; a protocol is found when its subject or text (attachments included)
holds all of them in any form of the word ("Familientage" finds "Familientag", "öztürk" finds "Öztürk", "weiss"
finds "Weiß"), best first (`hub.search_store`). Each hit comes with a snippet of its text around the first word
found, as pieces with the found words marked, so that each front door marks them its own way (<mark> in the
web, »…« on the command line) and nothing from a mail is ever taken for markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlmodel import Session

from hub import search_store, search_terms
from hub.models import Alliance, Group, InboundMessage

# Pieces of text, each with whether it is a word that was searched for.
Pieces = list[tuple[str, bool]]
SNIPPET_CHARS = 220


@dataclass
class Hit:
    message: InboundMessage
    title: Pieces  # the subject
    snippet: Pieces  # the text around the first word found; "…" where it is cut


@dataclass
class Results:
    total: int  # the protocols found (at most search_store.RANKED), of which `hits` is one page
    hits: list[Hit]
    more: bool = False  # more than `total` protocols hold the words: the best of the newest `total` are ranked


def search_protocols(session: Session, alliance: Alliance, query: str, *, group: Group | None = None,
                     since: datetime | None = None, until: datetime | None = None, offset: int = 0,
                     limit: int = 50) -> Results:
    """Filed protocols of the alliance that hold every word of `query`, best first; a query without a word
    finds nothing."""
    parts = [search_store.Part(typed, tuple(stems)) for typed, stems in search_terms.query_parts(query)]
    total, more, messages = search_store.search(session, alliance.id, parts, group_id=group.id if group else None,
                                                since=since, until=until, offset=offset, limit=limit)
    wanted = {s for part in parts for s in part.stems}
    return Results(total, [Hit(m, mark(m.subject, wanted), snippet(m.text, wanted)) for m in messages], more)


def snippet(text: str, wanted: set[str], width: int = SNIPPET_CHARS) -> Pieces:
    """About `width` characters of `text` on one line, from a little before the first wanted word (from the
    start when there is none: the subject alone matched), cut at spaces."""
    first = _first(text, wanted)
    start = max(first - width // 3, 0)
    if start:
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    end = min(start + width, len(text))
    if end < len(text):
        space = text.rfind(" ", max(first + 1, start), end)
        end = space if space > first else end
    pieces = mark(re.sub(r"\s+", " ", text[start:end]).strip(), wanted)
    if start:
        pieces.insert(0, ("…", False))
    if end < len(text):
        pieces.append(("…", False))
    return pieces


def _first(text: str, wanted: set[str]) -> int:
    """Where the first word with a wanted stem begins (0 if none). Stemming every word of a long protocol up to it
    was most of a search's time (bench/search.py: 50 hits of 10 KB); a stem begins its word, so a pattern finds the
    words that may have it, and only those are stemmed. Should none of them have it, every word is tried."""
    if wanted:
        for match in _candidates(frozenset(wanted)).finditer(text):
            if search_terms.stem(match.group()) in wanted:
                return match.start()
    return next((m.start() for m in search_terms.WORD.finditer(text) if search_terms.stem(m.group()) in wanted), 0)


# What a folded stem's letter may stand for in the text: search_terms.stem folds accents and ß to ss, and the
# German stemmer reads "ae", "oe", "ue" as the umlauts ("Oeztuerk" has the stem of "Öztürk").
_LETTERS = {"a": "(?:ae|[aáàâäã])", "e": "[eéèêë]", "i": "[iíìîï]", "o": "(?:oe|[oóòôöõ])", "u": "(?:ue|[uúùûü])",
            "c": "[cç]", "n": "[nñ]", "y": "[yý]"}


@lru_cache(maxsize=256)
def _candidates(stems: frozenset[str]) -> re.Pattern:
    def letters(stem: str) -> str:
        parts, at = [], 0
        while at < len(stem):
            if stem.startswith("ss", at):
                parts.append("(?:ss|ß)")
                at += 2
                continue
            parts.append(_LETTERS.get(stem[at], re.escape(stem[at])))
            at += 1
        return "".join(parts)

    return re.compile(r"(?<![^\W_])(?:" + "|".join(letters(s) for s in sorted(stems)) + r")[^\W_]*", re.IGNORECASE)


def mark(text: str, wanted: set[str]) -> Pieces:
    """`text` in pieces, the words whose stem is wanted apart and marked."""
    pieces: Pieces = []
    at = 0
    for match in search_terms.WORD.finditer(text):
        if search_terms.stem(match.group()) in wanted:
            if match.start() > at:
                pieces.append((text[at:match.start()], False))
            pieces.append((match.group(), True))
            at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def plain(pieces: Pieces, before: str = "", after: str = "") -> str:
    """The pieces as one string, the marked ones between `before` and `after`."""
    return "".join(f"{before}{text}{after}" if hit else text for text, hit in pieces)
