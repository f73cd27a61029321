"""`hub status`: the alliance, where its data is, and the counts.

Read straight from the config file and with the database's own driver (hub/status_store.py), so that it
answers at once; the storage layer and the validating config model load only when that is not enough — a
config without the values shown, a database not set up — and then give their usual clear errors.
"""

from __future__ import annotations

from pathlib import Path

from hub import config_alliances, locations, status_store
from hub.cli.render import print_fields, print_json
from hub.i18n import _


def show(ctx, args) -> int:
    path = locations.find_config_path(args.config)
    raw = locations.read_raw(path)
    own = config_alliances.chosen(path, raw, args.alliance) if raw is not None else None
    data = _quick(path, raw if own is None else {**raw, **(locations.read_raw(own) or {})}) or _thorough(ctx)
    if args.json:
        print_json(data)
        return 0
    print_fields([
        (_("Bündnis"), data["alliance"]),
        (_("Domain"), data["domain"]),
        (_("Konfiguration"), data["config"]),
        (_("Datenbank"), data["database"]),
        (_("Datenordner"), data["data_dir"]),
        (_("Versand"), data["delivery"] if data["delivery"] != "maildir outbox" else _("Maildir-Postausgang")),
        (_("Partner/innen"), data["partners"]),
        (_("abgelegte Protokolle"), data["protocols_filed"]),
        (_("zur Prüfung"), data["held_for_review"]),
    ])
    return 0


def _quick(path: Path, raw: dict | None) -> dict | None:
    try:
        alliance, storage, smtp = raw["alliance"], raw.get("storage", {}), raw.get("smtp")
        name, domain = alliance["name"], alliance["domain"]
        url = locations.database_url(storage.get("database", locations.DEFAULT_DATABASE), path)
        folder = locations.data_dir(storage.get("data_dir", locations.DEFAULT_DATA_DIR), path)
        delivery = (f"smtp {smtp['host']}:{smtp.get('port', locations.DEFAULT_SMTP_PORT)}"
                    if smtp is not None else "maildir outbox")
        if not all(isinstance(v, str) for v in (name, domain, url)):
            return None
        counts = status_store.counts(url, domain.strip().lower())
    except (OSError, ValueError, KeyError, TypeError, AttributeError, status_store.StatusUnavailable):
        return None
    return _data(name, domain, path, url, folder, delivery, counts)


def _thorough(ctx) -> dict:
    from hub import queries  # lazy: the storage layer only when the quick way is not enough

    config = ctx.config
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        by_status = queries.message_counts(session, alliance.id)
        counts = {"partners": len(queries.partners(session, alliance.id)),
                  "protocols_filed": by_status.get("filed", 0), "held_for_review": by_status.get("held", 0)}
    delivery = f"smtp {config.smtp.host}:{config.smtp.port}" if config.smtp else "maildir outbox"
    return _data(config.alliance.name, config.alliance.domain, config.path, config.database_url, config.data_dir,
                 delivery, counts)


def _data(name: str, domain: str, path: Path, url: str, folder: Path, delivery: str, counts: dict) -> dict:
    return {"alliance": name, "domain": domain, "config": str(path), "database": _redact(url),
            "data_dir": str(folder), "delivery": delivery, **counts}


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
