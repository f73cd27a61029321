"""argparse's own words ("usage:", "positional arguments", its error messages) in the hub's language.

argparse looks its messages up through the names `_` and `ngettext` it imported from the stdlib's gettext;
`install()` points those two names at the hub's catalog (domain `core`), so that `hub --help` and a
mistyped call read German. The message ids stay German like all of ours: the table below maps argparse's
English strings to them. Strings argparse adds in a later Python version come out in English until they
are added here; messages only a programmer can cause (conflicting options) are left alone.
"""

from __future__ import annotations

import argparse
from functools import cache

from hub import i18n
from hub.i18n import _


def install() -> None:
    argparse._ = gettext
    argparse.ngettext = ngettext


def gettext(message: str) -> str:
    return _words(i18n.active()).get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    if singular == "expected %s argument":
        return i18n.ngettext("%s Argument erwartet", "%s Argumente erwartet", n)
    return singular if n == 1 else plural


@cache
def _words(language: str) -> dict[str, str]:
    """argparse's msgid → ours, translated into `language` (the argument keys the cache)."""
    return {
        "usage: ": _("Aufruf: "),
        "positional arguments": _("Argumente"),
        "options": _("Optionen"),
        "show this help message and exit": _("diese Hilfe zeigen und beenden"),
        "argument %(argument_name)s: %(message)s": _("Argument %(argument_name)s: %(message)s"),
        "unrecognized arguments: %s": _("unbekannte Argumente: %s"),
        "the following arguments are required: %s": _("diese Argumente fehlen: %s"),
        "one of the arguments %s is required": _("eines dieser Argumente ist nötig: %s"),
        "not allowed with argument %s": _("nicht zusammen mit dem Argument %s möglich"),
        "ignored explicit argument %r": _("Wert %r wird nicht erwartet"),
        "expected one argument": _("ein Wert erwartet"),
        "expected at most one argument": _("höchstens ein Wert erwartet"),
        "expected at least one argument": _("mindestens ein Wert erwartet"),
        "ambiguous option: %(option)s could match %(matches)s": _(
            "mehrdeutige Option: %(option)s kann %(matches)s sein"),
        # every typed argument of the hub is a whole number (ids, limits, days, ports)
        "invalid %(type)s value: %(value)r": _("%(value)r ist keine ganze Zahl"),
        "invalid choice: %(value)r (choose from %(choices)s)": _(
            "ungültige Wahl: %(value)r (möglich: %(choices)s)"),
        "unknown parser %(parser_name)r (choices: %(choices)s)": _(
            "unbekannter Befehl %(parser_name)r (möglich: %(choices)s)"),
        "%(prog)s: error: %(message)s\n": _("%(prog)s: Fehler: %(message)s\n"),
    }
