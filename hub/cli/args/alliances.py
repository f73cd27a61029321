"""`hub alliances …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _


def register(sub) -> None:
    alliances = group(sub, "alliances", _("die Bündnisse einer Installation für mehrere: auflisten, anlegen, "
                                          "exportieren, entfernen; die Zugänge der technischen Betreuung"))
    json_flag(command(alliances, "list", "alliances:list_alliances", _("die Bündnisse auflisten")))

    p = command(alliances, "add", "alliances:add", _("ein Bündnis anlegen: seine Datei config/alliances/KÜRZEL.toml "
                                                     "(eingerichtet wird es danach mit hub --alliance KÜRZEL init)"))
    p.add_argument("slug", metavar=_("KÜRZEL"))
    p.add_argument("--name", required=True, help=_("der Name, wie ihn Mails und Seiten zeigen"))
    p.add_argument("--domain", required=True, help=_("die Domain seiner Adressen, z. B. buendnis-musterhausen.de"))

    p = command(alliances, "remove", "alliances:remove", _("ein Bündnis entfernen, das keine Daten hat"))
    p.add_argument("slug", metavar=_("KÜRZEL"))

    p = command(alliances, "export", "alliances:export",
                _("ein Bündnis in eine eigene Installation kopieren: Konfiguration, Datenbank und Dateien (die Quelle "
                  "bleibt unverändert)"))
    p.add_argument("slug", metavar=_("KÜRZEL"))
    p.add_argument("--to", required=True, metavar=_("ORDNER"),
                   help=_("der Ordner der neuen Installation; neu oder leer"))
    p.add_argument("--database", metavar="URL",
                   help=_("eine leere Datenbank für sie, z. B. postgresql+psycopg://hub@127.0.0.1/buendnis (Standard: "
                          "SQLite in ORDNER/var/hub.db)"))
    p.add_argument("--with-secret-key", action="store_true",
                   help=_("den geheimen Schlüssel dieser Installation mitnehmen, damit Links in schon versandten Mails "
                          "gültig bleiben; nur, wenn Sie auch die neue Installation betreiben: mit ihm lassen sich "
                          "Links und Anmeldungen aller Bündnisse hier fälschen"))

    providers = group(alliances, "providers", _("Zugänge der technischen Betreuung: melden sich in der "
                                                "Web-Verwaltung jedes Bündnisses an und wechseln zwischen ihnen"))
    p = command(providers, "add", "providers:add", _("einen Zugang anlegen; das Passwort wird abgefragt (oder mit "
                                                     "--password-stdin gelesen)"))
    p.add_argument("email", metavar=_("E-MAIL"))
    p.add_argument("--password-stdin", action="store_true", help=_("das Passwort von der Standardeingabe lesen"))
    json_flag(command(providers, "list", "providers:list_providers", _("die Zugänge auflisten")))
    p = command(providers, "remove", "providers:remove", _("einen Zugang entfernen; seine Sitzungen in allen "
                                                           "Bündnissen enden sofort"))
    p.add_argument("email", metavar=_("E-MAIL"))
    p = command(providers, "password", "providers:password", _("ein neues Passwort setzen; alle Sitzungen des "
                                                               "Zugangs in allen Bündnissen enden sofort"))
    p.add_argument("email", metavar=_("E-MAIL"))
    p.add_argument("--password-stdin", action="store_true", help=_("das Passwort von der Standardeingabe lesen"))
