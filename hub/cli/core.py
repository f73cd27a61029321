"""`hub init`, `hub groups list`."""

from __future__ import annotations

from hub import alliance as alliance_module
from hub import groups, secret
from hub.cli.render import print_json, print_table
from hub.db import upgrade
from hub.i18n import _, ngettext


def init(ctx, args) -> int:
    config = ctx.config
    config.data_dir.mkdir(parents=True, exist_ok=True)
    revision = upgrade(config.database_url, secret.load(config))
    with ctx.session() as session:
        alliance = alliance_module.sync(session, config)
        count = len(alliance_module.groups(session, alliance))
    print(ngettext("Datenbank auf Stand %(revision)s; %(count)d Gruppe von %(alliance)s geladen",
                   "Datenbank auf Stand %(revision)s; %(count)d Gruppen von %(alliance)s geladen", count)
          % {"revision": revision, "count": count, "alliance": config.alliance.name})
    return 0


def list_groups(ctx, args) -> int:
    with ctx.session() as session:
        rows = [{key: g[key] for key in ("slug", "name", "kind", "aliases", "members")}
                for g in groups.listing(session, ctx.alliance(session))]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, {"slug": _("Kürzel"), "name": _("Name"), "kind": _("Art"), "aliases": _("Aliase"),
                           "members": _("Mitglieder")})
    return 0
