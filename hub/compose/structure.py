"""A protocol's plain text as HTML that keeps its structure: paragraphs, lists and TOP headings.

Protocols arrive as plain text (a mail body, or what a document gave). Joined into one paragraph they cannot
be read on a phone; turned into HTML line by line they keep what the writer meant: a blank line starts a
paragraph, "- …", "• …" or "1. …" lines form a list, and "TOP 1: …" (or a short line ending in a colon) is
a heading. Everything is escaped: the text is untrusted.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

BULLET = re.compile(r"^\s*(?:[-•*–·]|\d{1,2}[.)])\s+(?=\S)")
NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s")
HEADING = re.compile(r"^(?:TOP|Top|Tagesordnungspunkt|TOP-Punkt)\s*\d+\b|^[^.!?]{1,60}:$")
STYLE_HEADING = "margin:10px 0 2px 0;font-weight:bold"
STYLE_PARAGRAPH = "margin:0 0 8px 0"
STYLE_LIST = "margin:0 0 8px 0;padding-left:20px"


def protocol_html(text: str | None) -> Markup:
    """The text as <p>, <ul>/<ol> and bold heading paragraphs, every element with its own inline style."""
    out: list[Markup] = []
    lines: list[str] = []
    items: list[str] = []
    numbered = False

    def flush() -> None:
        nonlocal numbered
        if lines:
            out.append(Markup('<p style="{}">{}</p>').format(STYLE_PARAGRAPH,
                                                              Markup("<br>").join(escape(x) for x in lines)))
            lines.clear()
        if items:
            tag = "ol" if numbered else "ul"
            out.append(Markup('<{0} style="{1}">{2}</{0}>').format(
                tag, STYLE_LIST, Markup("").join(Markup("<li>{}</li>").format(i) for i in items)))
            items.clear()

    for raw in (text or "").replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            flush()
        elif HEADING.match(line):
            flush()
            out.append(Markup('<p style="{}">{}</p>').format(STYLE_HEADING, line))
        elif BULLET.match(line):
            if lines or (items and numbered != bool(NUMBERED.match(line))):
                flush()
            numbered = bool(NUMBERED.match(line))
            items.append(BULLET.sub("", line))
        elif items and raw[:1].isspace():
            items[-1] += " " + line  # a list item's wrapped line
        else:
            if items:
                flush()
            lines.append(line)
    flush()
    return Markup("").join(out)
