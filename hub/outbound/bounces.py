"""Bounce bookkeeping: a Mailman-like score per partner that disables an address that keeps bouncing.

Each bounce adds `[bounces] permanent_score` (5xx, "user unknown") or `transient_score` (mailbox full) to
the partner's score; the old score fades linearly to nothing over `decay_days`. Once the score reaches
`threshold`, the address is disabled (`Partner.disabled_at`): enqueue skips it, and `disabled_since()`
tells the coordinator's next summary. One delivery counts once, however many reports about it arrive.

A later successful delivery resets the score. A smarthost's 250 proves nothing (it accepts first and
bounces later), so "successful" means: a mail sent to the partner after the last bounce, at least
`success_after_hours` ago, that has not bounced. That is checked when the next bounce arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from hub.addresses import address_key, for_log
from hub.config import Config
from hub.db import utcnow
from hub.i18n import _
from hub.models import BounceEvent, Delivery, DeliveryState, Partner
from hub.outbound import verp

log = logging.getLogger("hub.bounces")


def record_bounce(
    session: Session,
    config: Config,
    address: str,
    permanent: bool,
    status: str | None = None,
    delivery_id: int | None = None,
    message_id: int | None = None,
    source: str = "inbound",
) -> Partner | None:
    """Store the bounce and update the partner's score; returns the partner it counted against (or None)."""
    now = utcnow()
    delivery = session.get(Delivery, delivery_id) if delivery_id is not None else None
    partner = None
    if delivery is not None and delivery.partner_id is not None:
        partner = session.get(Partner, delivery.partner_id)
    # The delivery worker serves every alliance (an unscoped session): a bounce belongs to its delivery's.
    alliance_id = delivery.alliance_id if delivery is not None else None
    if partner is None and address:
        query = select(Partner).where(Partner.email_key == address_key(address))
        if alliance_id is not None:
            query = query.where(Partner.alliance_id == alliance_id)
        partner = session.exec(query).first()
    counted_before = delivery_id is not None and session.exec(
        select(BounceEvent.id).where(BounceEvent.delivery_id == delivery_id)
    ).first() is not None
    session.add(BounceEvent(
        alliance_id=alliance_id, address=address, permanent=permanent, at=now, status=status, message_id=message_id,
        partner_id=partner.id if partner else None, delivery_id=delivery_id, source=source,
    ))
    if delivery is not None and delivery.state == DeliveryState.sent and permanent:
        delivery.state = DeliveryState.failed
        delivery.last_reply = f"bounced{f' ({status})' if status else ''}"
        session.add(delivery)
    log.info("bounced %s (%s%s)", for_log(partner.id if partner else None, address),
             "permanent" if permanent else "transient", f", {status}" if status else "")
    if partner is None or counted_before:
        session.flush()
        return partner

    bounces = config.bounces
    old = 0.0 if _delivered_since_last_bounce(session, config, partner, now) else decayed_score(config, partner, now)
    # Rounded, so that five bounces in a row reach a threshold of 5 despite a few seconds of decay.
    partner.bounce_score = round(old + (bounces.permanent_score if permanent else bounces.transient_score), 3)
    partner.bounce_updated_at = now
    if partner.bounce_score >= bounces.threshold and partner.disabled_at is None:
        partner.disabled_at = now
        last = status or (_("dauerhaft") if permanent else _("vorübergehend"))
        partner.disabled_reason = _("Zu viele unzustellbare E-Mails (Bounce-Wert %(score).1f, Grenze "
                                    "%(threshold).1f); zuletzt %(last)s.") % {
            "score": partner.bounce_score, "threshold": bounces.threshold, "last": last}
        log.warning("disabled partner %s after bounces (score %.1f)", partner.id, partner.bounce_score)
    session.add(partner)
    session.flush()
    return partner


def record_report(
    session: Session,
    config: Config,
    envelope_to: Sequence[str],
    recipients: Sequence[str],
    permanent: bool,
    status: str | None,
    message_id: int,
) -> list[Partner]:
    """A bounce report that came in by mail. It counts only when it is ours: it arrives at the signed VERP
    address of a delivery that was sent, and then it counts once, against that delivery's recipient (the
    report may name a forwarding target instead). Anything else — a DSN to the protocol address, a forged or
    mangled VERP token, a report about an address we never sent to — is kept and shown, never scored, because
    anyone can write a DSN that names a partner. Returns the partners this report disabled; the caller tells
    the Geschäftsstelle."""
    delivery_id = None
    for address in envelope_to:
        delivery_id = delivery_id or verp.delivery_for(config, address)
    delivery = session.get(Delivery, delivery_id) if delivery_id is not None else None
    sent = delivery is not None and delivery.sent_at is not None and bool(delivery.recipient)
    disabled = []
    if sent:
        partner = record_bounce(session, config, delivery.recipient, permanent, status=status,
                                delivery_id=delivery.id, message_id=message_id, source="inbound")
        if newly_disabled(partner):
            disabled.append(partner)
    for address in recipients:
        if not (sent and address_key(address) == address_key(delivery.recipient)):
            record_unscored(session, address, permanent, status, message_id)
    return disabled


def record_unscored(session: Session, address: str, permanent: bool, status: str | None, message_id: int) -> None:
    """A bounce that is shown (with the partner it names, if any) but moves no score and no delivery."""
    partner = session.exec(select(Partner).where(Partner.email_key == address_key(address))).first()
    session.add(BounceEvent(address=address, permanent=permanent, at=utcnow(), status=status, message_id=message_id,
                            partner_id=partner.id if partner else None, source="unverified"))
    log.info("bounce report (message %s) for %s not counted: it did not come back to a delivery of ours",
             message_id, for_log(partner.id if partner else None, address))


def newly_disabled(partner: Partner | None) -> bool:
    """Whether the `record_bounce` that returned this partner is the one that disabled the address."""
    return partner is not None and partner.disabled_at is not None and partner.disabled_at == partner.bounce_updated_at


def decayed_score(config: Config, partner: Partner, now: datetime | None = None) -> float:
    """The partner's score as of now: the stored score, faded linearly over `decay_days`."""
    if not partner.bounce_score or partner.bounce_updated_at is None:
        return 0.0
    age = (now or utcnow()) - partner.bounce_updated_at
    fraction = max(0.0, 1.0 - age / timedelta(days=config.bounces.decay_days))
    return partner.bounce_score * fraction


def _delivered_since_last_bounce(session: Session, config: Config, partner: Partner, now: datetime) -> bool:
    if partner.bounce_updated_at is None:
        return False
    bounced = select(BounceEvent.delivery_id).where(
        BounceEvent.partner_id == partner.id, BounceEvent.delivery_id.is_not(None)
    )
    quiet_since = now - timedelta(hours=config.bounces.success_after_hours)
    return session.exec(
        select(Delivery.id).where(
            Delivery.partner_id == partner.id,
            Delivery.state == DeliveryState.sent,
            Delivery.sent_at > partner.bounce_updated_at,
            Delivery.sent_at <= quiet_since,
            Delivery.id.not_in(bounced),
        ).limit(1)
    ).first() is not None


def enable(session: Session, partner: Partner) -> bool:
    """`hub partners enable`: the coordinator says the address works again. Returns False if it was not disabled."""
    was_disabled = partner.disabled_at is not None
    partner.disabled_at = None
    partner.disabled_reason = None
    partner.bounce_score = 0.0
    partner.bounce_updated_at = utcnow()
    session.add(partner)
    return was_disabled


def disabled_since(session: Session, when: datetime) -> Sequence[Partner]:
    """Partners whose address was disabled at or after `when`: what the coordinator's summary reports."""
    return session.exec(
        select(Partner).where(Partner.disabled_at.is_not(None), Partner.disabled_at >= when)
        .order_by(Partner.disabled_at)
    ).all()


def bounce_counts(session: Session, since: datetime) -> dict[str, int]:
    """Bounces since a moment, permanent and transient: for summaries and `hub status`."""
    rows = session.exec(
        select(BounceEvent.permanent, sa.func.count()).where(BounceEvent.at >= since).group_by(BounceEvent.permanent)
    ).all()
    counts = {"permanent": 0, "transient": 0}
    for permanent, count in rows:
        counts["permanent" if permanent else "transient"] = count
    return counts
