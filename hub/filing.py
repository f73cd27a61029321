"""Filing: what becomes of a message that came in — the use case behind `hub ingest`, the SMTP/LMTP listener
and the IMAP poller (through `hub serve`'s filing process).

A spooled message goes parse → classify → route → extract → store; what follows filing (a receipt, a
relay, a proposed meeting) is a queue of its own (`follow_up`), and a bounce report or an unsubscribe is
handed to the use case it concerns, so the stages never import each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from hub import alliance as alliance_module
from hub import delivery, mailings
from hub.addresses import address_key
from hub.config import Config
from hub.db import session_scope, utcnow
from hub.failpoints import failpoint
from hub.i18n import _
from hub.inbound import spool, store
from hub.inbound.classify import classify
from hub.inbound.extract import extract
from hub.inbound.message import BounceInfo, Directory, ParsedMessage
from hub.inbound.parse import parse
from hub.inbound.route import route
from hub.models import Alliance, InboundMessage, MessageKind, MessageStatus
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
        existing = store.find_duplicate(session, *store.key(parsed))
        if existing is None:
            raise error
        return IngestResult(store.describe(session, existing, status="duplicate"))


def _store_batch(config: Config, loaded: list[tuple[spool.SpoolEntry, bytes, ParsedMessage]],
                 full: bool) -> list[IngestResult]:
    with session_scope(config.database_url) as session:
        alliance = alliance_module.current(session, config)
        directory = store.directory(session, alliance, config.alliance.domain, config.mail.protocol_address)
        stored = store.find_duplicates(session, [store.key(parsed) for _, _, parsed in loaded])
        results, archived = [], set()
        for entry, raw, parsed in loaded:
            results.append(_store_entry(session, config, alliance, directory, stored, entry, raw, parsed,
                                        archived, full))
        store.sync_dirs(archived)  # the archive's links are durable before the spool lets go of the files
        return results


def _store_entry(session: Session, config: Config, alliance: Alliance, directory: Directory, stored: dict,
                 entry: spool.SpoolEntry, raw: bytes, parsed: ParsedMessage, archived: set[Path],
                 full: bool) -> IngestResult:
    """`stored` maps (Message-ID, hash) to the messages already stored; this one is added to it."""
    data_dir = config.data_dir
    existing = stored.get(store.key(parsed))
    if existing is not None:
        return IngestResult(store.describe(session, existing, status="duplicate") if full else
                            store.summary(existing, "duplicate"))
    raw_path = store.archive_raw(data_dir, entry.path, parsed.content_hash)
    archived.update({(data_dir / raw_path).parent, (data_dir / raw_path).parent.parent})
    message = store.new_row(entry, parsed, raw_path, len(raw))
    known = directory.senders.get(address_key(parsed.sender)) if parsed.sender else None
    if known is not None:
        message.partner_id = known.partner_id
    else:  # a partner who left is not in the directory but is still who sent it
        sender = store.partner_by_address(session, alliance.id, parsed.sender)
        message.partner_id = sender.id if sender else None
    bounce = None
    try:
        bounce = _understand(session, config, directory, message, raw, parsed, entry.envelope_to)
    except Exception as exc:  # a bug in a stage must not lose the mail: keep it for a human
        log.exception("could not process message %s", parsed.message_id)
        message.kind = "other"
        message.status = MessageStatus.held
        message.error = f"{type(exc).__name__}: {exc}"
        message.reason = _("Zur Prüfung zurückgehalten: die Nachricht konnte nicht verarbeitet werden.")
    message.reason = store.storable(message.reason)
    message.next_meeting_location = store.storable(message.next_meeting_location)
    session.add(message)
    session.flush()
    stored[store.key(parsed)] = message
    store.attach(session, data_dir, message, parsed.attachments)
    if message.kind == "bounce":
        delivery.record_bounce_report(session, config, message, bounce)
    if not _needs_follow_up(message):
        message.followed_up_at = utcnow()
    return IngestResult(store.describe(session, message) if full else store.summary(message, message.status))


def _understand(session: Session, config: Config, directory: Directory, message: InboundMessage, raw: bytes,
                parsed: ParsedMessage, envelope_to: list[str]) -> BounceInfo | None:
    """Classify, route and extract into the row; returns the bounce details for a bounce."""
    classification = classify(raw, parsed)
    message.kind = classification.kind
    if classification.kind in ("bounce", "autoreply", "other"):
        message.status = MessageStatus.recorded
        message.reason = classification.reason
        return classification.bounce or (BounceInfo([], False) if classification.kind == "bounce" else None)
    if _is_unsubscribe(config, envelope_to, parsed):
        _unsubscribe_by_mail(session, config, message)
        return None
    routing = route(parsed, list(envelope_to), directory)
    message.status = routing.status
    message.reason = routing.reason
    if routing.group:
        message.group_id = next(g.id for g in directory.groups if g.slug == routing.group)
    store.apply_extraction(message, extract(parsed, config.tz))
    return None


def _is_unsubscribe(config: Config, envelope_to: list[str], parsed: ParsedMessage) -> bool:
    target = config.mail.unsubscribe_address
    if not target:
        return False
    addresses = {address_key(a) for a in [*envelope_to, *parsed.to]}
    return address_key(target) in addresses


def _unsubscribe_by_mail(session: Session, config: Config, message: InboundMessage) -> None:
    message.kind = "other"
    message.status = MessageStatus.recorded
    if mailings.unsubscribe_by_mail(session, config, message.sender) is None:
        message.reason = _("Abmeldung per E-Mail von unbekannter Adresse: nichts zu tun.")
    else:
        message.reason = _("Abmeldung per E-Mail: Newsletter abbestellt.")


# --- what follows filing: its own stage -----------------------------------------------------------------


def _needs_follow_up(message: InboundMessage) -> bool:
    return message.kind == MessageKind.protocol and message.status in (MessageStatus.filed, MessageStatus.held)


def follow_up(config: Config, limit: int = 50) -> int:
    """Receipts, relays and proposed meetings for protocols filed or held since: returns how many were done.

    A stage of its own after storing (Mailman's runner per stage): `hub serve` files a burst first and
    follows up when the queue is empty, so senders' mail is safe before any mail is composed. The
    `followed_up_at` column is the durable queue; each message's mails and its mark commit together."""
    with session_scope(config.database_url) as session:
        query = (
            select(InboundMessage)
            .where(InboundMessage.followed_up_at.is_(None), InboundMessage.kind == "protocol",
                   InboundMessage.status.in_((MessageStatus.filed, MessageStatus.held)))
            .order_by(InboundMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # a second hub process takes other rows
        pending = session.exec(query).all()
        for message in pending:
            try:
                with session.begin_nested():
                    after_filing(session, config, message)
            except Exception as exc:  # one protocol whose mails cannot be made must not stop the others
                log.exception("could not send the receipt or relay for message %s", message.message_id)
                message.error = f"Eingangsbestätigung/Weiterleitung fehlgeschlagen: {type(exc).__name__}: {exc}"
                message.followed_up_at = utcnow()
                session.add(message)
        return len(pending)


def follow_up_all(config: Config) -> None:
    """Everything `follow_up` has waiting; errors are logged (the queue keeps what was not done)."""
    try:
        while follow_up(config):
            pass
    except Exception:
        log.exception("follow-up of filed protocols failed; it is tried again later")


def after_filing(session: Session, config: Config, message: InboundMessage) -> None:
    """A filed or held protocol: the sender's receipt, the relay to the group, the next meeting proposed."""
    mailings.send_receipt(session, config, message)
    mailings.relay_protocol(session, config, message)
    scheduled_meetings.propose_from_protocol(session, config, message)
    message.followed_up_at = utcnow()
    session.add(message)
