"""`hub newsletter …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _


def register(sub) -> None:
    news = group(sub, "newsletter", _("Newsletter: Ausgaben entwerfen, ansehen, testen, freigeben, senden und "
                                      "auflisten"))

    p = command(news, "draft", "newsletter:draft", _("alles seit der letzten Ausgabe in einem neuen Entwurf "
                                                     "sammeln"))
    p.add_argument("--since", metavar=_("DATUM"),
                   help=_("Anfangsdatum, z. B. 01.03.2026 (Standard: das Ende der vorigen Ausgabe)"))
    what = p.add_mutually_exclusive_group()
    what.add_argument("--editorial", metavar=_("DATEI"), help=_("das Editorial als Markdown-Datei"))
    what.add_argument("--text", help=_("das Editorial als Text (Markdown)"))
    p.add_argument("--report", action="store_true", help=_("der Halbjahresbericht, mit einer Übersichtstabelle"))
    p.add_argument("--with-proposed", action="store_true", help=_(
        "unter „Nächste Termine“ auch nur vorgeschlagene Treffen nennen (als „vorgeschlagen“ markiert)"))
    json_flag(p)

    p = command(news, "edit", "newsletter:edit", _("Editorial oder Titel eines Entwurfs ändern (nur ein Entwurf "
                                                   "lässt sich ändern)"))
    p.add_argument("id", type=int, metavar="ID")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--editorial", metavar=_("DATEI"), help=_("das neue Editorial als Markdown-Datei"))
    what.add_argument("--text", help=_("das neue Editorial als Text (Markdown)"))
    p.add_argument("--title", help=_("der neue Titel (der Betreff der Mail)"))
    proposed = p.add_mutually_exclusive_group()
    proposed.add_argument("--with-proposed", dest="with_proposed", action="store_true", default=None, help=_(
        "unter „Nächste Termine“ auch nur vorgeschlagene Treffen nennen (als „vorgeschlagen“ markiert)"))
    proposed.add_argument("--without-proposed", dest="with_proposed", action="store_false",
                          help=_("nur bestätigte Treffen nennen (Standard)"))

    p = command(news, "preview", "newsletter:preview", _("die Ausgabe als HTML- und Textdatei schreiben und "
                                                         "ihre Pfade ausgeben"))
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--out", default=None, metavar=_("ORDNER"),
                   help=_("Ordner für die Dateien (Standard: <Datenordner>/previews)"))
    p.add_argument("--language", choices=["de", "en"],
                   help=_("die Sprache der Vorschau (Standard: die des Bündnisses)"))
    p.add_argument("--open", action="store_true", help=_("das HTML im Browser öffnen"))

    p = command(news, "test", "newsletter:test", _("ein Testexemplar der Ausgabe an eine Adresse senden"))
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--to", required=True, metavar=_("ADRESSE"), help=_("Empfängeradresse des Testexemplars"))

    p = command(news, "approve", "newsletter:approve", _("einen Entwurf zum Senden freigeben"))
    p.add_argument("id", type=int, metavar="ID")

    p = command(news, "send", "newsletter:send", _("eine freigegebene Ausgabe für alle Abonnent/innen in den "
                                                   "Postausgang legen (nie zweimal)"))
    p.add_argument("id", type=int, metavar="ID")
    json_flag(p)

    json_flag(command(news, "list", "newsletter:list_issues", _("Ausgaben auflisten, neueste zuerst")))
