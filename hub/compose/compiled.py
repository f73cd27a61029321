"""A mail's HTML from its MJML, compiled once per form of the mail and filled with its texts.

MRML (mjml-python) copies the texts of a mail (what lies between the tags of the body, the title and the
preview) into the HTML as they are, entities and white space included: only the tags and their attributes
decide the HTML around them, and the minifier leaves texts alone too. So the HTML of a source is the HTML of
the same source with each text replaced by a token, each token then replaced by its text. Receipts of one kind
and language differ in their texts only (a name, a subject, dates), so one compile serves all of them; a
source whose tags differ (a block shown or not, a link's URL) is another form, compiled once more.

What MRML reads rather than copies stays in the form: the head (CSS, attributes). A source with comments,
`mj-raw` or a `<` or `>` in an attribute's value (an alliance's own template) is compiled anew each time.
The title is copied twice, once as it is and once into the body's `aria-label` escaped as Rust's
`escape_debug` does (quotes, backslashes, control and combining characters, those Rust deems unprintable):
a title with any character outside the plain ones of German and English text stays in the form as well.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from functools import lru_cache

# What escape_debug surely leaves as it is: printable ASCII but quotes and backslash, Latin-1 and Latin
# Extended-A letters and signs, the dashes, quotation marks and ellipsis of typeset text, the euro sign.
_PLAIN_TITLE = re.compile("[ !#-&(-\\[\\]-~\u00a1-\u00ac\u00ae-\u017f\u2010-\u2027\u2030-\u205e\u20ac]*")
_HEAD_TEXT = re.compile(r"<(mj-title|mj-preview)>([^<>]*[^<>\s][^<>]*)</\1>")
_BODY_TEXT = re.compile(r"(?<=>)[^<>]*[^<>\s][^<>]*(?=<)")
# Forms compiled anew each time: with comments, raw HTML, a `<` or `>` inside an attribute's value.
_UNUSUAL = re.compile(r"<!--|<mj-raw|=\"[^\"]*[<>]")
_NONCE = secrets.token_hex(6)
_TOKEN = re.compile(f"HUBTEXT{_NONCE}N(\\d+)Z")


def html_from_mjml(source: str, compile_mjml: Callable[[str], str]) -> str:
    """`compile_mjml(source)`, from the compiled form of the source when it was compiled before."""
    form, texts = _form(source)
    pieces = _compiled(form, compile_mjml) if texts else None
    if pieces is None:
        return compile_mjml(source)
    return "".join(texts[piece] if isinstance(piece, int) else piece for piece in pieces)


def _form(source: str) -> tuple[str, list[str]]:
    """The source with every copied text as a numbered token, and the texts."""
    body = source.find("<mj-body")
    if body < 0:
        return source, []
    texts: list[str] = []

    def token(text: str) -> str:
        texts.append(text)
        return f"HUBTEXT{_NONCE}N{len(texts) - 1}Z"

    def head_text(match: re.Match) -> str:
        tag, text = match.groups()
        if tag == "mj-title" and not _PLAIN_TITLE.fullmatch(text):
            return match.group(0)
        return f"<{tag}>{token(text)}</{tag}>"

    head = _HEAD_TEXT.sub(head_text, source[:body])
    return head + _BODY_TEXT.sub(lambda match: token(match.group(0)), source[body:]), texts


@lru_cache(maxsize=64)
def _compiled(form: str, compile_mjml: Callable[[str], str]) -> tuple[str | int, ...] | None:
    # Values come escaped (Jinja), so what makes a source unusual is in its template, hence in its form.
    if _UNUSUAL.search(form):
        return None
    pieces = _TOKEN.split(compile_mjml(form))
    return tuple(int(piece) if index % 2 else piece for index, piece in enumerate(pieces))
