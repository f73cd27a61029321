"""The address of MAIL FROM and RCPT TO read without a full RFC 5322 parser when it is a plain one.

aiosmtpd reads each path with the `email` package's header parser (and defines a class for its type on every
call): 50 us per command, a tenth of the listener's time per message (bench/inbound.py). Nearly every path is
`<local@domain>` with a dot-atom on both sides, whose address is simply the text between the brackets; only
such a path is taken here, everything else (quoted local parts, domain literals, source routes, comments,
a path without brackets) goes to aiosmtpd's parser as before. tests/test_smtp_paths.py compares both.
"""

from __future__ import annotations

import re

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")


class PlainPaths:
    """A mixin for aiosmtpd's SMTP: `_getaddr` with the fast way for plain paths."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = _PLAIN.match(arg)
        rest = arg[plain.end():] if plain else ""
        if rest[:1] in (" ", "\t"):  # the parser takes the white space after the path, as folding white space
            rest = rest.lstrip()
        if (plain is None or rest[:1] == "(" or  # a comment after the path: the parser's
                (self.local_part_limit and len(plain.group(1)) > self.local_part_limit)):
            return super()._getaddr(arg)
        return f"{plain.group(1)}@{plain.group(2)}", rest
