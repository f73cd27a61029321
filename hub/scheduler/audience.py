"""Who is invited: a group's members; for a `plenum` all partners; for a `coordination` group every group's
representatives, the group's own members and the Geschäftsstelle; protocol-due reminders go to the group's
representatives, else to the Geschäftsstelle. Partners who left, were forgotten or whose address is disabled
are never invited. Plain queries over partners and memberships; the plan asks for counts, a send for people.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from hub.models import Alliance, Group, Membership, Partner, Role


def _reachable(query):
    return query.where(
        Partner.left_at.is_(None), Partner.forgotten_at.is_(None), Partner.disabled_at.is_(None),
        Partner.email.is_not(None),
    )


def _members(group_id: int):
    return select(Membership.partner_id).where(Membership.group_id == group_id, Membership.until.is_(None))


def invitees(session: Session, group: Group) -> list[Partner]:
    """Who gets the invitation to a meeting of this group."""
    query = _reachable(select(Partner).where(Partner.alliance_id == group.alliance_id))
    if group.kind == "coordination":
        active = select(Group.id).where(Group.alliance_id == group.alliance_id, Group.active)
        representatives = select(Membership.partner_id).where(
            Membership.until.is_(None), Membership.role == Role.representative, Membership.group_id.in_(active)
        )
        query = query.where(sa.or_(
            Partner.id.in_(_members(group.id)), Partner.id.in_(representatives), Partner.role == Role.coordinator,
            Partner.role == Role.representative,
        ))
    elif group.kind != "plenum":
        query = query.where(Partner.id.in_(_members(group.id)))
    return list(session.exec(query.order_by(Partner.id)))


def representatives(session: Session, group: Group) -> list[Partner]:
    """Who is reminded of a missing protocol: the group's representatives, else the Geschäftsstelle."""
    members = session.exec(_reachable(select(Partner).join(Membership, Membership.partner_id == Partner.id).where(
        Membership.group_id == group.id, Membership.until.is_(None),
        sa.or_(Membership.role == Role.representative, Partner.role == Role.representative),
    )).order_by(Partner.id)).all()
    if members:
        return list(members)
    return office(session, group.alliance_id)


def office(session: Session, alliance_id: int) -> list[Partner]:
    return list(session.exec(_reachable(select(Partner).where(
        Partner.alliance_id == alliance_id, Partner.role == Role.coordinator
    )).order_by(Partner.id)))


def audience_counts(session: Session, alliance: Alliance) -> dict[tuple[str, int], int]:
    """Recipient counts for the plan: ("invitees", group id) and ("representatives", group id)."""
    counts: dict[tuple[str, int], int] = {}
    for group in session.exec(select(Group).where(Group.alliance_id == alliance.id)):
        counts[("invitees", group.id)] = len(invitees(session, group))
        counts[("representatives", group.id)] = len(representatives(session, group))
    return counts


def newsletter_count(session: Session, alliance: Alliance) -> int:
    return len(session.exec(_reachable(select(Partner.id).where(
        Partner.alliance_id == alliance.id, Partner.newsletter
    ))).all())
