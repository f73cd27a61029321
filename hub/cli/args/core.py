"""`hub init`, `hub status`, `hub groups list`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _


def register(sub) -> None:
    command(sub, "init", "core:init", _("die Datenbank anlegen oder aktualisieren und die Gruppen aus der "
                                        "Konfiguration laden"))
    json_flag(command(sub, "status", "status:show", _("das Bündnis, den verwendeten Speicher und die "
                                                      "gespeicherten Mengen zeigen")))
    groups = group(sub, "groups", _("Arbeitsgruppen (aus der Konfigurationsdatei)"))
    json_flag(command(groups, "list", "core:list_groups", _("die Gruppen mit Aliasen und Mitgliederzahl "
                                                            "auflisten")))
