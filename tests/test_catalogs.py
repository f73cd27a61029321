"""Every message a person can read exists in German and in English, and the compiled catalogs are current.

The catalogs are extracted afresh from the sources (as scripts/update-translations does), so a message added
to the code without a translation fails here, not in front of a coordinator.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from hub.i18n import DOMAINS, LOCALE_DIR, LOCALES

ROOT = Path(__file__).resolve().parent.parent


def _extract(domain: str, tmp_path: Path):
    target = tmp_path / f"{domain}.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", f"babel/{domain}.cfg",
         "-k", "_", "-k", "gettext", "-k", "ngettext:1,2", "-k", "lazy", "-o", str(target), "."],
        cwd=ROOT, check=True, capture_output=True)
    with target.open("rb") as fp:
        return read_po(fp)


def _key(value):
    return tuple(value) if isinstance(value, tuple | list) else value


def _missing(message) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else [message.string]
    return not all(strings) or message.fuzzy


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_message_has_a_german_and_an_english_translation(domain, tmp_path):
    extracted = _extract(domain, tmp_path)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted if m.id}
    assert ids, f"nothing extracted for {domain}"
    for locale in LOCALES:
        with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as fp:
            catalog = read_po(fp, locale=locale)
        untranslated = sorted(i for i in ids if catalog.get(i) is None or _missing(catalog.get(i)))
        assert untranslated == [], f"{locale}/{domain}.po lacks translations (scripts/update-translations {domain})"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_compiled_catalogs_match_their_sources(domain, locale):
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    with (folder / f"{domain}.po").open("rb") as fp:
        source = {_key(m.id): _key(m.string) for m in read_po(fp, locale=locale) if m.id and not _missing(m)}
    with (folder / f"{domain}.mo").open("rb") as fp:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(fp) if m.id}
    assert compiled == source, f"run scripts/update-translations {domain}: {folder / domain}.mo is stale"


def test_no_module_that_translates_rebinds_the_translation_function():
    """`partner_id, _, signature = token.partition(".")` in a function that also says `_("…")` made every bad
    unsubscribe link an HTTP 500: within that function `_` was the dot, not gettext."""
    rebinding = []
    for path in sorted((ROOT / "hub").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        translates = any(isinstance(node, ast.ImportFrom) and any(a.name == "_" for a in node.names)
                         for node in tree.body)
        if not translates:
            continue
        inside_comprehensions = {id(name) for node in ast.walk(tree) if isinstance(node, ast.comprehension)
                                 for name in ast.walk(node.target)}
        rebinding += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                      if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store)
                      and id(node) not in inside_comprehensions]
    assert rebinding == []
