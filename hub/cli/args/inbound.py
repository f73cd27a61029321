"""`hub ingest` and `hub protocols …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _


def register(sub) -> None:
    p = command(sub, "ingest", "ingest:ingest", _("Mail aus Dateien oder von der Standardeingabe ablegen (für "
                                                   "eine Postfix-Pipe oder procmail)"))
    p.add_argument("files", nargs="+", metavar=_("DATEI"),
                   help=_("Mail-Dateien im Rohformat (.eml), oder - für die Standardeingabe"))
    p.add_argument("--json", action="store_true", help=_("ein JSON-Objekt je Nachricht ausgeben"))
    p.add_argument("--recipient", action="append", default=[], metavar=_("ADRESSE"),
                   help=_("Empfänger laut Umschlag (wie eine Pipe ihn übergibt; mehrfach möglich)"))
    p.add_argument("--sender", metavar=_("ADRESSE"), help=_("Absender laut Umschlag"))
    p.add_argument("--queue", action="store_true",
                   help=_("nur sicher in den Spool schreiben und zurückkehren; der laufende `hub serve` legt die "
                          "Mail ab (für eine Postfix-Pipe: schnell, Exit-Status 75 wenn der Spool nicht "
                          "beschreibbar ist)"))

    protocols = group(sub, "protocols", _("abgelegte Protokolle und die Prüfliste"))
    p = command(protocols, "list", "inbound:list_protocols", _("eingegangene Protokolle auflisten, neueste "
                                                               "zuerst"))
    p.add_argument("--group", metavar=_("KÜRZEL"), help=_("nur diese Gruppe"))
    p.add_argument("--held", action="store_true", help=_("nur zur Prüfung zurückgehaltene Mail"))
    p.add_argument("--all", action="store_true", help=_("auch Unzustellbarkeitsmeldungen, automatische "
                                                        "Antworten und sonstige Mail"))
    p.add_argument("--limit", type=int, default=100, help=_("höchstens so viele (Standard 100)"))
    json_flag(p)

    p = command(protocols, "search", "search:search_command",
                _("abgelegte Protokolle durchsuchen (Betreff, Text und Anhänge; jede Wortform, beste Treffer zuerst)"))
    p.add_argument("query", metavar=_("SUCHE"),
                   help=_("Wörter, die alle vorkommen müssen, oder eine \"Wortfolge\" in Anführungszeichen"))
    p.add_argument("--group", metavar=_("KÜRZEL"), help=_("nur diese Gruppe"))
    p.add_argument("--since", metavar=_("DATUM"), help=_("nur ab diesem Eingangstag, z. B. 01.03.2026"))
    p.add_argument("--limit", type=int, default=20, help=_("höchstens so viele (Standard 20)"))
    json_flag(p)

    p = command(protocols, "show", "inbound:show", _("Text, Anhänge eines Protokolls und warum es abgelegt "
                                                     "oder zurückgehalten wurde"))
    p.add_argument("id", type=int, metavar="ID")
    json_flag(p)

    p = command(protocols, "assign", "inbound:assign", _("eine Nachricht unter einer Gruppe ablegen"))
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("slug", metavar=_("KÜRZEL"))
    p = command(protocols, "release", "inbound:release", _("eine zurückgehaltene Nachricht unter der Gruppe "
                                                           "ablegen, der sie zugeordnet wurde"))
    p.add_argument("id", type=int, metavar="ID")
    p = command(protocols, "retry", "inbound:retry", _("Nachrichten, die nicht verarbeitet werden konnten, erneut "
                                                       "ablegen (etwa nach einem Update)"))
    p.add_argument("ids", type=int, nargs="*", metavar="ID")
    p.add_argument("--all", action="store_true", help=_("alle Nachrichten in Quarantäne"))
    p = command(protocols, "reject", "inbound:reject", _("eine zurückgehaltene oder nicht verarbeitete Nachricht "
                                                         "ablehnen (bleibt gespeichert, wird nie abgelegt)"))
    p.add_argument("id", type=int, metavar="ID")
