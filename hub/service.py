"""The service layer: the one thin place where the stages are wired together.

Inbound: a spooled message goes parse → classify → route → extract → store, and what follows filing
(a receipt, a relay, a bounce score, an unsubscribe) is triggered here, so the stages never import
each other. The CLI and `hub serve` call these functions; tests call them without a socket.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub import mailings
from hub.addresses import address_key
from hub.config import Config
from hub.db import session_scope, utcnow
from hub.errors import HubError, UsageError
from hub.failpoints import failpoint
from hub.inbound import spool, store
from hub.inbound.classify import classify
from hub.inbound.extract import extract
from hub.inbound.message import BounceInfo, Classification, Extraction, ParsedMessage, Routing
from hub.inbound.parse import parse
from hub.inbound.route import route
from hub.models import BounceEvent, Group, InboundMessage, Partner
from hub.scheduler import meetings as scheduled_meetings

log = logging.getLogger("hub")


@dataclass
class IngestResult:
    """What became of one message; `as_json()` is the `hub ingest --json` contract."""

    data: dict

    @property
    def status(self) -> str:
        return self.data["status"]

    def as_json(self) -> dict:
        return self.data


def ingest_bytes(
    config: Config,
    raw: bytes,
    via: str = "file",
    envelope_from: str | None = None,
    envelope_to: list[str] | tuple[str, ...] = (),
) -> IngestResult:
    """Spool (durably) and process one message: what `hub ingest` does per file."""
    entry = spool.write(config.data_dir, raw, via=via, envelope_from=envelope_from, envelope_to=list(envelope_to))
    return process_entry(config, entry)


def recover(config: Config) -> list[IngestResult]:
    """Process what a crash or a stop left in the spool; called when the hub starts."""
    return [process_entry(config, entry) for entry in spool.pending(config.data_dir)]


def process_entry(config: Config, entry: spool.SpoolEntry) -> IngestResult:
    """Idempotent: the same message (Message-ID and content) is stored once, however often it comes."""
    raw = entry.path.read_bytes()
    parsed = parse(raw)
    failpoint("parsed")
    try:
        result = _store_entry(config, entry, raw, parsed)
    except IntegrityError:
        # Another worker stored the same message between our check and our insert.
        with session_scope(config.database_url) as session:
            existing = store.find_duplicate(session, store.storable(parsed.message_id), parsed.content_hash)
            if existing is None:
                raise
            result = IngestResult(describe(session, existing, status="duplicate"))
    failpoint("stored")
    spool.finish(entry)
    log.info("%s message %s from %s: %s", result.status, result.data["message_id"], result.data["sender"],
             result.data["reason"])
    return result


def _store_entry(config: Config, entry: spool.SpoolEntry, raw: bytes, parsed: ParsedMessage) -> IngestResult:
    data_dir = config.data_dir
    with session_scope(config.database_url) as session:
        existing = store.find_duplicate(session, store.storable(parsed.message_id), parsed.content_hash)
        if existing is not None:
            return IngestResult(describe(session, existing, status="duplicate"))
        raw_path = store.archive_raw(data_dir, entry.path, parsed.content_hash)
        alliance = alliance_module.current(session, config)
        message = InboundMessage(
            message_id=store.storable(parsed.message_id),
            content_hash=parsed.content_hash,
            raw_path=raw_path,
            size=len(raw),
            received_at=entry.received_at,
            received_via=entry.via,
            envelope_from=store.storable(entry.envelope_from),
            envelope_to=list(entry.envelope_to),
            sender=store.storable(parsed.sender),
            sender_name=store.storable(parsed.sender_name),
            subject=store.storable(parsed.subject),
            sent_at=parsed.sent_at,
            text=store.storable(combined_text(parsed)),
            html=store.storable(parsed.html),
            defects=list(parsed.defects),
        )
        sender = _partner(session, alliance.id, parsed.sender)
        message.partner_id = sender.id if sender else None
        bounce = None
        try:
            bounce = _understand(session, config, alliance, message, raw, parsed, entry.envelope_to)
        except Exception as exc:  # a bug in a stage must not lose the mail: keep it for a human
            log.exception("could not process message %s", parsed.message_id)
            message.kind = "other"
            message.status = "held"
            message.error = f"{type(exc).__name__}: {exc}"
            message.reason = "Zur Prüfung zurückgehalten: die Nachricht konnte nicht verarbeitet werden."
        message.reason = store.storable(message.reason)
        message.next_meeting_location = store.storable(message.next_meeting_location)
        session.add(message)
        session.flush()
        store.attach(session, data_dir, message, parsed.attachments)
        if message.kind == "bounce":
            _record_bounces(session, config, message, bounce)
        _after_filing(session, config, message)
        return IngestResult(describe(session, message))


def _understand(session, config, alliance, message, raw, parsed, envelope_to) -> BounceInfo | None:
    """Classify, route and extract into the row; returns the bounce details for a bounce."""
    classification: Classification = classify(raw, parsed)
    message.kind = classification.kind
    if classification.kind in ("bounce", "autoreply", "other"):
        message.status = "recorded"
        message.reason = classification.reason
        return classification.bounce or (BounceInfo([], False) if classification.kind == "bounce" else None)
    if _is_unsubscribe(config, envelope_to, parsed):
        _unsubscribe_by_mail(session, config, message)
        return None
    directory = store.directory(session, alliance, config.alliance.domain, config.mail.protocol_address)
    routing: Routing = route(parsed, list(envelope_to), directory)
    message.status = routing.status
    message.reason = routing.reason
    if routing.group:
        message.group_id = _group_id(session, alliance.id, routing.group)
    _apply_extraction(message, extract(parsed, config.tz))
    return None


def _apply_extraction(message: InboundMessage, extraction: Extraction) -> None:
    message.meeting_date = extraction.meeting_date
    if extraction.next_meeting is not None:
        message.next_meeting_start = extraction.next_meeting.start.isoformat()
        message.next_meeting_location = extraction.next_meeting.location
    message.attendees = list(extraction.attendees)
    message.tasks = [
        {"what": t.what, "who": t.who, "due": t.due.isoformat() if t.due else None} for t in extraction.tasks
    ]


def combined_text(parsed: ParsedMessage) -> str:
    """All the protocol's own text: the new body, forwarded messages, then documents."""
    parts = [parsed.text.strip()]
    for forwarded in parsed.forwarded:
        parts.append(f"--- Weitergeleitete Nachricht: {forwarded.subject} ---\n{forwarded.text.strip()}")
    for attachment in parsed.attachments:
        if attachment.text and not attachment.inline:
            parts.append(f"--- Anhang: {attachment.filename} ---\n{attachment.text.strip()}")
    return "\n\n".join(p for p in parts if p)


def _record_bounces(session: Session, config: Config, message: InboundMessage, bounce: BounceInfo) -> None:
    """Count the bounce against the partner; the VERP envelope names the delivery even when the body is useless."""
    from hub.outbound import bounces, verp

    delivery_id = None
    for address in message.envelope_to:
        delivery_id = delivery_id or verp.delivery_for(config, address)
    recipients = list(bounce.recipients)
    if delivery_id is not None and not recipients:
        from hub.models import Delivery

        delivery = session.get(Delivery, delivery_id)
        if delivery is not None and delivery.recipient:
            recipients = [delivery.recipient]
    disabled = []
    for address in recipients:
        partner = bounces.record_bounce(
            session, config, address, bounce.permanent, status=bounce.status, delivery_id=delivery_id,
            message_id=message.id, source="inbound",
        )
        if bounces.newly_disabled(partner):
            disabled.append(partner)
    mailings.send_bounce_notice(session, config, disabled)


def _is_unsubscribe(config: Config, envelope_to, parsed: ParsedMessage) -> bool:
    target = config.mail.unsubscribe_address
    if not target:
        return False
    addresses = {address_key(a) for a in [*envelope_to, *parsed.to]}
    return address_key(target) in addresses


def _unsubscribe_by_mail(session: Session, config: Config, message: InboundMessage) -> None:
    message.kind = "other"
    message.status = "recorded"
    if mailings.unsubscribe_by_mail(session, config, message.sender) is None:
        message.reason = "Abmeldung per E-Mail von unbekannter Adresse: nichts zu tun."
    else:
        message.reason = "Abmeldung per E-Mail: Newsletter abbestellt."


def _after_filing(session: Session, config: Config, message: InboundMessage) -> None:
    """A filed or held protocol: the sender's receipt, the relay to the group, the next meeting proposed.

    In the filing transaction, so the mails are in the outbox exactly when the protocol is stored."""
    mailings.send_receipt(session, config, message)
    mailings.relay_protocol(session, config, message)
    scheduled_meetings.propose_from_protocol(session, config, message)


# --- the review queue ---------------------------------------------------------------------------------


def assign(session: Session, config: Config, message_id: int, slug: str, by: str = "cli") -> InboundMessage:
    message = _message(session, message_id)
    alliance = alliance_module.current(session, config)
    group_id = _group_id(session, alliance.id, slug)
    if group_id is None:
        raise UsageError(f"unknown group {slug!r}; see `hub groups list`")
    if message.kind in ("bounce", "autoreply"):
        raise HubError(f"message {message_id} is a {message.kind}, not a protocol; it cannot be filed")
    was_filed = message.status == "filed"
    message.group_id = group_id
    message.kind = "protocol"
    _decide(message, "filed", by, f"Von {by} der Gruppe {slug} zugeordnet.")
    session.add(message)
    if not was_filed:
        _after_filing(session, config, message)
    return message


def release(session: Session, config: Config, message_id: int, by: str = "cli") -> InboundMessage:
    message = _message(session, message_id)
    if message.status != "held":
        raise HubError(f"message {message_id} is {message.status}, not held for review")
    if message.group_id is None:
        raise UsageError(f"message {message_id} has no group yet; use `hub protocols assign {message_id} SLUG`")
    message.kind = "protocol"
    _decide(message, "filed", by, f"Von {by} freigegeben.")
    session.add(message)
    _after_filing(session, config, message)
    return message


def reject(session: Session, config: Config, message_id: int, by: str = "cli") -> InboundMessage:
    message = _message(session, message_id)
    if message.status == "rejected":
        raise HubError(f"message {message_id} is already rejected")
    _decide(message, "rejected", by, f"Von {by} abgelehnt.")
    session.add(message)
    return message


def _decide(message: InboundMessage, status: str, by: str, reason: str) -> None:
    message.status = status
    message.reason = f"{reason} (vorher: {message.reason})" if message.reason else reason
    message.decided_by = by
    message.decided_at = utcnow()


def _message(session: Session, message_id: int) -> InboundMessage:
    message = session.get(InboundMessage, message_id)
    if message is None:
        raise HubError(f"no message with id {message_id}; see `hub protocols list`")
    return message


def _group_id(session: Session, alliance_id: int, slug: str) -> int | None:
    return session.exec(
        select(Group.id).where(Group.alliance_id == alliance_id, Group.slug == slug, Group.active)
    ).first()


def _partner(session: Session, alliance_id: int, address: str | None) -> Partner | None:
    if not address:
        return None
    return session.exec(
        select(Partner).where(Partner.alliance_id == alliance_id, Partner.email_key == address_key(address))
    ).first()


# --- description --------------------------------------------------------------------------------------


def describe(session: Session, message: InboundMessage, status: str | None = None) -> dict:
    group = session.get(Group, message.group_id) if message.group_id else None
    next_meeting = None
    if message.next_meeting_start:
        next_meeting = {"start": message.next_meeting_start, "location": message.next_meeting_location}
    bounce = None
    if message.kind == "bounce":
        events = session.exec(select(BounceEvent).where(BounceEvent.message_id == message.id)).all()
        bounce = {
            "recipients": sorted({e.address for e in events if e.address}),
            "permanent": any(e.permanent for e in events),
        }
    return {
        "id": message.id,
        "message_id": message.message_id,
        "kind": message.kind,
        "status": status or message.status,
        "group": group.slug if group else None,
        "sender": message.sender,
        "subject": message.subject,
        "date": _iso(message.sent_at),
        "received_at": _iso(message.received_at),
        "meeting_date": _iso(message.meeting_date),
        "next_meeting": next_meeting,
        "attendees": message.attendees,
        "tasks": message.tasks,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": blob.size,
             "text_chars": len(blob.text), "inline": a.inline, "sha256": blob.sha256}
            for a, blob in store.attachments_of(session, message)
        ],
        "text": message.text,
        "reason": message.reason,
        "error": message.error,
        "defects": message.defects,
        "bounce": bounce,
    }


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def raw_bytes(config: Config, message: InboundMessage) -> bytes:
    return (Path(config.data_dir) / message.raw_path).read_bytes()
