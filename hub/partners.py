"""The partner registry: join, leave, import and export, and the DSGVO rights (Art. 15 and 17)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from hub.addresses import address_key
from hub.db import utcnow
from hub.errors import HubError
from hub.models import (
    Alliance,
    BounceEvent,
    Consent,
    Delivery,
    Group,
    InboundMessage,
    Membership,
    OutboundMail,
    Partner,
    Role,
)

PARTNER = "partner"  # in the registry: every section its groups' relay policy allows
PUBLIC = "public"  # subscribed itself on the public page: a newsletter reader only, until approved


class RegistryError(HubError):
    """A request the registry refuses, phrased for the coordinator."""


@dataclass(frozen=True)
class PartnerRow:
    """One person as the coordinator describes them (a CSV row or a CLI call)."""

    email: str
    name: str = ""
    organisation: str = ""
    groups: tuple[str, ...] = ()
    role: Role = Role.member
    newsletter: bool = True
    # None: keep what is stored (new partners read the alliance's language); "": the alliance's language again
    language: str | None = None
    line: int = 0
    audience: str | None = None  # None: keep what is stored (new partners are "partner"); see Partner.audience


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # left partners are not brought back by an import

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("added", "updated", "unchanged", "skipped")}


def find(session: Session, alliance: Alliance, email: str) -> Partner | None:
    return session.exec(
        select(Partner).where(Partner.alliance_id == alliance.id, Partner.email_key == address_key(email))
    ).first()


def get(session: Session, alliance: Alliance, email: str) -> Partner:
    partner = find(session, alliance, email)
    if partner is None:
        raise RegistryError(f"no partner with address {email}; see `hub partners list`")
    return partner


def import_rows(session: Session, alliance: Alliance, rows: list[PartnerRow], source: str) -> ImportResult:
    """Apply all rows in the caller's transaction: either the whole file or nothing."""
    groups = _groups_by_slug(session, alliance)
    result = ImportResult()
    for row in rows:
        partner = find(session, alliance, row.email)
        if partner is not None and partner.left_at is not None:
            result.skipped.append(row.email)
            continue
        outcome = upsert(session, alliance, row, groups, source, partner)
        getattr(result, outcome).append(row.email)
    return result


def upsert(
    session: Session,
    alliance: Alliance,
    row: PartnerRow,
    groups: dict[str, Group] | None = None,
    source: str = "cli",
    partner: Partner | None = None,
) -> str:
    """Add or update one partner; returns "added", "updated" or "unchanged"."""
    groups = groups if groups is not None else _groups_by_slug(session, alliance)
    partner = partner or find(session, alliance, row.email)
    now = utcnow()
    outcome = "unchanged"
    if partner is None:
        partner = Partner(alliance_id=alliance.id, joined_at=now, newsletter=False)
        outcome = "added"
    elif partner.left_at is not None:
        partner.left_at = None
        partner.joined_at = now
        outcome = "updated"
    changes = {
        "email": row.email,
        "email_key": address_key(row.email),
        "name": row.name or partner.name,
        "organisation": row.organisation or partner.organisation,
        "role": str(row.role),
        "language": partner.language if row.language is None else (row.language or None),
        "audience": row.audience or partner.audience or PARTNER,
    }
    for attr, value in changes.items():
        if getattr(partner, attr) != value:
            setattr(partner, attr, value)
            outcome = "updated" if outcome == "unchanged" else outcome
    session.add(partner)
    session.flush()

    if partner.newsletter != row.newsletter or outcome == "added":
        partner.newsletter = row.newsletter
        session.add(Consent(partner_id=partner.id, newsletter=row.newsletter, at=now, source=source))
        outcome = "updated" if outcome == "unchanged" else outcome

    if _sync_memberships(session, partner, [groups[s] for s in row.groups], row.role, now):
        outcome = "updated" if outcome == "unchanged" else outcome
    return outcome


def _sync_memberships(session: Session, partner: Partner, wanted: list[Group], role: Role, now) -> bool:
    current = {m.group_id: m for m in session.exec(
        select(Membership).where(Membership.partner_id == partner.id, Membership.until.is_(None))
    )}
    changed = False
    for group in wanted:
        membership = current.pop(group.id, None)
        if membership is None:
            session.add(Membership(partner_id=partner.id, group_id=group.id, role=str(role), since=now))
            changed = True
        elif membership.role != role:
            membership.role = str(role)
            session.add(membership)
            changed = True
    for ended in current.values():
        ended.until = now
        session.add(ended)
        changed = True
    return changed


def leave(session: Session, alliance: Alliance, email: str, source: str = "cli") -> Partner:
    """The partner leaves: history stays, mail stops."""
    partner = get(session, alliance, email)
    if partner.left_at is not None:
        raise RegistryError(f"{email} already left on {partner.left_at:%Y-%m-%d}")
    now = utcnow()
    partner.left_at = now
    if partner.newsletter:
        partner.newsletter = False
        session.add(Consent(partner_id=partner.id, newsletter=False, at=now, source=source, detail="left"))
    for membership in session.exec(
        select(Membership).where(Membership.partner_id == partner.id, Membership.until.is_(None))
    ):
        membership.until = now
        session.add(membership)
    session.add(partner)
    return partner


def set_newsletter(session: Session, partner: Partner, wanted: bool, source: str, detail: str = "") -> bool:
    """Record a consent change; returns False when nothing changed."""
    if partner.newsletter == wanted:
        return False
    partner.newsletter = wanted
    session.add(partner)
    session.add(Consent(partner_id=partner.id, newsletter=wanted, at=utcnow(), source=source, detail=detail))
    return True


def forget(session: Session, alliance: Alliance, email: str) -> Partner:
    """DSGVO Art. 17: erase what identifies the person; keep anonymous rows so counts stay right."""
    partner = get(session, alliance, email)
    address = partner.email
    now = utcnow()
    partner.email = None
    partner.email_key = None
    partner.name = ""
    partner.organisation = ""
    partner.newsletter = False
    partner.forgotten_at = now
    partner.left_at = partner.left_at or now
    partner.disabled_reason = None
    session.add(partner)
    for membership in session.exec(
        select(Membership).where(Membership.partner_id == partner.id, Membership.until.is_(None))
    ):
        membership.until = now
        session.add(membership)
    for consent in session.exec(select(Consent).where(Consent.partner_id == partner.id)):
        consent.detail = ""
        session.add(consent)
    session.add(Consent(partner_id=partner.id, newsletter=False, at=now, source="forget"))
    for bounce in session.exec(select(BounceEvent).where(BounceEvent.address == address)):
        bounce.address = ""
        bounce.partner_id = partner.id
        session.add(bounce)
    for delivery in session.exec(select(Delivery).where(Delivery.partner_id == partner.id)):
        delivery.recipient = ""
        delivery.recipient_name = ""
        delivery.values = {}
        session.add(delivery)
    for message in session.exec(select(InboundMessage).where(InboundMessage.sender == address)):
        message.sender = None
        message.sender_name = ""
        message.envelope_from = None
        message.partner_id = partner.id
        session.add(message)
    return partner


def describe(session: Session, alliance: Alliance, partner: Partner) -> dict:
    """DSGVO Art. 15: everything stored about this person, as plain data."""
    groups = {g.id: g.slug for g in session.exec(select(Group).where(Group.alliance_id == alliance.id))}
    memberships = session.exec(select(Membership).where(Membership.partner_id == partner.id)).all()
    consents = session.exec(select(Consent).where(Consent.partner_id == partner.id).order_by(Consent.at)).all()
    bounces = session.exec(select(BounceEvent).where(BounceEvent.partner_id == partner.id)).all()
    messages = session.exec(
        select(InboundMessage).where(
            (InboundMessage.partner_id == partner.id) | (InboundMessage.sender == partner.email)
        )
    ).all()
    deliveries = session.exec(
        select(Delivery, OutboundMail).join(OutboundMail).where(Delivery.partner_id == partner.id)
    ).all()
    return {
        "partner": summary(partner, [groups[m.group_id] for m in memberships if m.until is None]),
        "bounce": {
            "score": partner.bounce_score,
            "disabled_at": _iso(partner.disabled_at),
            "disabled_reason": partner.disabled_reason,
        },
        "memberships": [
            {"group": groups[m.group_id], "role": m.role, "since": _iso(m.since), "until": _iso(m.until)}
            for m in memberships
        ],
        "consent_history": [
            {"newsletter": c.newsletter, "at": _iso(c.at), "source": c.source, "detail": c.detail}
            for c in consents
        ],
        "bounces": [
            {"at": _iso(b.at), "permanent": b.permanent, "status": b.status, "address": b.address}
            for b in bounces
        ],
        "messages_sent": [
            {"id": m.id, "received_at": _iso(m.received_at), "subject": m.subject, "kind": m.kind,
             "status": m.status}
            for m in messages
        ],
        "mails_received": [
            {"id": d.id, "kind": mail.kind, "subject": mail.subject, "state": d.state,
             "sent_at": _iso(d.sent_at)}
            for d, mail in deliveries
        ],
    }


def summary(partner: Partner, group_slugs: list[str]) -> dict:
    return {
        "id": partner.id,
        "email": partner.email,
        "name": partner.name,
        "organisation": partner.organisation,
        "role": partner.role,
        "groups": sorted(group_slugs),
        "newsletter": partner.newsletter,
        "language": partner.language,
        "audience": partner.audience,
        "joined_at": _iso(partner.joined_at),
        "left_at": _iso(partner.left_at),
        "forgotten_at": _iso(partner.forgotten_at),
        "disabled_at": _iso(partner.disabled_at),
    }


def _groups_by_slug(session: Session, alliance: Alliance) -> dict[str, Group]:
    return {g.slug: g for g in session.exec(select(Group).where(Group.alliance_id == alliance.id, Group.active))}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None
