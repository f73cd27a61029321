"""`hub retention …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _


def register(sub) -> None:
    retention = group(sub, "retention", _("Aufbewahrung: löschen, was älter ist als seine Frist in [retention]"))
    p = command(retention, "run", "retention:run", _("jetzt löschen, was seine Frist überschritten hat (das tut "
                                                     "`hub serve` auch jeden Tag)"))
    p.add_argument("--dry-run", action="store_true", help=_("nur zeigen, was gelöscht würde; nichts löschen"))
    json_flag(p)
