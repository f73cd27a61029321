"""`hub partners …`."""

from __future__ import annotations

from hub.cli import command, group, json_flag
from hub.i18n import _

PARTNER_ROLES = ("member", "representative", "coordinator")  # hub.models.Role
LANGUAGES = ("de", "en")  # hub.i18n's locales


def register(sub) -> None:
    partners = group(sub, "partners", _("Partner/innen: Import, Liste, Eintritt, Austritt, DSGVO-Auskunft und "
                                        "Löschung"))

    p = command(partners, "import", "partners:import_csv", _(
        "Partner/innen aus einer CSV-Datei anlegen oder aktualisieren (name,organisation,email,groups,role,"
        "newsletter); alle Zeilen oder keine"))
    p.add_argument("file", metavar=_("DATEI"), help=_("CSV-Datei, oder - für die Standardeingabe"))
    p.add_argument("--dry-run", action="store_true", help=_("prüfen und berichten, nichts ändern"))
    p.add_argument("--no-welcome", action="store_true", help=_(
        "neuen Partner/innen keine Willkommensmail senden (z. B. beim ersten Übernehmen einer Liste)"))
    json_flag(p)

    p = command(partners, "export", "partners:export_csv", _("die aktuellen Partner/innen als CSV schreiben"))
    p.add_argument("--output", "-o", metavar=_("DATEI"), help=_("Zieldatei (Standard: Standardausgabe)"))

    p = command(partners, "list", "partners:list_partners", _("Partner/innen auflisten"))
    p.add_argument("--group", metavar=_("KÜRZEL"), help=_("nur Mitglieder dieser Gruppe"))
    p.add_argument("--all", action="store_true", help=_("auch ausgetretene Partner/innen"))
    json_flag(p)

    p = command(partners, "add", "partners:add", _("eine Partnerin oder einen Partner aufnehmen, oder "
                                                   "Ausgetretene zurückholen"))
    p.add_argument("email", metavar=_("E-MAIL"))
    p.add_argument("--name", default="", help=_("Name"))
    p.add_argument("--organisation", default="", help=_("Organisation"))
    p.add_argument("--group", action="append", default=[], metavar=_("KÜRZEL"),
                   help=_("Kürzel einer Gruppe (mehrfach möglich)"))
    p.add_argument("--role", choices=PARTNER_ROLES, default="member", help=_("Rolle (Standard: member)"))
    p.add_argument("--newsletter", choices=["yes", "no"], default="yes",
                   help=_("erhält den Newsletter (Standard: yes)"))
    p.add_argument("--language", choices=LANGUAGES, help=_(
        "die Sprache ihrer E-Mails (Standard: die des Bündnisses)"))
    p.add_argument("--no-welcome", action="store_true", help=_("keine Willkommensmail senden"))

    p = command(partners, "edit", "partners:edit", _("Name, Organisation oder Sprache einer Partnerin oder eines "
                                                     "Partners ändern"))
    p.add_argument("email", metavar=_("E-MAIL"))
    p.add_argument("--name", help=_("der neue Name"))
    p.add_argument("--organisation", help=_("die neue Organisation"))
    p.add_argument("--language", choices=(*LANGUAGES, "default"), help=_(
        "die Sprache ihrer E-Mails; default: die des Bündnisses"))

    p = command(partners, "leave", "partners:leave", _("die Partnerin oder der Partner tritt aus: keine Mail "
                                                       "mehr, die Geschichte bleibt"))
    p.add_argument("email", metavar=_("E-MAIL"))

    p = command(partners, "enable", "partners:enable", _("die Adresse funktioniert wieder: Bounce-Zähler "
                                                         "zurücksetzen und wieder an sie senden"))
    p.add_argument("email", metavar=_("E-MAIL"))

    p = command(partners, "approve", "partners:approve", _("eine Leserin oder einen Leser, die sich auf der Website "
                                                           "angemeldet haben, als Bündnispartner/in aufnehmen "
                                                           "(Organisation sichtbar, „Neu im Bündnis“, der ganze "
                                                           "Newsletter)"))
    p.add_argument("email", metavar=_("E-MAIL"))

    p = command(partners, "show", "partners:show", _("alles, was über eine Person gespeichert ist (DSGVO "
                                                     "Art. 15)"))
    p.add_argument("email", metavar=_("E-MAIL"))
    json_flag(p)

    p = command(partners, "forget", "partners:forget", _("die personenbezogenen Daten einer Person löschen "
                                                         "(DSGVO Art. 17)"))
    p.add_argument("email", metavar=_("E-MAIL"))
    p.add_argument("--yes", action="store_true", help=_("nicht nachfragen"))
