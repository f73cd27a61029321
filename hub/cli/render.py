"""How handlers print: tables and `key: value` lines for people, JSON (keys and values untranslated, the
contract for scripts) for programs. Dates are formatted by hub/cli/when.py (babel is loaded only there)."""

from __future__ import annotations

import json
import sys

from hub.i18n import _


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def print_table(rows: list[dict], columns: dict[str, str]) -> None:
    """`columns` maps each row key to its (translated) heading, in the order shown."""
    if not rows:
        print(_("(keine)"))
        return
    headings = {key: heading.upper() for key, heading in columns.items()}
    widths = {c: max(len(headings[c]), *(len(cell(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(headings[c].ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(cell(row.get(c)).ljust(widths[c]) for c in columns).rstrip())


def print_fields(pairs: list[tuple[str, object]]) -> None:
    """`label: value` lines, the labels right-aligned to the longest."""
    width = max((len(label) for label, _value in pairs), default=0)
    for label, value in pairs:
        print(f"{label:>{width}}: {cell(value)}")


def cell(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def yes_no(value: bool) -> str:
    return _("ja") if value else _("nein")
