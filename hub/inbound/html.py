"""HTML mail bodies and HTML attachments as readable plain text.

Built on the standard library's tolerant `html.parser`: what the hub needs is a specific layout (a table
row on one line with its cells separated by " | ", links as "text (url)", quotes as "> "), which general
converters either do not offer (they render Markdown tables across several lines) or would pull in a
dependency for; the parser copes with the unclosed tags Outlook and Word write.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = {"script", "style", "head", "title", "template", "noscript", "object", "svg"}
_BLOCK = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "dt", "dd", "pre", "hr",
          "address", "section", "article", "header", "footer", "table", "caption", "center", "form", "fieldset"}
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []  # the document: fragments, "\n" for a line break
        self.tables: list[dict] = []  # per open table: the current row (list of cell texts) and cell (fragments)
        self.skip = 0
        self.pre = 0
        self.quote = 0
        self.links: list[str | None] = []
        self.link_start: list[int] = []

    # where text goes: into the open cell of the innermost table, else the document
    def _sink(self) -> list[str]:
        if self.tables and self.tables[-1]["cell"] is not None:
            return self.tables[-1]["cell"]
        return self.out

    def _break(self) -> None:
        sink = self._sink()
        if sink is not self.out:
            sink.append(" ")
        elif self.out and not self.out[-1].endswith("\n"):
            sink.append("\n")

    def _close_cell(self) -> None:
        table = self.tables[-1]
        if table["cell"] is not None:
            text = _SPACES.sub(" ", "".join(table["cell"])).strip()
            if table["row"] is None:
                table["row"] = []
            table["row"].append(text)
            table["cell"] = None

    def _close_row(self) -> None:
        self._close_cell()
        table = self.tables[-1]
        if table["row"] is not None:
            cells = [c for c in table["row"] if c]
            table["row"] = None
            if cells:
                line = " | ".join(cells)
                self.tables.pop()
                sink = self._sink()
                if sink is self.out:
                    self._break()
                    sink.extend([line, "\n"])
                else:
                    sink.extend([" ", line, " "])
                self.tables.append(table)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        if tag == "table":
            self._break()
            self.tables.append({"row": None, "cell": None})
        elif tag == "tr" and self.tables:
            self._close_row()
            self.tables[-1]["row"] = []
        elif tag in ("td", "th") and self.tables:
            self._close_cell()
            if self.tables[-1]["row"] is None:
                self.tables[-1]["row"] = []
            self.tables[-1]["cell"] = []
        elif tag == "li":
            self._break()
            self._sink().append("- ")
        elif tag == "blockquote":
            self.quote += 1
            self._break()
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.link_start.append(len(self._sink()))
        elif tag == "pre":
            self.pre += 1
            self._break()
        elif tag in _BLOCK:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "table" and self.tables:
            self._close_row()
            self.tables.pop()
            self._break()
        elif tag == "tr" and self.tables:
            self._close_row()
        elif tag in ("td", "th") and self.tables:
            self._close_cell()
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._break()
        elif tag == "a" and self.links:
            href = (self.links.pop() or "").strip()
            start = self.link_start.pop()
            sink = self._sink()
            text = _SPACES.sub(" ", "".join(sink[start:])).strip()
            target = href[7:] if href.lower().startswith("mailto:") else href
            if href.lower().startswith(("http:", "https:", "mailto:")) and target and target not in text:
                sink.append(f" ({target})")
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self._break()
        elif tag in _BLOCK:
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr", "p", "div") and not self.skip:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        sink = self._sink()
        text = data.replace("\r\n", "\n") if self.pre and sink is self.out else _SPACES.sub(" ", data)
        if self.quote and sink is self.out:
            # mark each line of a <blockquote> as a text/plain reply would show it, so quote detection sees it
            marks = "> " * self.quote
            text = text.replace("\n", "\n" + marks)
            if not self.out or self.out[-1].endswith("\n"):
                text = marks + text.lstrip()
        sink.append(text)

    def result(self) -> str:
        while self.tables:
            self._close_row()
            self.tables.pop()
        lines = []
        for line in "".join(self.out).split("\n"):
            line = re.sub(r"[ \t\u00a0]+", " ", line).strip()
            if line.strip("> ") == "" and line.startswith(">"):
                line = ">"
            lines.append(line)
        text = "\n".join(lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(html: str) -> str:
    """Readable text from HTML: table rows on one line, links kept as "text (url)", script and style dropped."""
    converter = _Converter()
    try:
        converter.feed(html)
        converter.close()
    except Exception:  # html.parser is tolerant; should it still give up, keep what was read so far
        pass
    return converter.result()
