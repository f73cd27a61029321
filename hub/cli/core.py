"""`hub init`, `hub status`, `hub groups list`."""

from __future__ import annotations

from hub import alliance as alliance_module
from hub import groups, queries, secret
from hub.cli.render import print_fields, print_json, print_table
from hub.db import upgrade
from hub.i18n import _, ngettext
from hub.models import MessageStatus


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


def status(ctx, args) -> int:
    config = ctx.config
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        partners = len(queries.partners(session, alliance.id))
        counts = queries.message_counts(session, alliance.id)
    held, filed = counts.get(MessageStatus.held, 0), counts.get(MessageStatus.filed, 0)
    smtp = f"smtp {config.smtp.host}:{config.smtp.port}" if config.smtp else None
    data = {
        "alliance": config.alliance.name,
        "domain": config.alliance.domain,
        "config": str(config.path),
        "database": _redact(config.database_url),
        "data_dir": str(config.data_dir),
        "delivery": smtp or "maildir outbox",
        "partners": partners,
        "protocols_filed": filed,
        "held_for_review": held,
    }
    if args.json:
        print_json(data)
        return 0
    print_fields([
        (_("Bündnis"), data["alliance"]),
        (_("Domain"), data["domain"]),
        (_("Konfiguration"), data["config"]),
        (_("Datenbank"), data["database"]),
        (_("Datenordner"), data["data_dir"]),
        (_("Versand"), smtp or _("Maildir-Postausgang")),
        (_("Partner/innen"), partners),
        (_("abgelegte Protokolle"), filed),
        (_("zur Prüfung"), held),
    ])
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


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
