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
from hub.errors import HubError, NotFound, UsageError
from hub.failpoints import failpoint
from hub.i18n import _
from hub.inbound import spool, store
from hub.inbound.classify import classify
from hub.inbound.extract import extract
from hub.inbound.message import BounceInfo, Classification, Extraction, ParsedMessage, Routing
from hub.inbound.parse import parse
from hub.inbound.route import route
from hub.models import BounceEvent, Group, InboundMessage, Partner
from hub.scheduler import meetings as scheduled_meetings

log = logging.getLogger("hub")

RECOVER_BATCH = 50  # spooled messages filed in one transaction at start-up


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
    result = process_entry(config, entry)
    follow_up(config)
    return result


def recover(config: Config) -> list[IngestResult]:
    """Process what a crash or a stop left in the spool; called when the hub starts."""
    spool.sweep(config.data_dir)
    pending = spool.pending(config.data_dir)
    results = []
    for start in range(0, len(pending), RECOVER_BATCH):
        batch = pending[start:start + RECOVER_BATCH]
        try:
            results += process_entries(config, batch, full=False)
        except Exception:
            if len(batch) == 1:
                raise
            log.exception("could not file %d spooled messages together; filing them one by one", len(batch))
            results += [process_entry(config, entry, full=False) for entry in batch]
    follow_up_all(config)
    return results


def follow_up_all(config: Config) -> None:
    """Everything `follow_up` has waiting; errors are logged (the queue keeps what was not done)."""
    try:
        while follow_up(config):
            pass
    except Exception:
        log.exception("follow-up of filed protocols failed; it is tried again later")


def process_entry(config: Config, entry: spool.SpoolEntry, full: bool = True) -> IngestResult:
    """Idempotent: the same message (Message-ID and content) is stored once, however often it comes."""
    return process_entries(config, [entry], full)[0]


def process_entries(config: Config, entries: list[spool.SpoolEntry], full: bool = True) -> list[IngestResult]:
    """File several spooled messages in one transaction: one commit and one read of the groups and senders
    for the lot, which is what lets `hub serve` keep up with a burst. A stage that fails on one message
    holds that message for review; if storing itself fails, nothing of the batch is kept and the caller
    files the messages one by one (`hub serve`, `recover`). With `full=False` the results
    carry only what the log line needs, not the `hub ingest --json` description."""
    loaded = []
    for entry in entries:
        raw = entry.path.read_bytes()
        loaded.append((entry, raw, parse(raw)))
    failpoint("parsed")
    try:
        results = _store_batch(config, loaded, full)
    except IntegrityError as exc:
        if len(loaded) == 1:
            results = [_duplicate_after_race(config, loaded[0][2], exc)]
        else:  # another process stored one of them meanwhile: file one by one
            return [process_entry(config, entry, full) for entry, _raw, _parsed in loaded]
    failpoint("stored")
    for (entry, _raw, _parsed), result in zip(loaded, results, strict=True):
        spool.finish(entry)
        log.info("%s message %s from %s: %s", result.status, result.data["message_id"], result.data["sender"],
                 result.data["reason"])
    return results


def _duplicate_after_race(config: Config, parsed: ParsedMessage, error: IntegrityError) -> IngestResult:
    """Another worker stored the same message between our check and our insert."""
    with session_scope(config.database_url) as session:
        existing = store.find_duplicate(session, store.storable(parsed.message_id), parsed.content_hash)
        if existing is None:
            raise error
        return IngestResult(describe(session, existing, status="duplicate"))


def _store_batch(config: Config, loaded: list[tuple[spool.SpoolEntry, bytes, ParsedMessage]],
                 full: bool) -> list[IngestResult]:
    with session_scope(config.database_url) as session:
        alliance = alliance_module.current(session, config)
        directory = store.directory(session, alliance, config.alliance.domain, config.mail.protocol_address)
        stored = store.find_duplicates(session, [_key(parsed) for _, _, parsed in loaded])
        results, archived = [], set()
        for entry, raw, parsed in loaded:
            results.append(_store_entry(session, config, alliance, directory, stored, entry, raw, parsed,
                                        archived, full))
        store.sync_dirs(archived)  # the archive's links are durable before the spool lets go of the files
        return results


def _key(parsed: ParsedMessage) -> tuple[str, str]:
    return store.storable(parsed.message_id), parsed.content_hash


def _store_entry(session: Session, config: Config, alliance, directory, stored: dict, entry: spool.SpoolEntry,
                 raw: bytes, parsed: ParsedMessage, archived: set[Path], full: bool) -> IngestResult:
    """`stored` maps (Message-ID, hash) to the messages already stored; this one is added to it."""
    data_dir = config.data_dir
    existing = stored.get(_key(parsed))
    if existing is not None:
        return IngestResult(describe(session, existing, status="duplicate") if full else
                            _summary(existing, "duplicate"))
    raw_path = store.archive_raw(data_dir, entry.path, parsed.content_hash)
    archived.update({(data_dir / raw_path).parent, (data_dir / raw_path).parent.parent})
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
    known = directory.senders.get(address_key(parsed.sender)) if parsed.sender else None
    if known is not None:
        message.partner_id = known.partner_id
    else:  # a partner who left is not in the directory but is still who sent it
        sender = _partner(session, alliance.id, parsed.sender)
        message.partner_id = sender.id if sender else None
    bounce = None
    try:
        bounce = _understand(session, config, alliance, directory, message, raw, parsed, entry.envelope_to)
    except Exception as exc:  # a bug in a stage must not lose the mail: keep it for a human
        log.exception("could not process message %s", parsed.message_id)
        message.kind = "other"
        message.status = "held"
        message.error = f"{type(exc).__name__}: {exc}"
        message.reason = _("Zur Prüfung zurückgehalten: die Nachricht konnte nicht verarbeitet werden.")
    message.reason = store.storable(message.reason)
    message.next_meeting_location = store.storable(message.next_meeting_location)
    session.add(message)
    session.flush()
    stored[_key(parsed)] = message
    store.attach(session, data_dir, message, parsed.attachments)
    if message.kind == "bounce":
        _record_bounces(session, config, message, bounce)
    if not _needs_follow_up(message):
        message.followed_up_at = utcnow()
    return IngestResult(describe(session, message) if full else _summary(message, message.status))


def _summary(message: InboundMessage, status: str) -> dict:
    return {"id": message.id, "message_id": message.message_id, "kind": message.kind, "status": status,
            "sender": message.sender, "reason": message.reason}


def _understand(session, config, alliance, directory, message, raw, parsed, envelope_to) -> BounceInfo | None:
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
    routing: Routing = route(parsed, list(envelope_to), directory)
    message.status = routing.status
    message.reason = routing.reason
    if routing.group:
        message.group_id = next(g.id for g in directory.groups if g.slug == routing.group)
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
        message.reason = _("Abmeldung per E-Mail von unbekannter Adresse: nichts zu tun.")
    else:
        message.reason = _("Abmeldung per E-Mail: Newsletter abbestellt.")


# --- what follows filing: its own stage -----------------------------------------------------------------


def _needs_follow_up(message: InboundMessage) -> bool:
    return message.kind == "protocol" and message.status in ("filed", "held")


def follow_up(config: Config, limit: int = 50) -> int:
    """Receipts, relays and proposed meetings for protocols filed or held since: returns how many were done.

    A stage of its own after storing (Mailman's runner per stage): `hub serve` files a burst first and
    follows up when the queue is empty, so senders' mail is safe before any mail is composed. The
    `followed_up_at` column is the durable queue; each message's mails and its mark commit together."""
    with session_scope(config.database_url) as session:
        query = (
            select(InboundMessage)
            .where(InboundMessage.followed_up_at.is_(None), InboundMessage.kind == "protocol",
                   InboundMessage.status.in_(("filed", "held")))
            .order_by(InboundMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # a second hub process takes other rows
        pending = session.exec(query).all()
        for message in pending:
            try:
                with session.begin_nested():
                    _after_filing(session, config, message)
            except Exception as exc:  # one protocol whose mails cannot be made must not stop the others
                log.exception("could not send the receipt or relay for message %s", message.message_id)
                message.error = f"Eingangsbestätigung/Weiterleitung fehlgeschlagen: {type(exc).__name__}: {exc}"
                message.followed_up_at = utcnow()
                session.add(message)
        return len(pending)


def _after_filing(session: Session, config: Config, message: InboundMessage) -> None:
    """A filed or held protocol: the sender's receipt, the relay to the group, the next meeting proposed."""
    mailings.send_receipt(session, config, message)
    mailings.relay_protocol(session, config, message)
    scheduled_meetings.propose_from_protocol(session, config, message)
    message.followed_up_at = utcnow()
    session.add(message)


# --- the review queue ---------------------------------------------------------------------------------


def assign(session: Session, config: Config, message_id: int, slug: str, by: str = "cli") -> InboundMessage:
    message = _message(session, message_id)
    alliance = alliance_module.current(session, config)
    group_id = _group_id(session, alliance.id, slug)
    if group_id is None:
        raise NotFound(_("unbekannte Gruppe %(slug)r; siehe `hub groups list`") % {"slug": slug})
    if message.kind in ("bounce", "autoreply"):
        raise HubError(_("Nachricht %(id)s ist kein Protokoll (%(kind)s); sie kann nicht abgelegt werden")
                       % {"id": message_id, "kind": message.kind})
    was_filed = message.status == "filed"
    message.group_id = group_id
    message.kind = "protocol"
    _decide(message, "filed", by, _("Von %(by)s der Gruppe %(slug)s zugeordnet.") % {"by": by, "slug": slug})
    session.add(message)
    if not was_filed:
        _after_filing(session, config, message)
    return message


def release(session: Session, config: Config, message_id: int, by: str = "cli") -> InboundMessage:
    message = _message(session, message_id)
    if message.status != "held":
        raise HubError(_("Nachricht %(id)s ist nicht zur Prüfung zurückgehalten (%(status)s)")
                       % {"id": message_id, "status": message.status})
    if message.group_id is None:
        raise UsageError(_("Nachricht %(id)s hat noch keine Gruppe; nehmen Sie `hub protocols assign %(id)s KÜRZEL`")
                         % {"id": message_id})
    message.kind = "protocol"
    _decide(message, "filed", by, _("Von %(by)s freigegeben.") % {"by": by})
    session.add(message)
    _after_filing(session, config, message)
    return message


def reject(session: Session, config: Config, message_id: int, by: str = "cli") -> InboundMessage:
    message = _message(session, message_id)
    if message.status == "rejected":
        raise HubError(_("Nachricht %(id)s ist schon abgelehnt") % {"id": message_id})
    _decide(message, "rejected", by, _("Von %(by)s abgelehnt.") % {"by": by})
    session.add(message)
    return message


def _decide(message: InboundMessage, status: str, by: str, reason: str) -> None:
    message.status = status
    message.reason = _("%(reason)s (vorher: %(before)s)") % {"reason": reason, "before": message.reason} \
        if message.reason else reason
    message.decided_by = by
    message.decided_at = utcnow()


def _message(session: Session, message_id: int) -> InboundMessage:
    message = session.get(InboundMessage, message_id)
    if message is None:
        raise NotFound(_("keine Nachricht mit der Nummer %(id)s; siehe `hub protocols list`") % {"id": message_id})
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
