"""`hub alliances …`: the alliances of an installation of many."""

from __future__ import annotations

from dataclasses import asdict

from hub import installation
from hub.cli.render import print_json, print_table
from hub.i18n import _
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
