"""Compiled MJML made smaller without changing what any mail client shows.

Every byte of a newsletter's HTML goes to every recipient, quoted-printable encoded (an `=` costs three bytes
there). MRML (mjml-python) writes its head with line breaks and indentation, its inline styles with spaces and
a trailing `;`, and each Outlook-only table in a conditional comment of its own. This pass:

- merges Outlook conditional comments that follow each other (`<![endif]--><!--[if mso | IE]>`), as the
  reference MJML compiler does: what Outlook reads and what every other client skips stays the same;
- writes the head's CSS and the whitespace between the head's tags compactly;
- writes inline `style` attributes without spaces after `;`, `:` and `,`, without the last `;`, `0px` as `0`
  and margins and paddings in their shortest form (`6px 28px 6px 28px` is `6px 28px`), and drops empty ones.

Text is never touched: only the head's markup and CSS, and attribute values inside tags (the body's text holds
no raw `<`: everything in it was escaped or sanitized before MJML saw it).
"""

from __future__ import annotations

import re
from functools import lru_cache

_MSO_JOIN = re.compile(r"<!\[endif\]-->\s*<!--\[if mso \| IE\]>")
_HEAD = re.compile(r"<head>.*?</head>", re.DOTALL)
_STYLE_BLOCK = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.DOTALL)
# A start tag with its attributes (quoted values may hold `>`); comments and end tags do not match.
_TAG = re.compile(r"""<[a-zA-Z][^\s/>]*(?:\s+[^\s"'=<>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*\s*/?>""")
_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_CSS_SPACE = re.compile(r"\s*([{};,>])\s*|(:)\s+")
_DECLARATION_SPACE = re.compile(r"\s*([;,])\s*|(:)\s+")
_ZERO = re.compile(r"(?<![\w.#-])0px\b")
_BOX = re.compile(r"(?<![\w-])((?:margin|padding):)([^;]+)")


def minify(html: str) -> str:
    html = _MSO_JOIN.sub("", html)
    html = _HEAD.sub(lambda m: _head(m.group(0)), html, count=1)
    return _TAG.sub(_tag, html)


def _head(head: str) -> str:
    head = re.sub(r">\s+<", "><", head)
    return _STYLE_BLOCK.sub(lambda m: m.group(1) + _css(m.group(2)) + m.group(3), head)


@lru_cache(maxsize=64)  # MRML writes the same few style blocks into every mail
def _css(css: str) -> str:
    css = " ".join(css.split())
    css = _CSS_SPACE.sub(lambda m: m.group(1) or m.group(2), css)
    return css.replace(";}", "}").strip()


def _tag(match: re.Match) -> str:
    tag = match.group(0)
    if ' style="' not in tag:
        return tag
    return _STYLE_ATTR.sub(_style, tag)


def _style(match: re.Match) -> str:
    return _compact_style(match.group(1))


@lru_cache(maxsize=1024)  # a mail repeats a few dozen styles hundreds of times
def _compact_style(value: str) -> str:
    if "(" in value or "'" in value or "&" in value:
        # url(), quoted font names or an entity: only the ends
        value = value.strip().rstrip(";").strip()
    else:
        value = _DECLARATION_SPACE.sub(lambda m: m.group(1) or m.group(2), value).strip().rstrip(";")
        value = _BOX.sub(_box, _ZERO.sub("0", value))
    return f' style="{value}"' if value else ""


def _box(match: re.Match) -> str:
    """`margin:0 0 8px 0` as `margin:0 0 8px`: the shortest form CSS reads as the same four sides."""
    sides = match.group(2).split(" ")
    if len(sides) == 4 and sides[3] == sides[1]:
        sides.pop()
    if len(sides) == 3 and sides[2] == sides[0]:
        sides.pop()
    if len(sides) == 2 and sides[1] == sides[0]:
        sides.pop()
    return match.group(1) + " ".join(sides)
