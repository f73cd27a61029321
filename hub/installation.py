"""The alliances of an installation of many (a provider's): list them, add one, remove one that holds nothing.

Each alliance is a file `config/alliances/<slug>.toml` (hub.config_alliances) and a row in the database, made by
`hub --alliance SLUG init` once its groups are in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub import config as config_module
from hub import config_alliances
from hub.db import session_scope
from hub.errors import UsageError
from hub.i18n import _
from hub.locations import find_config_path, read_raw
from hub.models import Alliance, Group, ScheduleState
from hub.tenancy import TenantRow

# Rows of these tables are made for every alliance by setting it up; any other row is the alliance's data.
SET_UP = (Group, ScheduleState)


@dataclass
class Listed:
    slug: str
    name: str
    domain: str
    file: str
    set_up: bool


def listing(config_path: Path) -> list[Listed]:
    """Every alliance with a file of its own, and whether the database knows it yet."""
    found = []
    for slug in config_alliances.slugs(config_path):
        config = config_module.load(config_path, slug)
        found.append(Listed(slug, config.alliance.name, config.alliance.domain, str(config.alliance_file),
                            _known(config)))
    return found


def _known(config: config_module.Config) -> bool:
    try:
        with session_scope(config.database_url) as session:
            return session.exec(select(Alliance.id).where(Alliance.domain == config.alliance.domain)).first() \
                is not None
    except sa.exc.DBAPIError:
        return False


def add(explicit_config: str | None, slug: str, name: str, domain: str) -> config_module.Config:
    """A new alliance's file with its name, domain and the hub's usual addresses at that domain; its groups
    are added to the file afterwards. Checked as any config is; a file that does not load is not left behind."""
    config_path = find_config_path(explicit_config)
    path = config_alliances.file_of(config_path, slug)
    if "alliance" in (read_raw(config_path) or {}):
        raise UsageError(_("%(path)s hat selbst ein Bündnis ([alliance]); verschieben Sie dessen Abschnitte erst "
                           "in %(folder)s/KÜRZEL.toml") % {"path": config_path,
                                                          "folder": config_alliances.folder(config_path)})
    if path.exists():
        raise UsageError(_("%(path)s gibt es schon; wählen Sie ein anderes Kürzel") % {"path": path})
    path.parent.mkdir(parents=True, exist_ok=True)
    domain = domain.strip().lower()
    path.write_text(_file_text(name, domain), encoding="utf-8")
    try:
        config = config_module.load(config_path, slug)
        # Only the other files' domains, read raw: loading and looking up every alliance made adding the
        # 660th take half a second per alliance already there (bench/tenancy.py).
        for other in config_alliances.slugs(config_path):
            raw = read_raw(config_alliances.file_of(config_path, other)) or {}
            if other != slug and str(raw.get("alliance", {}).get("domain", "")).lower() == config.alliance.domain:
                raise UsageError(_("die Domain %(domain)s hat schon das Bündnis %(other)s")
                                 % {"domain": domain, "other": other})
    except Exception:
        path.unlink()
        raise
    return config


def _file_text(name: str, domain: str) -> str:
    def quoted(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    addresses = {"protocol_address": "protokolle", "office_address": "geschaeftsstelle",
                 "bounce_address": "bounces", "unsubscribe_address": "abmelden"}
    lines = ["# " + _("Ein Bündnis dieser Installation: seine Abschnitte wie in config/hub.toml ([alliance], "
                      "[mail], [[group]], [schedule], [retention], [templates], [dkim])."),
             "", "[alliance]", f"name = {quoted(name)}", f"domain = {quoted(domain)}",
             'timezone = "Europe/Berlin"', 'language = "de"', "", "[mail]"]
    lines += [f"{key} = {quoted(f'{local}@{domain}')}" for key, local in addresses.items()]
    lines += ["", "# [[group]]", '# slug = "gesundheit"', '# name = "AG Gesundheit"', ""]
    return "\n".join(lines)


def remove(explicit_config: str | None, slug: str) -> Path:
    """Remove an alliance that holds no data (no partner, mail or meeting): its file and its row."""
    config_path = find_config_path(explicit_config)
    config = config_module.load(config_path, slug)
    with session_scope(config.database_url) as session:
        alliance = session.exec(select(Alliance).where(Alliance.domain == config.alliance.domain)).first()
        if alliance is not None:
            alliance_module.current(session, config)
            held = _rows_held(session)
            if held:
                raise UsageError(_("das Bündnis %(slug)s hat noch Daten (%(tables)s); es wird nicht entfernt")
                                 % {"slug": slug, "tables": ", ".join(held)})
            for table in SET_UP:
                session.execute(sa.delete(table))
            session.flush()
            session.delete(alliance)
    config.alliance_file.unlink()
    return config.alliance_file


def _rows_held(session: Session) -> list[str]:
    return [table.__tablename__ for table in TenantRow.__subclasses__()
            if table not in SET_UP and session.exec(select(table)).first() is not None]
