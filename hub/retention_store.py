"""Store: the rows and files that retention (hub/retention.py) finds too old, and deleting them.

Selecting and deleting are separate functions so that a dry run selects exactly what a real run deletes. Rows
are scoped to one alliance as hub/queries.py scopes them (a row that names no alliance belongs to every one).
Lists of ids go to the database in chunks, so that a first run over years of mail stays within the
parameter limits of SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from hub.models import (
    AuditLog,
    Blob,
    BounceEvent,
    Delivery,
    DeliveryState,
    InboundMessage,
    MessageAttachment,
    MessageStatus,
    OutboundMail,
    Partner,
)
from hub.queries import COUNTS_KEY, messages_of
from hub.tenancy import ACROSS_ALLIANCES

CHUNK = 500
REDACTED = "[gelöscht]"
FINISHED = (DeliveryState.sent, DeliveryState.failed, DeliveryState.cancelled)
NOT_YET_FILED = (MessageStatus.pending, MessageStatus.quarantined)  # their raw bytes are all there is


def _chunks(items: Iterable, size: int = CHUNK) -> Iterator[list]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- inbound mail ----------------------------------------------------------------------------------------


def messages_with_status(session: Session, alliance_id: int, statuses: Iterable[str], before: datetime,
                         since_error: bool = False) -> list[int]:
    """Messages in these states received before `before` (with `since_error`: quarantined before it)."""
    age = sa.func.coalesce(InboundMessage.error_at, InboundMessage.received_at) if since_error \
        else InboundMessage.received_at
    return list(session.exec(select(InboundMessage.id).where(
        messages_of(alliance_id), InboundMessage.status.in_(list(statuses)), age < before)
        .order_by(InboundMessage.id)))


def raw_kept(session: Session, alliance_id: int, before: datetime) -> list[int]:
    """Messages received before `before` that still have their raw bytes, but those not yet filed."""
    return list(session.exec(select(InboundMessage.id).where(
        messages_of(alliance_id), InboundMessage.raw_path != "", InboundMessage.received_at < before,
        InboundMessage.status.not_in(NOT_YET_FILED)).order_by(InboundMessage.id)))


def raw_paths(session: Session, message_ids: Iterable[int]) -> set[str]:
    paths: set[str] = set()
    for chunk in _chunks(message_ids):
        paths.update(session.exec(select(InboundMessage.raw_path).where(InboundMessage.id.in_(chunk))))
    return paths - {""}


def raw_files_left(session: Session, paths: set[str], leaving: set[int]) -> list[str]:
    """Of these archive files, those no message outside `leaving` needs (the same bytes are archived once, also
    when two alliances received them)."""
    needed: set[str] = set()
    for chunk in _chunks(paths):
        needed.update(path for message_id, path in session.exec(
            select(InboundMessage.id, InboundMessage.raw_path).where(InboundMessage.raw_path.in_(chunk))
            .execution_options(**ACROSS_ALLIANCES))
            if message_id not in leaving)
    return sorted(paths - needed)


def delete_messages(session: Session, message_ids: list[int]) -> None:
    """Delete the rows and their attachment links; bounce records stay, without the report they came in."""
    for chunk in _chunks(message_ids):
        session.execute(sa.update(BounceEvent).where(BounceEvent.message_id.in_(chunk)).values(message_id=None))
        session.execute(sa.delete(MessageAttachment).where(MessageAttachment.message_id.in_(chunk)))
        session.execute(sa.delete(InboundMessage).where(InboundMessage.id.in_(chunk)))


def strip_raw(session: Session, message_ids: list[int]) -> None:
    """Keep what the hub understood (subject, group, dates, the protocol's text); drop the raw bytes, the
    attachments and what names the sender: envelope, From, the HTML body, the sender check's details."""
    for chunk in _chunks(message_ids):
        session.execute(sa.delete(MessageAttachment).where(MessageAttachment.message_id.in_(chunk)))
        for message in session.exec(select(InboundMessage).where(InboundMessage.id.in_(chunk))):
            for value in {message.sender, message.envelope_from, message.sender_name} - {None, ""}:
                message.reason = message.reason.replace(value, REDACTED)
            message.raw_path = ""
            message.envelope_from = None
            message.envelope_to = []
            message.sender = None
            message.sender_name = ""
            message.html = None
            message.authentication = ""
            session.add(message)


# --- attachments -----------------------------------------------------------------------------------------


def blobs_left(session: Session, leaving_messages: set[int], leaving_mails: set[int]) -> list[tuple[str, str]]:
    """(sha256, path) of the attachments no message or mail (of any alliance: a blob is stored once) needs once
    these messages lose theirs and these mails their bodies."""
    needed = {sha for message_id, sha in session.exec(select(MessageAttachment.message_id,
                                                             MessageAttachment.blob_sha256)
                                                      .execution_options(**ACROSS_ALLIANCES))
              if message_id not in leaving_messages}
    for mail_id, attachments in session.exec(select(OutboundMail.id, OutboundMail.attachments)
                                             .execution_options(**ACROSS_ALLIANCES)):
        if mail_id not in leaving_mails:
            needed.update(a.get("blob") for a in attachments or [] if isinstance(a, dict))
    return sorted((sha, path) for sha, path in session.exec(select(Blob.sha256, Blob.path)) if sha not in needed)


def delete_blobs(session: Session, shas: list[str]) -> None:
    for chunk in _chunks(shas):
        session.execute(sa.delete(Blob).where(Blob.sha256.in_(chunk)))


# --- sent mail -------------------------------------------------------------------------------------------


def mails_done(session: Session, alliance_id: int, before: datetime) -> list[int]:
    """Mails made before `before` that still have a body or deliveries (an erasure may have taken the body
    already), whose deliveries all ended (sent, failed, cancelled) before it, and that went to this alliance
    (or to no partner at all: notices to the office)."""
    has_deliveries = sa.exists().where(Delivery.mail_id == OutboundMail.id)
    candidates = list(session.exec(select(OutboundMail.id).where(
        OutboundMail.created_at < before,
        sa.or_(OutboundMail.html.is_not(None), OutboundMail.text != "", has_deliveries))
        .order_by(OutboundMail.id)))
    busy: set[int] = set()
    ours: set[int] = set()
    delivered: set[int] = set()
    for chunk in _chunks(candidates):
        rows = session.exec(select(Delivery.mail_id, Delivery.state, Delivery.sent_at, Delivery.created_at,
                                   Partner.alliance_id).join(Partner, Partner.id == Delivery.partner_id, isouter=True)
                            .where(Delivery.mail_id.in_(chunk)))
        for mail_id, state, sent_at, created_at, owner in rows:
            delivered.add(mail_id)
            if state not in FINISHED or (sent_at or created_at) >= before:
                busy.add(mail_id)
            if owner is None or owner == alliance_id:
                ours.add(mail_id)
    return [m for m in candidates if m not in busy and (m in ours or m not in delivered)]


def deliveries_of_mails(session: Session, mail_ids: list[int]) -> list[tuple[int, int, str, str]]:
    """(id, mail id, owner, state) of every delivery of these mails; the owner is the recipient's alliance id,
    or "*" for a recipient who is no partner."""
    found = []
    for chunk in _chunks(mail_ids):
        found += [(delivery_id, mail_id, "*" if owner is None else str(owner), state)
                  for delivery_id, mail_id, owner, state in session.exec(
                      select(Delivery.id, Delivery.mail_id, Partner.alliance_id, Delivery.state)
                      .join(Partner, Partner.id == Delivery.partner_id, isouter=True)
                      .where(Delivery.mail_id.in_(chunk)).order_by(Delivery.id))]
    return found


def delete_deliveries(session: Session, rows: list[tuple[int, int, str, str]]) -> None:
    """Delete the deliveries, adding their counts to their mails first; a bounce record stays, without them."""
    tallies: dict[int, dict[str, dict[str, int]]] = {}
    for _id, mail_id, owner, state in rows:
        by_state = tallies.setdefault(mail_id, {}).setdefault(owner, {})
        by_state[state] = by_state.get(state, 0) + 1
    for chunk in _chunks(tallies):
        for mail in session.exec(select(OutboundMail).where(OutboundMail.id.in_(chunk))):
            kept = {owner: dict(states) for owner, states in (mail.headers or {}).get(COUNTS_KEY, {}).items()}
            for owner, states in tallies[mail.id].items():
                for state, count in states.items():
                    kept.setdefault(owner, {})[state] = kept.get(owner, {}).get(state, 0) + count
            mail.headers = {**(mail.headers or {}), COUNTS_KEY: kept}  # a new dict: JSON columns see only those
            session.add(mail)
    session.flush()
    for chunk in _chunks([row[0] for row in rows]):
        session.execute(sa.update(BounceEvent).where(BounceEvent.delivery_id.in_(chunk)).values(delivery_id=None))
        session.execute(sa.delete(Delivery).where(Delivery.id.in_(chunk)))


def drop_bodies(session: Session, mail_ids: list[int]) -> None:
    """A sent mail keeps its kind, subject, dates and counts; its text, HTML and attachments go."""
    for chunk in _chunks(mail_ids):
        session.execute(sa.update(OutboundMail).where(OutboundMail.id.in_(chunk))
                     .values(text="", html=None, attachments=[]))


# --- bounces and the audit log ---------------------------------------------------------------------------


def bounces_before(session: Session, alliance_id: int, before: datetime) -> list[int]:
    partners = select(Partner.id).where(Partner.alliance_id == alliance_id)
    return list(session.exec(select(BounceEvent.id).where(
        sa.or_(BounceEvent.partner_id.in_(partners), BounceEvent.partner_id.is_(None)), BounceEvent.at < before)
        .order_by(BounceEvent.id)))


def delete_bounces(session: Session, ids: list[int]) -> None:
    for chunk in _chunks(ids):
        session.execute(sa.delete(BounceEvent).where(BounceEvent.id.in_(chunk)))


def audit_before(session: Session, before: datetime) -> list[int]:
    """The audit log names no alliance: it is the installation's."""
    return list(session.exec(select(AuditLog.id).where(AuditLog.at < before).order_by(AuditLog.id)))


def delete_audit(session: Session, ids: list[int]) -> None:
    for chunk in _chunks(ids):
        session.execute(sa.delete(AuditLog).where(AuditLog.id.in_(chunk)))


# --- files -----------------------------------------------------------------------------------------------


def remove_files(data_dir: Path, relative_paths: Iterable[str]) -> None:
    for relative in relative_paths:
        (data_dir / relative).unlink(missing_ok=True)
