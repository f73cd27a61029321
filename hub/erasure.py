"""Forgetting a person everywhere (DSGVO Art. 17, invariant 8): what the registry's `forget` leaves behind.

After the registry blanked the partner's row, `erase` goes through everything else the hub keeps: here the
rows that hold text (mails sent, deliveries, received mail, newsletters, meetings, the audit log); the raw
mail in the archive, attachments of the person's own mail and the Maildir outbox in hub/erasure_files.py.
What names the person is replaced by "[gelöscht]" (`hub.mail_redaction`). Two things stay on purpose:

- protocols the person sent are the alliance's record (Art. 17(3)(b)/(e)): kept, with their name and address
  replaced in the stored text and the raw mail;
- protocols of others that mention the person in their text are counted, not changed: the Geschäftsstelle
  reviews them (`Report.other_protocols`). Headers of any mail that name the person (To, Cc, …) are redacted.

The WAL of SQLite is checkpointed once the caller commits, so that no old version of an erased row stays in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from hub import db, erasure_files, search_store
from hub.config import Config
from hub.mail_redaction import GONE, Identity, redact_value
from hub.models import (
    AuditLog,
    BounceEvent,
    Consent,
    Delivery,
    DeliveryState,
    GroupTask,
    InboundMessage,
    Meeting,
    MeetingAnswer,
    MessageKind,
    NewsletterIssue,
    OutboundMail,
    ScheduledSend,
)

BATCH = 500
# Columns of a received mail that come from its headers or the hub's own notes (never the text of a protocol).
MESSAGE_HEADERS = ("envelope_from", "envelope_to", "sender", "sender_name", "subject", "reason", "error",
                   "authentication", "decided_by", "defects")
MESSAGE_TEXT = ("text", "html", "attendees", "tasks", "next_meeting_location")
# Every other table with text a person's name or address can end up in, and those columns.
OTHER_TEXT = (
    (OutboundMail, ("subject", "text", "html", "headers", "from_name", "reply_to")),
    (Delivery, ("recipient_name", "values", "last_reply")),
    (BounceEvent, ("address",)),
    (Consent, ("detail",)),
    (NewsletterIssue, ("title", "editorial", "content")),
    (Meeting, ("title", "location", "agenda")),
    (AuditLog, ("actor", "target", "detail")),
    (ScheduledSend, ("note",)),
    (MeetingAnswer, ("comment",)),
    (GroupTask, ("what", "who", "closed_by")),
)


@dataclass
class Report:
    """What a forget did, for the coordinator; `other_protocols` lists the ids of others' protocols that
    mention the person, for review."""

    partner_id: int
    own_messages: int = 0  # mail the person sent: kept, redacted
    raw_files: int = 0  # archived raw mails rewritten
    mails: int = 0  # mails sent by the hub whose text named the person
    deliveries: int = 0  # deliveries to the person, blanked (pending ones cancelled)
    maildir_removed: int = 0
    maildir_redacted: int = 0
    other_protocols: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("partner_id", "own_messages", "raw_files", "mails", "deliveries",
                                              "maildir_removed", "maildir_redacted", "other_protocols")}


def erase(session: Session, config: Config, partner_id: int, address: str, person: Identity) -> Report:
    """Everything but the partner's own row (see `hub.partners.forget`), in the caller's transaction; the raw
    files are rewritten at once (a rollback leaves them redacted, which is what was asked)."""
    report = Report(partner_id)
    theirs = _own_messages(session, partner_id, address)
    report.own_messages = len(theirs)
    delivery_ids = _blank_deliveries(session, partner_id, address)
    report.deliveries = len(delivery_ids)
    report.mails = _blank_own_mails(session, delivery_ids)
    # A task names its owner as the protocol wrote it ("Frau Weiß"): matched by partner, not by the words.
    session.exec(sa.update(GroupTask).where(GroupTask.partner_id == partner_id).values(who=GONE))
    for model, columns in OTHER_TEXT:
        changed = _redact_rows(session, model, columns, person)
        if model is OutboundMail:
            report.mails = max(report.mails, changed)
    full = sa.or_(InboundMessage.id.in_(theirs) if theirs else sa.false(), InboundMessage.kind != MessageKind.protocol)
    _redact_rows(session, InboundMessage, MESSAGE_HEADERS + MESSAGE_TEXT, person, full)
    _redact_rows(session, InboundMessage, MESSAGE_HEADERS, person, sa.not_(full))
    erasure_files.redact_blobs(session, config, theirs, person)
    mentioned = set(_matching_ids(session, InboundMessage, MESSAGE_TEXT, person, sa.not_(full)))
    report.raw_files, in_bodies = erasure_files.redact_archive(session, config, set(theirs), person)
    report.other_protocols = sorted(mentioned | in_bodies)
    report.maildir_removed, report.maildir_redacted = erasure_files.redact_maildir(
        config, set(delivery_ids), address, person)
    search_store.forget_removed(session)
    _checkpoint_after_commit(session, config.database_url)
    return report


def _own_messages(session: Session, partner_id: int, address: str) -> list[int]:
    """Mail from the person, and bounce reports about mail to them."""
    key = address.lower()
    own = set(session.exec(select(InboundMessage.id).where(sa.or_(
        InboundMessage.partner_id == partner_id, sa.func.lower(InboundMessage.sender) == key,
        sa.func.lower(InboundMessage.envelope_from) == key))).all())
    own |= {m for m in session.exec(select(BounceEvent.message_id).where(sa.or_(
        BounceEvent.partner_id == partner_id, sa.func.lower(BounceEvent.address) == key))).all() if m is not None}
    return sorted(own)


def _blank_deliveries(session: Session, partner_id: int, address: str) -> list[int]:
    """The person's deliveries keep their state and times (the counts), nothing that names them; what had not
    gone out yet never will."""
    rows = session.exec(select(Delivery).where(sa.or_(
        Delivery.partner_id == partner_id, sa.func.lower(Delivery.recipient) == address.lower()))).all()
    for delivery in rows:
        delivery.recipient, delivery.recipient_name, delivery.values = "", "", {}
        delivery.dedupe_key = f"forgotten:{delivery.id}"
        if delivery.state in (DeliveryState.queued, DeliveryState.deferred, DeliveryState.sending):
            delivery.state, delivery.lease_until, delivery.leased_by = DeliveryState.cancelled, None, None
            delivery.last_reply = GONE
        session.add(delivery)
    session.flush()
    return [d.id for d in rows]


def _blank_own_mails(session: Session, delivery_ids: list[int]) -> int:
    """A mail that went to the person alone (a receipt, a welcome, a confirmation) is theirs entirely: its
    body goes; the subject and kind stay for the counts."""
    if not delivery_ids:
        return 0
    mail_ids = set(session.exec(select(Delivery.mail_id).where(Delivery.id.in_(delivery_ids))).all())
    shared = set(session.exec(select(Delivery.mail_id).where(
        Delivery.mail_id.in_(mail_ids), Delivery.id.not_in(delivery_ids))).all())
    mails = session.exec(select(OutboundMail).where(OutboundMail.id.in_(mail_ids - shared))).all()
    for mail in mails:
        mail.text, mail.html, mail.headers = GONE, None, {}
        session.add(mail)
    return len(mails)


def _needles(person: Identity) -> list[str]:
    """What a mention looks like in a column read as text: as it is, and as JSON escapes non-ASCII."""
    out = set()
    for needle in person.needles:
        out |= {needle.lower(), json.dumps(needle)[1:-1].lower()}
    return sorted(out)


def _mentions(model, columns, person: Identity):
    return sa.or_(*[sa.func.lower(sa.cast(getattr(model, column), sa.Text)).contains(needle, autoescape=True)
                    for column in columns for needle in _needles(person)])


def _matching_ids(session: Session, model, columns, person: Identity, where=None) -> list:
    if not person.needles:
        return []
    query = select(model.id).where(_mentions(model, columns, person))
    return list(session.exec(query.where(where) if where is not None else query).all())


def _redact_rows(session: Session, model, columns, person: Identity, where=None) -> int:
    """Replace every mention in these columns of the rows that have one; returns how many rows changed."""
    changed = 0
    while True:
        ids = _matching_ids(session, model, columns, person, where)[:BATCH]
        progress = 0
        for row in session.exec(select(model).where(model.id.in_(ids))).all() if ids else []:
            before = {c: getattr(row, c) for c in columns}
            after = {c: redact_value(person, v) for c, v in before.items()}
            if after != before:
                for column, value in after.items():
                    setattr(row, column, value)
                session.add(row)
                progress += 1
        session.flush()
        changed += progress
        # A row the database matches but the text does not (case outside ASCII) must not loop forever.
        if len(ids) < BATCH or not progress:
            return changed


def _checkpoint_after_commit(session: Session, url: str) -> None:
    """Once the caller's transaction is committed and its connection given back (a checkpoint beside the
    open transaction's own connection finds the table locked)."""
    committed = []

    def note(_session) -> None:
        committed.append(True)

    def checkpoint(_session, transaction) -> None:
        if transaction.parent is None and committed == [True]:
            committed.append(False)  # once: the listener stays with the (short-lived) session
            db.checkpoint(url)

    event.listen(session, "after_commit", note, once=True)
    event.listen(session, "after_transaction_end", checkpoint)


def inventory(session: Session, config: Config, partner_id: int, address: str, person: Identity) -> dict:
    """DSGVO Art. 15, beside the registry's own rows: the raw mails, deliveries and outbox files about the
    person, and others' protocols that mention them — what `erase` would change."""
    theirs = _own_messages(session, partner_id, address)
    messages = session.exec(select(InboundMessage).where(InboundMessage.id.in_(theirs)).order_by(InboundMessage.id)
                            ).all() if theirs else []
    deliveries = session.exec(
        select(Delivery, OutboundMail).join(OutboundMail, OutboundMail.id == Delivery.mail_id).where(sa.or_(
            Delivery.partner_id == partner_id, sa.func.lower(Delivery.recipient) == address.lower()))
        .order_by(Delivery.id)).all()
    full = sa.or_(InboundMessage.id.in_(theirs) if theirs else sa.false(), InboundMessage.kind != MessageKind.protocol)
    return {
        "raw_messages": [
            {"id": m.id, "kind": m.kind, "status": m.status, "received_at": _iso(m.received_at),
             "envelope_from": m.envelope_from, "sender": m.sender, "sender_name": m.sender_name,
             "subject": m.subject, "raw_file": m.raw_path, "size": m.size}
            for m in messages],
        "deliveries": [
            {"id": d.id, "mail_id": d.mail_id, "kind": mail.kind, "subject": mail.subject, "recipient": d.recipient,
             "recipient_name": d.recipient_name, "values": d.values, "state": d.state, "attempts": d.attempts,
             "created_at": _iso(d.created_at), "sent_at": _iso(d.sent_at), "last_reply": d.last_reply}
            for d, mail in deliveries],
        "outbox_files": erasure_files.outbox_files(config, address),
        "mentioned_in_protocols": sorted(_matching_ids(session, InboundMessage, MESSAGE_TEXT, person,
                                                       sa.not_(full))),
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None
