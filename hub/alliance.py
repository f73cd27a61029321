"""The alliance and its groups as rows: config is the source, the database follows it at start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session, select

from hub.config import Config
from hub.db import read_scope, session_scope
from hub.models import Alliance, Group
from hub.tenancy import scope


def sync(session: Session, config: Config) -> Alliance:
    """Create or update the alliance and its groups from config; groups dropped from config go inactive."""
    alliance = session.exec(select(Alliance).where(Alliance.domain == config.alliance.domain)).first()
    if alliance is None:
        alliance = Alliance(domain=config.alliance.domain, name=config.alliance.name)
    alliance.name = config.alliance.name
    alliance.timezone = config.alliance.timezone
    alliance.language = config.alliance.language
    session.add(alliance)
    session.flush()
    scope(session, alliance.id)

    existing = {g.slug: g for g in session.exec(select(Group).where(Group.alliance_id == alliance.id))}
    for spec in config.group:
        group = existing.pop(spec.slug, None) or Group(alliance_id=alliance.id, slug=spec.slug, name=spec.name)
        group.name, group.kind, group.aliases, group.active = spec.name, spec.kind, list(spec.aliases), True
        session.add(group)
    for gone in existing.values():
        gone.active = False
        session.add(gone)
    session.flush()
    return alliance


_HELD = "hub.alliance"  # the session's alliance row, held for the session's life (session.info)


def current(session: Session, config: Config) -> Alliance:
    """The config's alliance; from here on the session sees and writes only its rows (hub.tenancy).

    The row is read once per session and held: the session keeps loaded rows only while something refers to
    them, and following up a protocol asked for it three times (a query each)."""
    held = session.info.get(_HELD)
    if held is not None and held in session and held.domain == config.alliance.domain:
        return held
    alliance = session.exec(select(Alliance).where(Alliance.domain == config.alliance.domain)).first()
    if alliance is None:
        alliance = sync(session, config)
    scope(session, alliance.id)
    session.info[_HELD] = alliance
    return alliance


def alliance_ids(session: Session) -> dict[str, int]:
    """Every alliance's id by its domain."""
    return {domain: id_ for id_, domain in session.exec(select(Alliance.id, Alliance.domain))}


def groups(session: Session, alliance: Alliance, active_only: bool = True) -> list[Group]:
    query = select(Group).where(Group.alliance_id == alliance.id)
    if active_only:
        query = query.where(Group.active)
    return list(session.exec(query.order_by(Group.slug)))


@contextmanager
def unit_of_work(config: Config, read_only: bool = False) -> Iterator[Session]:
    """A unit of work of the config's alliance (committed at the end, or only reading: `hub.db.read_scope`)."""
    with (read_scope if read_only else session_scope)(config.database_url) as session:
        current(session, config)
        yield session
