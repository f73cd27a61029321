"""Markdown as plain text for a mail's text part: what a reader sees in a client that shows no HTML.

The coordinator writes the editorial in Markdown; the HTML part renders it, and the text part must read as
a letter, not as markup: no `**` or `#`, links as "Text (URL)", lists with dashes or numbers, paragraphs
separated by a blank line.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

_parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown_text(source: str) -> str:
    """The Markdown rendered to plain text: blocks separated by one blank line, a list's items by none."""
    blocks: list[tuple[str, bool]] = []  # (text, follows the previous block without a blank line)
    lists: list[list[int]] = []  # per open list: [next number], or [] for bullets
    quote, cell, tight = 0, False, False
    row: list[str] = []
    for token in _parser.parse(source or ""):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append([int(token.attrGet("start") or 1)] if kind == "ordered_list_open" else [])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            tight = bool(lists)
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "hr":
            blocks.append(("—" * 20, False))
        elif kind in ("fence", "code_block"):
            blocks.append((_prefix(token.content.rstrip("\n"), lists, quote), False))
        elif kind in ("th_open", "td_open"):
            cell = True
        elif kind in ("th_close", "td_close"):
            cell = False
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            blocks.append((" | ".join(row), bool(blocks) and tight))
            tight = True
        elif kind == "table_close":
            tight = False
        elif kind == "inline" and cell:
            row.append(inline_text(token.children or []))
        elif kind == "inline":
            blocks.append((_prefix(inline_text(token.children or []), lists, quote), bool(lists) and tight))
            tight = bool(lists)
    return "\n".join(("" if joined else "\n") + text for text, joined in blocks).strip()


def _prefix(text: str, lists: list[list[int]], quote: int) -> str:
    """A list item's marker (its number, or a dash), indented by the lists around it; quotes get "> "."""
    if lists:
        current = lists[-1]
        marker = f"{current[0]}. " if current else "- "
        if current:
            current[0] += 1
        indent = "  " * (len(lists) - 1)
        text = indent + marker + text.replace("\n", "\n" + indent + " " * len(marker))
    if quote:
        text = "\n".join("> " * quote + line for line in text.split("\n"))
    return text


def inline_text(children: list[Token]) -> str:
    """Inline Markdown as text: emphasis dropped, links "Text (URL)" (the URL alone when it is the text)."""
    parts: list[str] = []
    links: list[tuple[str, int]] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append("\n")
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "image":
            parts.append(child.content or str(child.attrGet("alt") or ""))
        elif kind == "link_open":
            links.append((str(child.attrGet("href") or ""), len(parts)))
        elif kind == "link_close" and links:
            href, at = links.pop()
            label = "".join(parts[at:])
            if href and href not in (label, f"mailto:{label}"):
                parts.append(f" ({href.removeprefix('mailto:')})")
    return "".join(parts)
