"""Counts and listings that both front doors show, each scoped to one alliance.

Store level: only the models and SQL. Every row names its alliance (`alliance_id`); the session's scope
(hub.tenancy) filters by it too, and these clauses say it where a query is read on its own.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from hub.models import (
    BounceEvent,
    Delivery,
    DeliveryState,
    Group,
    InboundMessage,
    Meeting,
    MeetingStatus,
    Membership,
    MessageKind,
    MessageStatus,
    NewsletterIssue,
    OutboundMail,
    Partner,
)


def _partners(alliance_id: int):
    return select(Partner.id).where(Partner.alliance_id == alliance_id)


def _groups(alliance_id: int):
    return select(Group.id).where(Group.alliance_id == alliance_id)


def messages_of(alliance_id: int):
    """The WHERE clause for inbound messages of this alliance."""
    return InboundMessage.alliance_id == alliance_id


def deliveries_of(alliance_id: int):
    """The WHERE clause for deliveries of this alliance."""
    return Delivery.alliance_id == alliance_id


# --- inbound -------------------------------------------------------------------------------------------


def message_counts(session: Session, alliance_id: int) -> dict[str, int]:
    """Messages by status ("held", "filed", …)."""
    rows = session.exec(select(InboundMessage.status, sa.func.count()).where(messages_of(alliance_id))
                        .group_by(InboundMessage.status)).all()
    return dict(rows)


REVIEW = (MessageStatus.held, MessageStatus.quarantined)  # what waits for the Geschäftsstelle's decision


def held_messages(session: Session, alliance_id: int, limit: int | None = None,
                  newest_first: bool = False) -> list[InboundMessage]:
    order = InboundMessage.received_at.desc() if newest_first else InboundMessage.received_at
    query = select(InboundMessage).where(messages_of(alliance_id), InboundMessage.status.in_(REVIEW))
    query = query.order_by(order)
    return list(session.exec(query.limit(limit) if limit else query))


def quarantined(session: Session, alliance_id: int) -> list[InboundMessage]:
    """What filing could not process, oldest first (for `hub protocols retry --all`)."""
    return list(session.exec(select(InboundMessage).where(
        messages_of(alliance_id), InboundMessage.status == MessageStatus.quarantined).order_by(InboundMessage.id)))


def messages(session: Session, alliance_id: int, *, held: bool = False, protocols_only: bool = True,
             group_id: int | None = None, limit: int = 50) -> list[InboundMessage]:
    """Newest first: the review queue (`held`), protocols, or every message."""
    query = select(InboundMessage).where(messages_of(alliance_id))
    if held:
        query = query.where(InboundMessage.status.in_(REVIEW))
    elif protocols_only:
        query = query.where(InboundMessage.kind == MessageKind.protocol)
    if group_id is not None:
        query = query.where(InboundMessage.group_id == group_id)
    order = (InboundMessage.received_at.desc(), InboundMessage.id.desc())
    return list(session.exec(query.order_by(*order).limit(limit)))


def recent_protocols(session: Session, alliance_id: int, limit: int) -> list[InboundMessage]:
    return list(session.exec(select(InboundMessage).where(
        messages_of(alliance_id), InboundMessage.status == MessageStatus.filed,
        InboundMessage.kind == MessageKind.protocol).order_by(InboundMessage.received_at.desc()).limit(limit)))


def last_protocol_by_group(session: Session, alliance_id: int) -> dict[int, datetime]:
    return dict(session.exec(
        select(InboundMessage.group_id, sa.func.max(InboundMessage.received_at))
        .where(InboundMessage.group_id.in_(_groups(alliance_id)), InboundMessage.kind == MessageKind.protocol,
               InboundMessage.status == MessageStatus.filed)
        .group_by(InboundMessage.group_id)).all())


# --- partners and groups -------------------------------------------------------------------------------


def group_names(session: Session, alliance_id: int) -> dict[int, str]:
    """Group id → name, former groups included."""
    return dict(session.exec(select(Group.id, Group.name).where(Group.alliance_id == alliance_id)).all())


def group_slugs(session: Session, alliance_id: int) -> dict[int, str]:
    """Group id → slug, former groups included."""
    return dict(session.exec(select(Group.id, Group.slug).where(Group.alliance_id == alliance_id)).all())


def member_counts(session: Session, alliance_id: int) -> dict[int, int]:
    """Group id → current members."""
    return dict(session.exec(
        select(Membership.group_id, sa.func.count()).where(Membership.until.is_(None),
                                                           Membership.group_id.in_(_groups(alliance_id)))
        .group_by(Membership.group_id)).all())


def current_groups_by_partner(session: Session, alliance_id: int) -> dict[int, list[str]]:
    """Partner id → slugs of the groups they are in now."""
    rows = session.exec(select(Membership.partner_id, Group.slug).join(Group, Group.id == Membership.group_id)
                        .where(Membership.until.is_(None), Group.alliance_id == alliance_id)).all()
    out: dict[int, list[str]] = {}
    for partner_id, slug in rows:
        out.setdefault(partner_id, []).append(slug)
    return out


def partners(session: Session, alliance_id: int, include_left: bool = False) -> list[Partner]:
    """Partners not erased, by address; with `include_left` also those who left."""
    query = select(Partner).where(Partner.alliance_id == alliance_id, Partner.forgotten_at.is_(None))
    if not include_left:
        query = query.where(Partner.left_at.is_(None))
    return list(session.exec(query.order_by(Partner.email_key)))


def disabled_partners(session: Session, alliance_id: int, limit: int) -> list[Partner]:
    return list(session.exec(select(Partner).where(Partner.alliance_id == alliance_id,
                                                   Partner.disabled_at.is_not(None))
                             .order_by(Partner.disabled_at.desc()).limit(limit)))


def recent_bounces(session: Session, alliance_id: int, limit: int) -> list[BounceEvent]:
    return list(session.exec(select(BounceEvent).where(BounceEvent.partner_id.in_(_partners(alliance_id)))
                             .order_by(BounceEvent.at.desc()).limit(limit)))


# --- outbox --------------------------------------------------------------------------------------------


def delivery_counts(session: Session, alliance_id: int) -> dict[str, int]:
    """Deliveries by state (states without any are left out), those retention deleted included."""
    counts = dict(session.exec(select(Delivery.state, sa.func.count()).where(deliveries_of(alliance_id))
                               .group_by(Delivery.state)).all())
    for state, count in retained_counts(session, alliance_id).items():
        counts[state] = counts.get(state, 0) + count
    return counts


# Where a mail whose delivery rows retention deleted (hub/retention.py) keeps their counts by state:
# {"<alliance id>" or "*": {state: n}}, "*" for deliveries to no partner (counted for every alliance, as
# `deliveries_of` counts them). A key of the mail's extra-headers JSON that is never sent (assemble sends only
# names that start with a letter) until a migration gives the counts a column of their own.
COUNTS_KEY = "_retained_deliveries"


def retained_counts(session: Session, alliance_id: int | None = None,
                    mail_ids: list[int] | None = None) -> dict[str, int]:
    """Deliveries by state that retention deleted: of one alliance (None: of all), of these mails (None: of
    every mail). Only a mail without a body holds them (retention drops the body with the deliveries), so the
    query never reads a body."""
    query = select(OutboundMail.headers).where(OutboundMail.html.is_(None))
    if mail_ids is not None:
        query = query.where(OutboundMail.id.in_(mail_ids or [-1]))
    owners = None if alliance_id is None else {str(alliance_id), "*"}
    counts: dict[str, int] = {}
    for headers in session.exec(query):
        for owner, states in (headers or {}).get(COUNTS_KEY, {}).items():
            if owners is None or owner in owners:
                for state, count in states.items():
                    counts[state] = counts.get(state, 0) + count
    return counts


def deliveries(session: Session, alliance_id: int, state: str | None = None,
               limit: int = 200) -> list[tuple[Delivery, OutboundMail]]:
    """Newest first, with their mail."""
    query = (select(Delivery, OutboundMail).join(OutboundMail, OutboundMail.id == Delivery.mail_id)
             .where(deliveries_of(alliance_id)))
    if state:
        query = query.where(Delivery.state == state)
    return list(session.exec(query.order_by(Delivery.id.desc()).limit(limit)).all())


def delivery(session: Session, alliance_id: int, delivery_id: int) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.id == delivery_id, deliveries_of(alliance_id))).first()


def failed_delivery_ids(session: Session, alliance_id: int) -> list[int]:
    return list(session.exec(select(Delivery.id).where(Delivery.state == DeliveryState.failed,
                                                       deliveries_of(alliance_id)).order_by(Delivery.id)))


# --- meetings ------------------------------------------------------------------------------------------


def meetings(session: Session, alliance_id: int, *, ending_after: datetime | None = None,
             include_cancelled: bool = True, group_id: int | None = None) -> list[tuple[Meeting, Group]]:
    """Meetings with their group, by start."""
    query = (select(Meeting, Group).join(Group, Group.id == Meeting.group_id)
             .where(Meeting.alliance_id == alliance_id))
    if ending_after is not None:
        query = query.where(Meeting.end > ending_after)
    if not include_cancelled:
        query = query.where(Meeting.status != MeetingStatus.cancelled)
    if group_id is not None:
        query = query.where(Meeting.group_id == group_id)
    return list(session.exec(query.order_by(Meeting.start)).all())


def message(session: Session, alliance_id: int, message_id: int) -> InboundMessage | None:
    return session.exec(select(InboundMessage).where(InboundMessage.id == message_id,
                                                     messages_of(alliance_id))).first()


def archive(session: Session, alliance_id: int, *, group_id: int | None = None, since: datetime | None = None,
            until: datetime | None = None, offset: int = 0, limit: int = 50) -> tuple[int, list[InboundMessage]]:
    """Filed protocols, newest first, matching the filters; with the count of all that match (a search by words
    is `hub.search_store.search`)."""
    query = select(InboundMessage).where(InboundMessage.kind == MessageKind.protocol,
                                         InboundMessage.status == MessageStatus.filed, messages_of(alliance_id))
    if group_id is not None:
        query = query.where(InboundMessage.group_id == group_id)
    if since is not None:
        query = query.where(InboundMessage.received_at >= since)
    if until is not None:
        query = query.where(InboundMessage.received_at < until)
    total = session.exec(select(sa.func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(InboundMessage.received_at.desc()).offset(offset).limit(limit)).all()
    return total, list(rows)


# --- newsletter ----------------------------------------------------------------------------------------


def subject_of_delivery(session: Session, delivery_id: int) -> str | None:
    """The subject of the mail one delivery carried (a reply names the delivery in In-Reply-To)."""
    return session.exec(select(OutboundMail.subject).join(Delivery, Delivery.mail_id == OutboundMail.id)
                        .where(Delivery.id == delivery_id)).first()


def hub_sent_subject(session: Session, subject: str) -> bool:
    """Whether the hub sent a mail with this subject (to tell "AW: <that subject>" as a reply)."""
    return session.exec(select(OutboundMail.id).where(OutboundMail.subject == subject).limit(1)).first() is not None


def newsletter_mails(session: Session, alliance_id: int, limit: int) -> list[OutboundMail]:
    """Newsletter mails, newest first, but those of another alliance's issues (`newsletter:ID[:locale]`)."""
    others = {str(i) for i in session.exec(select(NewsletterIssue.id)
                                           .where(NewsletterIssue.alliance_id != alliance_id))}
    mails = session.exec(select(OutboundMail).where(OutboundMail.kind == "newsletter")
                         .order_by(OutboundMail.created_at.desc())).all()
    return [m for m in mails if (m.source_ref or "").partition(":")[2].partition(":")[0] not in others][:limit]
