"""`hub alliances …`: the alliances of an installation of many."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from hub import alliance_export, installation
from hub.cli.render import print_fields, print_json, print_table
from hub.i18n import _, ngettext
from hub.locations import find_config_path


def list_alliances(ctx, args) -> int:
    rows = [asdict(listed) for listed in installation.listing(find_config_path(args.config))]
    if args.json:
        print_json(rows)
    else:
        print_table([{**row, "set_up": _("ja") if row["set_up"] else _("nein")} for row in rows],
                    {"slug": _("Kürzel"), "name": _("Name"), "domain": _("Domain"), "set_up": _("eingerichtet"),
                     "file": _("Datei")})
    return 0


def add(ctx, args) -> int:
    config = installation.add(args.config, args.slug, args.name, args.domain)
    print(_("Bündnis %(name)s angelegt: %(file)s. Tragen Sie dort seine Gruppen ein und richten Sie es dann mit "
            "`hub --alliance %(slug)s init` ein.") % {"name": config.alliance.name, "file": config.alliance_file,
                                                      "slug": args.slug})
    return 0


def remove(ctx, args) -> int:
    removed = installation.remove(args.config, args.slug)
    print(_("Bündnis %(slug)s entfernt (%(file)s).") % {"slug": args.slug, "file": removed})
    return 0


def export(ctx, args) -> int:
    done = alliance_export.export(args.config, args.slug, Path(args.to), args.database, args.with_secret_key)
    print(ngettext("%(name)s (%(slug)s) nach %(folder)s exportiert: %(rows)d Zeilen, %(files)d Datei.",
                   "%(name)s (%(slug)s) nach %(folder)s exportiert: %(rows)d Zeilen, %(files)d Dateien.", done.files)
          % {"name": done.name, "slug": done.slug, "folder": done.folder, "rows": sum(done.rows.values()),
             "files": done.files})
    print_table([{"table": table, "rows": count} for table, count in done.rows.items() if count],
                {"table": _("Tabelle"), "rows": _("Zeilen")})
    print_fields([(_("Konfiguration"), done.config_file), (_("Datenbank"), done.database),
                  (_("Daten"), done.data_dir)])
    if done.missing:
        print(_("Nicht gefunden (schon gelöscht?): %(files)s") % {"files": ", ".join(done.missing)})
    if done.outside:
        print(_("Die Konfiguration nennt diese Dateien außerhalb des Ordners; nehmen Sie sie mit, wenn die "
                "Installation umzieht: %(files)s") % {"files": ", ".join(done.outside)})
    if done.password_left_out:
        print(_("Das Passwort der Datenbank steht nicht in hub.toml: geben Sie die ganze Adresse in "
                "$HUB_DATABASE_URL an."))
    if not done.secret_key:
        print(_("Die neue Installation erhält einen eigenen geheimen Schlüssel: Abmelde- und Bestätigungslinks in "
                "schon versandten Mails gelten dort nicht mehr."))
    print(_("Die Quelle ist unverändert und arbeitet weiter für das Bündnis. Prüfen Sie die neue Installation "
            "(cd %(folder)s && hub status), leiten Sie Mail und Web des Bündnisses dorthin um und starten Sie dort "
            "hub serve. Hier entfernt `hub alliances remove %(slug)s` das Bündnis erst, wenn es hier keine Daten mehr "
            "hat.") % {"folder": done.folder, "slug": done.slug})
    return 0
