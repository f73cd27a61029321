"""`hub init`, `hub status`, `hub groups list`."""

from __future__ import annotations

from sqlmodel import func, select

from hub import alliance as alliance_module
from hub.cli import command, group, print_json, print_table
from hub.db import upgrade
from hub.models import InboundMessage, Membership, Partner


def register(sub) -> None:
    command(sub, "init", init, "create or upgrade the database schema and load the groups from the config")
    p = command(sub, "status", status, "show the alliance, the storage in use and what is stored")
    p.add_argument("--json", action="store_true", help="print JSON")
    groups = group(sub, "groups", "working groups (from the config file)")
    p = command(groups, "list", list_groups, "list the groups with their aliases and member counts")
    p.add_argument("--json", action="store_true", help="print JSON")


def init(ctx, args) -> int:
    config = ctx.config
    config.data_dir.mkdir(parents=True, exist_ok=True)
    revision = upgrade(config.database_url)
    with ctx.session() as session:
        alliance = alliance_module.sync(session, config)
        count = len(alliance_module.groups(session, alliance))
    print(f"schema at revision {revision}; {count} groups of {config.alliance.name} loaded")
    return 0


def status(ctx, args) -> int:
    config = ctx.config
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        partners = session.exec(
            select(func.count()).select_from(Partner).where(
                Partner.alliance_id == alliance.id, Partner.left_at.is_(None)
            )
        ).one()
        held = session.exec(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.status == "held")
        ).one()
        filed = session.exec(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.status == "filed")
        ).one()
    data = {
        "alliance": config.alliance.name,
        "domain": config.alliance.domain,
        "config": str(config.path),
        "database": _redact(config.database_url),
        "data_dir": str(config.data_dir),
        "delivery": f"smtp {config.smtp.host}:{config.smtp.port}" if config.smtp else "maildir outbox",
        "partners": partners,
        "protocols_filed": filed,
        "held_for_review": held,
    }
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            print(f"{key.replace('_', ' '):>16}: {value}")
    return 0


def list_groups(ctx, args) -> int:
    with ctx.session() as session:
        alliance = ctx.alliance(session)
        groups = alliance_module.groups(session, alliance)
        counts = dict(session.exec(
            select(Membership.group_id, func.count()).where(Membership.until.is_(None)).group_by(Membership.group_id)
        ).all())
    rows = [
        {"slug": g.slug, "name": g.name, "kind": g.kind, "aliases": g.aliases, "members": counts.get(g.id, 0)}
        for g in groups
    ]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["slug", "name", "kind", "aliases", "members"])
    return 0


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
