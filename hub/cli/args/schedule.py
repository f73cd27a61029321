"""`hub meetings …` and `hub schedule …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _


def register(sub) -> None:
    meetings = group(sub, "meetings", _("Treffen der Gruppen, des Koordinierungskreises und des Bündnistreffens"))

    p = command(meetings, "add", "meetings:add", _("ein bestätigtes Treffen eintragen (Zeiten in der Ortszeit "
                                                   "des Bündnisses)"))
    p.add_argument("group", metavar=_("GRUPPE"),
                   help=_("Kürzel der Gruppe, z. B. gesundheit, koordinierungskreis, plenum"))
    p.add_argument("start", metavar=_("BEGINN"), help=_("Beginn, z. B. '09.03.2027 18:00' (mit --all-day nur das "
                                                        "Datum)"))
    p.add_argument("--end", help=_("Ende, z. B. '09.03.2027 20:00' (Standard: die eingestellte Dauer; mit --all-day "
                                   "der letzte Tag)"))
    p.add_argument("--all-day", action="store_true", help=_("ein ganztägiger Termin (ohne Uhrzeit)"))
    p.add_argument("--location", default="", help=_("Ort"))
    p.add_argument("--agenda", default="", help=_("Tagesordnung (die Beschreibung im Kalendereintrag)"))
    p.add_argument("--title", default="", help=_("Titel (Standard: 'Treffen <Gruppenname>')"))
    p.add_argument("--proposed", action="store_true",
                   help=_("als Vorschlag eintragen: nichts wird gesendet, bis es bestätigt ist"))
    json_flag(p)

    p = command(meetings, "list", "meetings:list_meetings", _("kommende Treffen auflisten"))
    p.add_argument("--all", action="store_true", help=_("auch vergangene und abgesagte Treffen"))
    p.add_argument("--group", metavar=_("KÜRZEL"), help=_("nur diese Gruppe"))
    json_flag(p)

    p = command(meetings, "show", "meetings:show", _("ein Treffen und seine geplanten Sendungen zeigen"))
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--ics", action="store_true", help=_("stattdessen den Kalendereintrag ausgeben"))
    json_flag(p)

    p = command(meetings, "edit", "meetings:edit", _("ein Treffen ändern; bereits Eingeladene erhalten eine "
                                                     "Aktualisierung"))
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--start", help=_("neuer Beginn"))
    p.add_argument("--end", help=_("neues Ende"))
    p.add_argument("--all-day", action="store_true", help=_("zu einem ganztägigen Termin machen"))
    p.add_argument("--location", help=_("neuer Ort"))
    p.add_argument("--agenda", help=_("neue Tagesordnung"))
    p.add_argument("--title", help=_("neuer Titel"))
    p.add_argument("--group", metavar=_("KÜRZEL"), help=_("andere Gruppe"))

    p = command(meetings, "cancel", "meetings:cancel", _("ein Treffen absagen; bereits Eingeladene erhalten eine "
                                                         "Absage"))
    p.add_argument("id", type=int, metavar="ID")

    p = command(meetings, "confirm", "meetings:confirm", _("ein von einem Protokoll vorgeschlagenes Treffen "
                                                           "bestätigen"))
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--time", metavar=_("HH:MM"), help=_("die Uhrzeit, wenn das Protokoll nur den Tag nannte"))

    schedule = group(sub, "schedule", _("der Versandplan: geplante Sendungen, Pausen, Regeln, die Plandatei"))
    p = command(schedule, "list", "schedule:list_schedule", _("jede geplante Sendung mit Zeit, Art, Empfängerkreis "
                                                              "und Anzahl"))
    p.add_argument("--days", type=int, metavar="N", help=_("nur die nächsten N Tage"))
    json_flag(p)

    p = command(schedule, "pause", "schedule:pause", _("eine Sendung anhalten (z. B. meeting:12, "
                                                       "meeting:12:reminder, newsletter:digest, all)"))
    p.add_argument("job", metavar=_("AUFTRAG"))
    p = command(schedule, "resume", "schedule:resume", _("eine angehaltene Sendung fortsetzen (Verspätetes geht "
                                                         "hinaus, wenn es noch sinnvoll ist)"))
    p.add_argument("job", metavar=_("AUFTRAG"))
    p = command(schedule, "run-now", "schedule:run_now", _("eine geplante Sendung jetzt ausführen (Schlüssel oder "
                                                           "Auftrag aus `hub schedule list`)"))
    p.add_argument("job", metavar=_("AUFTRAG"))

    policy = group(schedule, "policy", _("Versandregeln: Tage vorher und nachher, Sendezeit, Newsletter-Termine"))
    p = command(policy, "show", "schedule:policy_show", _("die geltenden Regeln und woher jeder Wert kommt"))
    p.add_argument("--group", metavar=_("KÜRZEL"), help=_("die Regeln dieser Gruppe"))
    json_flag(p)
    p = command(policy, "set", "schedule:policy_set", _("eine Regel für das Bündnis oder eine Gruppe setzen "
                                                        "('default' entfernt sie)"))
    p.add_argument("name", metavar=_("NAME"))
    p.add_argument("value", metavar=_("WERT"))
    p.add_argument("--group", metavar=_("KÜRZEL"), help=_("nur für diese Gruppe"))

    p = command(schedule, "import", "schedule:import_file", _("eine Plandatei anwenden (Treffen und Regeln); "
                                                              "alles oder nichts"))
    p.add_argument("file", metavar=_("DATEI"))
    p.add_argument("--dry-run", action="store_true", help=_("berichten, was sich ändern würde, nichts ändern"))
    json_flag(p)
    p = command(schedule, "export", "schedule:export_file", _("die Regeln und künftigen Treffen als Plandatei "
                                                              "schreiben"))
    p.add_argument("--output", "-o", metavar=_("DATEI"), help=_("Zieldatei (Standard: Standardausgabe)"))
