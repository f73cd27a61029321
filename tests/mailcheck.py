"""Helpers for the mail tests: golden text files and a look inside rendered HTML.

Golden files live in tests/golden/. After a deliberate change to a template, rewrite them with
`HUB_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_templates.py tests/test_newsletter.py` and review the diff.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
OUTPUT = Path(__file__).parent / "output"  # gitignored; CI keeps it as an artifact
CHROMIUM = "/usr/bin/chromium"  # Debian's; never a downloaded browser
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("HUB_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; create it with HUB_UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from the golden file; if intended, rerun with HUB_UPDATE_GOLDEN=1"


class Page(HTMLParser):
    """Tags, attributes, classes and visible text of an HTML document."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.classes: set[str] = set()
        self.texts: list[str] = []
        self.styles: list[str] = []
        self._skip = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "a" and values.get("href") is not None:
            self.hrefs.append(values["href"])
        self.classes.update((values.get("class") or "").split())
        if values.get("style"):
            self.styles.append(values["style"])
        if tag in ("style", "title", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "title", "script"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))

    @property
    def text(self) -> str:
        return " ".join(self.texts)
