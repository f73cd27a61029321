"""The durable outbox (invariant 2): every mail is a row per recipient before any network call.

A delivery moves queued → sending (leased to one worker until `lease_until`) → sent | deferred | failed,
or cancelled by the coordinator. Workers claim due rows in one statement: on PostgreSQL the candidate rows
are locked with `FOR UPDATE SKIP LOCKED`, so several `hub serve` processes never take the same row; on
SQLite the same UPDATE runs under `BEGIN IMMEDIATE` (see hub/db.py), which makes it a compare-and-set
under the database's write lock. A lease that runs out (its worker crashed) makes the row claimable again.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from hub.addresses import InvalidAddress, address_key, normalise_address
from hub.config import Config
from hub.db import utcnow
from hub.errors import HubError, NotFound
from hub.i18n import _
from hub.models import Delivery, DeliveryState, OutboundMail, Partner
from hub.outbound import wakeup

STATES = tuple(DeliveryState)
BATCH = 1000


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str = ""
    partner_id: int | None = None
    dedupe_key: str | None = None
    values: dict = field(default_factory=dict)


@dataclass
class EnqueueResult:
    mail_id: int
    queued: int = 0
    duplicates: int = 0  # already in the outbox under the same dedupe key: not queued again
    skipped: list[str] = field(default_factory=list)  # partners who left or whose address is disabled
    invalid: list[str] = field(default_factory=list)  # not an e-mail address

    def as_dict(self) -> dict:
        return asdict(self)


def dedupe_key(mail: OutboundMail, address: str) -> str:
    """The key of a recipient who came without one. Never the address (it would outlive the person's erasure):
    the hub's own callers pass a keyed hash (`signing.pseudonym`); this plain digest serves the rest."""
    digest = hashlib.sha256(address_key(address).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f"{mail.source_ref or f'mail:{mail.id}'}|{digest}"


def enqueue(
    session: Session, mail: OutboundMail, recipients: Iterable[Recipient], send_at: datetime | None = None
) -> EnqueueResult:
    """Store the mail (if new) and one delivery per recipient; the same dedupe key twice is a no-op.

    Recipients are read in batches, so a 10,000-address newsletter needs no more memory than a batch.
    Partners who left, were forgotten, or whose address is disabled get nothing and are listed as skipped.
    """
    return enqueue_many(session, [(mail, recipients)], send_at)[0]


def enqueue_many(session: Session, mails: list[tuple[OutboundMail, Iterable[Recipient]]],
                 send_at: datetime | None = None) -> list[EnqueueResult]:
    """`enqueue` for several mails at once, in a statement per batch of recipients across them, not per mail:
    a batch of protocols' receipts and relays is queued with one read of the partners and one INSERT (their
    queueing holds SQLite's one write lock, which filing waits for)."""
    new = [mail for mail, _ in mails if mail.id is None]
    if new:
        session.add_all(new)
        session.flush()
    results = [EnqueueResult(mail_id=mail.id) for mail, _ in mails]
    due = send_at or utcnow()
    everyone = ((mail, result, recipient) for (mail, recipients), result in zip(mails, results, strict=True)
                for recipient in recipients)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(Delivery).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Delivery.dedupe_key)
    for batch in _batches(everyone, BATCH):
        rows = _rows(session, batch, due)
        if not rows:
            continue
        inserted = set(session.execute(statement, [row for _, row in rows]).scalars())
        for result, row in rows:
            if row["dedupe_key"] in inserted:
                result.queued += 1
            else:
                result.duplicates += 1
    if any(result.queued for result in results):
        wakeup.announce(session)
    return results


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _rows(session: Session, batch: list[tuple[OutboundMail, EnqueueResult, Recipient]], due: datetime
          ) -> list[tuple[EnqueueResult, dict]]:
    """The delivery rows of a batch of recipients (with the result each counts in), without those who are
    not addresses, whose partner is gone, or who are named twice."""
    valid: list[tuple[OutboundMail, EnqueueResult, Recipient, str]] = []
    for mail, result, recipient in batch:
        try:
            valid.append((mail, result, recipient, normalise_address(recipient.address)))
        except InvalidAddress:
            result.invalid.append(recipient.address)
    by_id = {r.partner_id for _, _, r, _ in valid if r.partner_id is not None}
    by_key = {address_key(a) for _, _, r, a in valid if r.partner_id is None}
    partners = session.exec(
        select(Partner.id, Partner.email_key, Partner.left_at, Partner.disabled_at, Partner.forgotten_at).where(
            sa.or_(Partner.id.in_(by_id), Partner.email_key.in_(by_key))
        )
    ).all() if valid else []
    known_id = {p.id: p for p in partners}
    known_key = {p.email_key: p for p in partners if p.email_key}
    now = utcnow()
    rows, seen = [], set()
    for mail, result, recipient, address in valid:
        partner = known_id.get(recipient.partner_id) if recipient.partner_id else known_key.get(address_key(address))
        if partner is not None and (partner.left_at or partner.disabled_at or partner.forgotten_at):
            result.skipped.append(address)
            continue
        key = recipient.dedupe_key or dedupe_key(mail, address)
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        rows.append((result, {
            "alliance_id": mail.alliance_id, "mail_id": mail.id, "recipient": address,
            "recipient_name": recipient.name, "partner_id": partner.id if partner else recipient.partner_id,
            "dedupe_key": key,
            "values": dict(recipient.values), "state": DeliveryState.queued, "attempts": 0, "next_attempt_at": due,
            "created_at": now,
        }))
    return rows


def _due(now: datetime, alliance_id: int | None = None):
    due = sa.or_(
        sa.and_(Delivery.state.in_((DeliveryState.queued, DeliveryState.deferred)), Delivery.next_attempt_at <= now),
        sa.and_(Delivery.state == DeliveryState.sending, Delivery.lease_until < now),
    )
    return due if alliance_id is None else sa.and_(Delivery.alliance_id == alliance_id, due)


def alliances_due(session: Session) -> set[int]:
    """The alliances with a delivery due now, in one query over all of them (an unscoped session)."""
    return set(session.exec(select(Delivery.alliance_id).where(_due(utcnow())).distinct()).all())


def claim(
    session: Session, worker_id: str, limit: int, lease_seconds: int, cancelled: list[Delivery] | None = None,
    alliance_id: int | None = None,
) -> list[Delivery]:
    """Lease up to `limit` due rows (of this alliance, when given) to this worker; commit the session before
    sending them. Rows of partners who left or were disabled since they were queued are cancelled instead (and
    added to `cancelled` when given)."""
    now = utcnow()
    candidates = (
        select(Delivery.id).where(_due(now, alliance_id)).order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit).with_for_update(skip_locked=True).cte("candidates")
    )
    statement = (
        sa.update(Delivery).where(Delivery.id == candidates.c.id)
        .values(state=DeliveryState.sending, lease_until=now + timedelta(seconds=lease_seconds), leased_by=worker_id,
                attempts=Delivery.attempts + 1)
        .returning(Delivery)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    claimed = list(session.scalars(statement))
    partner_ids = {d.partner_id for d in claimed if d.partner_id is not None}
    gone = set(session.exec(
        select(Partner.id).where(Partner.id.in_(partner_ids), sa.or_(
            Partner.left_at.is_not(None), Partner.disabled_at.is_not(None), Partner.forgotten_at.is_not(None)))
    ).all()) if partner_ids else set()
    kept = []
    for delivery in claimed:
        if delivery.partner_id in gone or not delivery.recipient:
            _finish(delivery, DeliveryState.cancelled, "Empfänger ausgetreten oder Adresse deaktiviert")
            session.add(delivery)
            if cancelled is not None:
                cancelled.append(delivery)
        else:
            kept.append(delivery)
    return sorted(kept, key=lambda d: (d.next_attempt_at, d.id))


def _finish(delivery: Delivery, state: str, reply: str | None) -> None:
    delivery.state = state
    delivery.last_reply = reply
    delivery.lease_until = None
    delivery.leased_by = None


def mark_sent(session: Session, delivery: Delivery, reply: str, message_id: str | None = None) -> None:
    _finish(delivery, DeliveryState.sent, reply)
    delivery.sent_at = utcnow()
    delivery.smtp_message_id = message_id
    session.add(delivery)


def backoff(config: Config, attempts: int) -> timedelta:
    """Exponential backoff with jitter: base·2^(n-1), capped, then a random 50–100 % of it."""
    outbox = config.outbox
    delay = min(outbox.retry_max_seconds, outbox.retry_base_seconds * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(delay / 2, delay))


def mark_deferred(session: Session, config: Config, delivery: Delivery, reply: str) -> bool:
    """Try again later; past `[outbox] give_up_hours` since it was queued the row fails. True if deferred."""
    now = utcnow()
    if now - delivery.created_at >= timedelta(hours=config.outbox.give_up_hours):
        mark_failed(session, delivery, _("aufgegeben nach %(attempts)s Versuchen: %(reply)s")
                    % {"attempts": delivery.attempts, "reply": reply})
        return False
    _finish(delivery, DeliveryState.deferred, reply)
    delivery.next_attempt_at = now + backoff(config, delivery.attempts)
    session.add(delivery)
    return True


def mark_failed(session: Session, delivery: Delivery, reply: str) -> None:
    _finish(delivery, DeliveryState.failed, reply)
    session.add(delivery)


def release(session: Session, delivery_ids: list[int], worker_id: str) -> None:
    """Give back leased rows this worker did not try (a stop, or its lease ran out before their turn)."""
    if not delivery_ids:
        return
    session.execute(
        sa.update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.sending,
                                  Delivery.leased_by == worker_id)
        .values(state=DeliveryState.queued, lease_until=None, leased_by=None, attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )


def get(session: Session, delivery_id: int) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(_("keine Zustellung %(id)s im Postausgang; siehe `hub outbox list`") % {"id": delivery_id})
    return delivery


def retry(session: Session, delivery_id: int | None = None, failed: bool = False) -> int:
    """Queue a failed, deferred or cancelled delivery (or all failed ones) to be sent now; returns how many."""
    if delivery_id is not None:
        delivery = get(session, delivery_id)
        if delivery.state in (DeliveryState.sent, DeliveryState.sending):
            raise HubError(_("Zustellung %(id)s ist im Zustand %(state)s; wiederholen lassen sich nur "
                             "fehlgeschlagene, zurückgestellte, stornierte oder wartende Zustellungen")
                           % {"id": delivery_id, "state": delivery.state})
        query = sa.update(Delivery).where(Delivery.id == delivery_id)
    elif failed:
        query = sa.update(Delivery).where(Delivery.state == DeliveryState.failed)
    else:
        return 0
    result = session.execute(
        query.values(state=DeliveryState.queued, next_attempt_at=utcnow(), created_at=utcnow(), lease_until=None,
                     leased_by=None).execution_options(synchronize_session=False)
    )
    return result.rowcount


def cancel(session: Session, delivery_id: int) -> Delivery:
    delivery = get(session, delivery_id)
    if delivery.state in (DeliveryState.sent, DeliveryState.sending, DeliveryState.cancelled):
        raise HubError(_("Zustellung %(id)s ist im Zustand %(state)s und kann nicht storniert werden")
                       % {"id": delivery_id, "state": delivery.state})
    _finish(delivery, DeliveryState.cancelled, _("von der Geschäftsstelle storniert"))
    session.add(delivery)
    return delivery


def counts(session: Session) -> dict[str, int]:
    rows = session.exec(select(Delivery.state, sa.func.count()).group_by(Delivery.state)).all()
    return {state: 0 for state in STATES} | dict(rows)


def due_count(session: Session, alliance_id: int | None = None) -> int:
    return session.exec(select(sa.func.count()).select_from(Delivery).where(_due(utcnow(), alliance_id))).one()
