"""Words as the full-text search sees them: lower case, German Snowball stems, umlauts and ß folded.

SQLite's FTS5 has no German stemmer, so the hub folds accents and stems in Python and hands FTS5 the stems (its
unicode61 tokenizer with remove_diacritics 2 finds nothing left to fold). The same function makes the terms of
a protocol when it is indexed (as the SQL function `hub_search_terms` the triggers of migration 0010 call) and
of a query, so "Familientage" and "Familientag", "Öztürk" and "oztürk", "Weiß" and "Weiss" meet. PostgreSQL
stems with its own `german` configuration (the same Snowball algorithm); the snippets of both use this one.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from functools import lru_cache

import Stemmer

# What one indexed protocol contributes at most: a PDF of hundreds of pages is found by its first hundred or so,
# and PostgreSQL refuses a tsvector over 1 MB (which would put the whole mail in quarantine).
INDEXED_CHARS = 200_000
# Letters and digits, as unicode61 splits words (an underscore, a hyphen or a dot separates them).
WORD = re.compile(r"[^\W_]+")
# A query's "quoted phrase", or one word.
_QUERY_PART = re.compile(r'"([^"]*)"?|([^\s"]+)')

# PyStemmer's stemmers are not thread-safe; the listener, the web and the scheduler share one process.
_local = threading.local()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The stem of one word in any case, without accents: 'Familientage' → 'familientag', 'Öztürk' → 'ozturk',
    'Weiß' → 'weiss', 'Café' → 'caf'."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("german")
    # Accents go before stemming, as PostgreSQL's unaccent goes before its stemmer: "Elterncafé" and "Elterncafe"
    # must give one stem, which they would not if the stemmer saw an é in one and an e in the other.
    folded = unicodedata.normalize("NFKD", word.lower())
    return stemmer.stemWord("".join(c for c in folded if not unicodedata.combining(c)))


def stems(text: str) -> list[str]:
    return list(map(stem, WORD.findall(text)))


def terms(text: str | None) -> str:
    """The text as FTS5 indexes it: its stems in order, separated by spaces (phrases stay phrases)."""
    if not text:
        return ""
    made = getattr(_local, "ahead", {}).pop(text, None)
    return made if made is not None else _terms(text)


def make_ahead(texts: list[str | None]) -> None:
    """Make the terms of `texts` now, for this thread's next `terms` of the same texts (the index's triggers):
    filing makes them before it begins its transaction, which holds SQLite's one write lock while the triggers
    run, and stemming was a fifth of that time (bench/inbound.py). Replaces what an earlier call made and no
    trigger asked for (a message that was not filed)."""
    _local.ahead = {text: _terms(text) for text in texts if text}


def _terms(text: str) -> str:
    return " ".join(filter(None, map(_token_terms, text[:INDEXED_CHARS].split())))


@lru_cache(maxsize=8192)
def _token_terms(token: str) -> str:
    """The stems of one whitespace-free token ("Familientage," → "familientag"; "AG-Sitzung" → "ag sitzung"):
    no word spans whitespace, and a protocol repeats its tokens, so `_terms` looks most of them up instead of
    running `WORD` over the whole text, which took two thirds of its time (bench/inbound.py: filing). Tokens
    of dates, numbers and names are many and seldom come again: 8,192 of them (about 2 MB) hold the last dozen
    protocols' and the common words, and `stem` keeps every word's stem."""
    return " ".join(map(stem, WORD.findall(token)))


def query_parts(query: str) -> list[tuple[str, list[str]]]:
    """The words and "quoted phrases" of a query, each as typed and as stems; parts without a word drop out."""
    parts = []
    for match in _QUERY_PART.finditer(query):
        typed = match.group(1) if match.group(1) is not None else match.group(2)
        words = stems(typed)
        if words:
            parts.append((typed, words))
    return parts


def register(connection: sqlite3.Connection) -> None:
    """Make `hub_search_terms(text)` known to one SQLite connection: the index's triggers call it."""
    connection.create_function("hub_search_terms", 1, terms, deterministic=True)
