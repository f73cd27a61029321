"""The words the hub speaks: gettext catalogs under `hub/locale/`, German first, English complete.

Three catalogs (gettext domains), one per place where text is written, so that each can be extracted from
its own sources: `hub` (the mails), `web` (pages and flash messages) and `core` (the command line and
what the core says to people: errors, reasons for holding a mail). They are
read as one: a message is looked up in each in turn. The message ids are German, the alliance's language.

The command line and the web speak the installation's language (`[alliance] language`), set once at start
with `activate`; mails speak their reader's language and ask `translations(locale)` themselves.
"""

from __future__ import annotations

from functools import lru_cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LOCALES = ("de", "en")
DEFAULT_LOCALE = "de"
DOMAINS = ("hub", "web", "core")

_active = DEFAULT_LOCALE


def normalise(language: str | None) -> str | None:
    """'de-DE', 'en_GB', 'EN' → 'de' / 'en'; None for anything the hub does not speak."""
    if not language:
        return None
    base = language.split("-")[0].split("_")[0].lower()
    return base if base in LOCALES else None


@lru_cache(maxsize=len(LOCALES) + 1)
def translations(locale: str) -> NullTranslations:
    """All catalogs of one language as one translations object (unknown languages read German)."""
    locale = normalise(locale) or DEFAULT_LOCALE
    merged: NullTranslations | None = None
    for domain in DOMAINS:
        path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.mo"
        if not path.is_file():
            continue
        with path.open("rb") as fp:
            catalog = GNUTranslations(fp)
        if merged is None:
            merged = catalog
        else:
            merged.add_fallback(catalog)
    return merged or NullTranslations()


def lazy(message: str) -> str:
    """Marks a message id for extraction (keyword `lazy`) where it is defined; `_()` translates it where it is
    shown, in the language of that moment."""
    return message


def activate(language: str | None) -> None:
    """The language of the command line and the web for this process."""
    global _active
    _active = normalise(language) or DEFAULT_LOCALE


def active() -> str:
    return _active


def gettext(message: str) -> str:
    return translations(_active).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_active).ngettext(singular, plural, n)


_ = gettext
