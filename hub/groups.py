"""The working groups as both doors name them: by slug, an unknown slug refused the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub import queries
from hub.errors import NotFound
from hub.i18n import _
from hub.models import Alliance, Group


def require(session: Session, alliance: Alliance, slug: str) -> Group:
    """The active group with this slug; an unknown slug is a wrong call (CLI exit 2, web 400)."""
    found = session.exec(select(Group).where(Group.alliance_id == alliance.id, Group.slug == slug,
                                             Group.active)).first()
    if found is None:
        raise NotFound(_("unbekannte Gruppe %(slug)r; siehe `hub groups list`") % {"slug": slug})
    return found


def require_all(session: Session, alliance: Alliance, slugs: Iterable[str]) -> list[Group]:
    return [require(session, alliance, slug) for slug in slugs]


def listing(session: Session, alliance: Alliance) -> list[dict]:
    """The active groups with aliases, current member count and the last filed protocol."""
    members = queries.member_counts(session, alliance.id)
    last = queries.last_protocol_by_group(session, alliance.id)
    return [{"id": g.id, "slug": g.slug, "name": g.name, "kind": g.kind, "aliases": list(g.aliases),
             "members": members.get(g.id, 0), "last_protocol": last.get(g.id)}
            for g in alliance_module.groups(session, alliance)]
